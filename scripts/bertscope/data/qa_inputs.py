"""Input and reference tensors for one question/context pair, built as in the Captum BERT SQuAD tutorial.

Input ids are ``[CLS] question [SEP] context [SEP]``; the reference replaces every question and context token with
``[PAD]`` and keeps ``[CLS]``/``[SEP]``. Token types are 0 for ``[CLS]`` and the question and 1 for the context and
the final ``[SEP]``; the first ``[SEP]`` is 1 as in the tutorial (``procedure: tutorial``, which passes the last
question token's index as the separator's) or 0 as in BERT's pre-training (``corrected``). The reference's token types
are all 0; positions are ``0..L-1`` (reference: all 0); the attention mask is all ones.

A question and context longer than the model's maximum are rejected, or, with ``long_context="truncate"``, the
context is cut to one window of its tokens holding the whole answer, chosen as in Hugging Face's SQuAD preprocessing:
windows of the room left beside the question, every ``stride`` tokens, the first that contains the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertscope import BertscopeError, input_error
from bertscope.data.examples import check_example
from bertscope.pipeline.schema import check_allowed, default

SPECIAL_TOKENS = 3
"""``[CLS]``, ``[SEP]`` and ``[SEP]`` around the question and context."""


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
) -> tuple[int, int]:
    """Begin and end (exclusive) of the context tokens kept beside the question, by the long_context policy."""
    room = max_length - question_length - SPECIAL_TOKENS
    if context_length <= room:
        return 0, context_length
    if long_context == "reject":
        raise input_error(
            example_id,
            "context",
            f"question and context make {question_length + context_length + SPECIAL_TOKENS} tokens, "
            f"more than the model's maximum of {max_length}",
            "set long_context: truncate or shorten the context",
        )
    if room < 1:
        raise input_error(
            example_id,
            "question",
            f"the question alone makes {question_length + SPECIAL_TOKENS} tokens with the special tokens, "
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
) -> EncodedExample:
    """Tokenize one example and build its input/reference tensors (batch of one).

    A question and context of more than ``max_length`` tokens are rejected (``long_context="reject"``), or the
    context is cut to the first window holding the answer (``long_context="truncate"``, windows every ``stride``
    context tokens).
    """
    _check_policy(long_context, stride)
    char_begin, char_end = check_example(example_id, example)
    question, context = example["question"], example["context"]

    question_ids = tokenizer.encode(question, add_special_tokens=False)
    context_encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    offsets = context_encoding["offset_mapping"]
    answer_tokens = _answer_token_span(example_id, offsets, char_begin, char_end)
    kept_begin, kept_end = _kept_context(
        example_id, len(offsets), len(question_ids), answer_tokens, max_length, long_context, stride
    )
    context_ids = context_encoding["input_ids"][kept_begin:kept_end]
    truncated = kept_end - kept_begin < len(offsets)
    context_char_span = (offsets[kept_begin][0], offsets[kept_end - 1][1]) if truncated else (0, len(context))
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    input_ids = [cls_id, *question_ids, sep_id, *context_ids, sep_id]
    length = len(input_ids)
    reference_ids = [cls_id, *[pad_id] * len(question_ids), sep_id, *[pad_id] * len(context_ids), sep_id]
    first_sep = len(question_ids) + 1
    check_allowed("procedure", procedure)
    last_type_0 = first_sep - 1 if procedure == "tutorial" else first_sep
    token_type_ids = [0 if i <= last_type_0 else 1 for i in range(length)]
    context_begin = first_sep + 1

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
        "position_ids": row(list(range(length))),
        "ref_position_ids": row([0] * length),
        "attention_mask": row([1] * length),
    }
    return EncodedExample(tensors, tokens, len(question_ids), true_start, true_end, token_to_explain, context_char_span)
