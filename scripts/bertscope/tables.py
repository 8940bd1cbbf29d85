"""The Parquet tables: what they hold, how they are computed from the attribution files, and how they are written.

Each table is a dataset directory, ``results/tables/{table}/``, with one Parquet part per batch of examples
(``{batch}.parquet``); ``pandas.read_parquet("results/tables/{table}")`` or ``pyarrow.dataset`` read it as one
table. Schemas (one row per ...):

``token_attributions``: example, target, source, layer, token_index, token, attribution
    per token of every attribution: ``source`` is embeddings | word | token_type | position | layer, ``layer`` is
    1-based for ``layer`` rows and null otherwise; ``attribution`` is the tutorial's summary (sum over the hidden
    dimension, divided by the L2 norm over tokens).
``token_distributions``: example, target, layer, token_index, token, dim, attribution
    per hidden dimension of the explained token's raw layer conductance.
``layer_summary``: example, target, layer, total_attribution, entropy, convergence_delta
    per encoder layer: the explained token's conductance summed over dimensions, the Shannon entropy (bits) of its
    100-bin attribution density normalised to a mass function, and the layer's conductance convergence delta.
``predictions``: example, predicted_start, predicted_end, predicted_answer, start_prob, end_prob, true_start,
    true_end, delta_start, delta_end — per example; deltas are the embedding LIG convergence deltas.
``convergence_deltas``: example, target, source, layer, delta — every attribution's convergence delta.

Part 2 (``attention: true``; :mod:`bertscope.attention`):

``attention_heads``: example, layer, head, attention_entropy, value_norm_mean, conductance_norm_start,
    conductance_norm_end — per example, layer and head (every example): the mean entropy (bits) of the head's
    attention rows, the mean ‖f(x)‖ over tokens, and the Frobenius norm of the conductance of its attention
    probabilities for each target.
``attention_matrices``: example, quantity, layer, head, from_index, from_token, to_index, to_token, value — per
    token pair, for the examples that get figures (``figure_examples``). ``quantity`` with a head (1-based), for
    ``attention_layer`` only: attention (α), conductance_start, conductance_end (of α), alpha_value_norm
    (‖α f(x)‖); with a null head, for every layer: attention_head_norm, conductance_start_head_norm,
    conductance_end_head_norm (L2 norms over heads) and summed_alpha_value_norm (‖Σ_h α f(x)‖).
``value_norms``: example, layer, head, token_index, token, value_norm — ‖f(x)‖ per token, figure examples.
``word_input_conductance``: example, target, layer, token_index, token, attribution — Part 2's conductance of
    each layer's output with the word embeddings as input, summarised as in Part 1, figure examples.

The attribution steps keep, per attribution, what these tables need (:func:`stored_summary`): the per-token sums
over the hidden dimension, and for conductance the explained token's vector; ``attribution_storage: full`` keeps
the whole tensor as well.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from bertscope import TARGETS
from bertscope.step import atomic_output

log = logging.getLogger("bertscope")

DENSITY_BINS = 100
SOURCES = ("embeddings", "word", "token_type", "position", "layer")

SCHEMAS: dict[str, dict[str, str]] = {
    "token_attributions": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "token_index": "int64",
        "token": "string",
        "attribution": "float64",
    },
    "token_distributions": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "token_index": "int64",
        "token": "string",
        "dim": "int64",
        "attribution": "float64",
    },
    "layer_summary": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "total_attribution": "float64",
        "entropy": "float64",
        "convergence_delta": "float64",
    },
    "predictions": {
        "example": "string",
        "predicted_start": "int64",
        "predicted_end": "int64",
        "predicted_answer": "string",
        "start_prob": "float64",
        "end_prob": "float64",
        "true_start": "int64",
        "true_end": "int64",
        "delta_start": "float64",
        "delta_end": "float64",
    },
    "convergence_deltas": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "delta": "float64",
    },
    "attention_heads": {
        "example": "string",
        "layer": "int64",
        "head": "int64",
        "attention_entropy": "float64",
        "value_norm_mean": "float64",
        "conductance_norm_start": "float64",
        "conductance_norm_end": "float64",
    },
    "attention_matrices": {
        "example": "string",
        "quantity": "string",
        "layer": "int64",
        "head": "Int64",
        "from_index": "int64",
        "from_token": "string",
        "to_index": "int64",
        "to_token": "string",
        "value": "float64",
    },
    "value_norms": {
        "example": "string",
        "layer": "int64",
        "head": "int64",
        "token_index": "int64",
        "token": "string",
        "value_norm": "float64",
    },
    "word_input_conductance": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "token_index": "int64",
        "token": "string",
        "attribution": "float64",
    },
}
ATTENTION_TABLES = ("attention_heads", "attention_matrices", "value_norms", "word_input_conductance")
"""The tables of Part 2, written by the ``attention_tables`` step; the others by ``tables``."""


STORAGE = ("summary", "full")
"""``attribution_storage``: what an attribution file keeps of each attribution."""


def layer_key(layer: int) -> str:
    """The prefix of a layer's tensors in a conductance file (``layer_03.token_sums``)."""
    return f"layer_{layer:02d}"


def token_sums(attributions: np.ndarray) -> np.ndarray:
    """(targets, tokens, hidden) → (targets, tokens): the sum over the hidden dimension, in float64."""
    return attributions.astype(np.float64).sum(axis=-1)


def summarize(sums: np.ndarray) -> np.ndarray:
    """The tutorial's summary of an attribution from its :func:`token_sums`: divided by the L2 norm over tokens."""
    return sums / np.linalg.norm(sums, axis=-1, keepdims=True)


def stored_summary(attributions, explained: int | None, storage: str) -> dict[str, np.ndarray]:
    """What an attribution file keeps of one (targets, tokens, hidden) attribution (a torch tensor or an array).

    ``token_sums`` always; ``explained`` (targets, hidden), the explained token's vector, when ``explained`` is an
    index; ``attributions``, the whole tensor, with ``storage`` full.
    """
    array = attributions.detach().cpu().numpy() if hasattr(attributions, "detach") else np.asarray(attributions)
    kept = {"token_sums": token_sums(array)}
    if explained is not None:
        kept["explained"] = np.ascontiguousarray(array[:, explained, :])
    if storage == "full":
        kept["attributions"] = array
    return kept


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


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Columns in schema order with schema dtypes; an empty frame gets the schema too."""
    schema = SCHEMAS[table]
    if frame.empty:
        frame = pd.DataFrame(columns=list(schema))
    return frame[list(schema)].astype(schema).reset_index(drop=True)


def write_table(frame: pd.DataFrame, table: str, path: str | os.PathLike, metadata: dict[str, str]) -> None:
    """Write one table (or one part of a table's dataset) atomically, with ``metadata`` as key/value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(conform(frame, table), preserve_index=False)
    merged = {**(arrow.schema.metadata or {}), **{key.encode(): str(value).encode() for key, value in metadata.items()}}
    with atomic_output(path) as staging:
        pq.write_table(arrow.replace_schema_metadata(merged), staging)


def write_table_parts(rows: dict[str, list[pd.DataFrame]], outputs, tables, metadata: dict[str, str]) -> None:
    """Write each table's collected rows to its output path (``outputs[table]``), an empty part where none."""
    for table in tables:
        frame = pd.concat(rows[table], ignore_index=True) if rows.get(table) else pd.DataFrame()
        write_table(frame, table, outputs[table], metadata)
        log.info("%s: %d rows", table, len(frame))
