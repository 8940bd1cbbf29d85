"""Figures over every example in the tables: mean layer conductance per token category, entropy per layer, and the
convergence deltas, plus an HTML table of every example's prediction.

Examples have different token counts, so per-token values cannot be averaged across them. The layer figure instead
sums each example's layer attribution (source ``layer``) over seven token categories that every input has
(``[CLS] question [SEP] context [SEP]``, the context split around the true answer span) and averages those sums over
the examples. A category with no tokens in an example (an answer at the very start of the context leaves nothing
before it) sums to 0 there.
"""

import html
from itertools import pairwise

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import LogFormatter

from bertscope import TARGETS, BertscopeError
from bertscope.figures import add_footer, html_page, new_figure, save_figure, write_text
from bertscope.step import run_step

CATEGORIES = (
    "[CLS]",
    "Question",
    "First [SEP]",
    "Context before answer",
    "Answer",
    "Context after answer",
    "Final [SEP]",
)
"""Token categories of a ``[CLS] question [SEP] context [SEP]`` input, in input order; the answer is the true span."""

SOURCE_ORDER = ("embeddings", "subembeddings", "layer")
"""The sources of ``convergence_deltas`` in the order they are drawn (any other source follows, alphabetically)."""

COLOURS = {"start": "#4c72b0", "end": "#dd8452"}
LINES = {"start": {"marker": "o", "linestyle": "-"}, "end": {"marker": "s", "linestyle": "--"}}
"""Lines of the two targets differ in more than colour, so that one is seen even where it hides the other."""

HTML_COLUMNS = (
    "Example",
    "Predicted answer",
    "True start",
    "True end",
    "Predicted start",
    "Predicted end",
    "Start prob",
    "End prob",
    "Max |delta|",
)

CSS = """
th, td { border: 1px solid #ccc; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f5f5f5; }
td.num { text-align: right; }
"""


def footer(smk, examples: int) -> str:
    """The footer of every summary figure and page: model, steps, and how many examples it covers."""
    return f"model: {smk.params.model} · n_steps: {smk.params.n_steps} · examples: {examples}"


def _table_error(table: str, problem: str) -> BertscopeError:
    return BertscopeError(f"table {table}: {problem}. Fix: rebuild the tables (snakemake --forcerun tables)")


# ---------------------------------------------------------------------------------------------------------------------
# Mean layer attribution per token category


def token_categories(tokens: list[str], true_start: int, true_end: int, example: str) -> np.ndarray:
    """The category (an index into :data:`CATEGORIES`) of each token of one example's input.

    ``[CLS]`` is the first token and the final separator the last; the first separator is the first token after
    ``[CLS]`` that reads like the final one; the answer is ``true_start..true_end`` (inclusive).
    """
    count = len(tokens)
    separator = tokens[-1] if tokens else None
    first_sep = next((i for i in range(1, count - 1) if tokens[i] == separator), None)
    if first_sep is None or not first_sep < true_start <= true_end < count - 1:
        raise _table_error(
            "token_attributions",
            f"example '{example}': its {count} tokens are not '[CLS] question [SEP] context [SEP]' with the true "
            f"answer {true_start}..{true_end} in the context",
        )
    bounds = [0, 1, first_sep, first_sep + 1, true_start, true_end + 1, count - 1, count]
    categories = np.empty(count, dtype=int)
    for category, (begin, end) in enumerate(pairwise(bounds)):
        categories[begin:end] = category
    return categories


def category_attributions(attributions: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Per example, target, layer and category: the summed layer attribution of the category's tokens.

    ``attributions`` are ``token_attributions`` rows of source ``layer``; ``predictions`` gives each example's true
    answer span. Columns: example, target, layer, category (str, every one of :data:`CATEGORIES`), attribution.
    """
    spans = predictions.drop_duplicates("example").set_index("example")
    frames = []
    for example, rows in attributions.groupby("example", sort=False):
        if example not in spans.index:
            raise _table_error("predictions", f"no row for example '{example}'")
        tokens = rows.drop_duplicates("token_index").sort_values("token_index")
        if tokens["token_index"].tolist() != list(range(len(tokens))):
            raise _table_error("token_attributions", f"example '{example}': token indices are not 0..N-1")
        categories = token_categories(
            tokens["token"].astype(str).tolist(),
            int(spans.at[example, "true_start"]),
            int(spans.at[example, "true_end"]),
            example,
        )
        labelled = rows.assign(category=np.asarray(CATEGORIES)[categories[rows["token_index"].to_numpy(int)]])
        sums = labelled.groupby(["target", "layer", "category"])["attribution"].sum()
        # Every category of every (target, layer), so that an empty category counts as 0 in the mean.
        full = pd.MultiIndex.from_product(
            [sums.index.levels[0], sums.index.levels[1], list(CATEGORIES)], names=sums.index.names
        )
        frames.append(sums.reindex(full, fill_value=0.0).reset_index().assign(example=example))
    frame = pd.concat(frames, ignore_index=True)
    return frame[["example", "target", "layer", "category", "attribution"]]


def mean_layer_attribution(attributions: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per target: layers (1..N, from the data) × :data:`CATEGORIES`, the mean over examples of the category sums."""
    sums = category_attributions(attributions, predictions)
    grids = {}
    for target in TARGETS:
        rows = sums[sums["target"] == target]
        if rows.empty:
            continue
        grid = rows.pivot_table(index="layer", columns="category", values="attribution", aggfunc="mean")
        grids[target] = grid.reindex(columns=list(CATEGORIES)).sort_index()
    return grids


def mean_layer_heatmap(grids: dict[str, pd.DataFrame], examples: int):
    """One panel per target: layers by token category, on one colour scale centred at 0, each cell labelled."""
    layers = [int(layer) for layer in next(iter(grids.values())).index]
    limit = max(float(np.nanmax(np.abs(grid.to_numpy(float)), initial=0.0)) for grid in grids.values()) or 1.0
    labels = [category.replace(" ", "\n", 1) if category.startswith("Context") else category for category in CATEGORIES]
    fig, axes = plt.subplots(
        1, len(grids), figsize=(13.0, max(3.5, 0.4 * len(layers) + 2.6)), layout="constrained", squeeze=False
    )
    for index, (ax, (target, grid)) in enumerate(zip(axes[0], grids.items(), strict=True)):
        last = index == len(grids) - 1
        sns.heatmap(
            grid.to_numpy(float),
            ax=ax,
            cmap="PiYG",
            center=0,
            vmin=-limit,
            vmax=limit,
            annot=_cell_labels(grid) if len(layers) <= 30 else False,
            fmt="",
            annot_kws={"fontsize": 7},
            xticklabels=labels,
            yticklabels=layers,
            linewidths=0.2,
            cbar=last,
            cbar_kws={"label": "Mean summed attribution", "shrink": 0.9} if last else None,
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


def entropy_quantiles(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target and layer, over the examples: median, first and third quartile of the entropy, and the count.

    Quartiles interpolate linearly, as numpy's defaults do. Columns: target, layer, median, q1, q3, examples.
    """
    groups = summary.groupby(["target", "layer"])["entropy"]
    frame = pd.DataFrame(
        {
            "median": groups.median(),
            "q1": groups.quantile(0.25),
            "q3": groups.quantile(0.75),
            "examples": groups.count(),
        }
    ).reset_index()
    frame["layer"] = frame["layer"].astype(int)
    rank = frame["target"].map({target: i for i, target in enumerate(TARGETS)}).fillna(len(TARGETS))
    frame = frame.assign(_rank=rank).sort_values(["_rank", "target", "layer"])
    return frame.drop(columns="_rank").reset_index(drop=True)


def entropy_figure(stats: pd.DataFrame, examples: int):
    """Median entropy per layer, one line per target, with the interquartile range as a band around it."""
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
        title=f"Entropy of the explained token's attribution per layer, over {examples} example{_s(examples)}",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# Convergence deltas


def delta_magnitudes(deltas: pd.DataFrame) -> pd.DataFrame:
    """``convergence_deltas`` with ``abs_delta`` = |delta|, rows ordered by :data:`SOURCE_ORDER` then example."""
    order = {source: i for i, source in enumerate(SOURCE_ORDER)}
    frame = deltas.assign(
        abs_delta=deltas["delta"].abs().astype(float),
        _rank=deltas["source"].map(lambda source: order.get(source, len(order))),
    )
    return frame.sort_values(["_rank", "source"], kind="stable").drop(columns="_rank").reset_index(drop=True)


def delta_figure(magnitudes: pd.DataFrame, examples: int):
    """Per source: each attribution's |delta| as a point (by target) under a box outline; log scale, median line."""
    sources = list(dict.fromkeys(magnitudes["source"].astype(str)))
    values = magnitudes["abs_delta"].to_numpy(float)
    median = float(np.median(values))
    fig, ax = new_figure(9.0, max(3.0, 0.8 * len(sources) + 1.8))
    positions = {source: i for i, source in enumerate(sources)}
    ax.boxplot(
        [magnitudes.loc[magnitudes["source"] == source, "abs_delta"].to_numpy(float) for source in sources],
        positions=list(positions.values()),
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
    jitter = np.random.default_rng(0).uniform(-0.22, 0.22, len(magnitudes))
    for target in dict.fromkeys([*TARGETS, *magnitudes["target"].astype(str)]):
        chosen = (magnitudes["target"] == target).to_numpy()
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
    ax.axvline(median, color="0.3", linestyle="--", linewidth=1, label=f"median |delta| = {median:.2e}", zorder=3)
    positive = values[values > 0]
    if len(positive) == len(values):
        ax.set_xscale("log")
        scale = "log scale"
    elif len(positive):
        ax.set_xscale("symlog", linthresh=float(positive.min()))
        ax.set_xlim(0, float(positive.max()) * 2)
        scale = f"symmetric log scale, linear below {positive.min():.2g}"
    else:
        scale = "every delta is 0"
    if len(positive):
        # Plain-text tick labels such as 1e-05: the style turns mathtext off, which the default log labels need.
        ax.xaxis.set_major_formatter(LogFormatter())
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    counts = magnitudes["source"].astype(str).value_counts()
    ax.set_yticks(list(positions.values()), [f"{source} (n={counts[source]})" for source in sources])
    ax.set_ylim(len(sources) - 0.5, -0.5)
    ax.set(
        xlabel=f"|Convergence delta| ({scale})",
        ylabel="Source",
        title=f"Convergence deltas of {len(magnitudes)} attributions ({examples} example{_s(examples)}, "
        f"start and end targets)",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------------------------------
# Examples page


def examples_table(predictions: pd.DataFrame, deltas: pd.DataFrame) -> pd.DataFrame:
    """One row per example (in table order): its prediction, true span, probabilities and largest |delta|."""
    largest = deltas.assign(abs_delta=deltas["delta"].abs()).groupby("example")["abs_delta"].max()
    return pd.DataFrame(
        {
            "Example": predictions["example"].astype(str),
            "Predicted answer": predictions["predicted_answer"].astype(str),
            "True start": predictions["true_start"].astype(int),
            "True end": predictions["true_end"].astype(int),
            "Predicted start": predictions["predicted_start"].astype(int),
            "Predicted end": predictions["predicted_end"].astype(int),
            "Start prob": predictions["start_prob"].astype(float),
            "End prob": predictions["end_prob"].astype(float),
            "Max |delta|": predictions["example"].map(largest).astype(float),
        },
        columns=list(HTML_COLUMNS),
    ).reset_index(drop=True)


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


# ---------------------------------------------------------------------------------------------------------------------


def _read(path, table: str, **equals) -> pd.DataFrame:
    filters = [(column, "==", value) for column, value in equals.items()] or None
    frame = pd.read_parquet(path, filters=filters)
    if frame.empty:
        where = "".join(f" with {column} == {value!r}" for column, value in equals.items())
        raise _table_error(table, f"{path} has no rows{where}")
    return frame


def main(smk):
    attributions = _read(smk.input.token_attributions, "token_attributions", source="layer")
    attributions["layer"] = attributions["layer"].astype(int)
    summary = _read(smk.input.layer_summary, "layer_summary")
    deltas = _read(smk.input.convergence_deltas, "convergence_deltas")
    predictions = _read(smk.input.predictions, "predictions")
    examples = predictions["example"].nunique()
    line = footer(smk, examples)

    figures = {
        "mean_layer_attribution": lambda: mean_layer_heatmap(
            mean_layer_attribution(attributions, predictions), attributions["example"].nunique()
        ),
        "entropy_by_layer": lambda: entropy_figure(entropy_quantiles(summary), summary["example"].nunique()),
        "convergence_deltas": lambda: delta_figure(delta_magnitudes(deltas), deltas["example"].nunique()),
    }
    for name, draw in figures.items():
        fig = draw()
        add_footer(fig, line)
        save_figure(fig, getattr(smk.output, name))
    write_text(smk.output.summary_html, examples_page(examples_table(predictions, deltas), line))


if __name__ == "__main__":
    run_step(main, globals())
