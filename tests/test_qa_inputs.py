"""Input/reference construction and the bad-input errors of the inputs step."""

from __future__ import annotations

import pytest

from bertscope import BertscopeError
from bertscope.model import load_tokenizer
from bertscope.qa_inputs import encode_example

TUTORIAL_TOKENS = (
    "[CLS] What is important to us ? [SEP] It is important to us to include , em ##power and support humans of all "
    "kinds . [SEP]"
).split()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def encode(tokenizer, example, max_length=64):
    return encode_example(tokenizer, "ex", example, max_length)


def test_tutorial_tensors(tokenizer, tutorial_example):
    encoded = encode(tokenizer, tutorial_example)
    tensors, length = encoded.tensors, len(TUTORIAL_TOKENS)
    assert encoded.tokens == TUTORIAL_TOKENS
    assert tensors["input_ids"].shape == (1, length)
    pad, cls, sep = tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id
    reference = tensors["ref_input_ids"][0].tolist()
    assert reference[0] == cls and reference[7] == sep and reference[-1] == sep
    assert all(token == pad for i, token in enumerate(reference) if i not in (0, 7, length - 1))
    assert tensors["token_type_ids"][0].tolist() == [0] * 8 + [1] * (length - 8)
    assert tensors["ref_token_type_ids"][0].tolist() == [0] * length
    assert tensors["position_ids"][0].tolist() == list(range(length))
    assert tensors["ref_position_ids"][0].tolist() == [0] * length
    assert tensors["attention_mask"][0].tolist() == [1] * length
    assert (encoded.true_start, encoded.true_end, encoded.token_to_explain) == (13, 23, 23)


def test_answer_is_located_in_the_context_not_at_a_first_match(tokenizer):
    # "us" occurs in the question (index 5) and twice in the context; the answer is the context's first "us".
    example = {"question": "What is important to us?", "context": "It is important to us to help us.", "answer": "us"}
    encoded = encode(tokenizer, example)
    assert encoded.tokens[encoded.true_start] == "us"
    assert (encoded.true_start, encoded.true_end) == (12, 12)
    second = encode(tokenizer, {**example, "answer_start": example["context"].rindex("us")})
    assert (second.true_start, second.true_end) == (15, 15)


def test_multi_piece_answer_spans_all_its_word_pieces(tokenizer):
    example = {"question": "What is important to us?", "context": "It is important to empower us.", "answer": "empower"}
    encoded = encode(tokenizer, example)
    assert encoded.tokens[encoded.true_start : encoded.true_end + 1] == ["em", "##power"]


def test_token_to_explain_by_string_prefers_the_context(tokenizer, tutorial_example):
    assert encode(tokenizer, {**tutorial_example, "token_to_explain": "important"}).token_to_explain == 10
    assert encode(tokenizer, {**tutorial_example, "token_to_explain": "What"}).token_to_explain == 1
    assert encode(tokenizer, {key: value for key, value in tutorial_example.items() if key != "token_to_explain"}).token_to_explain == 23


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"question": ""}, "question", "is empty"),
        ({"context": "   "}, "context", "is empty"),
        ({"answer": "to exclude"}, "answer", "does not occur in the context"),
        ({"answer_start": 3}, "answer_start", "does not read"),
        ({"token_to_explain": 26}, "token_to_explain", "out of range"),
        ({"token_to_explain": -1}, "token_to_explain", "out of range"),
        ({"token_to_explain": "zebra"}, "token_to_explain", "not among the input tokens"),
    ],
)
def test_bad_input_names_example_field_and_fix(tokenizer, tutorial_example, change, field, message):
    with pytest.raises(BertscopeError) as raised:
        encode(tokenizer, {**tutorial_example, **change})
    text = str(raised.value)
    assert f"example 'ex', field '{field}'" in text and message in text and "Fix:" in text


def test_sequence_longer_than_the_model_is_rejected(tokenizer, tutorial_example):
    with pytest.raises(BertscopeError, match=r"field 'context': .*26 tokens, more than the model's maximum of 20"):
        encode(tokenizer, tutorial_example, max_length=20)
