"""Rows of Part 2's tables (schemas in :mod:`bertscope.tables.schemas`) from one example's attention files."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from bertscope import TARGETS
from bertscope.attribution.stored import layer_key
from bertscope.tables.part1 import summarize, token_rows


def pair_rows(example: str, quantity: str, layer: int, head: int | None, tokens: list[str], matrix) -> pd.DataFrame:
    """Rows of ``attention_matrices``: one per (from token, to token) of an (L, L) matrix.

    Args:
        example: the example's id.
        quantity: what the matrix holds (``attention``, ``conductance_start``, ``attention_head_norm``, ...).
        layer: the encoder layer (from 1).
        head: the head (from 1), or None for a matrix over the heads.
        tokens: the example's L tokens.
        matrix: (L, L) matrix, rows the token attending, columns the token attended.

    Returns:
        A frame of L² rows, from-token-major.
    """
    length = len(tokens)
    from_index, to_index = np.divmod(np.arange(length * length), length)
    return pd.DataFrame(
        {
            "example": example,
            "quantity": quantity,
            "layer": layer,
            "head": pd.array([head] * (length * length), dtype="Int64"),
            "from_index": from_index,
            "from_token": np.asarray(tokens, dtype=object)[from_index],
            "to_index": to_index,
            "to_token": np.asarray(tokens, dtype=object)[to_index],
            "value": np.asarray(matrix, dtype=np.float64).reshape(-1),
        }
    )


def head_rows(example: str, layer: int, tensors: dict) -> pd.DataFrame:
    """Rows of ``attention_heads``: one per head of one layer.

    Args:
        example: the example's id.
        layer: the encoder layer (from 1).
        tensors: the layer's tensors, with ``head_entropy`` (heads,), ``value_norm_mean`` (heads,) and
            ``head_conductance_norm`` (targets, heads).

    Returns:
        A frame of ``heads`` rows, heads numbered from 1.
    """
    conductance_norm = tensors["head_conductance_norm"]
    return pd.DataFrame(
        {
            "example": example,
            "layer": layer,
            "head": np.arange(1, len(tensors["head_entropy"]) + 1),
            "attention_entropy": tensors["head_entropy"],
            "value_norm_mean": tensors["value_norm_mean"],
            **{f"conductance_norm_{target}": conductance_norm[row] for row, target in enumerate(TARGETS)},
        }
    )


def value_norm_rows(example: str, layer: int, tokens: list[str], value_norm: np.ndarray) -> pd.DataFrame:
    """Rows of ``value_norms``: ‖f(x)‖ per head and token of one layer.

    Args:
        example: the example's id.
        layer: the encoder layer (from 1).
        tokens: the example's L tokens.
        value_norm: (heads, L) norms.

    Returns:
        A frame of heads × L rows, head-major, heads numbered from 1.
    """
    heads, length = value_norm.shape
    head_index, token_index = np.divmod(np.arange(heads * length), length)
    return pd.DataFrame(
        {
            "example": example,
            "layer": layer,
            "head": head_index + 1,
            "token_index": token_index,
            "token": np.asarray(tokens, dtype=object)[token_index],
            "value_norm": value_norm.reshape(-1),
        }
    )


def matrices_of_layer(tensors: dict) -> dict[tuple[str, int | None], np.ndarray]:
    """The (L, L) matrices of one layer's attention tensors, by quantity and head.

    Args:
        tensors: the layer's tensors: ``attention_head_norm``, ``summed_alpha_value_norm`` (L, L) and
            ``conductance_head_norm`` (targets, L, L) always; ``attention``, ``alpha_value_norm`` (heads, L, L) and
            ``conductance`` (targets, heads, L, L) for the chosen layer.

    Returns:
        ``{(quantity, head): (L, L)}``: head None for the matrices over the heads, heads from 1 for the per-head ones.
    """
    matrices = {
        ("attention_head_norm", None): tensors["attention_head_norm"],
        ("summed_alpha_value_norm", None): tensors["summed_alpha_value_norm"],
    }
    for row, target in enumerate(TARGETS):
        matrices[(f"conductance_{target}_head_norm", None)] = tensors["conductance_head_norm"][row]
    if "attention" in tensors:
        per_head = {"attention": tensors["attention"], "alpha_value_norm": tensors["alpha_value_norm"]}
        for row, target in enumerate(TARGETS):
            per_head[f"conductance_{target}"] = tensors["conductance"][row]
        for quantity, stack in per_head.items():
            matrices |= {(quantity, head + 1): matrix for head, matrix in enumerate(stack)}
    return matrices


def attention_example_tables(example: str, tokens: list[str], files) -> dict[str, list[pd.DataFrame]]:
    """Every Part 2 table's rows of one example.

    Args:
        example: the example's id.
        tokens: its L tokens.
        files: the open attention :class:`~bertscope.pipeline.tensor_io.BatchFile` of each of its layer groups.

    Returns:
        ``{table: [frames]}``: ``attention_heads`` always; ``value_norms``, ``word_input_conductance`` and
        ``attention_matrices`` for an example whose matrices were kept (one with figures).
    """
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for group in files:
        record, stored = group.records[example], group.tensors(example)
        for layer in record["layers"]:
            prefix = f"{layer_key(layer)}."
            tensors = {name.removeprefix(prefix): value for name, value in stored.items() if name.startswith(prefix)}
            steps = {"n_steps": record["n_steps"], "converged": record["converged"]}  # the job's, every layer
            rows["attention_heads"].append(head_rows(example, layer, tensors).assign(**steps))
            if not record["matrices"]:
                continue
            rows["value_norms"].append(value_norm_rows(example, layer, tokens, tensors["value_norm"]))
            summary = summarize(tensors["output_token_sums"].astype(np.float64))
            rows["word_input_conductance"].append(token_rows(example, "layer", layer, tokens, summary))
            for (quantity, head), matrix in matrices_of_layer(tensors).items():
                rows["attention_matrices"].append(pair_rows(example, quantity, layer, head, tokens, matrix))
    return rows
