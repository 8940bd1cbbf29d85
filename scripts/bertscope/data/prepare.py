"""The inputs step for one example: its input and reference tensors, the model's logits on it, and its record (tokens,
spans, the prediction)."""

from __future__ import annotations

import logging

import torch

from bertscope.data.qa_inputs import encode_example
from bertscope.models.families import max_tokens
from bertscope.models.forward import run_on_input

log = logging.getLogger("bertscope")


@torch.no_grad()
def predict(model, tensors: dict) -> dict:
    output = run_on_input(model, tensors)
    return {"start_logits": output.start_logits, "end_logits": output.end_logits}


def prepare_example(tokenizer, model, device, example_id: str, example: dict, params) -> tuple[dict, dict]:
    """The example's input/reference tensors and logits, and its record (tokens, spans, prediction)."""
    encoded = encode_example(
        tokenizer,
        example_id,
        example,
        max_tokens(model.config),
        long_context=params.long_context,
        stride=params.stride,
        procedure=params.procedure,
        model_config=model.config,
    )
    tensors = {name: tensor.to(device) for name, tensor in encoded.tensors.items()}
    logits = predict(model, tensors)
    start, end = (int(logits[name][0].argmax()) for name in ("start_logits", "end_logits"))
    answer_ids = encoded.tensors["input_ids"][0, start : end + 1].tolist()
    record = {
        "example": example_id,
        **{field: example[field] for field in ("question", "context", "answer")},
        "context_char_span": list(encoded.context_char_span),
        "tokens": encoded.tokens,
        "question_length": encoded.question_length,
        "true_start": encoded.true_start,
        "true_end": encoded.true_end,
        "token_to_explain": encoded.token_to_explain,
        "predicted_start": start,
        "predicted_end": end,
        "predicted_answer": tokenizer.decode(answer_ids) if end >= start else "",
        "start_prob": float(torch.softmax(logits["start_logits"][0], dim=0).max()),
        "end_prob": float(torch.softmax(logits["end_logits"][0], dim=0).max()),
    }
    log.info(
        "%s: %d tokens, answer %d..%d, predicted %d..%d '%s'",
        example_id,
        len(encoded.tokens),
        encoded.true_start,
        encoded.true_end,
        start,
        end,
        record["predicted_answer"],
    )
    return {**encoded.tensors, **logits}, record
