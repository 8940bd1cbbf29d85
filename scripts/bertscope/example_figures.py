"""The figures and pages of one example, as the tutorial draws them: token colours, top-5 tables, conductance
heatmaps, per-token box plots, attribution densities and entropies. ``plot_examples`` draws them for a batch."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colormaps

from bertscope import TARGETS
from bertscope.figures import add_footer, explained_token, html_page, new_figure, save_figure, write_text
from bertscope.tables import DENSITY_BINS, attribution_pmf

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
    """captum's colour for a token: green for positive, red for negative, white for zero; clipped to [-1, 1]."""
    attribution = max(-1.0, min(1.0, attribution))
    if attribution > 0:
        return f"hsl(120, 75%, {100 - int(50 * attribution)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * attribution)}%)"


def question_text(tokens: list[str]) -> str | None:
    """The question as the model read it: the tokens between [CLS] and the first [SEP], word pieces joined."""
    if "[SEP]" not in tokens:
        return None
    return " ".join(tokens[1 : tokens.index("[SEP]")]).replace(" ##", "")


def token_page(attributions: pd.DataFrame, prediction: pd.Series, target: str, footer: str) -> str:
    """One target's page: question and answer, legend, captum's table row, convergence delta."""
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

TOP5_CSS = """
th, td { border: 1px solid #ccc; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f5f5f5; }
"""


def top_cells(rows: pd.DataFrame, k: int = TOP_K) -> list[str]:
    """The ``k`` highest attributed tokens as "token (index), value", highest first, ties in token order."""
    top = rows.sort_values("token_index").sort_values("attribution", ascending=False, kind="stable").head(k)
    return [
        f"{token} ({index}), {round(float(value), 2)}"
        for token, index, value in top[["token", "token_index", "attribution"]].itertuples(index=False)
    ]


def top_table(by_source: dict[str, pd.DataFrame], target: str) -> pd.DataFrame:
    """The tutorial's table for one target: one column per sub-embedding, each from that sub-embedding's rows."""
    columns = {}
    for source, column in COLUMNS.items():
        rows = by_source[source]
        columns[column] = top_cells(rows[rows["target"] == target])
    return pd.DataFrame(columns)


def table_page(table: pd.DataFrame, target: str, footer: str) -> str:
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


def heatmap(attributions: pd.DataFrame, target: str):
    """Layers (1..N, from the data) by tokens, coloured by the summarised conductance on a scale centred at 0."""
    rows = attributions[attributions["target"] == target]
    grid = rows.pivot(index="layer", columns="token_index", values="attribution").sort_index().sort_index(axis=1)
    tokens = rows.drop_duplicates("token_index").set_index("token_index")["token"].astype(str)
    layers = [int(layer) for layer in grid.index]
    limit = float(abs(grid).max().max()) or 1.0
    fig, ax = new_figure(max(6.0, 0.3 * grid.shape[1] + 2.5), max(3.0, 0.35 * len(layers) + 2.2))
    sns.heatmap(
        grid.to_numpy(float),
        ax=ax,
        cmap="PiYG",
        center=0,
        vmin=-limit,
        vmax=limit,
        xticklabels=tokens[grid.columns].tolist(),
        yticklabels=layers,
        linewidths=0.2,
        cbar_kws={"label": "Attribution", "shrink": 0.9},
    )
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(xlabel="Tokens", ylabel="Layers", title=f"Layer conductance, {target} position")
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# The explained token's per-dimension conductance in every layer


def boxplot(distributions: pd.DataFrame, target: str):
    """One box per layer (1..N, from the data) of the conductance over the hidden dimensions."""
    rows = distributions[distributions["target"] == target].sort_values(["layer", "dim"])
    token, index = explained_token(rows)
    layers = sorted(rows["layer"].unique())
    fig, ax = new_figure(max(6.0, 0.55 * len(layers) + 2.5), 4.5)
    ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
    ax.boxplot(
        [rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float) for layer in layers],
        tick_labels=[str(layer) for layer in layers],
        patch_artist=True,
        boxprops={"facecolor": "#9ebcda", "edgecolor": "0.25"},
        medianprops={"color": "0.1"},
        flierprops={"markersize": 3, "markerfacecolor": "0.4", "markeredgecolor": "none"},
    )
    ax.set(
        xlabel="Layers",
        ylabel="Attribution",
        title=f"Conductance of token '{token}' ({index}) per layer, {target} position",
    )
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# The explained token's attribution mass function, total attribution and entropy per layer


def density(distributions: pd.DataFrame, target: str):
    """One line per layer: the tutorial's 100-bin histogram density normalised to a mass function, by bin index."""
    rows = distributions[distributions["target"] == target].sort_values(["layer", "dim"])
    token, index = explained_token(rows)
    layers = sorted(rows["layer"].unique())
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
    fig, ax = new_figure(9.0, 4.5)
    for layer, colour in zip(layers, colours, strict=True):
        values = rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float)
        ax.plot(np.arange(DENSITY_BINS), attribution_pmf(values), color=colour, linewidth=1.2, label=f"Layer {layer}")
    ax.set(
        xlabel="Bins",
        ylabel="Density",
        xlim=(0, DENSITY_BINS - 1),
        title=f"Attribution mass function of token '{token}' ({index}) per layer, {target} position",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, ncols=1 + len(layers) // 13)
    return fig


def entropy(summary: pd.DataFrame, token: str, index: int, target: str):
    """Total attribution per layer; marker area is entropy × 100, as in the tutorial, and each is labelled."""
    rows = summary[summary["target"] == target].sort_values("layer")
    layers = rows["layer"].to_numpy(int)
    totals, entropies = rows["total_attribution"].to_numpy(float), rows["entropy"].to_numpy(float)
    sizes = entropies * 100
    fig, ax = new_figure(max(6.0, 0.55 * len(layers) + 2.5), 4.5)
    ax.scatter(layers, totals, s=sizes, color="#4c72b0", alpha=0.7, edgecolor="white", linewidth=0.6)
    for layer, total, bits, size in zip(layers, totals, entropies, sizes, strict=True):
        ax.annotate(
            f"{bits:.2f}",
            (layer, total),
            xytext=(0, np.sqrt(size) / 2 + 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(layers)
    ax.margins(x=0.08, y=0.25)
    ax.set(
        xlabel="Layers",
        ylabel="Total attribution",
        title=f"Total attribution of token '{token}' ({index}) per layer, {target} position\n"
        "(marker size and label: entropy in bits)",
    )
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# One example's every figure and page


FIGURES = ("conductance_heatmap", "token_conductance_boxplot", "attribution_density", "attribution_entropy")
"""The example figures saved in every ``figure_formats`` format, ``{name}_{target}.{format}``."""


def figure_footer(model: str, n_steps: int, procedure: str, example: str) -> str:
    """The line that closes every figure and page of an example: model, steps, procedure, example."""
    return f"model: {model} · n_steps: {n_steps} · procedure: {procedure} · example: {example}"


def draw_example(frames: dict[str, pd.DataFrame], directory, formats: list[str], footer: str) -> None:
    """Write one example's figures and pages into ``directory`` from its rows of each table (``frames``)."""
    from pathlib import Path

    directory = Path(directory)
    attributions, distributions = frames["token_attributions"], frames["token_distributions"]
    prediction = frames["predictions"].iloc[0]
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
        token, index = explained_token(distributions[distributions["target"] == target])
        drawn = {
            "conductance_heatmap": heatmap(layers, target),
            "token_conductance_boxplot": boxplot(distributions, target),
            "attribution_density": density(distributions, target),
            "attribution_entropy": entropy(frames["layer_summary"], token, index, target),
        }
        for name, fig in drawn.items():
            add_footer(fig, footer)
            save_figure(fig, [directory / f"{name}_{target}.{fmt}" for fmt in formats])
