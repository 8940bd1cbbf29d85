"""The faithfulness figures: AOPC curves per source against the random baseline, and τ-LOO per source, for one
example or summarised across every example (tables ``faithfulness_curves`` and ``loo_agreement``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bertscope import TARGETS
from bertscope.figures.style import add_footer, new_figure, save_figure
from bertscope.tables.faithfulness import MEASURES, RANDOM_SOURCE

SOURCE_LABELS = {
    "embeddings": "embeddings (LIG)",
    "word": "word",
    "token_type": "token type",
    "position": "position",
    "layer": "layer conductance (mean over layers)",
    "word_input_layer": "word-input conductance (mean over layers)",
    RANDOM_SOURCE: "random ranking (mean over seeds)",
}
"""The curves' labels, in drawing order; the layer sources are averaged over their layers."""
TARGET_COLOURS = {"start": "#4c72b0", "end": "#dd8452"}
FIGURES = ("faithfulness_curves", "loo_agreement")
"""Every faithfulness figure's stem."""


def curve_means(curves: pd.DataFrame) -> pd.DataFrame:
    """The mean span-probability drop per source, measure and k over the examples, targets, layers and seeds.

    Args:
        curves: rows of ``faithfulness_curves``.

    Returns:
        Columns source, measure, percent, span_drop (mean), examples.
    """
    grouped = curves.groupby(["source", "measure", "percent"], observed=True)
    means = grouped.agg(span_drop=("span_drop", "mean"), examples=("example", "nunique")).reset_index()
    return means


def curves_figure(curves: pd.DataFrame, covers: str):
    """AOPC curves: the span-probability drop against k, comprehensiveness and sufficiency side by side, one line per
    source, the random ranking dashed."""
    means = curve_means(curves)
    fig, axes = new_figure(11.0, 4.2)
    fig.clear()
    axes = fig.subplots(1, len(MEASURES), sharex=True)
    for ax, measure in zip(axes, MEASURES, strict=True):
        rows = means[means["measure"] == measure]
        for source, label in SOURCE_LABELS.items():
            line = rows[rows["source"] == source].sort_values("percent")
            if line.empty:
                continue
            style = {"color": "0.45", "linestyle": "--"} if source == RANDOM_SOURCE else {"marker": "o"}
            ax.plot(line["percent"], line["span_drop"], label=label, markersize=4, **style)
        ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
        higher = "higher is more faithful" if measure == "comprehensiveness" else "lower is more faithful"
        ax.set(
            xscale="log",
            xlabel="k: % of the removable tokens " + ("replaced" if measure == "comprehensiveness" else "kept"),
            ylabel="drop of the span probability",
            title=f"{measure.capitalize()} ({higher})",
        )
        percents = sorted(rows["percent"].unique())
        ax.set_xticks(percents, [f"{value:g}" for value in percents])
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(f"Faithfulness of each source's token ranking, {covers}")
    return fig


def loo_labels(loo: pd.DataFrame) -> list[tuple[str, int | None]]:
    """The (source, layer) pairs of ``loo_agreement`` in drawing order: embedding sources, then layers."""
    order = list(SOURCE_LABELS)
    pairs = loo[["source", "layer"]].drop_duplicates()
    keys = [(source, None if pd.isna(layer) else int(layer)) for source, layer in pairs.itertuples(index=False)]
    return sorted(keys, key=lambda key: (order.index(key[0]), key[1] or 0))


def _short_label(source: str, layer: int | None) -> str:
    if layer is None:
        return SOURCE_LABELS[source].split(" (")[0]
    return f"L{layer}" if source == "layer" else f"W{layer}"


def loo_figure(loo: pd.DataFrame, covers: str):
    """τ-LOO per source: the mean Kendall τ (over examples) between the source's ranking and the leave-one-out
    drops, per target; with several examples, the spread (interquartile range) as a bar."""
    keys = loo_labels(loo)
    fig, ax = new_figure(max(6.0, 0.45 * len(keys) + 3.0), 4.2)
    positions = np.arange(len(keys))
    for offset, target in zip((-0.12, 0.12), TARGETS, strict=True):
        rows = loo[loo["target"] == target]
        values = [
            rows[(rows["source"] == source) & ((rows["layer"] == layer) if layer else rows["layer"].isna())][
                "kendall_tau"
            ].dropna()
            for source, layer in keys
        ]
        means = [value.mean() if len(value) else np.nan for value in values]
        low = [value.quantile(0.25) if len(value) else np.nan for value in values]
        high = [value.quantile(0.75) if len(value) else np.nan for value in values]
        colour = TARGET_COLOURS[target]
        ax.vlines(positions + offset, low, high, color=colour, alpha=0.4, linewidth=3)
        ax.plot(positions + offset, means, "o", color=colour, label=f"{target}: mean τ")
    ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xticks(positions, [_short_label(*key) for key in keys], rotation=45, ha="right")
    ax.set(
        ylim=(-1.05, 1.05),
        xlabel="source (L: layer conductance, W: Part 2's word-input conductance)",
        ylabel="Kendall τ with the leave-one-out drop",
        title=f"τ-LOO: agreement of each ranking with removing each token alone, {covers}",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def draw_faithfulness(curves: pd.DataFrame, loo: pd.DataFrame, outputs: dict, footer: str, covers: str) -> None:
    """Both faithfulness figures, each saved to its paths (``outputs[stem]``: one path per format).

    Args:
        curves: ``faithfulness_curves`` rows (one example's or every example's).
        loo: ``loo_agreement`` rows, the same examples.
        outputs: the paths of each of :data:`FIGURES`.
        footer: the figure footer (:func:`~bertscope.figures.style.figure_footer`).
        covers: what the title says the figure covers ("example tutorial", "over 200 examples").
    """
    for stem, draw in (
        ("faithfulness_curves", lambda: curves_figure(curves, covers)),
        ("loo_agreement", lambda: loo_figure(loo, covers)),
    ):
        fig = draw()
        add_footer(fig, footer)
        save_figure(fig, outputs[stem])
