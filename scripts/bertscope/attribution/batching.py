"""Examples of a batch share the model's passes: length buckets, padding, and the per-example results back.

An attribution job sorts its examples by length and cuts them into groups (:func:`length_groups`): consecutive
lengths, so that padding stays small (at most :data:`MAX_PADDING_SHARE` of a group's tokens), and few enough
examples that ``min_points`` path points of the group fit the activation budget (:func:`group_limit`). A group's
tensors are padded to its longest example (:func:`pad_group`): the attention mask is 0 on the padding, so no real
position attends to a padded one and the explained maximum is taken over the real positions only
(:func:`~bertscope.models.forward.explained_logits`); the input and the reference hold the same values on the
padding (ids ``[PAD]``, token type 0, position 0), so every path is constant there and no attribution flows to
it. The attribution functions of :mod:`~bertscope.attribution.part1` and :mod:`~bertscope.attribution.part2` take
the (B, L) group and return rows example-major, target-minor (row ``2b + t``: example b, target t);
:func:`split_rows` gives each example its own (2, L_b, ...) rows, the padded positions dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bertscope import TARGETS

MAX_PADDING_SHARE = 0.125
"""The largest share of a group's tokens that may be padding: above it, the next length opens a new group. Padding
is computed and thrown away, so this bounds the wasted work at an eighth of a group's passes."""

PAD_VALUES = {"attention_mask": 0}
"""Padding values that are not the model's pad token id (ids) or 0 (token types, positions)."""


def group_limit(bytes_per_point: float, budget: float, internal_batch_size, min_points: int) -> int:
    """How many examples one group may hold so that ``min_points`` path points of all of them fit one chunk.

    Args:
        bytes_per_point: the activation bytes of one example's path point at the group's length.
        budget: the activation budget of one chunk (bytes), for ``internal_batch_size: auto``.
        internal_batch_size: ``auto`` or captum's rows per chunk (an integer: every target of every example).
        min_points: the fewest path points a chunk must hold (2 for LIG, 4 for conductance).

    Returns:
        At least 1.
    """
    if internal_batch_size in (None, "auto"):
        return max(1, int(budget // (min_points * bytes_per_point)))
    return max(1, int(internal_batch_size) // (len(TARGETS) * min_points))


def length_groups(lengths: dict[str, int], limit: Callable[[int], int]) -> list[list[str]]:
    """The examples cut into groups of consecutive lengths, shortest first.

    Args:
        lengths: tokens of each example.
        limit: the most examples a group may hold at a given (longest) length (:func:`group_limit`).

    Returns:
        Lists of example ids; every example is in exactly one, ties in length kept in the given order.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    for example in sorted(lengths, key=lengths.get):
        candidate = [*current, example]
        longest = lengths[example]
        padding = sum(longest - lengths[other] for other in candidate) / (longest * len(candidate))
        if current and (len(candidate) > limit(longest) or padding > MAX_PADDING_SHARE):
            groups.append(current)
            candidate = [example]
        current = candidate
    if current:
        groups.append(current)
    return groups


def pad_group(examples: list[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """The (1, L_b) tensors of a group's examples padded at the end to the longest and stacked: (B, L_max).

    Ids (input and reference) are padded with ``pad_token_id``, the attention mask with 0, token types and positions
    with 0; tensors that are not per token (logits of another length, ...) are not expected here.
    """
    longest = max(tensors["input_ids"].shape[1] for tensors in examples)
    padded = {}
    for name in examples[0]:
        value = PAD_VALUES.get(name, pad_token_id if name.endswith("input_ids") else 0)
        padded[name] = torch.cat(
            [
                torch.nn.functional.pad(tensors[name], (0, longest - tensors[name].shape[1]), value=value)
                for tensors in examples
            ]
        )
    return padded


def split_rows(rows: torch.Tensor, lengths: list[int], token_dims: tuple[int, ...] = (1,)) -> list[torch.Tensor]:
    """A group's result rows, example-major and target-minor, as each example's own rows without its padding.

    Args:
        rows: (B·targets, L_max, ...) or, with ``token_dims=()``, (B·targets,) deltas.
        lengths: each example's tokens, in group order.
        token_dims: the axes over tokens, cut to each example's length ((2, 3) for token-pair matrices).

    Returns:
        One (targets, L_b, ...) tensor per example, in fp32.
    """
    per_example = rows.reshape(len(lengths), -1, *rows.shape[1:])
    results = []
    for tensor, length in zip(per_example, lengths, strict=True):
        index = [slice(None)] * tensor.dim()
        for axis in token_dims:
            index[axis] = slice(0, length)
        results.append(tensor[tuple(index)].float())
    return results
