"""Part 2's figures of one example, from its rows of the Part 2 tables: grids of token-to-token heatmaps (one panel
per head of the chosen layer, or one per layer), the value-vector norms per head and token, and the layer outputs'
conductance with the word embeddings as input. One colour scale per figure, so that panels compare."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from bertscope import TARGETS
from bertscope.figures.style import add_footer, save_figure, symmetric_scale, token_label
from bertscope.tables.io import read_part
from bertscope.tables.schemas import ATTENTION_TABLES

MAX_LABELLED_TOKENS = 60
"""Above this many tokens a heatmap's axes show token indices instead of every token."""

GRIDS = {
    # stem: (quantity, per head?, what the colour shows)
    "attention_heads": ("attention", True, "attention probability α"),
    "attention_layers": ("attention_head_norm", False, "‖α‖ over heads"),
    **{
        f"attention_conductance_heads_{target}": (f"conductance_{target}", True, f"conductance of α, {target}")
        for target in TARGETS
    },
    **{
        f"attention_conductance_layers_{target}": (
            f"conductance_{target}_head_norm",
            False,
            f"‖conductance of α‖ over heads, {target}",
        )
        for target in TARGETS
    },
    "alpha_value_norm_heads": ("alpha_value_norm", True, "‖α f(x)‖"),
    "summed_alpha_value_norm_layers": ("summed_alpha_value_norm", False, "‖Σ_h α f(x)‖"),
}
FIGURES = (*GRIDS, "value_norms", *(f"word_input_conductance_{target}" for target in TARGETS))
"""Every Part 2 figure's file stem, in each of the run's figure formats."""


def _label_axes(ax, rows: list[str], columns: list[str], left: bool, bottom: bool) -> None:
    """Token (or layer, head) labels and ticks on the outer panels of a grid alone (inner panels share them; hidden
    tick labels there still cost drawing time); indices alone above MAX_LABELLED_TOKENS."""
    if not bottom:
        ax.set_xticks([])
    elif len(columns) <= MAX_LABELLED_TOKENS:
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    if not left:
        ax.set_yticks([])
    elif len(rows) <= MAX_LABELLED_TOKENS:
        ax.set_yticks(range(len(rows)), rows, fontsize=7)


def _scale(values: np.ndarray) -> tuple[Normalize, str, list[float]]:
    """Signed values (conductance) on the house's symmetric scale around 0; non-negative ones from 0 to a round
    limit. Returns the norm, the colour map and the colour bar's ticks (ends included)."""
    limit, ticks = symmetric_scale(values)
    if values.min() < 0:
        return Normalize(vmin=-limit, vmax=limit), "PiYG", ticks
    return Normalize(vmin=0.0, vmax=limit), "viridis", [tick for tick in ticks if tick >= 0]


def draw_grid(panels: dict[str, np.ndarray], row_labels, column_labels, title: str, colour: str, footer: str, paths):
    """One heatmap per panel on a shared colour scale, four panels a row, labels on the outside.

    Args:
        panels: ``{panel title: (rows, columns) matrix}``.
        row_labels: the rows' labels (tokens attending from).
        column_labels: the columns' labels (tokens attended to).
        title: the figure's title.
        colour: the colour map (sequential for magnitudes, diverging for signed values).
        footer: the footer line.
        paths: the output paths, one per format.
    """
    import matplotlib.pyplot as plt

    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    side = max(2.6, 0.16 * len(column_labels))
    fig, axes = plt.subplots(
        rows, columns, figsize=(side * columns + 1, side * rows + 0.8), layout="constrained", squeeze=False
    )
    norm, cmap, ticks = _scale(np.stack(list(panels.values())))
    for number, (ax, (name, matrix)) in enumerate(zip(axes.flat, panels.items(), strict=False)):
        image = ax.imshow(matrix, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        ax.set_title(name)
        last_row = number + columns >= len(panels)
        _label_axes(ax, row_labels, column_labels, left=number % columns == 0, bottom=last_row)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes, label=colour, shrink=0.6, ticks=ticks)
    fig.suptitle(title)
    add_footer(fig, footer)
    save_figure(fig, paths)


def _matrix(rows: pd.DataFrame, length: int) -> np.ndarray:
    matrix = np.zeros((length, length))
    matrix[rows["from_index"].to_numpy(), rows["to_index"].to_numpy()] = rows["value"].to_numpy()
    return matrix


def draw_attention_example(
    frames: dict[str, pd.DataFrame], example: str, folder: Path, formats: list[str], footer: str
) -> None:
    """Every Part 2 figure of one example into ``folder`` (``{stem}.{format}``).

    Args:
        frames: the example's rows of each table in :data:`~bertscope.tables.schemas.ATTENTION_TABLES`.
        example: the example's id.
        folder: the example's figure folder.
        formats: the figure formats.
        footer: the footer line.
    """
    missing = [table for table in ATTENTION_TABLES if table not in frames]
    if missing:
        raise ValueError(f"draw_attention_example needs rows of {', '.join(missing)}")
    matrices, norms = frames["attention_matrices"], frames["value_norms"]
    tokens = norms[norms["layer"] == norms["layer"].min()].drop_duplicates("token_index").sort_values("token_index")
    labels = [token_label(token, index) for token, index in zip(tokens["token"], tokens["token_index"], strict=True)]
    chosen = int(matrices.loc[matrices["head"].notna(), "layer"].iloc[0])

    def paths(stem: str) -> list[Path]:
        return [folder / f"{stem}.{fmt}" for fmt in formats]

    for stem, (quantity, per_head, colour) in GRIDS.items():
        rows = matrices[matrices["quantity"] == quantity]
        key = "head" if per_head else "layer"
        panels = {f"{key} {int(value)}": _matrix(group, len(labels)) for value, group in rows.groupby(key, sort=True)}
        where = f"layer {chosen}, per head" if per_head else "every layer"
        title = f"{colour} ({where}; rows attend from, columns to) · example {example}"
        draw_grid(panels, labels, labels, title, colour, footer, paths(stem))

    panels = {
        f"layer {int(layer)}": group.pivot(index="head", columns="token_index", values="value_norm").to_numpy()
        for layer, group in norms.groupby("layer", sort=True)
    }
    heads = [f"head {head}" for head in sorted(norms["head"].unique())]
    title = f"‖f(x)‖ per head and token · example {example}"
    draw_grid(panels, heads, labels, title, "‖f(x)‖", footer, paths("value_norms"))

    for target, rows in frames["word_input_conductance"].groupby("target", sort=False):
        table = rows.pivot(index="layer", columns="token_index", values="attribution")
        layers = [f"layer {layer}" for layer in table.index]
        title = f"Conductance of each layer's output, word embeddings as input · {target} position · example {example}"
        panels = {"summed over the hidden dimension, divided by its norm over tokens": table.to_numpy()}
        draw_grid(panels, layers, labels, title, "attribution", footer, paths(f"word_input_conductance_{target}"))


HEAD_SUMMARY_COLUMNS = ["layer", "head", *(f"conductance_norm_{target}" for target in TARGETS)]


def mean_conductance_by_head(parts) -> tuple[pd.DataFrame, int]:
    """Mean over examples of each head's attention-conductance norm, per target, read one table part at a time.

    Args:
        parts: paths of the ``attention_heads`` parts.

    Returns:
        ``(means, examples)``: a frame indexed by (layer, head) with one conductance-norm column per target, and how
        many examples that is (each example has one row per layer and head).
    """
    totals, count = None, None
    for path in parts:
        frame = read_part(path, columns=HEAD_SUMMARY_COLUMNS).groupby(["layer", "head"])
        sums, counts = frame.sum(), frame.size()
        totals = sums if totals is None else totals.add(sums, fill_value=0)
        count = counts if count is None else count.add(counts, fill_value=0)
    return totals.div(count, axis=0), int(count.max())


def draw_head_summary(means: pd.DataFrame, examples: int, footer: str, paths) -> None:
    """Layer × head heatmaps of :func:`mean_conductance_by_head`, one panel per target.

    Args:
        means: :func:`mean_conductance_by_head`'s rows.
        examples: how many examples they average.
        footer: the footer line.
        paths: the output paths, one per format.
    """
    panels = {target: means[f"conductance_norm_{target}"].unstack("head").to_numpy() for target in TARGETS}
    layers = [f"layer {layer}" for layer in means.index.get_level_values("layer").unique()]
    heads = [f"head {head}" for head in means.index.get_level_values("head").unique()]
    title = f"Conductance of each head's attention probabilities: Frobenius norm, mean over {examples} example(s)"
    draw_grid(panels, layers, heads, title, "mean ‖conductance of α‖", footer, paths)
