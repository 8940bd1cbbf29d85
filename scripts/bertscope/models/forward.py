"""The forward functions the attributions differentiate: the model's input in some form → (batch, [start, end]),
the tutorial's explained quantities (the largest start and end logits)."""

from __future__ import annotations

from functools import partial

import torch

from bertscope import TARGETS
from bertscope.models.families import embeddings, forward_arguments


def explained_logits(output, attention_mask: torch.Tensor | None = None, positions: torch.Tensor | None = None):
    """The explained quantities of a QA model's output, one start and one end value per row.

    Args:
        output: the model's output, with ``start_logits`` and ``end_logits`` of shape (batch, L).
        attention_mask: (batch, L), 0 on padding: padded positions never hold the maximum. ``None``: no padding.
        positions: (batch, 2) long, the start and end positions whose logits are explained (the logit at a fixed
            position); ``None``: the largest start and end logits, re-taken on every input (the tutorial's).

    Returns:
        (batch, 2): start and end, in :data:`bertscope.TARGETS` order.
    """
    # fp32 whatever the forward's precision (precision: bf16 autocasts it): the explained values and deltas are sums.
    logits = torch.stack((output.start_logits, output.end_logits), dim=1).float()  # (batch, 2, L)
    if positions is not None:
        return logits.gather(2, positions.unsqueeze(-1)).squeeze(-1)
    if attention_mask is not None:
        logits = logits.masked_fill(attention_mask.unsqueeze(1) == 0, torch.finfo(logits.dtype).min)
    return logits.max(dim=2).values


def run_on_input(model, tensors: dict, **options):
    """The model's output on an example's input tensors (ids, token types, positions, mask); ``options`` go to
    the model (``output_attentions=True``, ...). Token types go only to a family that takes them."""
    return model(
        tensors["input_ids"],
        **forward_arguments(model, tensors["token_type_ids"], tensors["position_ids"]),
        attention_mask=tensors["attention_mask"],
        **options,
    )


def _forward_from_ids(model, input_ids, token_type_ids=None, position_ids=None, attention_mask=None, positions=None):
    output = model(input_ids, **forward_arguments(model, token_type_ids, position_ids), attention_mask=attention_mask)
    return explained_logits(output, attention_mask, positions)


def _forward_from_embeddings(model, inputs_embeds, attention_mask=None, positions=None):
    return explained_logits(
        model(inputs_embeds=inputs_embeds, attention_mask=attention_mask), attention_mask, positions
    )


def _forward_from_word_embeddings(
    model, word_embeddings, token_type_ids, position_ids, attention_mask=None, positions=None, options=None
):
    output = model(
        inputs_embeds=word_embeddings,
        **forward_arguments(model, token_type_ids, position_ids),
        attention_mask=attention_mask,
        **(options or {}),
    )
    return explained_logits(output, attention_mask, positions)


def _forward_from_embedding_output(model, embedding_output, attention_mask=None, positions=None):
    hook = embeddings(model).register_forward_hook(lambda module, inputs, output: embedding_output)
    try:
        placeholder_ids = torch.zeros(embedding_output.shape[:2], dtype=torch.long, device=embedding_output.device)
        return explained_logits(model(placeholder_ids, attention_mask=attention_mask), attention_mask, positions)
    finally:
        hook.remove()


EXPLAINED_POSITIONS = "explained_positions"
"""The key of a group's tensors holding (B, 2) long start and end positions with ``target: predicted_logit``: the
forward functions then explain the logits at those positions (``positions`` of :func:`explained_logits`), passed
as their last argument; without it, the tutorial's largest logits."""


def target_positions(tensors: dict) -> tuple:
    """The extra forward argument of ``target: predicted_logit``.

    Args:
        tensors: a group's tensors, (B, L) each, with :data:`EXPLAINED_POSITIONS` (B, 2) for ``predicted_logit``.

    Returns:
        ``(positions,)``, (B·targets, 2), each example's row repeated once per target as every input is
        (example-major: row 2b+t is example b, target t); ``()`` for ``max_logit``.
    """
    if EXPLAINED_POSITIONS not in tensors:
        return ()
    return (tensors[EXPLAINED_POSITIONS].repeat_interleave(len(TARGETS), dim=0),)


def forward_from_ids(model):
    """Forward function of (input_ids, token_type_ids, position_ids, attention_mask) → (batch, [start, end])."""
    return partial(_forward_from_ids, model)


def forward_from_embeddings(model):
    """Forward function of (inputs_embeds, attention_mask) → (batch, [start, end]).

    As in the tutorial, the embeddings are fed as ``inputs_embeds``, so BERT adds its position and token-type
    embeddings (token type 0) and layer norm once more on top of them.
    """
    return partial(_forward_from_embeddings, model)


def forward_from_embedding_output(model):
    """Forward function of (embedding_output, attention_mask) → (batch, [start, end]) that feeds the encoder directly.

    The embedding module's output is replaced by ``embedding_output`` (a forward hook, as captum's layer attributions
    do), so nothing is added to it a second time: the path of ``procedure: corrected``.
    """
    return partial(_forward_from_embedding_output, model)


def forward_from_word_embeddings(model, **options):
    """Forward function of (word_embeddings, token_type_ids, position_ids, attention_mask) → (batch, [start, end]).

    Part 2 of the tutorial: the word embeddings are the interpretable input (``inputs_embeds``), and BERT adds the
    token-type and position embeddings of the ids it is given, and its layer norm, as for any input. ``options`` go
    to the model (``output_attentions=True`` for a family whose attention returns its probabilities only then).
    """
    return partial(_forward_from_word_embeddings, model, options=options)
