"""Input/reference construction and the bad-input errors of the inputs step."""

from __future__ import annotations

import pytest
from conftest import TUTORIAL_TOKENS

from bertscope import BertscopeError
from bertscope.data.qa_inputs import encode_example
from bertscope.models.loading import load_tokenizer


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
        encode(tokenizer, tutorial_example, max_length=20)


# Long contexts: windows of max_length - question - 3 tokens, every `stride` tokens, the first holding the answer.

QUESTION = "What is important to us?"
FILLER = "Who help the people ? " * 12  # 60 tokens
ANSWER_SENTENCE = "It is important to us to empower humans of all kinds . "  # answer "empower humans": tokens 66..68
LONG_CONTEXT = FILLER + ANSWER_SENTENCE + "We help them . We help them . We help it ."  # 85 tokens


def encode_long(tokenizer, example, max_length=40, stride=8):
    return encode_example(tokenizer, "ex", example, max_length, long_context="truncate", stride=stride)


def assert_consistent(encoded, max_length=40):
    """Every tensor has one entry per token, within the model's maximum."""
    length = len(encoded.tokens)
    assert length <= max_length
    assert all(tensor.shape == (1, length) for tensor in encoded.tensors.values())
    assert encoded.tensors["token_type_ids"][0].tolist() == [0] * (encoded.question_length + 1) + [1] * (
        length - encoded.question_length - 1
    )


def test_truncate_keeps_the_first_window_holding_the_answer(tokenizer):
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    encoded = encode_long(tokenizer, example)
    assert_consistent(encoded)
    assert encoded.tokens[encoded.true_start : encoded.true_end + 1] == ["em", "##power", "humans"]
    assert encoded.token_to_explain == encoded.true_end
    # Room for 40 - 6 - 3 = 31 context tokens; windows start at 0, 8, 16, ...; the first reaching token 68 starts at 40.
    context_tokens = tokenizer.tokenize(LONG_CONTEXT)
    assert encoded.tokens[8:-1] == context_tokens[40:71]
    begin, end = encoded.context_char_span
    kept = LONG_CONTEXT[begin:end]
    assert "empower humans" in kept and tokenizer.tokenize(kept) == context_tokens[40:71]
    assert kept.startswith("Who help") and kept.endswith("of all")


def test_truncate_follows_answer_start_to_a_later_occurrence(tokenizer):
    context = ANSWER_SENTENCE + FILLER + ANSWER_SENTENCE
    later = context.rindex("empower")
    example = {"question": QUESTION, "context": context, "answer": "empower", "answer_start": later}
    encoded = encode_long(tokenizer, example)
    assert_consistent(encoded)
    assert encoded.tokens[encoded.true_start : encoded.true_end + 1] == ["em", "##power"]
    begin, end = encoded.context_char_span
    assert begin <= later and later + len("empower") <= end and "empower" in context[begin:end]
    assert begin > context.index("empower")


def test_truncate_answer_at_the_end_keeps_the_context_end(tokenizer):
    encoded = encode_long(tokenizer, {"question": QUESTION, "context": LONG_CONTEXT, "answer": "it ."})
    assert_consistent(encoded)
    assert encoded.tokens[encoded.true_start : encoded.true_end + 1] == ["it", "."]
    assert encoded.context_char_span[1] == len(LONG_CONTEXT)
    assert encoded.tokens[-2:] == [".", "[SEP]"]


def test_a_context_that_fits_is_kept_whole_by_either_policy(tokenizer, tutorial_example):
    rejected, truncated = encode(tokenizer, tutorial_example), encode_long(tokenizer, tutorial_example, max_length=64)
    assert rejected.context_char_span == truncated.context_char_span == (0, len(tutorial_example["context"]))
    assert rejected.tokens == truncated.tokens == TUTORIAL_TOKENS
    assert (rejected.true_start, rejected.true_end) == (truncated.true_start, truncated.true_end)


def test_reject_policy_names_the_fix(tokenizer):
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    with pytest.raises(BertscopeError) as raised:
        encode(tokenizer, example, max_length=40)
    text = str(raised.value)
    assert text.startswith("example 'ex', field 'context': question and context make 94 tokens")
    assert "more than the model's maximum of 40" in text and "set long_context: truncate or shorten the context" in text


def test_truncate_fails_clearly_when_no_window_holds_the_answer(tokenizer):
    # The answer is context tokens 66..68. With room for 13 - 6 - 3 = 4 tokens every 4 tokens, the windows 64..67 and
    # 68..71 each cut it; with room for 2 tokens no window can hold its 3 tokens.
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    with pytest.raises(BertscopeError, match=r"field 'context': no window of 4 context tokens, taken every 4 tokens"):
        encode_long(tokenizer, example, max_length=13, stride=4)
    with pytest.raises(BertscopeError, match=r"field 'context': no window of 2 context tokens.*Fix: lower stride"):
        encode_long(tokenizer, example, max_length=11, stride=1)
    assert encode_long(tokenizer, example, max_length=13, stride=2).tokens[8:11] == ["em", "##power", "humans"]


def test_truncate_fails_clearly_when_the_question_alone_does_not_fit(tokenizer):
    example = {"question": QUESTION, "context": LONG_CONTEXT, "answer": "empower humans"}
    with pytest.raises(BertscopeError, match=r"field 'question': the question alone makes 9 tokens.*Fix: shorten"):
        encode_long(tokenizer, example, max_length=9)


@pytest.mark.parametrize(
    ("policy", "stride", "message"),
    [
        ("cut", 8, "field 'long_context': 'cut' is not allowed\\. Fix: use one of reject, truncate"),
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
