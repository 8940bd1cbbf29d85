"""Input and reference tensors for one question/context pair, built as in the Captum BERT SQuAD tutorial.

Question and context are joined by the tokenizer's own pair encoding (:func:`pair_template`): for BERT
``[CLS] question [SEP] context [SEP]``, for RoBERTa ``<s> question </s></s> context </s>``. The reference replaces
every question and context token with the pad token and keeps the special tokens. Token types are the tokenizer's
(BERT: 0 for ``[CLS]``, the question and the first ``[SEP]``, 1 for the context and the final ``[SEP]``; RoBERTa:
all 0); on BERT, ``procedure: tutorial`` gives the first ``[SEP]`` type 1 as the tutorial does (it passes the last
question token's index as the separator's). The reference's token types are all 0;
positions are ``0..L-1`` counted from the family's first position (RoBERTa: ``padding_idx + 1``), the reference's
all that first position; the attention mask is all ones.

A question and context longer than the model's maximum are rejected, or, with ``long_context="truncate"``, the
context is cut to one window of its tokens holding the whole answer, chosen as in Hugging Face's SQuAD preprocessing:
windows of the room left beside the question, every ``stride`` tokens, the first that contains the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertscope import BertscopeError, input_error
from bertscope.data.examples import check_example
from bertscope.models.families import family_for_type, position_offset
from bertscope.pipeline.schema import check_allowed, default

QUESTION, CONTEXT = "question", "context"


@dataclass(frozen=True)
class PairTemplate:
    """A tokenizer's pair encoding: its parts in order, each a special token id or :data:`QUESTION` /
    :data:`CONTEXT`, with the token type of each."""

    parts: tuple[int | str, ...]
    types: tuple[int, ...]

    @property
    def special_tokens(self) -> int:
        """How many special tokens the pair adds (BERT 3, RoBERTa 4)."""
        return sum(1 for part in self.parts if part not in (QUESTION, CONTEXT))


def pair_template(tokenizer) -> PairTemplate:
    """The tokenizer's pair encoding, read from how it encodes a two-word pair (its own special tokens).

    Token types are what the tokenizer's post-processor assigns (asked for even where its ``model_input_names``
    leave them out, as ALBERT's do: ALBERT and ELECTRA were trained with segments 0/1); a family without a
    token-type table never receives them (:func:`bertscope.models.families.forward_arguments`, ``subembeddings``).

    Returns:
        The :class:`PairTemplate`: for BERT ``[CLS] question [SEP] context [SEP]`` with types ``0 0 0 1 1``.
    """
    encoding = tokenizer("a", "b", return_token_type_ids=True)
    parts, types = [], []
    for token_id, sequence, token_type in zip(
        encoding["input_ids"], encoding.sequence_ids(), encoding["token_type_ids"], strict=True
    ):
        part = token_id if sequence is None else (QUESTION, CONTEXT)[sequence]
        if isinstance(part, str) and parts and parts[-1] == part:
            continue  # one part, however many tokens the word took
        parts.append(part)
        types.append(token_type)
    return PairTemplate(tuple(parts), tuple(types))


def join_pair(template: PairTemplate, question: list, context: list) -> tuple[list, list[int], int]:
    """Question and context items (ids, or pad ids for the reference) joined by the template.

    Returns:
        The joined items, their token types, and the index of the first context item.
    """
    items, types, context_begin = [], [], None
    for part, token_type in zip(template.parts, template.types, strict=True):
        values = question if part == QUESTION else context if part == CONTEXT else [part]
        if part == CONTEXT:
            context_begin = len(items)
        items += values
        types += [token_type] * len(values)
    return items, types, context_begin


def tutorial_token_types(template: PairTemplate, types: list[int], question_length: int) -> list[int]:
    """The tutorial's token types on BERT: the separator after the question takes the context's type (1)."""
    first_separator = template.parts.index(QUESTION) + question_length  # the parts before it are one token each
    context_type = template.types[template.parts.index(CONTEXT)]
    return [context_type if i == first_separator else token_type for i, token_type in enumerate(types)]


@dataclass
class EncodedExample:
    tensors: dict[str, torch.Tensor]
    tokens: list[str]
    question_length: int
    true_start: int
    true_end: int
    token_to_explain: int
    context_char_span: tuple[int, int]
    """Begin and end (exclusive) of the characters of the original context kept in the input."""


def _answer_token_span(
    example_id: str, offsets: list[tuple[int, int]], char_begin: int, char_end: int
) -> tuple[int, int]:
    """First and last context token overlapping the answer's characters."""
    overlapping = [i for i, (begin, end) in enumerate(offsets) if begin < char_end and end > char_begin]
    if not overlapping:
        raise input_error(
            example_id,
            "answer",
            f"its {char_end - char_begin} character(s) at {char_begin} are not part of any token the tokenizer keeps",
            "give an answer with at least one word the model reads",
        )
    return overlapping[0], overlapping[-1]


def _context_windows(length: int, room: int, stride: int):
    """Begin and end (exclusive) of each window of at most ``room`` tokens, every ``stride`` tokens, up to the end."""
    begin = 0
    while True:
        end = min(begin + room, length)
        yield begin, end
        if end == length:
            return
        begin += min(end - begin, stride)


def _answer_window(example_id: str, length: int, room: int, stride: int, answer: tuple[int, int]) -> tuple[int, int]:
    """The first context window, in tokens, that holds the whole answer."""
    for begin, end in _context_windows(length, room, stride):
        if begin <= answer[0] and answer[1] < end:
            return begin, end
    raise input_error(
        example_id,
        "context",
        f"no window of {room} context tokens, taken every {stride} tokens, holds the whole answer "
        f"(context tokens {answer[0]}..{answer[1]})",
        "lower stride, shorten the question, or shorten the context around the answer",
    )


def _kept_context(
    example_id: str,
    context_length: int,
    question_length: int,
    answer: tuple[int, int],
    max_length: int,
    long_context: str,
    stride: int,
    special_tokens: int,
) -> tuple[int, int]:
    """Begin and end (exclusive) of the context tokens kept beside the question, by the long_context policy."""
    room = max_length - question_length - special_tokens
    if context_length <= room:
        return 0, context_length
    if long_context == "reject":
        raise input_error(
            example_id,
            "context",
            f"question and context make {question_length + context_length + special_tokens} tokens, "
            f"more than the model's maximum of {max_length}",
            "set long_context: truncate or shorten the context",
        )
    if room < 1:
        raise input_error(
            example_id,
            "question",
            f"the question alone makes {question_length + special_tokens} tokens with the special tokens, "
            f"leaving no room for the context within the model's maximum of {max_length}",
            "shorten the question",
        )
    return _answer_window(example_id, context_length, room, stride, answer)


def _check_policy(long_context: str, stride: int) -> None:
    """Reject an unknown long_context policy or a stride that is not a positive number of tokens."""
    check_allowed("long_context", long_context)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise BertscopeError(f"stride is {stride!r}. Fix: set stride to a positive number of tokens")


def _resolve_token_to_explain(example_id: str, wanted, tokens: list[str], context_begin: int, default: int) -> int:
    if wanted is None:
        return default
    if isinstance(wanted, bool) or not isinstance(wanted, (int, str)):
        problem = f"{wanted!r} is neither an index nor a token"
        raise input_error(example_id, "token_to_explain", problem, "give an int or a token string")
    if isinstance(wanted, int):
        if not 0 <= wanted < len(tokens):
            raise input_error(
                example_id,
                "token_to_explain",
                f"index {wanted} is out of range for {len(tokens)} tokens",
                f"give an index from 0 to {len(tokens) - 1}, or a token string",
            )
        return wanted
    matches = [i for i, token in enumerate(tokens) if token == wanted]
    if not matches:
        raise input_error(
            example_id,
            "token_to_explain",
            f"the token '{wanted}' is not among the input tokens {tokens}",
            "give one of those tokens (as the tokenizer splits it) or its index",
        )
    in_context = [i for i in matches if i >= context_begin]
    return (in_context or matches)[0]


def encode_example(
    tokenizer,
    example_id: str,
    example: dict,
    max_length: int,
    *,
    long_context: str = default("long_context"),
    stride: int = default("stride"),
    procedure: str = default("procedure"),
    model_config=None,
) -> EncodedExample:
    """Tokenize one example and build its input/reference tensors (batch of one).

    A question and context of more than ``max_length`` tokens are rejected (``long_context="reject"``), or the
    context is cut to the first window holding the answer (``long_context="truncate"``, windows every ``stride``
    context tokens). ``model_config``: the model's config, whose family decides the positions and the tutorial's
    token types (:mod:`bertscope.models.families`); ``None`` is BERT's.
    """
    _check_policy(long_context, stride)
    char_begin, char_end = check_example(example_id, example)
    question, context = example["question"], example["context"]

    question_ids = tokenizer.encode(question, add_special_tokens=False)
    context_encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    offsets = context_encoding["offset_mapping"]
    answer_tokens = _answer_token_span(example_id, offsets, char_begin, char_end)
    template = pair_template(tokenizer)
    kept_begin, kept_end = _kept_context(
        example_id,
        len(offsets),
        len(question_ids),
        answer_tokens,
        max_length,
        long_context,
        stride,
        template.special_tokens,
    )
    context_ids = context_encoding["input_ids"][kept_begin:kept_end]
    truncated = kept_end - kept_begin < len(offsets)
    context_char_span = (offsets[kept_begin][0], offsets[kept_end - 1][1]) if truncated else (0, len(context))
    input_ids, token_type_ids, context_begin = join_pair(template, question_ids, context_ids)
    length = len(input_ids)
    pad = [tokenizer.pad_token_id]
    reference_ids, _, _ = join_pair(template, pad * len(question_ids), pad * len(context_ids))
    check_allowed("procedure", procedure)
    family = family_for_type(model_config.model_type if model_config is not None else "bert")
    if procedure == "tutorial" and family.tutorial_token_types:
        token_type_ids = tutorial_token_types(template, token_type_ids, len(question_ids))
    first_position = position_offset(model_config) if model_config is not None else 0

    true_start, true_end = (context_begin + token - kept_begin for token in answer_tokens)
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    token_to_explain = _resolve_token_to_explain(
        example_id, example.get("token_to_explain"), tokens, context_begin, default=true_end
    )

    def row(values):
        return torch.tensor([values], dtype=torch.long)

    tensors = {
        "input_ids": row(input_ids),
        "ref_input_ids": row(reference_ids),
        "token_type_ids": row(token_type_ids),
        "ref_token_type_ids": row([0] * length),
        "position_ids": row(list(range(first_position, first_position + length))),
        "ref_position_ids": row([first_position] * length),
        "attention_mask": row([1] * length),
    }
    return EncodedExample(tensors, tokens, len(question_ids), true_start, true_end, token_to_explain, context_char_span)
