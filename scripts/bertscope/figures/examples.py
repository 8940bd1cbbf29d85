"""The figures and pages of one example, as the tutorial draws them: token colours, top-5 tables, conductance
heatmaps, per-token box plots, attribution densities and entropies. ``plot_examples`` draws them for a batch."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colormaps

from bertscope import TARGETS
from bertscope.figures.pages import html_page, write_text
from bertscope.figures.style import (
    add_footer,
    diverging_heatmap,
    draw_boxes,
    explained_token,
    new_figure,
    save_figure,
    symmetric_scale,
    token_label,
)
from bertscope.tables.part1 import DENSITY_BINS, attribution_pmf

# ---------------------------------------------------------------------------------------------------------------------
# Word importance pages, in the look of captum's visualize_text

LEGEND = (("Negative", -1.0), ("Neutral", 0.0), ("Positive", 1.0))

TOKEN_PAGE_CSS = """
.legend { border-top: 1px solid; margin-top: 5px; padding-top: 5px; display: inline-block; }
.swatch { display: inline-block; width: 10px; height: 10px; border: 1px solid; }
td b { padding-right: 2em; }
mark { opacity: 1.0; line-height: 1.75; color: black; }
"""


def captum_color(attribution: float) -> str:
    """captum's colour for a token: green for positive, red for negative, white for zero; clipped to [-1, 1].

    Args:
        attribution: the token's summarised attribution.

    Returns:
        A CSS ``hsl(...)`` colour.
    """
    attribution = max(-1.0, min(1.0, attribution))
    if attribution > 0:
        return f"hsl(120, 75%, {100 - int(50 * attribution)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * attribution)}%)"


def question_text(tokens: list[str]) -> str | None:
    """The question as the model read it: the tokens between [CLS] and the first [SEP], word pieces joined.

    Args:
        tokens: the example's tokens.

    Returns:
        The question, or None where the tokens hold no [SEP].
    """
    if "[SEP]" not in tokens:
        return None
    return " ".join(tokens[1 : tokens.index("[SEP]")]).replace(" ##", "")


def token_page(attributions: pd.DataFrame, prediction: pd.Series, target: str, footer: str) -> str:
    """One target's word-importance page: question and answer, legend, captum's table row, convergence delta.

    Args:
        attributions: the example's ``token_attributions`` rows of one source and target (L rows).
        prediction: the example's ``predictions`` row.
        target: ``start`` or ``end``.
        footer: :func:`~bertscope.figures.style.figure_footer`'s line.

    Returns:
        A standalone HTML document.
    """
    rows = attributions.sort_values("token_index")
    tokens, values = rows["token"].astype(str).tolist(), rows["attribution"].to_numpy(float)
    predicted = int(prediction[f"predicted_{target}"])
    marks = "".join(
        f'<mark style="background-color: {captum_color(value)}" title="{value:.3f}"> {html.escape(token)} </mark>'
        for token, value in zip(tokens, values, strict=True)
    )
    cells = (
        str(int(prediction[f"true_{target}"])),
        f"{predicted} ({prediction[f'{target}_prob']:.2f})",
        str(predicted),
        f"{values.sum():.2f}",
    )
    question = question_text(tokens)
    title = f"Word importance for the {target} position"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>Question:</b> {html.escape(question)}</p>" if question is not None else "",
        f"<p><b>Predicted answer:</b> {html.escape(str(prediction['predicted_answer']))}</p>",
        '<div class="legend"><b>Legend: </b>',
        *(
            f'<span class="swatch" style="background-color: {captum_color(value)}"></span> {label} '
            for label, value in LEGEND
        ),
        "</div>",
        '<table style="width: 100%">',
        "<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th><th>Attribution Score</th>"
        "<th>Word Importance</th></tr>",
        "<tr>" + "".join(f"<td><b>{cell}</b></td>" for cell in cells) + f"<td>{marks}</td></tr>",
        "</table>",
        f"<p>Convergence delta (embeddings, integrated gradients): {prediction[f'delta_{target}']:.4g}</p>",
    ]
    return html_page(title, "\n".join(part for part in body if part), footer, TOKEN_PAGE_CSS)


# ---------------------------------------------------------------------------------------------------------------------
# Top 5 attributed tokens of the word, token type and position embeddings, per target.
# The tutorial prints the word embedding values next to the token type tokens; this prints the token type values.

TOP_K = 5
COLUMNS = {
    "word": "Word(Index), Attribution",
    "token_type": "Token Type(Index), Attribution",
    "position": "Position(Index), Attribution",
}

ABSENT = "none: this model has no such embedding"

TOP5_CSS = """
th, td { border: 1px solid #ccc; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f5f5f5; }
"""


def top_cells(rows: pd.DataFrame, k: int = TOP_K) -> list[str]:
    """The ``k`` highest attributed tokens as "token (index), value", highest first, ties in token order.

    Args:
        rows: ``token_attributions`` rows of one source and target.
        k: how many.

    Returns:
        ``k`` cells (fewer for a shorter input).
    """
    top = rows.sort_values("token_index").sort_values("attribution", ascending=False, kind="stable").head(k)
    return [
        f"{token} ({index}), {round(float(value), 2)}"
        for token, index, value in top[["token", "token_index", "attribution"]].itertuples(index=False)
    ]


def top_table(by_source: dict[str, pd.DataFrame], target: str) -> pd.DataFrame:
    """The tutorial's top-5 table for one target: one column per sub-embedding, each from that sub-embedding's rows;
    a sub-embedding the model's family lacks (no rows: DistilBERT's token types, ...) says so in its column.

    Args:
        by_source: the example's ``token_attributions`` rows by source (``word``, ``token_type``, ``position``).
        target: ``start`` or ``end``.

    Returns:
        A frame of :data:`TOP_K` rows, one column per entry of :data:`COLUMNS`.
    """
    columns = {}
    for source, column in COLUMNS.items():
        rows = by_source[source]
        columns[column] = top_cells(rows[rows["target"] == target]) if len(rows) else [ABSENT]
    length = max(len(cells) for cells in columns.values())
    return pd.DataFrame({column: cells + [""] * (length - len(cells)) for column, cells in columns.items()})


def table_page(table: pd.DataFrame, target: str, footer: str) -> str:
    """The top-5 table of one target as a standalone HTML page.

    Args:
        table: :func:`top_table`'s frame.
        target: ``start`` or ``end``.
        footer: the footer line.

    Returns:
        A standalone HTML document.
    """
    caption = f"Top 5 attributed embeddings for {target} position"
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n"
        for row in table.itertuples(index=False)
    )
    markup = f"<table>\n<caption>{html.escape(caption)}</caption>\n<tr>{head}</tr>\n{body}</table>"
    return html_page(caption, markup, footer, TOP5_CSS)


# ---------------------------------------------------------------------------------------------------------------------
# Every layer's conductance summary over the tokens


def figure_title(what: str, target: str, example: str) -> str:
    """Every example figure's title: what it shows, then the target position and the example.

    Args:
        what: what the figure shows.
        target: ``start`` or ``end``.
        example: the example's id.

    Returns:
        A two-line title.
    """
    return f"{what}\n{target} position · example {example}"


def heatmap(attributions: pd.DataFrame, target: str, example: str):
    """Layers (1..N, from the data) by tokens, coloured by the summarised conductance on a scale centred at 0.

    Args:
        attributions: the example's ``token_attributions`` rows of source ``layer``.
        target: ``start`` or ``end``.
        example: the example's id.

    Returns:
        The matplotlib figure.
    """
    rows = attributions[attributions["target"] == target]
    grid = rows.pivot(index="layer", columns="token_index", values="attribution").sort_index().sort_index(axis=1)
    tokens = rows.drop_duplicates("token_index").set_index("token_index")["token"].astype(str)
    layers = [int(layer) for layer in grid.index]
    limit, ticks = symmetric_scale(grid.to_numpy(float))
    fig, ax = new_figure(max(6.0, 0.3 * grid.shape[1] + 2.5), max(3.0, 0.35 * len(layers) + 2.4))
    diverging_heatmap(
        ax,
        grid.to_numpy(float),
        limit,
        xticklabels=[token_label(tokens[index], index) for index in grid.columns],
        yticklabels=layers,
        cbar_kws={
            "label": "Attribution (hidden-dimension sum, L2-normalised over tokens)",
            "shrink": 0.9,
            "ticks": ticks,
        },
    )
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(xlabel="Tokens", ylabel="Layers", title=figure_title("Layer conductance per token", target, example))
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# The explained token's per-dimension conductance in every layer


def explained_rows(distributions: pd.DataFrame, target: str) -> tuple[pd.DataFrame, str, list[int]]:
    """The explained token's ``token_distributions`` rows for one target.

    Args:
        distributions: the example's ``token_distributions`` rows.
        target: ``start`` or ``end``.

    Returns:
        ``(rows, label, layers)``: the rows in layer and dimension order, the token's label
        (:func:`~bertscope.figures.style.token_label`), and its layers in increasing order.
    """
    rows = distributions[distributions["target"] == target].sort_values(["layer", "dim"])
    return rows, token_label(*explained_token(rows)), sorted(int(layer) for layer in rows["layer"].unique())


def boxplot(distributions: pd.DataFrame, target: str, example: str):
    """One box per layer (1..N, from the data) of the explained token's conductance over the hidden dimensions.

    A layer of fewer than ``figures.MIN_BOX_POINTS`` dimensions shows its points instead.

    Args:
        distributions: the example's ``token_distributions`` rows.
        target: ``start`` or ``end``.
        example: the example's id.

    Returns:
        The matplotlib figure.
    """
    rows, token, layers = explained_rows(distributions, target)
    groups = [rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float) for layer in layers]
    fig, ax = new_figure(max(6.0, 0.55 * len(layers) + 2.5), 4.5)
    ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
    unboxed = draw_boxes(
        ax,
        groups,
        layers,
        patch_artist=True,
        boxprops={"facecolor": "#9ebcda", "edgecolor": "0.25"},
        medianprops={"color": "0.1"},
        flierprops={"markersize": 3, "markerfacecolor": "0.4", "markeredgecolor": "none"},
    )
    for i in unboxed:
        ax.scatter(np.full(len(groups[i]), layers[i]), groups[i], s=14, color="0.25", zorder=3)
    ax.set_xticks(layers)
    ax.set(
        xlabel="Layers",
        ylabel="Attribution (conductance per hidden dimension)",
        title=figure_title(f"Conductance of token {token} per layer", target, example),
    )
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# The explained token's attribution mass function, total attribution and entropy per layer

RIDGE_HEIGHT = 0.85
"""Height of a ridge's peak, in rows of the ridgeline figure: below 1, so that ridges never overlap."""


def mass_function(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's mass function of one layer's values and its bin edges in attribution units.

    100 equal bins over the values' range. Values that are all equal make one bin at that value (numpy would spread
    them over the value ± 0.5).

    Args:
        values: 1-D array (hidden,).

    Returns:
        ``(pmf, edges)``: (bins,) summing to 1 and (bins + 1,); (1,) and (2,) for equal values.
    """
    if values.min() == values.max():
        return np.ones(1), np.full(2, values[0])
    return attribution_pmf(values), np.histogram_bin_edges(values, bins=DENSITY_BINS)


def density(distributions: pd.DataFrame, target: str, example: str):
    """A ridgeline of the explained token's attribution mass function, one ridge per layer (layer 1 on top).

    The ridges share an attribution axis; each is scaled to its own peak, which is written at its right.

    Args:
        distributions: the example's ``token_distributions`` rows.
        target: ``start`` or ``end``.
        example: the example's id.

    Returns:
        The matplotlib figure.
    """
    rows, token, layers = explained_rows(distributions, target)
    fig, ax = new_figure(9.0, max(4.0, 0.42 * len(layers) + 2.0))
    ax.axvline(0, color="0.85", linewidth=0.8, linestyle=":", zorder=0)
    colours = colormaps["viridis"](np.linspace(0, 0.85, len(layers)))
    at_right = ax.get_yaxis_transform()
    ax.text(1.01, len(layers) - 0.2, "peak mass", transform=at_right, fontsize=8, va="bottom")
    for row, (layer, colour) in enumerate(zip(layers, colours, strict=True)):
        values = rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float)
        mass, edges = mass_function(values)
        base = len(layers) - 1 - row
        heights = mass / mass.max() * RIDGE_HEIGHT
        ax.stairs(base + heights, edges, baseline=base, fill=True, color=colour, alpha=0.45, linewidth=0)
        ax.stairs(base + heights, edges, baseline=base, color=colour, linewidth=1.0)
        ax.text(1.01, base, f"{mass.max():.3f}", transform=at_right, fontsize=8, va="bottom")
        if len(mass) == 1:
            ax.annotate(
                f"all {len(values)} values = {edges[0]:.3g}",
                (edges[0], base + RIDGE_HEIGHT / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_yticks(np.arange(len(layers)) + RIDGE_HEIGHT / 3, [str(layer) for layer in reversed(layers)])
    ax.set_ylim(-0.15, len(layers) - 0.1)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set(
        xlabel="Attribution (conductance per hidden dimension)",
        ylabel="Layers",
        title=figure_title(
            f"Attribution mass function of token {token} per layer\n"
            f"(a {DENSITY_BINS}-bin histogram over each layer's range, normalised to sum to 1)",
            target,
            example,
        ),
    )
    return fig


def entropy(summary: pd.DataFrame, distributions: pd.DataFrame, target: str, example: str):
    """Two panels over the layers: the explained token's total attribution, and the entropy of its mass function.

    The entropy's axis runs from 0 to the largest entropy its values can have, log2 of min(bins, hidden dimensions).

    Args:
        summary: the example's ``layer_summary`` rows.
        distributions: its ``token_distributions`` rows (the hidden size, the explained token).
        target: ``start`` or ``end``.
        example: the example's id.

    Returns:
        The matplotlib figure.
    """
    rows = summary[summary["target"] == target].sort_values("layer")
    explained, token, layers = explained_rows(distributions, target)
    dimensions = int(explained.groupby("layer").size().max())
    largest = float(np.log2(min(DENSITY_BINS, dimensions)))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.55 * len(layers) + 2.5), 5.5), sharex=True, layout="constrained"
    )
    top.axhline(0, color="0.6", linewidth=0.8, zorder=0)
    top.plot(rows["layer"], rows["total_attribution"], marker="o", color="#4c72b0")
    bottom.plot(rows["layer"], rows["entropy"], marker="o", color="#55a868", clip_on=False, zorder=3)
    bottom.axhline(largest, color="0.4", linestyle="--", linewidth=0.9)
    bottom.annotate(
        f"largest possible: log₂ {min(DENSITY_BINS, dimensions)} = {largest:.2f} bits",
        (1, largest),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        color="0.3",
    )
    bottom.set_ylim(0, largest * 1.15)
    bottom.set_xticks(layers)
    top.set(
        ylabel="Total attribution",
        title=figure_title(f"Total attribution and entropy of token {token} per layer", target, example),
    )
    bottom.set(xlabel="Layers", ylabel="Entropy (bits)")
    fig.align_ylabels()
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# One example's every figure and page


FIGURES = ("conductance_heatmap", "token_conductance_boxplot", "attribution_density", "attribution_entropy")
"""The example figures saved in every ``figure_formats`` format, ``{name}_{target}.{format}``."""


def draw_example(frames: dict[str, pd.DataFrame], directory, formats: list[str], footer: str) -> None:
    """Write one example's figures and pages into ``directory``.

    Args:
        frames: the example's rows of each table the figures read, by table name.
        directory: the example's folder (created).
        formats: the figure formats (``figure_formats``: png, svg, pdf).
        footer: the footer line.
    """
    directory = Path(directory)
    attributions, distributions = frames["token_attributions"], frames["token_distributions"]
    prediction = frames["predictions"].iloc[0]
    example = str(prediction["example"])
    by_source = {source: attributions[attributions["source"] == source] for source in ("embeddings", *COLUMNS)}
    layers = attributions[attributions["source"] == "layer"]
    for target in TARGETS:
        embeddings = by_source["embeddings"]
        write_text(
            directory / f"token_attributions_{target}.html",
            token_page(embeddings[embeddings["target"] == target], prediction, target, footer),
        )
        table = top_table(by_source, target)
        write_text(directory / f"top5_{target}.csv", table.to_csv(index=False))
        write_text(directory / f"top5_{target}.html", table_page(table, target, footer))
        drawn = {
            "conductance_heatmap": heatmap(layers, target, example),
            "token_conductance_boxplot": boxplot(distributions, target, example),
            "attribution_density": density(distributions, target, example),
            "attribution_entropy": entropy(frames["layer_summary"], distributions, target, example),
        }
        for name, fig in drawn.items():
            add_footer(fig, footer)
            save_figure(fig, [directory / f"{name}_{target}.{fmt}" for fmt in formats])
