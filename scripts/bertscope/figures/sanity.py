"""The sanity cascade figure: Spearman correlation of the embedding LIG with the original model's at each stage of
the cascading randomisation (table ``sanity_cascade``)."""

from __future__ import annotations

import pandas as pd

from bertscope import TARGETS
from bertscope.figures.style import add_footer, new_figure, save_figure

TARGET_COLOURS = {"start": "#4c72b0", "end": "#dd8452"}


def cascade_figure(rows: pd.DataFrame):
    """Spearman ρ against the stage, per target: signed (solid) and of absolute values (dashed), the mean over the
    examples bold, each example thin."""
    stages = rows.drop_duplicates("stage_index").sort_values("stage_index")
    fig, ax = new_figure(max(6.0, 0.5 * len(stages) + 3.5), 4.2)
    examples = rows["example"].nunique()
    for target in TARGETS:
        colour = TARGET_COLOURS[target]
        chosen = rows[rows["target"] == target]
        for column, style, label in (("spearman", "-", "ρ"), ("spearman_abs", "--", "ρ of |attribution|")):
            if examples > 1:
                for _, example_rows in chosen.groupby("example"):
                    line = example_rows.sort_values("stage_index")
                    ax.plot(line["stage_index"], line[column], style, color=colour, alpha=0.15, linewidth=0.8)
            mean = chosen.groupby("stage_index")[column].mean()
            ax.plot(mean.index, mean.values, style, color=colour, marker="o", markersize=4, label=f"{target}: {label}")
    ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xticks(stages["stage_index"], stages["stage"], rotation=45, ha="right")
    ax.set(
        ylim=(-1.05, 1.05),
        xlabel="weights re-initialised, cumulatively from the top down",
        ylabel="Spearman correlation with the original map",
        title=f"Sanity check: embedding LIG under cascading randomisation, {examples} example"
        + ("" if examples == 1 else "s"),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def draw_cascade(rows: pd.DataFrame, paths, footer: str) -> None:
    """The cascade figure of ``rows`` (``sanity_cascade``), saved to ``paths`` (one per format)."""
    fig = cascade_figure(rows)
    add_footer(fig, footer)
    save_figure(fig, paths)
