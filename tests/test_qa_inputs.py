"""Input/reference construction and the bad-input errors of the inputs step."""

from __future__ import annotations

import pytest
from conftest import TUTORIAL_TOKENS

from bertscope import BertscopeError
from bertscope.data.qa_inputs import encode_example, encode_windows
from bertscope.models.loading import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


ALLOWED_POLICIES = ("windows", "reject", "truncate")


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
    # The tutorial's procedure: the first [SEP] (index 7) gets token type 1, as the notebook gives it.
    assert tensors["token_type_ids"][0].tolist() == [0] * 7 + [1] * (length - 7)
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
    assert (
        encode(
            tokenizer, {key: value for key, value in tutorial_example.items() if key != "token_to_explain"}
        ).token_to_explain
        == 23
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"question": ""}, "question", "no visible character"),
        ({"context": "   "}, "context", "no visible character"),
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
        encode_example(tokenizer, "ex", tutorial_example, 20, long_context="reject")


# Long contexts: windows of max_length - question - 3 context tokens, one every `stride` tokens.

QUESTION = "What is important to us?"
FILLER = "Who help the people ? " * 12  # 60 tokens
ANSWER_SENTENCE = "It is important to us to empower humans of all kinds . "  # answer "empower humans": tokens 66..68
LONG_CONTEXT = FILLER + ANSWER_SENTENCE + "We help them . We help them . We help it ."  # 85 tokens
LONG_EXAMPLE = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}


def encode_long(tokenizer, example, max_length=40, stride=8, long_context="windows"):
    return encode_windows(tokenizer, "ex", example, max_length, long_context=long_context, stride=stride)


def assert_consistent(encoded, max_length=40):
    """Every tensor has one entry per token, within the model's maximum."""
    length = len(encoded.tokens)
    assert length <= max_length
    assert all(tensor.shape == (1, length) for tensor in encoded.tensors.values())
    assert encoded.tensors["token_type_ids"][0].tolist() == [0] * (encoded.question_length + 1) + [1] * (
        length - encoded.question_length - 1
    )


def test_windows_every_stride_tokens_cover_the_context(tokenizer):
    windows = encode_long(tokenizer, LONG_EXAMPLE)
    context_tokens = tokenizer.tokenize(LONG_CONTEXT)
    # Room for 40 - 6 - 3 = 31 context tokens; windows start at 0, 8, ..., 56, the last ending with the context (85).
    begins = [0, 8, 16, 24, 32, 40, 48, 56]
    assert [(window.window, window.window_count) for window in windows] == [(w, 8) for w in range(8)]
    for window, begin in zip(windows, begins, strict=True):
        assert_consistent(window)
        assert window.tokens[:8] == ["[CLS]", "What", "is", "important", "to", "us", "?", "[SEP]"]
        assert window.tokens[8:-1] == context_tokens[begin : begin + 31]
        # The answer (context tokens 66..68) is whole only in the windows from 38 on; elsewhere the null answer.
        if begin >= 38:
            assert window.tokens[window.true_start : window.true_end + 1] == ["em", "##power", "humans"]
            assert window.token_to_explain == window.true_end
        else:
            assert (window.true_start, window.true_end, window.token_to_explain) == (0, 0, None)
    assert windows[-1].context_char_span[1] == len(LONG_CONTEXT) and windows[-1].tokens[-2:] == [".", "[SEP]"]


def test_window_tokens_map_back_to_the_context_characters(tokenizer):
    window = encode_long(tokenizer, LONG_EXAMPLE)[5]
    begin, end = window.token_offsets[window.true_start][0], window.token_offsets[window.true_end][1]
    assert LONG_CONTEXT[begin:end] == "empower humans"
    assert window.token_offsets[:8] == [None] * 8 and window.token_offsets[-1] is None
    assert window.token_offsets[8][0] == window.context_char_span[0]
    assert window.token_offsets[-2][1] == window.context_char_span[1]


def test_truncate_keeps_the_first_window_without_looking_at_the_answer(tokenizer):
    (encoded,) = encode_long(tokenizer, LONG_EXAMPLE, long_context="truncate")
    assert_consistent(encoded)
    assert encoded.tokens[8:-1] == tokenizer.tokenize(LONG_CONTEXT)[:31]
    assert (encoded.true_start, encoded.true_end, encoded.token_to_explain) == (0, 0, None)
    (unanswerable,) = encode_long(tokenizer, {"question": QUESTION, "context": LONG_CONTEXT}, long_context="truncate")
    assert unanswerable.tokens == encoded.tokens


def test_an_unanswerable_example_has_the_null_answer(tokenizer, tutorial_example):
    example = {key: tutorial_example[key] for key in ("question", "context")}
    encoded = encode(tokenizer, example)
    assert encoded.tokens == TUTORIAL_TOKENS
    assert (encoded.true_start, encoded.true_end, encoded.token_to_explain) == (0, 0, None)
    assert encoded.tensors["input_ids"].equal(encode(tokenizer, tutorial_example).tensors["input_ids"])


def test_a_context_that_fits_is_one_input_under_every_policy(tokenizer, tutorial_example):
    encodings = [encode_long(tokenizer, tutorial_example, 64, long_context=policy) for policy in ALLOWED_POLICIES]
    for (encoded,) in encodings:
        assert encoded.context_char_span == (0, len(tutorial_example["context"]))
        assert encoded.tokens == TUTORIAL_TOKENS and (encoded.window, encoded.window_count) == (0, 1)
        assert (encoded.true_start, encoded.true_end) == (13, 23)
        assert all(encoded.tensors[name].equal(encodings[0][0].tensors[name]) for name in encoded.tensors)


def test_reject_policy_names_the_fix(tokenizer):
    with pytest.raises(BertscopeError) as raised:
        encode_long(tokenizer, LONG_EXAMPLE, long_context="reject")
    text = str(raised.value)
    assert text.startswith("example 'ex', field 'context': question and context make 94 tokens")
    assert "more than the model's maximum of 40" in text and "set long_context: windows (or truncate)" in text


@pytest.mark.parametrize("policy", ["windows", "truncate"])
def test_a_question_that_alone_does_not_fit_fails_clearly(tokenizer, policy):
    with pytest.raises(BertscopeError, match=r"field 'question': the question alone makes 9 tokens.*Fix: shorten"):
        encode_long(tokenizer, LONG_EXAMPLE, max_length=9, long_context=policy)


@pytest.mark.parametrize(
    ("policy", "stride", "message"),
    [
        ("cut", 8, "field 'long_context': 'cut' is not allowed\\. Fix: use one of windows, reject, truncate"),
        ("truncate", 0, "stride is 0. Fix: set stride"),
        ("truncate", 2.5, "stride is 2.5. Fix: set stride"),
    ],
)
def test_unknown_policy_or_bad_stride_is_rejected(tokenizer, tutorial_example, policy, stride, message):
    with pytest.raises(BertscopeError, match=message):
        encode_example(tokenizer, "ex", tutorial_example, 64, long_context=policy, stride=stride)


def test_corrected_procedure_gives_the_first_sep_token_type_0(tokenizer, tutorial_example):
    tutorial = encode(tokenizer, tutorial_example).tensors["token_type_ids"][0].tolist()
    corrected = encode_example(tokenizer, "tutorial", tutorial_example, 64, procedure="corrected")
    types = corrected.tensors["token_type_ids"][0].tolist()
    assert types == [0] * 8 + [1] * (len(types) - 8)
    assert [i for i, (a, b) in enumerate(zip(tutorial, types, strict=True)) if a != b] == [7]
    assert corrected.tokens[7] == "[SEP]"
