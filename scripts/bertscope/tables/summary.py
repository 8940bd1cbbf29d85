"""The cross-example summaries: what the summary figures show, computed from the table datasets part by part.

Examples have different token counts, so per-token values cannot be averaged across them. The layer summary instead
sums each example's layer attribution (source ``layer``) over seven token categories that every input has
(``[CLS] question [SEP] context [SEP]``, the context split around the true answer span) and averages those sums over
the examples. A category with no tokens in an example (an answer at the very start of the context leaves nothing
before it) sums to 0 there.

Every function reads only the columns it needs, and the token-level table one part (one batch) at a time, so memory
stays bounded by the batch size, not the number of examples.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from bertscope import TARGETS, BertscopeError
from bertscope.tables.io import read_part

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


def _table_error(table: str, problem: str) -> BertscopeError:
    return BertscopeError(f"table {table}: {problem}. Fix: rebuild the tables (snakemake --forcerun tables)")


def token_categories(tokens: list[str], true_start: int, true_end: int, example: str) -> np.ndarray:
    """The category (an index into :data:`CATEGORIES`) of each token of one example's input.

    ``[CLS]`` is the first token and the final separator the last; the first separator is the first token after
    ``[CLS]`` that reads like the final one; the answer is ``true_start..true_end`` (inclusive). The null answer
    (``true_start = true_end = 0``: an unanswerable question, or a window without the answer) has no answer tokens:
    the whole context is "Context before answer".

    Args:
        tokens: the example's L tokens.
        true_start: the answer's first token index (0 for the null answer).
        true_end: the answer's last token index (0 for the null answer).
        example: the example's id (named in the error).

    Returns:
        (L,) int array of category indices.

    Raises:
        BertscopeError: the tokens are not ``[CLS] question [SEP] context [SEP]`` with the answer in the context.
    """
    count = len(tokens)
    separator = tokens[-1] if tokens else None
    first_sep = next((i for i in range(1, count - 1) if tokens[i] == separator), None)
    if first_sep is not None and true_start == true_end == 0:
        true_start, true_end = count - 1, count - 2  # an empty answer just before the final separator
    elif first_sep is None or not first_sep < true_start <= true_end < count - 1:
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

    Args:
        attributions: ``token_attributions`` rows of source ``layer``.
        predictions: ``predictions`` rows (each example's true answer span).

    Returns:
        A frame with columns example, target, layer, category (str, every one of :data:`CATEGORIES`), attribution.
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
    """Per target, the mean over examples of each category's summed layer attribution.

    Args:
        attributions: ``token_attributions`` rows of source ``layer``.
        predictions: ``predictions`` rows.

    Returns:
        ``{target: frame}``, each (layers 1..N, from the data) × :data:`CATEGORIES`.
    """
    return category_means(category_attributions(attributions, predictions))


def category_means(sums: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`mean_layer_attribution` from :func:`category_attributions`' rows (of any number of parts).

    Args:
        sums: :func:`category_attributions` rows.

    Returns:
        ``{target: frame}``, layers × :data:`CATEGORIES`; a target without rows is left out.
    """
    grids = {}
    for target in TARGETS:
        rows = sums[sums["target"] == target]
        if rows.empty:
            continue
        grid = rows.pivot_table(index="layer", columns="category", values="attribution", aggfunc="mean")
        grids[target] = grid.reindex(columns=list(CATEGORIES)).sort_index()
    return grids


LAYER_COLUMNS = ["example", "target", "layer", "token_index", "token", "attribution"]


def dataset_parts(dataset: str | Path) -> list[Path]:
    """The Parquet parts of a table's dataset directory, in name order (staging files, '.…', excluded).

    Args:
        dataset: the dataset directory (``results/tables/{table}``).

    Returns:
        The parts' paths.

    Raises:
        BertscopeError: the dataset has no part.
    """
    parts = sorted(Path(dataset).glob("[!._]*.parquet"))
    if not parts:
        raise _table_error(Path(dataset).name, f"{dataset} has no parts")
    return parts


def mean_layer_attribution_of_dataset(dataset: str | Path, predictions: pd.DataFrame) -> tuple[dict, int]:
    """:func:`mean_layer_attribution` over a ``token_attributions`` dataset, read one part at a time.

    Args:
        dataset: the ``token_attributions`` dataset directory.
        predictions: every example's ``predictions`` rows.

    Returns:
        ``({target: layers × categories frame}, number of examples covered)``.

    Raises:
        BertscopeError: the dataset has no row of source ``layer``.
    """
    sums = []
    for part in dataset_parts(dataset):
        rows = read_part(part, columns=LAYER_COLUMNS, filters=[("source", "==", "layer")])
        if not rows.empty:
            rows["layer"] = rows["layer"].astype(int)
            sums.append(category_attributions(rows, predictions))
    if not sums:
        raise _table_error("token_attributions", f"{dataset} has no rows with source == 'layer'")
    frame = pd.concat(sums, ignore_index=True)
    return category_means(frame), frame["example"].nunique()


def entropy_quantiles(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target and layer, over the examples: median, first and third quartile of the entropy, and the count.

    Quartiles interpolate linearly, as numpy's defaults do.

    Args:
        summary: ``layer_summary`` rows.

    Returns:
        A frame with columns target, layer, median, q1, q3, examples.
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


def delta_magnitudes(deltas: pd.DataFrame) -> pd.DataFrame:
    """Convergence deltas with their magnitudes, ordered for the figure.

    Args:
        deltas: ``convergence_deltas`` rows.

    Returns:
        The rows with ``abs_delta`` = |delta|, ordered by :data:`SOURCE_ORDER` (unknown sources last), then as given.
    """
    order = {source: i for i, source in enumerate(SOURCE_ORDER)}
    frame = deltas.assign(
        abs_delta=deltas["delta"].abs().astype(float),
        _rank=deltas["source"].map(lambda source: order.get(source, len(order))),
    )
    return frame.sort_values(["_rank", "source"], kind="stable").drop(columns="_rank").reset_index(drop=True)


def examples_table(predictions: pd.DataFrame, deltas: pd.DataFrame) -> pd.DataFrame:
    """The examples page's table: one row per example (in table order).

    Args:
        predictions: ``predictions`` rows.
        deltas: ``convergence_deltas`` rows (every source).

    Returns:
        A frame with the columns of :data:`HTML_COLUMNS`: prediction, true span, probabilities and largest |delta|.
    """
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
