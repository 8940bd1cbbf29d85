"""The inputs step's scored prediction: the standard decoding over windows, the null answer, SQuAD scores."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import TUTORIAL_TOKENS

from bertscope.data.prepare import prepare_example
from bertscope.data.qa_inputs import encode_windows
from bertscope.evaluation.squad import best_span, score_prediction
from bertscope.models.loading import load_model, load_tokenizer

QUESTION = "What is important to us?"
LONG_CONTEXT = "Who help the people ? " * 12 + "It is important to us to empower humans of all kinds . We help it ."
PARAMS = SimpleNamespace(long_context="windows", stride=16, procedure="tutorial", explain_windows="prediction")


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    model = load_model(tiny_model_dir, torch.device("cpu"))
    # Non-zero biases on the QA head, so that the null answer and the spans are not a tie of zeros.
    with torch.no_grad():
        model.qa_outputs.bias.copy_(torch.tensor([0.3, -0.2]))
    return load_tokenizer(tiny_model_dir), model


def prepare_units(loaded, example, params=PARAMS):
    tokenizer, model = loaded
    return prepare_example(tokenizer, model, torch.device("cpu"), "ex", example, params)


def prepare(loaded, example, params=PARAMS):
    """The example's own unit: its tensors and record."""
    units = prepare_units(loaded, example, params)
    assert next(iter(units)) == "ex"
    return units["ex"]


def test_a_short_answerable_example_keeps_the_tutorial_prediction(loaded, tutorial_example):
    tensors, record = prepare(loaded, tutorial_example)
    assert record["tokens"] == TUTORIAL_TOKENS and (record["window"], record["window_count"]) == (0, 1)
    assert (record["true_start"], record["true_end"], record["token_to_explain"]) == (13, 23, 23)
    assert record["predicted_start"] == int(tensors["start_logits"][0].argmax())
    assert record["predicted_end"] == int(tensors["end_logits"][0].argmax())
    span = best_span(tensors["start_logits"][0].numpy(), tensors["end_logits"][0].numpy(), 8, len(TUTORIAL_TOKENS) - 1)
    assert record["null_score_diff"] == pytest.approx(span.null_score - span.score)
    if span.is_null:
        assert (record["span_answer"], record["span_char_span"], record["outcome"]) == ("", None, "abstained")
    else:
        begin, end = record["span_char_span"]
        assert record["span_answer"] == tutorial_example["context"][begin:end]
        assert (record["span_start"], record["span_end"]) == (span.start, span.end)
    assert (record["exact"], record["f1"]) == score_prediction([tutorial_example["answer"]], record["span_answer"])
    assert record["has_answer"] and record["answers"] == [tutorial_example["answer"]]


def test_an_unanswerable_example_explains_the_predicted_end(loaded, tutorial_example):
    example = {key: tutorial_example[key] for key in ("question", "context")}
    tensors, record = prepare(loaded, example)
    assert (record["true_start"], record["true_end"]) == (0, 0)
    assert record["token_to_explain"] == record["predicted_end"] == int(tensors["end_logits"][0].argmax())
    assert not record["has_answer"] and record["answers"] == [] and record["answer"] == ""
    assert record["exact"] == int(record["span_answer"] == "")


def test_a_long_context_is_decoded_over_its_windows(loaded):
    tokenizer, model = loaded
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    windows = encode_windows(tokenizer, "ex", example, 64, long_context="windows", stride=16)
    assert len(windows) > 1
    spans = []
    for window in windows:
        with torch.no_grad():
            output = model(**{name: window.tensors[name] for name in ("input_ids", "token_type_ids", "attention_mask")},
                           position_ids=window.tensors["position_ids"])  # fmt: skip
        spans.append(best_span(output.start_logits[0], output.end_logits[0], 8, len(window.tokens) - 1))
    best = max(range(len(spans)), key=lambda index: spans[index].score)
    tensors, record = prepare(loaded, example)
    assert (record["window"], record["window_count"]) == (best, len(windows))
    assert record["tokens"] == windows[best].tokens
    assert tensors["input_ids"].equal(windows[best].tensors["input_ids"])
    null_score = min(span.null_score for span in spans)
    assert record["null_score_diff"] == pytest.approx(null_score - spans[best].score)
    begin, end = record["context_char_span"]
    if record["span_char_span"] is not None:
        char_begin, char_end = record["span_char_span"]
        assert begin <= char_begin < char_end <= end
        assert record["span_answer"] == LONG_CONTEXT[char_begin:char_end]


def window_tokens_match_the_context(record, context):
    """Every context token of a window's input maps back to the context characters it was read from."""
    begin, end = record["context_char_span"]
    spans = [offset for offset in record["token_offsets"] if offset is not None]
    assert (spans[0][0], spans[-1][1]) == (begin, end)
    for token, offset in zip(record["tokens"], record["token_offsets"], strict=True):
        if offset is not None and token != "[UNK]":  # the tiny vocabulary lacks some words
            assert context[offset[0] : offset[1]].lower() == token.removeprefix("##").lower()


def test_explain_windows_all_gives_one_unit_per_window_and_keeps_the_prediction(loaded):
    tokenizer, _ = loaded
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    windows = encode_windows(tokenizer, "ex", example, 64, long_context="windows", stride=32)
    predicted = prepare_units(loaded, example, SimpleNamespace(**{**vars(PARAMS), "stride": 32}))
    every = prepare_units(loaded, example, SimpleNamespace(**{**vars(PARAMS), "stride": 32, "explain_windows": "all"}))
    assert len(windows) == 2
    assert list(predicted) == ["ex"], "prediction: the example's own unit only"
    (own_tensors, own), best = every["ex"], predicted["ex"][1]["window"]
    assert own == predicted["ex"][1] and own_tensors.keys() == predicted["ex"][0].keys()
    assert all(own_tensors[name].equal(predicted["ex"][0][name]) for name in own_tensors), "the example's unit as today"
    others = [window.window for window in windows if window.window != best]
    assert list(every) == ["ex", *(f"ex#window{window}" for window in others)]
    for window in windows:
        tensors, record = every["ex" if window.window == best else f"ex#window{window.window}"]
        assert (record["window"], record["window_count"]) == (window.window, len(windows))
        assert record["context_char_span"] == list(window.context_char_span) and record["tokens"] == window.tokens
        assert tensors["input_ids"].equal(window.tensors["input_ids"])
        window_tokens_match_the_context(record, LONG_CONTEXT)
        # Its own targets: the tutorial's argmaxes within the window; the example's scored answer, over every window.
        assert record["predicted_start"] == int(tensors["start_logits"][0].argmax())
        assert record["predicted_end"] == int(tensors["end_logits"][0].argmax())
        assert (record["true_start"], record["true_end"]) == (window.true_start, window.true_end)
        scored = ("span_answer", "span_char_span", "null_score_diff", "exact", "f1", "outcome")
        assert {key: record[key] for key in scored} == {key: own[key] for key in scored}
        if record["span_end"]:
            offsets = record["token_offsets"]
            assert [offsets[record["span_start"]][0], offsets[record["span_end"]][1]] == own["span_char_span"]
