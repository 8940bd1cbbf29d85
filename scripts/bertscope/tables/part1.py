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
    """The tutorial's per-layer attribution density: a ``bins``-bin histogram density, normalised to sum to 1."""
    density = np.histogram(values, bins=bins, density=True)[0]
    total = np.abs(density).sum()
    return density / total if total != 0 else density


def entropy_bits(pmf: np.ndarray) -> float:
    """Shannon entropy in bits; empty bins contribute nothing."""
    nonzero = pmf[pmf > 0]
    return max(0.0, float(-(nonzero * np.log2(nonzero)).sum()))


def token_rows(example: str, source: str, layer: int | None, tokens: list[str], summary: np.ndarray) -> pd.DataFrame:
    """Rows of ``token_attributions`` for one attribution's (targets, tokens) summary."""
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
    """Rows of ``token_distributions``: the explained token's conductance (targets, hidden) per dimension."""
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
    """Rows of ``layer_summary`` from the explained token's conductance (targets, hidden) and the layer's deltas."""
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


def delta_rows(example: str, source: str, layer: int | None, delta: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "example": example,
            "target": list(TARGETS),
            "source": source,
            "layer": layer,
            "delta": delta.astype(np.float64),
        }
    )


def summarize(sums: np.ndarray) -> np.ndarray:
    """The tutorial's summary of an attribution from its :func:`token_sums`: divided by the L2 norm over tokens."""
    return sums / np.linalg.norm(sums, axis=-1, keepdims=True)


def example_tables(example: str, record: dict, embeddings, subembeddings, conductance) -> dict[str, list[pd.DataFrame]]:
    """Every table's rows of one example: ``record`` is its inputs record, the others open :class:`BatchFile`s
    (``conductance`` one per layer group)."""
    tokens, explained = record["tokens"], record["token_to_explain"]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)

    delta = embeddings.tensor(example, "delta")
    rows["token_attributions"].append(
        token_rows(example, "embeddings", None, tokens, summarize(embeddings.tensor(example, "token_sums")))
    )
    rows["convergence_deltas"].append(delta_rows(example, "embeddings", None, delta))
    rows["predictions"].append(
        pd.DataFrame(
            [
                {
                    "example": example,
                    **{key: record[key] for key in ("predicted_start", "predicted_end", "predicted_answer")},
                    **{key: record[key] for key in ("start_prob", "end_prob", "true_start", "true_end")},
                    "delta_start": float(delta[0]),
                    "delta_end": float(delta[1]),
                }
            ]
        )
    )

    # only the sub-embeddings the model's family has (the file's record names them): a missing one has no rows
    for source in subembeddings.records[example]["subembeddings"]:
        sums = subembeddings.tensor(example, f"{source}.token_sums")
        rows["token_attributions"].append(token_rows(example, source, None, tokens, summarize(sums)))
    rows["convergence_deltas"].append(
        delta_rows(example, "subembeddings", None, subembeddings.tensor(example, "delta"))
    )

    layers = sorted(layer for group in conductance for layer in group.records[example]["layers"])
    files = {layer: group for group in conductance for layer in group.records[example]["layers"]}
    for layer in layers:
        group, key = files[layer], layer_key(layer)
        vector, layer_delta = group.tensor(example, f"{key}.explained"), group.tensor(example, f"{key}.delta")
        sums = group.tensor(example, f"{key}.token_sums")
        rows["token_attributions"].append(token_rows(example, "layer", layer, tokens, summarize(sums)))
        rows["token_distributions"].append(distribution_rows(example, layer, explained, tokens[explained], vector))
        rows["layer_summary"].append(layer_summary_rows(example, layer, vector, layer_delta))
        rows["convergence_deltas"].append(delta_rows(example, "layer", layer, layer_delta))
    return rows
