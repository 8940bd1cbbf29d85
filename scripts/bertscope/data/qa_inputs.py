"""Input and reference tensors for one question/context pair, built as in the Captum BERT SQuAD tutorial.

Question and context are joined by the tokenizer's own pair encoding (:func:`pair_template`); on BERT, input ids
are ``[CLS] question [SEP] context [SEP]``; the reference replaces every question and context token with
``[PAD]`` and keeps ``[CLS]``/``[SEP]``. Token types are 0 for ``[CLS]`` and the question and 1 for the context and
the final ``[SEP]``; the first ``[SEP]`` is 1 as in the tutorial (``procedure: tutorial``, which passes the last
question token's index as the separator's) or 0 as in BERT's pre-training (``corrected``). The reference's token types
are all 0; positions are ``0..L-1`` (reference: all 0; RoBERTa's count from ``padding_idx + 1``); the attention
mask is all ones. Other families: :mod:`bertscope.models.families`.

A question and context longer than the model's maximum are read as windows (``long_context="windows"``,
:mod:`bertscope.data.windows`: each window an input of its own, the prediction taken over them in
:mod:`bertscope.data.prepare`), rejected (``"reject"``), or cut to the first window (``"truncate"``, which never looks
at the answer). An unanswerable example, or a window that does not hold the whole answer, has the null answer as its
true span: ``true_start = true_end = 0`` (``[CLS]``), as in Hugging Face's SQuAD preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertscope import BertscopeError, input_error
from bertscope.data.examples import check_example
from bertscope.data.windows import Window, context_room, context_windows
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
    """One input of an example (one window of a long context), with what the inputs record says about it."""

    tensors: dict[str, torch.Tensor]
    tokens: list[str]
    question_length: int
    true_start: int
    true_end: int
    token_to_explain: int | None
    """The token whose conductance is plotted; None: the predicted end, known once the model has run."""
    context_char_span: tuple[int, int]
    """Begin and end (exclusive) of the characters of the original context kept in the input."""
    token_offsets: list[list[int] | None]
    """Per input token, its (begin, end) characters in the original context; None for the question and specials."""
    window: int = 0
    window_count: int = 1


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


def _kept_windows(
    tokenizer,
    example_id: str,
    example: dict,
    offsets,
    question_length: int,
    max_length: int,
    long_context: str,
    stride: int,
    special_tokens: int,
) -> list[Window]:
    """The context windows read, by the long_context policy: the whole context when it fits."""
    context_length = len(offsets)
    if question_length + context_length + special_tokens <= max_length:
        return [Window(0, 0, context_length)]
    if long_context == "reject":
        raise input_error(
            example_id,
            "context",
            f"question and context make {question_length + context_length + special_tokens} tokens, "
            f"more than the model's maximum of {max_length}",
            "set long_context: windows (or truncate) or shorten the context",
        )
    room = context_room(example_id, question_length, max_length, special_tokens)
    if long_context == "truncate":
        return [Window(0, 0, room)]
    question, context = example["question"], example["context"]
    return context_windows(tokenizer, question, context, offsets, max_length, stride, room)


def _check_policy(long_context: str, stride: int) -> None:
    """Reject an unknown long_context policy or a stride that is not a positive number of tokens."""
    check_allowed("long_context", long_context)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise BertscopeError(f"stride is {stride!r}. Fix: set stride to a positive number of tokens")


def _resolve_token_to_explain(example_id: str, wanted, tokens: list[str], context_begin: int, default: int | None):
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


def encode_windows(
    tokenizer,
    example_id: str,
    example: dict,
    max_length: int,
    *,
    long_context: str = default("long_context"),
    stride: int = default("stride"),
    procedure: str = default("procedure"),
    model_config=None,
) -> list[EncodedExample]:
    """Tokenize one example and build the input/reference tensors (batch of one) of each window it is read in.

    Question and context are joined by the tokenizer's own pair encoding (:func:`pair_template`: BERT's
    ``[CLS] q [SEP] c [SEP]``, RoBERTa's ``<s> q </s></s> c </s>``, ...). A question and context of at most
    ``max_length`` tokens make one input. Longer ones are read in windows every ``stride`` context tokens
    (``long_context="windows"``), cut to the first window (``"truncate"``), or rejected (``"reject"``).

    Args:
        tokenizer: the model's fast tokenizer.
        example_id: the example's id (named in errors).
        example: its question, context and answer (none for an unanswerable question), ``token_to_explain``.
        max_length: the most tokens the model reads.
        long_context: ``windows``, ``truncate`` or ``reject``.
        stride: the step in context tokens between windows.
        procedure: ``tutorial`` (BERT's first separator gets the context's token type) or ``corrected``.
        model_config: the model's config, whose family decides the positions and the tutorial's token types
            (:mod:`bertscope.models.families`); ``None`` is BERT's.

    Returns:
        One :class:`EncodedExample` per window read, each with (1, L) tensors.
    """
    _check_policy(long_context, stride)
    char_span = check_example(example_id, example)
    question, context = example["question"], example["context"]

    question_ids = tokenizer.encode(question, add_special_tokens=False)
    context_encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    offsets = context_encoding["offset_mapping"]
    answer_tokens = None if char_span is None else _answer_token_span(example_id, offsets, *char_span)
    template = pair_template(tokenizer)
    windows = _kept_windows(
        tokenizer,
        example_id,
        example,
        offsets,
        len(question_ids),
        max_length,
        long_context,
        stride,
        template.special_tokens,
    )
    return [
        _encode_window(
            tokenizer,
            template,
            example_id,
            example,
            question_ids,
            context_encoding,
            answer_tokens,
            window,
            len(windows),
            procedure,
            model_config,
        )
        for window in windows
    ]


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
    """The first input of :func:`encode_windows` (the only one unless a long context is read in windows)."""
    options = {"long_context": long_context, "stride": stride, "procedure": procedure, "model_config": model_config}
    return encode_windows(tokenizer, example_id, example, max_length, **options)[0]


def _encode_window(
    tokenizer,
    template: PairTemplate,
    example_id: str,
    example: dict,
    question_ids: list[int],
    context_encoding,
    answer_tokens: tuple[int, int] | None,
    window: Window,
    window_count: int,
    procedure: str,
    model_config,
) -> EncodedExample:
    """The input and reference tensors of one window of the context, the tutorial's on BERT."""
    offsets = context_encoding["offset_mapping"]
    kept_begin, kept_end = window.begin, window.end
    context_ids = context_encoding["input_ids"][kept_begin:kept_end]
    truncated = kept_end - kept_begin < len(offsets)
    context_char_span = (
        (offsets[kept_begin][0], offsets[kept_end - 1][1]) if truncated else (0, len(example["context"]))
    )
    input_ids, token_type_ids, context_begin = join_pair(template, question_ids, context_ids)
    length = len(input_ids)
    pad = [tokenizer.pad_token_id]
    reference_ids, _, _ = join_pair(template, pad * len(question_ids), pad * len(context_ids))
    check_allowed("procedure", procedure)
    family = family_for_type(model_config.model_type if model_config is not None else "bert")
    if procedure == "tutorial" and family.tutorial_token_types:
        token_type_ids = tutorial_token_types(template, token_type_ids, len(question_ids))
    first_position = position_offset(model_config) if model_config is not None else 0

    inside = answer_tokens is not None and kept_begin <= answer_tokens[0] and answer_tokens[1] < kept_end
    true_start, true_end = (context_begin + token - kept_begin for token in answer_tokens) if inside else (0, 0)
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    token_to_explain = _resolve_token_to_explain(
        example_id, example.get("token_to_explain"), tokens, context_begin, default=true_end if inside else None
    )
    after_context = length - context_begin - len(context_ids)
    token_offsets = [
        *[None] * context_begin,
        *[list(offset) for offset in offsets[kept_begin:kept_end]],
        *[None] * after_context,
    ]

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
    return EncodedExample(
        tensors,
        tokens,
        len(question_ids),
        true_start,
        true_end,
        token_to_explain,
        context_char_span,
        token_offsets,
        window.index,
        window_count,
    )
