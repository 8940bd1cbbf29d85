"""Figures of the attributions by outcome (computations in :mod:`bertscope.tables.outcomes`): the share of
|attribution| on the question, the context, the predicted span and the gold span, per source and per layer, one
colour per group (answerable or not × correct, wrong, abstained)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bertscope import SUBEMBEDDINGS, TARGETS
from bertscope.figures.style import add_footer, save_figure
from bertscope.tables.outcomes import GROUP_ORDER, REGIONS, group_label

SOURCES = ("embeddings", *SUBEMBEDDINGS)
"""The sources of the per-source figure, in order (the layers have their own figure)."""

GROUP_COLOURS = {
    (True, "correct"): "#1b7837",
    (True, "wrong"): "#c2372b",
    (True, "abstained"): "#7f7f7f",
    (False, "correct"): "#5aae61",
    (False, "wrong"): "#f4a582",
    (False, "abstained"): "#2166ac",
}
"""One colour per group: answerable ones dark, unanswerable light, the abstentions that are right on an unanswerable
question in blue. (An unanswerable question is never 'correct' with a non-null answer; the colour is there for
completeness.)"""


def _groups(table: pd.DataFrame) -> list[tuple[tuple[bool, str], int]]:
    """The groups present in ``table``, in :data:`GROUP_ORDER`, with their example counts."""
    counts = table.groupby(["has_answer", "outcome"])["examples"].max()
    return [(group, int(counts[group])) for group in GROUP_ORDER if group in counts.index]


def _panels(rows: int):
    fig, axes = plt.subplots(
        rows, len(REGIONS), figsize=(3.2 * len(REGIONS) + 1.5, 2.9 * rows + 0.6), layout="constrained", squeeze=False
    )
    return fig, axes


def _legend(fig, groups) -> None:
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLOURS[group]) for group, _ in groups]
    labels = [group_label(*group, count) for group, count in groups]
    fig.legend(handles, labels, loc="outside right upper", frameon=False, title="Group")


def shares_by_source_figure(table: pd.DataFrame):
    """Bars: per target (rows) and region (columns), each source's mean share per group."""
    groups = _groups(table)
    fig, axes = _panels(len(TARGETS))
    width = 0.8 / max(len(groups), 1)
    positions = np.arange(len(SOURCES))
    for row, target in enumerate(TARGETS):
        for column, region in enumerate(REGIONS):
            ax = axes[row, column]
            chosen = table[(table["target"] == target) & (table["region"] == region) & table["source"].isin(SOURCES)]
            for rank, (group, _) in enumerate(groups):
                rows = chosen[(chosen["has_answer"] == group[0]) & (chosen["outcome"] == group[1])]
                values = rows.set_index("source")["share"].reindex(list(SOURCES)).to_numpy(float)
                ax.bar(positions + (rank - (len(groups) - 1) / 2) * width, values, width, color=GROUP_COLOURS[group])
            ax.set_xticks(positions, [source.replace("_", " ") for source in SOURCES])
            ax.set_ylim(0, 1)
            ax.set(title=f"{region}, {target} position", ylabel="Share of |attribution|" if column == 0 else "")
    _legend(fig, groups)
    fig.suptitle("Share of |attribution| on each part of the input, per source, by outcome (group means)")
    return fig


def shares_by_layer_figure(table: pd.DataFrame):
    """Lines: per target (rows) and region (columns), the layers' mean share per group."""
    groups = _groups(table)
    layered = table[table["source"] == "layer"]
    layers = sorted(int(layer) for layer in layered["layer"].dropna().unique())
    fig, axes = _panels(len(TARGETS))
    for row, target in enumerate(TARGETS):
        for column, region in enumerate(REGIONS):
            ax = axes[row, column]
            chosen = layered[(layered["target"] == target) & (layered["region"] == region)]
            for group, _ in groups:
                rows = chosen[(chosen["has_answer"] == group[0]) & (chosen["outcome"] == group[1])]
                rows = rows.sort_values("layer")
                ax.plot(rows["layer"].astype(int), rows["share"], marker="o", markersize=3, color=GROUP_COLOURS[group])
            ax.set_xticks(layers)
            ax.set_ylim(0, 1)
            ax.set(
                title=f"{region}, {target} position",
                xlabel="Layers" if row == len(TARGETS) - 1 else "",
                ylabel="Share of |attribution|" if column == 0 else "",
            )
    _legend(fig, groups)
    fig.suptitle("Share of |layer conductance| on each part of the input, per layer, by outcome (group means)")
    return fig


def draw_outcome_figures(table: pd.DataFrame, outputs, footer_line: str) -> None:
    """Both outcome figures, with the footer, to ``outputs.shares_by_source`` and ``outputs.shares_by_layer``
    (each a list of paths, one per format)."""
    for name, draw in (("shares_by_source", shares_by_source_figure), ("shares_by_layer", shares_by_layer_figure)):
        fig = draw(table)
        add_footer(fig, footer_line)
        save_figure(fig, getattr(outputs, name))
