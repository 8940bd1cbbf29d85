"""Figures over every example in the tables: mean layer conductance per token category, entropy per layer, and the
convergence deltas, plus an HTML table of every example's prediction (computations in
:mod:`bertscope.tables.summary`)."""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bertscope import TARGETS, BertscopeError
from bertscope.figures.pages import html_page, write_text
from bertscope.figures.style import (
    add_footer,
    decade_axis,
    diverging_heatmap,
    draw_boxes,
    figure_footer,
    new_figure,
    number_label,
    power_of_ten,
    save_figure,
    symmetric_scale,
)
from bertscope.tables.io import read_part
from bertscope.tables.summary import (
    CATEGORIES,
    dataset_parts,
    delta_magnitudes,
    entropy_quantiles,
    examples_table,
    mean_layer_attribution_of_dataset,
)

HTML_SOURCE_COLUMNS = (
    "example",
    "predicted_answer",
    "true_start",
    "true_end",
    "predicted_start",
    "predicted_end",
    "start_prob",
    "end_prob",
)

MAX_POINTS_PER_SOURCE = 2000
"""The convergence figure draws at most this many points per source (a fixed random sample); its boxes, median
and counts cover every attribution."""


COLOURS = {"start": "#4c72b0", "end": "#dd8452"}
LINES = {"start": {"marker": "o", "linestyle": "-"}, "end": {"marker": "s", "linestyle": "--"}}
"""Lines of the two targets differ in more than colour, so that one is seen even where it hides the other."""

CSS = """
th, td { border: 1px solid #ccc; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f5f5f5; }
td.num { text-align: right; }
"""


# ---------------------------------------------------------------------------------------------------------------------
# Mean layer attribution per token category


def mean_layer_heatmap(grids: dict[str, pd.DataFrame], examples: int):
    """One panel per target: layers by token category, on one colour scale centred at 0, each cell labelled.

    Args:
        grids: ``{target: layers × categories}`` (:func:`~bertscope.tables.summary.mean_layer_attribution`).
        examples: how many examples they average.

    Returns:
        The matplotlib figure.
    """
    layers = [int(layer) for layer in next(iter(grids.values())).index]
    limit, ticks = symmetric_scale(np.concatenate([grid.to_numpy(float).ravel() for grid in grids.values()]))
    labels = [category.replace(" ", "\n", 1) if category.startswith("Context") else category for category in CATEGORIES]
    fig, axes = plt.subplots(
        1, len(grids), figsize=(13.0, max(3.5, 0.4 * len(layers) + 2.6)), layout="constrained", squeeze=False
    )
    for index, (ax, (target, grid)) in enumerate(zip(axes[0], grids.items(), strict=True)):
        last = index == len(grids) - 1
        diverging_heatmap(
            ax,
            grid.to_numpy(float),
            limit,
            annot=_cell_labels(grid) if len(layers) <= 30 else False,
            fmt="",
            annot_kws={"fontsize": 7},
            xticklabels=labels,
            yticklabels=layers,
            cbar=last,
            cbar_kws={"label": "Mean summed attribution", "shrink": 0.9, "ticks": ticks} if last else None,
        )
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        ax.tick_params(axis="y", labelrotation=0)
        ax.set(xlabel="Token category", ylabel="Layers" if index == 0 else "", title=f"{target} position")
    fig.suptitle(f"Layer conductance summed per token category, mean over {examples} example{_s(examples)}")
    return fig


def _cell_labels(grid: pd.DataFrame) -> np.ndarray:
    """Each cell's value to two decimals, with no '-0.00' for a tiny negative."""
    return np.vectorize(lambda value: f"{value:.2f}".replace("-0.00", "0.00"))(grid.to_numpy(float))


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# ---------------------------------------------------------------------------------------------------------------------
# Entropy per layer


def entropy_figure(stats: pd.DataFrame, examples: int):
    """Median entropy per layer, one line per target, with the interquartile range as a band around it.

    Args:
        stats: :func:`~bertscope.tables.summary.entropy_quantiles`' rows.
        examples: how many examples they cover.

    Returns:
        The matplotlib figure.
    """
    layers = sorted(stats["layer"].unique())
    fig, ax = new_figure(max(6.0, 0.5 * len(layers) + 3.0), 4.5)
    for target in TARGETS:
        rows = stats[stats["target"] == target].sort_values("layer")
        if rows.empty:
            continue
        colour = COLOURS[target]
        ax.fill_between(
            rows["layer"], rows["q1"], rows["q3"], color=colour, alpha=0.2, linewidth=0, label=f"{target}: IQR"
        )
        ax.plot(rows["layer"], rows["median"], color=colour, markersize=4, label=f"{target}: median", **LINES[target])
    ax.set_xticks(layers)
    ax.set(
        xlabel="Layers",
        ylabel="Entropy (bits)",
        title=f"Entropy of the explained token's attribution mass function per layer, over {examples} "
        f"example{_s(examples)}",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# Convergence deltas


def drawn_points(sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which points the convergence figure draws: all of a source's, or a random :data:`MAX_POINTS_PER_SOURCE`.

    Args:
        sources: (rows,) the source of each delta.
        rng: the generator that picks (seeded by the caller: the figure is the same on every run).

    Returns:
        (rows,) bool mask of the drawn rows.
    """
    shown = np.ones(len(sources), dtype=bool)
    for source in np.unique(sources):
        (rows,) = np.nonzero(sources == source)
        if len(rows) > MAX_POINTS_PER_SOURCE:
            shown[rows] = False
            shown[rng.choice(rows, MAX_POINTS_PER_SOURCE, replace=False)] = True
    return shown


def delta_figure(magnitudes: pd.DataFrame, examples: int):
    """Per source: each attribution's |delta| as a point (by target), under a box outline where there are enough.

    A source of at least ``figures.MIN_BOX_POINTS`` deltas gets a box; the axis is a log scale (symmetric log where
    a delta is 0), with a median line.

    Args:
        magnitudes: :func:`~bertscope.tables.summary.delta_magnitudes`' rows.
        examples: how many examples they cover.

    Returns:
        The matplotlib figure.
    """
    sources = list(dict.fromkeys(magnitudes["source"].astype(str)))
    values = magnitudes["abs_delta"].to_numpy(float)
    median = float(np.median(values))
    fig, ax = new_figure(9.0, max(3.0, 0.8 * len(sources) + 1.8))
    positions = {source: i for i, source in enumerate(sources)}
    draw_boxes(
        ax,
        [magnitudes.loc[magnitudes["source"] == source, "abs_delta"].to_numpy(float) for source in sources],
        list(positions.values()),
        orientation="horizontal",
        widths=0.6,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "none", "edgecolor": "0.15", "linewidth": 1.2},
        medianprops={"color": "0.15", "linewidth": 1.8},
        whiskerprops={"color": "0.15"},
        capprops={"color": "0.15"},
        zorder=3,  # the box outline over the points, so that it stays visible among many
    )
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.22, 0.22, len(magnitudes))
    shown = drawn_points(magnitudes["source"].astype(str).to_numpy(), rng)
    for target in dict.fromkeys([*TARGETS, *magnitudes["target"].astype(str)]):
        chosen = (magnitudes["target"] == target).to_numpy() & shown
        if not chosen.any():
            continue
        ax.scatter(
            values[chosen],
            magnitudes.loc[chosen, "source"].map(positions).to_numpy(float) + jitter[chosen],
            s=12,
            alpha=0.7,
            color=COLOURS.get(target, "0.3"),
            edgecolor="none",
            label=target,
            zorder=2,
        )
    ax.axvline(
        median, color="0.3", linestyle="--", linewidth=1, label=f"median |delta| = {number_label(median)}", zorder=3
    )
    counts = magnitudes["source"].astype(str).value_counts()
    ax.set_yticks(list(positions.values()), [f"{source} (n={counts[source]})" for source in sources])
    ax.set_ylim(len(sources) - 0.5, -0.5)
    ax.set(
        xlabel=f"|Convergence delta| ({delta_scale(ax, values)})",
        ylabel="Source",
        title=f"Convergence deltas of {len(magnitudes)} attributions ({examples} example{_s(examples)}, "
        f"start and end targets)" + ("" if shown.all() else f"\n{int(shown.sum())} points drawn, a random sample"),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def delta_scale(ax, values: np.ndarray) -> str:
    """Put the |delta| axis on a log scale, ticks at powers of ten.

    Where a delta is 0, a symmetric log scale, linear below its smallest power of ten.

    Args:
        ax: the axes whose y axis holds the deltas.
        values: the |delta| values drawn.

    Returns:
        How to name the scale in the caption (``log scale``, ``every delta is 0``, ...).
    """
    positive = values[values > 0]
    if not len(positive):
        return "every delta is 0"
    if len(positive) == len(values):
        ax.set_xscale("log")
        decade_axis(ax.xaxis, float(positive.min()), float(positive.max()))
        return "log scale"
    threshold = 10.0 ** np.floor(np.log10(positive.min()))
    ax.set_xscale("symlog", linthresh=threshold)
    decade_axis(ax.xaxis, threshold, float(positive.max()), zero=True)
    return f"symmetric log scale, linear below {power_of_ten(threshold)}"


# ---------------------------------------------------------------------------------------------------------------------
# Examples page


def _cell(column: str, value) -> str:
    if column in ("Example", "Predicted answer"):
        return f"<td>{html.escape(str(value))}</td>"
    if column in ("Start prob", "End prob"):
        text = f"{value:.3f}"
    elif column == "Max |delta|":
        text = "" if pd.isna(value) else f"{value:.3g}"
    else:
        text = str(value)
    return f'<td class="num">{text}</td>'


def examples_page(table: pd.DataFrame, footer_line: str) -> str:
    """The summary's examples page: every example's prediction and largest convergence delta.

    Args:
        table: :func:`~bertscope.tables.summary.examples_table`'s frame.
        footer_line: the footer line.

    Returns:
        A standalone HTML document.
    """
    title = "Examples: predictions and convergence"
    caption = (
        f"{len(table)} example{_s(len(table))}. Start and end are token indices; Max |delta| is the largest "
        "convergence delta over every attribution of the example."
    )
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell(column, value) for column, value in zip(table.columns, row, strict=True)) + "</tr>\n"
        for row in table.itertuples(index=False)
    )
    markup = (
        f"<h1>{html.escape(title)}</h1>\n<table>\n<caption>{html.escape(caption)}</caption>\n"
        f"<tr>{head}</tr>\n{body}</table>"
    )
    return html_page(title, markup, footer_line, CSS)


def read_dataset(dataset: str, table: str, columns: list[str]) -> pd.DataFrame:
    """Some columns of a table's dataset, refused when empty.

    Args:
        dataset: the dataset directory.
        table: the table's name (named in the error).
        columns: the columns to read.

    Returns:
        The rows of every part.

    Raises:
        BertscopeError: the dataset has no row, with the fix.
    """
    frame = pd.concat([read_part(part, columns=columns) for part in dataset_parts(dataset)], ignore_index=True)
    if frame.empty:
        raise BertscopeError(
            f"table {table}: {dataset} has no rows. Fix: rebuild the tables (snakemake --forcerun tables)"
        )
    return frame


def draw_summary(
    datasets: dict[str, str], outputs, model: str, n_steps: int, procedure: str, target: str = "max_logit"
) -> None:
    """Every summary figure and the examples page, from the table datasets.

    Args:
        datasets: the dataset directory of each table in :data:`~bertscope.tables.schemas.SUMMARY_TABLES`, by name.
        outputs: the output paths by name (Snakemake's ``output``): ``mean_layer_attribution``,
            ``entropy_by_layer``, ``convergence_deltas`` (each a list of paths, one per format) and ``summary_html``.
        model, n_steps, procedure, target: what the footer says made the numbers.
    """
    predictions = read_dataset(datasets["predictions"], "predictions", list(HTML_SOURCE_COLUMNS))
    summary = read_dataset(datasets["layer_summary"], "layer_summary", ["example", "target", "layer", "entropy"])
    deltas = read_dataset(
        datasets["convergence_deltas"], "convergence_deltas", ["example", "target", "source", "layer", "delta"]
    )
    line = figure_footer(model, n_steps, procedure, f"examples: {predictions['example'].nunique()}", target)
    figures = {
        "mean_layer_attribution": lambda: mean_layer_heatmap(
            *mean_layer_attribution_of_dataset(datasets["token_attributions"], predictions)
        ),
        "entropy_by_layer": lambda: entropy_figure(entropy_quantiles(summary), summary["example"].nunique()),
        "convergence_deltas": lambda: delta_figure(delta_magnitudes(deltas), deltas["example"].nunique()),
    }
    for name, draw in figures.items():
        fig = draw()
        add_footer(fig, line)
        save_figure(fig, getattr(outputs, name))
    write_text(outputs.summary_html, examples_page(examples_table(predictions, deltas), line))
