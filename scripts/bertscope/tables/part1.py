"""Part 1's tables: the rows of each table for one example, from its inputs record and attribution files."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from bertscope import TARGETS
from bertscope.attribution.stored import layer_key

DENSITY_BINS = 100
SOURCES = ("embeddings", "word", "token_type", "position", "layer")


def attribution_pmf(values: np.ndarray, bins: int = DENSITY_BINS) -> np.ndarray:
    """The tutorial's per-layer attribution density: a ``bins``-bin histogram density, normalised to sum to 1.

    Args:
        values: 1-D array: one layer's attributions of the explained token (hidden,).
        bins: the histogram's bins (the tutorial's 100).

    Returns:
        (bins,) array summing to 1 (all zeros if the density is zero everywhere).
    """
    density = np.histogram(values, bins=bins, density=True)[0]
    total = np.abs(density).sum()
    return density / total if total != 0 else density


def entropy_bits(pmf: np.ndarray) -> float:
    """Shannon entropy in bits; empty bins contribute nothing.

    Args:
        pmf: 1-D probability mass function (:func:`attribution_pmf`).

    Returns:
        The entropy, at least 0 (0 for a pmf of one bin).
    """
    nonzero = pmf[pmf > 0]
    return max(0.0, float(-(nonzero * np.log2(nonzero)).sum()))


def token_rows(example: str, source: str, layer: int | None, tokens: list[str], summary: np.ndarray) -> pd.DataFrame:
    """Rows of ``token_attributions`` for one attribution's summary.

    Args:
        example: the example's id.
        source: ``embeddings``, ``word``, ``token_type``, ``position`` or ``layer``.
        layer: the encoder layer (from 1) for ``layer``, else None.
        tokens: the example's L tokens.
        summary: (targets, L) summary (:func:`summarize`).

    Returns:
        A frame of 2 L rows, target-major (start's L tokens, then end's), in the schema's column order.
    """
    count = len(tokens)
    return pd.DataFrame(
        {
            "example": example,
            "target": np.repeat(TARGETS, count),
            "source": source,
            "layer": layer,
            "token_index": np.tile(np.arange(count), len(TARGETS)),
            "token": np.tile(np.asarray(tokens, dtype=object), len(TARGETS)),
            "attribution": summary.reshape(-1),
        }
    )


def distribution_rows(example: str, layer: int, token_index: int, token: str, explained: np.ndarray) -> pd.DataFrame:
    """Rows of ``token_distributions``: the explained token's conductance per hidden dimension.

    Args:
        example: the example's id.
        layer: the encoder layer (from 1).
        token_index: the explained token's index.
        token: the explained token.
        explained: (targets, hidden) conductance of the explained token.

    Returns:
        A frame of 2 hidden rows, target-major.
    """
    values = explained.astype(np.float64)
    hidden = values.shape[1]
    return pd.DataFrame(
        {
            "example": example,
            "target": np.repeat(TARGETS, hidden),
            "layer": layer,
            "token_index": token_index,
            "token": token,
            "dim": np.tile(np.arange(hidden), len(TARGETS)),
            "attribution": values.reshape(-1),
        }
    )


def layer_summary_rows(example: str, layer: int, explained: np.ndarray, delta: np.ndarray) -> pd.DataFrame:
    """Rows of ``layer_summary``: one layer's total attribution, entropy and convergence delta per target.

    Args:
        example: the example's id.
        layer: the encoder layer (from 1).
        explained: (targets, hidden) conductance of the explained token.
        delta: (targets,) the layer's convergence deltas.

    Returns:
        A frame of 2 rows (start, end).
    """
    values = explained.astype(np.float64)
    return pd.DataFrame(
        {
            "example": example,
            "target": list(TARGETS),
            "layer": layer,
            "total_attribution": values.sum(axis=-1),
            "entropy": [entropy_bits(attribution_pmf(row)) for row in values],
            "convergence_delta": delta.astype(np.float64),
        }
    )


def delta_rows(example: str, source: str, layer: int | None, delta: np.ndarray, record: dict, part: int = 0):
    """Rows of ``convergence_deltas`` for one attribution: its deltas, the steps it used, its relative deltas and
    whether it converged.

    Args:
        example: the example's id.
        source: ``embeddings``, ``subembeddings`` or ``layer``.
        layer: the encoder layer (from 1) for ``layer``, else None.
        delta: (targets,) convergence deltas.
        record: the attribution file's record of the example (``n_steps``, ``converged``, ``tries``:
            :meth:`~bertscope.evaluation.convergence.Converged.record`).
        part: which attribution of the record's tries this is (a conductance file's layer: its place in increasing
            layer order; else 0): its relative deltas are the tries' ``2·part`` and ``2·part + 1``.

    Returns:
        A frame of 2 rows (start, end).
    """
    return pd.DataFrame(
        {
            **_keys(example, source, layer),
            "delta": delta.astype(np.float64),
            "n_steps": record["n_steps"],
            "relative_delta": _tries(record, part)[-1][1],
            "converged": pd.array([record["converged"]] * len(TARGETS), dtype="boolean"),
        }
    )


def try_rows(example: str, source: str, layer: int | None, record: dict, part: int = 0) -> pd.DataFrame:
    """Rows of ``convergence_tries`` for one attribution: its relative deltas at each try.

    Args:
        example, source, layer, record, part: as :func:`delta_rows` takes them.

    Returns:
        A frame of 2 rows (start, end) per try, in the order of the tries.
    """
    frames = [
        pd.DataFrame({**_keys(example, source, layer), "try": number, "n_steps": steps, "relative_delta": relative})
        for number, (steps, relative) in enumerate(_tries(record, part), 1)
    ]
    return pd.concat(frames, ignore_index=True)


def _keys(example: str, source: str, layer: int | None) -> dict:
    return {"example": example, "target": list(TARGETS), "source": source, "layer": layer}


def _tries(record: dict, part: int) -> list[tuple[int, list[float]]]:
    """The record's tries, each with attribution ``part``'s relative deltas (start, end) only."""
    share = slice(len(TARGETS) * part, len(TARGETS) * (part + 1))
    return [(steps, relative[share]) for steps, relative in record["tries"]]


def summarize(sums: np.ndarray) -> np.ndarray:
    """The tutorial's summary of an attribution: its token sums divided by their L2 norm over the tokens.

    Args:
        sums: (targets, L) token sums (:func:`~bertscope.attribution.stored.token_sums`).

    Returns:
        (targets, L) array, each target's row of unit L2 norm.
    """
    return sums / np.linalg.norm(sums, axis=-1, keepdims=True)


SCORED_KEYS = (
    *("has_answer", "answer", "span_start", "span_end", "span_answer", "null_score_diff", "exact", "f1", "outcome"),
    *("window", "window_count"),
)
"""The inputs record's fields of the scored prediction and its window that ``predictions`` takes as they are."""


def scored_columns(record: dict) -> dict:
    """The ``predictions`` columns of the scored prediction, the outcome and the window, from an inputs record."""
    span_chars = record["span_char_span"] or (None, None)
    return {
        **{key: record[key] for key in SCORED_KEYS},
        "span_char_begin": span_chars[0],
        "span_char_end": span_chars[1],
        "context_char_begin": record["context_char_span"][0],
        "context_char_end": record["context_char_span"][1],
    }


def example_tables(example: str, record: dict, embeddings, subembeddings, conductance) -> dict[str, list[pd.DataFrame]]:
    """Every Part 1 table's rows of one example, from its inputs record and attribution files.

    Args:
        example: the example's id.
        record: its inputs record (tokens, token_to_explain, the prediction and the true span).
        embeddings: the open :class:`~bertscope.pipeline.tensor_io.BatchFile` of the embedding LIG.
        subembeddings: that of the sub-embedding LIG.
        conductance: those of the conductance layer groups (any grouping: each file's record names its layers).

    Returns:
        ``{table: [frames]}`` for ``token_attributions``, ``token_distributions``, ``layer_summary``,
        ``convergence_deltas``, ``convergence_tries`` and ``predictions``; the layers in increasing order, each
        labelled with its own number.
    """
    tokens, explained = record["tokens"], record["token_to_explain"]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)

    delta = embeddings.tensor(example, "delta")
    rows["token_attributions"].append(
        token_rows(example, "embeddings", None, tokens, summarize(embeddings.tensor(example, "token_sums")))
    )
    _add_deltas(rows, example, "embeddings", None, delta, embeddings.records[example])
    rows["predictions"].append(
        pd.DataFrame(
            [
                {
                    "example": example,
                    **{key: record[key] for key in ("predicted_start", "predicted_end", "predicted_answer")},
                    **{key: record[key] for key in ("start_prob", "end_prob", "true_start", "true_end")},
                    "delta_start": float(delta[0]),
                    "delta_end": float(delta[1]),
                    **scored_columns(record),
                }
            ]
        )
    )

    # only the sub-embeddings the model's family has (the file's record names them): a missing one has no rows
    for source in subembeddings.records[example]["subembeddings"]:
        sums = subembeddings.tensor(example, f"{source}.token_sums")
        rows["token_attributions"].append(token_rows(example, source, None, tokens, summarize(sums)))
    sub_delta = subembeddings.tensor(example, "delta")
    _add_deltas(rows, example, "subembeddings", None, sub_delta, subembeddings.records[example])

    layers = sorted(layer for group in conductance for layer in group.records[example]["layers"])
    files = {layer: group for group in conductance for layer in group.records[example]["layers"]}
    for layer in layers:
        group, key = files[layer], layer_key(layer)
        vector, layer_delta = group.tensor(example, f"{key}.explained"), group.tensor(example, f"{key}.delta")
        sums = group.tensor(example, f"{key}.token_sums")
        rows["token_attributions"].append(token_rows(example, "layer", layer, tokens, summarize(sums)))
        rows["token_distributions"].append(distribution_rows(example, layer, explained, tokens[explained], vector))
        rows["layer_summary"].append(layer_summary_rows(example, layer, vector, layer_delta))
        record = group.records[example]
        place = sorted(record["layers"]).index(layer)
        _add_deltas(rows, example, "layer", layer, layer_delta, record, place)
    return rows


def _add_deltas(rows: dict, example: str, source: str, layer: int | None, delta, record: dict, part: int = 0):
    """Add an attribution's rows of ``convergence_deltas`` and ``convergence_tries``."""
    rows["convergence_deltas"].append(delta_rows(example, source, layer, delta, record, part))
    rows["convergence_tries"].append(try_rows(example, source, layer, record, part))
