"""Input and reference tensors for one question/context pair, built as in the Captum BERT SQuAD tutorial.

Input ids are ``[CLS] question [SEP] context [SEP]``; the reference replaces every question and context token with
``[PAD]`` and keeps ``[CLS]``/``[SEP]``. Token types are 0 up to and including the first ``[SEP]`` and 1 after it
(reference: all 0); positions are ``0..L-1`` (reference: all 0); the attention mask is all ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertscope import input_error


@dataclass
class EncodedExample:
    tensors: dict[str, torch.Tensor]
    tokens: list[str]
    question_length: int
    true_start: int
    true_end: int
    token_to_explain: int


def _require_text(example_id: str, example: dict, field: str) -> str:
    text = example.get(field)
    if not isinstance(text, str) or not text.strip():
        raise input_error(example_id, field, "is empty", f"give the example a non-empty {field}")
    return text


def _answer_char_span(example_id: str, context: str, answer: str, answer_start) -> tuple[int, int]:
    if answer_start is not None:
        if context[answer_start : answer_start + len(answer)] != answer:
            raise input_error(
                example_id,
                "answer_start",
                f"the context at character {answer_start} does not read '{answer}'",
                "give the character offset where the answer begins in the context, or leave answer_start out",
            )
        return answer_start, answer_start + len(answer)
    begin = context.find(answer)
    if begin < 0:
        raise input_error(
            example_id,
            "answer",
            f"'{answer}' does not occur in the context",
            "copy the answer verbatim from the context (same case and punctuation)",
        )
    return begin, begin + len(answer)


def _answer_token_span(offsets: list[tuple[int, int]], char_begin: int, char_end: int) -> tuple[int, int]:
    """First and last context token overlapping the answer's characters."""
    overlapping = [i for i, (begin, end) in enumerate(offsets) if begin < char_end and end > char_begin]
    return overlapping[0], overlapping[-1]


def _resolve_token_to_explain(example_id: str, wanted, tokens: list[str], context_begin: int, default: int) -> int:
    if wanted is None:
        return default
    if isinstance(wanted, bool) or not isinstance(wanted, (int, str)):
        raise input_error(example_id, "token_to_explain", f"{wanted!r} is neither an index nor a token", "give an int or a token string")
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


def encode_example(tokenizer, example_id: str, example: dict, max_length: int) -> EncodedExample:
    """Tokenize one example and build its input/reference tensors (batch of one)."""
    question = _require_text(example_id, example, "question")
    context = _require_text(example_id, example, "context")
    answer = _require_text(example_id, example, "answer")
    char_begin, char_end = _answer_char_span(example_id, context, answer, example.get("answer_start"))

    question_ids = tokenizer.encode(question, add_special_tokens=False)
    context_encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    context_ids = context_encoding["input_ids"]
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    input_ids = [cls_id, *question_ids, sep_id, *context_ids, sep_id]
    length = len(input_ids)
    if length > max_length:
        raise input_error(
            example_id,
            "context",
            f"question and context make {length} tokens, more than the model's maximum of {max_length}",
            "shorten the context around the answer",
        )
    reference_ids = [cls_id, *[pad_id] * len(question_ids), sep_id, *[pad_id] * len(context_ids), sep_id]
    first_sep = len(question_ids) + 1
    token_type_ids = [0 if i <= first_sep else 1 for i in range(length)]
    context_begin = first_sep + 1

    start_in_context, end_in_context = _answer_token_span(context_encoding["offset_mapping"], char_begin, char_end)
    true_start, true_end = context_begin + start_in_context, context_begin + end_in_context
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
    return EncodedExample(tensors, tokens, len(question_ids), true_start, true_end, token_to_explain)
