"""Windows of a long context, as the Hugging Face QA pipeline and the SQuAD preprocessing make them.

A question and context longer than the model's maximum are read as windows: each holds the question and up to
``room = max_length - question tokens - special tokens`` context tokens (3 for BERT's pair, 4 for RoBERTa's), and
window ``w + 1`` starts ``stride`` context tokens after window ``w`` (``stride`` is the step between windows, not
their overlap: two windows share ``room - stride`` tokens, and the last one ends with the context). The windows are
cut by the fast tokenizer's own overflow machinery (``return_overflowing_tokens``, whose ``stride`` argument is the
overlap), so they are the ones the pipeline reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertscope import input_error


@dataclass(frozen=True)
class Window:
    """One window: its index among the example's windows and its context tokens ``begin..end`` (exclusive), counted
    in the context's own tokenization."""

    index: int
    begin: int
    end: int


def context_room(example_id: str, question_length: int, max_length: int, special_tokens: int) -> int:
    """The context tokens that fit beside a question of ``question_length`` tokens and the pair's
    ``special_tokens``; an error when none do."""
    room = max_length - question_length - special_tokens
    if room < 1:
        raise input_error(
            example_id,
            "question",
            f"the question alone makes {question_length + special_tokens} tokens with the special tokens, "
            f"leaving no room for the context within the model's maximum of {max_length}",
            "shorten the question",
        )
    return room


def context_windows(
    tokenizer, question: str, context: str, context_offsets, max_length: int, stride: int, room: int
) -> list[Window]:
    """The windows of a context too long to read at once, from the tokenizer's overflowing tokens.

    Args:
        tokenizer: a fast tokenizer (it gives offsets).
        question: the question text.
        context: the context text.
        context_offsets: the (begin, end) characters of each token of the context tokenized alone.
        max_length: the model's maximum sequence length.
        stride: the step in context tokens from one window to the next.
        room: the context tokens a window holds (:func:`context_room`).

    Returns:
        Every window, in order, as ranges of the context's tokens.
    """
    encoding = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_length,
        stride=max(room - stride, 0),
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    token_at = {tuple(offset): index for index, offset in enumerate(context_offsets)}
    windows = []
    for index in range(len(encoding["input_ids"])):
        pairs = zip(encoding["offset_mapping"][index], encoding.sequence_ids(index), strict=True)
        offsets = [tuple(offset) for offset, part in pairs if part == 1]
        windows.append(Window(index, token_at[offsets[0]], token_at[offsets[-1]] + 1))
    return windows


def window_unit(example_id: str, window: int) -> str:
    """The id of an example's window explained as its own unit (``explain_windows: all``) when it is not the
    prediction's window (that one keeps the example's id): ``{example}#window{k}``.

    Args:
        example_id: the example's id.
        window: the window's index, from 0.

    Returns:
        The unit's id, as the tables' ``example`` column holds it.
    """
    return f"{example_id}#window{window}"
