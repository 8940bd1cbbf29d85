"""The convergence figure: the embedding LIG's relative convergence delta against n_steps for the figure examples,
with ``n_steps_tolerance`` (table ``convergence_ladder``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bertscope import TARGETS
from bertscope.figures.sanity import TARGET_COLOURS
from bertscope.figures.style import add_footer, decade_axis, new_figure, number_label, save_figure

FLOOR = 1e-8
"""The smallest relative delta drawn: a delta of exactly 0 (the log axis has no 0) is drawn there."""


def convergence_figure(rows: pd.DataFrame, tolerance: float):
    """|delta| / |F(input) − F(reference)| against n_steps (both log scale), one line per example and target, and
    the tolerance ``n_steps: auto`` stops at (dashed)."""
    steps = np.sort(rows["n_steps"].unique())
    fig, ax = new_figure(max(6.0, 0.6 * len(steps) + 4.0), 4.2)
    examples = rows["example"].nunique()
    rows = rows.assign(drawn=rows["relative_delta"].clip(lower=FLOOR).replace(np.inf, np.nan))
    for target in TARGETS:
        for number, (_, line) in enumerate(rows[rows["target"] == target].groupby("example", sort=True)):
            line = line.sort_values("n_steps")
            label = f"{target}" if number == 0 else None
            ax.plot(
                line["n_steps"],
                line["drawn"],
                "-o",
                color=TARGET_COLOURS[target],
                markersize=3.5,
                linewidth=1.0,
                alpha=0.8 if examples == 1 else 0.5,
                label=label,
            )
    ax.axhline(
        tolerance, color="0.3", linestyle="--", linewidth=1.0, label=f"n_steps_tolerance {number_label(tolerance)}"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(steps, [str(count) for count in steps])
    ax.xaxis.set_minor_formatter(lambda *_: "")
    finite = rows["drawn"].dropna()
    decade_axis(ax.yaxis, min(finite.min(), tolerance), max(finite.max(), tolerance))
    ax.set(
        xlabel="n_steps (path points)",
        ylabel="|delta| / |F(input) − F(reference)|",
        title=f"Convergence of the embedding LIG, {examples} example" + ("" if examples == 1 else "s"),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def draw_convergence(rows: pd.DataFrame, paths, footer: str, tolerance: float) -> None:
    """The convergence figure of ``rows`` (``convergence_ladder``), saved to ``paths`` (one per format)."""
    fig = convergence_figure(rows, tolerance)
    add_footer(fig, footer)
    save_figure(fig, paths)
