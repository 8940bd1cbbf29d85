"""The inputs step for one example: its input and reference tensors, the model's logits on it, and its record (tokens,
spans, the prediction and its SQuAD scores).

Two predictions are recorded. The tutorial's (``predicted_start``, ``predicted_end``: the independent argmaxes of the
start and end logits) is the one the attributions explain. The scored one (``span_*``) is the standard decoding of
:func:`bertscope.evaluation.squad.best_span`: the best valid span in the context, or the null answer "". A context
read in windows (``long_context: windows``) is decoded over every window as the Hugging Face QA pipeline does: the
best span of any window, against the smallest null score of any window; the window holding that best span is the
one explained (its tensors are the example's), and the record says which window it is and where it lies in the
context. With ``explain_windows: all`` every other window is explained too, as a unit of its own
(:func:`~bertscope.data.windows.window_unit`): its record has that window's tokens, characters, true span and
tutorial prediction (the argmaxes within it, which its attributions explain), and the example's scored answer (its
``span_start``/``span_end`` the answer's tokens in that window, 0 when the window does not hold them).
"""

from __future__ import annotations

import logging

import torch

from bertscope.data.examples import gold_answers
from bertscope.data.qa_inputs import encode_windows
from bertscope.data.windows import window_unit
from bertscope.evaluation.squad import best_span, outcome, score_prediction
from bertscope.models.families import max_tokens
from bertscope.models.forward import run_on_input

log = logging.getLogger("bertscope")


@torch.no_grad()
def predict(model, tensors: dict) -> dict:
    output = run_on_input(model, tensors)
    return {"start_logits": output.start_logits, "end_logits": output.end_logits}


def _decoded(window, logits) -> object:
    """The standard decoding of one window's logits (:func:`best_span` over its context tokens: those with
    character offsets, wherever the family's pair encoding puts them)."""
    context = [index for index, offset in enumerate(window.token_offsets) if offset is not None]
    context_begin, context_end = context[0], context[-1] + 1
    start_logits, end_logits = (logits[name][0].float().cpu().numpy() for name in ("start_logits", "end_logits"))
    return best_span(start_logits, end_logits, context_begin, context_end)


def prepare_example(tokenizer, model, device, example_id: str, example: dict, params) -> dict[str, tuple[dict, dict]]:
    """The example's explained units: the window holding the prediction (with the example's id) and, with
    ``explain_windows: all``, every other window of a long context.

    Args:
        tokenizer: the model's fast tokenizer.
        model: the QA model, on ``device``.
        device: where the model runs.
        example_id: the example's id.
        example: its question, context, answer(s) and ``token_to_explain``.
        params: the step's settings: ``long_context``, ``stride``, ``procedure``, ``explain_windows``.

    Returns:
        ``{unit id: (tensors, record)}``, the example's own unit first, then the other windows in order: the
        input/reference tensors and logits, (1, L) each, and the record (tokens, spans, both predictions, the
        scored answer's exact match and F1, the window).
    """
    windows = encode_windows(
        tokenizer,
        example_id,
        example,
        max_tokens(model.config),
        long_context=params.long_context,
        stride=params.stride,
        procedure=params.procedure,
        model_config=model.config,
    )
    read = []
    for window in windows:
        tensors = {name: tensor.to(device) for name, tensor in window.tensors.items()}
        logits = predict(model, tensors)
        read.append((window, logits, _decoded(window, logits)))
    encoded, logits, span = max(read, key=lambda item: item[2].score)
    null_score = min(decoded.null_score for _, _, decoded in read)
    is_null = null_score > span.score
    span_chars = None if is_null else (encoded.token_offsets[span.start][0], encoded.token_offsets[span.end][1])
    span_answer = "" if span_chars is None else example["context"][span_chars[0] : span_chars[1]]
    golds = gold_answers(example)
    exact, f1 = score_prediction(golds, span_answer)
    scored = {
        "span_char_span": None if span_chars is None else list(span_chars),
        "span_answer": span_answer,
        "null_score_diff": null_score - span.score,
        "exact": exact,
        "f1": f1,
        "outcome": outcome(span_answer, exact),
    }
    span_tokens = (0, 0) if is_null else (span.start, span.end)
    record = _window_record(tokenizer, example_id, example, encoded, logits, span_tokens, scored)
    units = {example_id: ({**encoded.tensors, **logits}, record)}
    if params.explain_windows == "all":
        for other, other_logits, _ in read:
            if other is not encoded:
                located = _span_tokens(other, span_chars)
                other_record = _window_record(tokenizer, example_id, example, other, other_logits, located, scored)
                units[window_unit(example_id, other.window)] = ({**other.tensors, **other_logits}, other_record)
    return units


def _span_tokens(encoded, span_chars) -> tuple[int, int]:
    """The first and last token of a window's input that cover exactly the characters ``span_chars``; (0, 0) for the
    null answer or a window that does not hold them."""
    if span_chars is not None:
        starts = [index for index, offset in enumerate(encoded.token_offsets) if offset and offset[0] == span_chars[0]]
        ends = [index for index, offset in enumerate(encoded.token_offsets) if offset and offset[1] == span_chars[1]]
        if starts and ends:
            return starts[0], ends[-1]
    return 0, 0


def _window_record(tokenizer, example_id: str, example: dict, encoded, logits, span_tokens, scored: dict) -> dict:
    """One explained window's record: its own tokens, true span and tutorial prediction, and the example's scored
    answer (``scored``, over every window), at ``span_tokens`` of this window's input."""
    start, end = (int(logits[name][0].argmax()) for name in ("start_logits", "end_logits"))
    answer_ids = encoded.tensors["input_ids"][0, start : end + 1].tolist()
    golds = gold_answers(example)
    record = {
        "example": example_id,
        **{field: example[field] for field in ("question", "context")},
        "answer": example.get("answer", ""),
        "answers": golds,
        "has_answer": bool(golds),
        "context_char_span": list(encoded.context_char_span),
        "window": encoded.window,
        "window_count": encoded.window_count,
        "tokens": encoded.tokens,
        "token_offsets": encoded.token_offsets,
        "question_length": encoded.question_length,
        "true_start": encoded.true_start,
        "true_end": encoded.true_end,
        # Without a gold answer in the input, the tutorial's choice of token falls to the predicted end.
        "token_to_explain": end if encoded.token_to_explain is None else encoded.token_to_explain,
        "predicted_start": start,
        "predicted_end": end,
        "predicted_answer": tokenizer.decode(answer_ids) if end >= start else "",
        "start_prob": float(torch.softmax(logits["start_logits"][0], dim=0).max()),
        "end_prob": float(torch.softmax(logits["end_logits"][0], dim=0).max()),
        "span_start": span_tokens[0],
        "span_end": span_tokens[1],
        **scored,
    }
    log.info(
        "%s: %d tokens (window %d of %d), answer %d..%d, predicted %d..%d '%s', scored '%s' (%s)",
        example_id,
        len(encoded.tokens),
        encoded.window + 1,
        encoded.window_count,
        encoded.true_start,
        encoded.true_end,
        start,
        end,
        record["predicted_answer"],
        scored["span_answer"],
        scored["outcome"],
    )
    return record
