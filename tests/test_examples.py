"""Loading examples from JSONL and SQuAD files, and merging them with the config's inline examples."""

from __future__ import annotations

import json

import pytest

from bertscope import BertscopeError
from bertscope.data.examples import check_example, check_example_id, gold_answers, load_examples_file, merge_examples

CONTEXT = "It is important to us to include, empower and support humans of all kinds."
ANSWER = "to include, empower and support humans of all kinds"
ANSWER_START = CONTEXT.index(ANSWER)
ANSWER_END = ANSWER_START + len(ANSWER)
EMPOWER_START = CONTEXT.index("empower")


def write_jsonl(tmp_path, *records, name="examples.jsonl"):
    path = tmp_path / name
    path.write_text("".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records))
    return path


def write_squad(tmp_path, qas, version="v2.0", context=CONTEXT, name="squad.json"):
    path = tmp_path / name
    document = {"version": version, "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}
    path.write_text(json.dumps(document))
    return path


def qa(qa_id, answer=ANSWER, start=None, **extra):
    start = CONTEXT.index(answer) if start is None else start
    answers = [{"text": answer, "answer_start": start}]
    return {"id": qa_id, "question": "What is important to us?", "answers": answers} | extra


def jsonl_record(record_id="a", **change):
    return {"id": record_id, "question": "What is important to us?", "context": CONTEXT, "answer": ANSWER} | change


def without_answer(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "answer"}


def error_text(path, **kwargs) -> str:
    with pytest.raises(BertscopeError) as raised:
        load_examples_file(path, **kwargs)
    return str(raised.value)


# JSONL


def test_jsonl_examples_in_file_order_with_schema_keys_only(tmp_path):
    path = write_jsonl(
        tmp_path,
        jsonl_record("b", answer_start=ANSWER_START, token_to_explain="kinds", title="ignored"),
        "",
        jsonl_record("a", answer="us"),
        without_answer(jsonl_record("c", answers={"text": ["empower", "x"], "answer_start": [EMPOWER_START, 0]})),
    )
    examples = load_examples_file(path)
    assert list(examples) == ["b", "a", "c"]
    assert examples["b"] == {
        "question": "What is important to us?",
        "context": CONTEXT,
        "answer": ANSWER,
        "answer_start": ANSWER_START,
        "token_to_explain": "kinds",
    }
    assert set(examples["a"]) == {"question", "context", "answer"}
    assert (examples["c"]["answer"], examples["c"]["answer_start"]) == ("empower", EMPOWER_START)
    assert examples["c"]["answers"] == gold_answers(examples["c"]) == ["empower", "x"]


def test_jsonl_without_an_answer_is_an_unanswerable_example(tmp_path):
    unanswerable = without_answer(jsonl_record("none", answers={"text": [], "answer_start": []}))
    path = write_jsonl(tmp_path, unanswerable, jsonl_record("a"), without_answer(jsonl_record("bare")))
    examples = load_examples_file(path)
    assert list(examples) == ["none", "a", "bare"]
    assert examples["none"] == examples["bare"] == {"question": "What is important to us?", "context": CONTEXT}
    assert gold_answers(examples["none"]) == [] and gold_answers(examples["a"]) == [ANSWER]


def test_max_examples_keeps_the_first_answerable_ones(tmp_path):
    path = write_jsonl(tmp_path, *(jsonl_record(f"q{index}") for index in range(5)))
    assert list(load_examples_file(path, max_examples=2)) == ["q0", "q1"]
    assert list(load_examples_file(path, max_examples=9)) == [f"q{index}" for index in range(5)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_max_examples_must_be_a_positive_integer(tmp_path, bad):
    text = error_text(write_jsonl(tmp_path, jsonl_record()), max_examples=bad)
    assert "max_examples" in text and "Fix:" in text


def test_ids_are_kept_as_given(tmp_path):
    raw_ids = ["what is/this?", "what_is_this_", "_hidden", "ok-1.x", 42, "what is_this?"]
    path = write_jsonl(tmp_path, *(jsonl_record(raw_id) for raw_id in raw_ids))
    assert list(load_examples_file(path)) == [
        "what is/this?",
        "what_is_this_",
        "_hidden",
        "ok-1.x",
        "42",
        "what is_this?",
    ]


@pytest.mark.parametrize(
    ("example_id", "expected"),
    [
        ("q1\n", "example id 'q1\\n' holds '\\n' (character 3), a control character"),
        ("q\t1", "example id 'q\\t1' holds '\\t' (character 2)"),
        ("q" * 501, "is too long (501 characters)"),
        ("", "example id '' is not a valid id"),
        (" \u200b", "is not a valid id (ids are visible text)"),
        (7, "example id 7 is not a valid id"),
    ],
)
def test_a_bad_example_id_is_named_with_the_character_at_fault(example_id, expected):
    with pytest.raises(BertscopeError) as error:
        check_example_id(example_id)
    assert expected in str(error.value) and "Fix: give a non-empty id of at most 500 characters" in str(error.value)


@pytest.mark.parametrize("example_id", ["has space", "-q1", "_hidden", "ünï℃ødé", "q" * 500, "日本語の質問"])
def test_any_visible_text_is_an_id(example_id):
    check_example_id(example_id)


# SQuAD


def test_squad_v1_every_answered_question_becomes_an_example(tmp_path):
    path = write_squad(tmp_path, [qa("q1"), qa("q2", answer="empower")], version="1.1")
    examples = load_examples_file(path)
    assert list(examples) == ["q1", "q2"]
    assert examples["q2"] == {
        "question": "What is important to us?",
        "context": CONTEXT,
        "answer": "empower",
        "answer_start": EMPOWER_START,
        "answers": ["empower"],
    }


def test_squad_v2_keeps_every_question_answerable_or_not(tmp_path):
    plausible = [{"text": "us", "answer_start": 19}]
    impossible = qa("imp", is_impossible=True) | {"answers": [], "plausible_answers": plausible}
    several = qa("q1") | {
        "answers": [{"text": ANSWER, "answer_start": ANSWER_START}, {"text": "us", "answer_start": 19}]
    }
    path = write_squad(tmp_path, [impossible, several, {"id": "noanswers", "question": "Who?", "answers": []}])
    examples = load_examples_file(path)
    assert list(examples) == ["imp", "q1", "noanswers"]
    assert examples["imp"] == {"question": "What is important to us?", "context": CONTEXT}
    assert examples["noanswers"] == {"question": "Who?", "context": CONTEXT}
    assert (examples["q1"]["answer"], examples["q1"]["answers"]) == (ANSWER, [ANSWER, "us"])
    for example_id, example in examples.items():
        assert check_example(example_id, example) == (None if example_id != "q1" else (ANSWER_START, ANSWER_END))


def test_squad_answer_start_picks_the_right_occurrence(tmp_path):
    second_to = CONTEXT.index("to", CONTEXT.index("to") + 1)
    path = write_squad(tmp_path, [qa("q", answer="to", start=second_to)])
    assert load_examples_file(path)["q"]["answer_start"] == second_to


def test_a_file_of_unanswerable_questions_is_read_and_one_without_questions_is_an_error(tmp_path):
    path = write_squad(tmp_path, [qa("a", is_impossible=True), {"id": "b", "question": "Who?", "answers": []}])
    assert list(load_examples_file(path)) == ["a", "b"]
    path.write_text(json.dumps({"version": "v2.0", "data": []}))
    text = error_text(path)
    assert "holds no question" in text and "examples_file" in text


# Malformed input


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"id": "a", "question": ', None, "is not valid JSON"),
        ('["a", "b"]', None, "is an array, not an object"),
        (jsonl_record(question=None), "question", "is missing"),
        (jsonl_record(context="  "), "context", "is empty"),
        (jsonl_record(context=7), "context", "is a number, not a string"),
        (jsonl_record(answer="to exclude"), "answer", "does not occur in the context"),
        (jsonl_record(answer_start=3), "answer_start", "the context at character 3 reads"),
        (jsonl_record(answer_start="13"), "answer_start", "not a character offset"),
        (jsonl_record(token_to_explain=[1]), "token_to_explain", "is an array"),
        (jsonl_record(id=None), "id", "is missing"),
        (jsonl_record(answers={"text": ["us"]}), "answers", "given together with 'answer'"),
        (without_answer(jsonl_record(answers=["us"])), "answers", "is an array, not an object"),
        (without_answer(jsonl_record(answers={"text": [5]})), "answers.text[0]", "is a number, not a string"),
        (without_answer(jsonl_record(answers={"text": "us"})), "answers.text", "is a string, not an array"),
    ],
)
def test_malformed_jsonl_names_file_line_field_and_fix(tmp_path, line, field, message):
    path = write_jsonl(tmp_path, jsonl_record("first"), line)
    text = error_text(path)
    where = f"examples_file '{path}', line 2" + (f", field '{field}'" if field else "")
    assert text.startswith(where) and message in text and "Fix:" in text


def test_duplicate_jsonl_id_names_both_lines(tmp_path):
    text = error_text(write_jsonl(tmp_path, jsonl_record("a"), jsonl_record("b"), jsonl_record("a")))
    assert "line 3, field 'id': 'a' is also the id of line 1" in text


@pytest.mark.parametrize(
    ("question", "location", "message"),
    [
        (qa("q", start=3), "data[0].paragraphs[0].qas[1].answers[0], field 'answer_start'", "reads"),
        (
            qa("q") | {"answers": [{"text": "nope"}]},
            "data[0].paragraphs[0].qas[1].answers[0], field 'text'",
            "'nope' does not occur in the context",
        ),
        (qa("q") | {"question": ""}, "data[0].paragraphs[0].qas[1], field 'question'", "is empty"),
        (qa("q") | {"answers": {"text": "x"}}, "data[0].paragraphs[0].qas[1], field 'answers'", "not an array"),
        (qa("q") | {"is_impossible": "no"}, "data[0].paragraphs[0].qas[1], field 'is_impossible'", "not a boolean"),
        ("just text", "data[0].paragraphs[0].qas[1]", "is a string, not an object"),
    ],
)
def test_malformed_squad_names_the_path_field_and_fix(tmp_path, question, location, message):
    path = write_squad(tmp_path, [qa("first"), question])
    text = error_text(path)
    assert text.startswith(f"examples_file '{path}', {location}: ") and message in text and "Fix:" in text


def test_squad_paragraph_without_context_or_qas(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": CONTEXT, "qas": [qa("a")]}, {"qas": []}]}]}))
    assert "data[0].paragraphs[1], field 'context': is missing" in error_text(path)
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": CONTEXT}]}]}))
    assert "data[0].paragraphs[0], field 'qas': is missing" in error_text(path)
    path.write_text(json.dumps({"data": [{"title": "no paragraphs"}]}))
    assert "data[0], field 'paragraphs': is missing" in error_text(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"data": [', "is not valid JSON"),
        ('[{"id": "a"}]', "has no 'data' list, so it is not a SQuAD file"),
        ('{"version": "1.1", "data": {}}', "field 'data': is an object, not an array"),
    ],
)
def test_a_json_file_that_is_not_squad(tmp_path, content, message):
    path = tmp_path / "squad.json"
    path.write_text(content)
    text = error_text(path)
    assert text.startswith(f"examples_file '{path}'") and message in text and "SQuAD" in text


def test_duplicate_squad_id_names_both_paths(tmp_path):
    text = error_text(write_squad(tmp_path, [qa("a"), qa("a")]))
    assert "qas[1], field 'id': 'a' is also the id of data[0].paragraphs[0].qas[0]" in text


# The file itself


def test_missing_file_names_the_config_field(tmp_path):
    path = tmp_path / "nowhere.jsonl"
    text = error_text(path)
    assert text.startswith(f"examples_file '{path}': no such file") and "set the config field examples_file" in text


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.json"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_text("\n  \n")
    expected = f"examples_file '{path}': is empty. Fix: give a file with at least one question"
    assert error_text(path) == expected


def test_unknown_suffix(tmp_path):
    path = tmp_path / "examples.csv"
    path.write_text("id,question\n")
    text = error_text(path)
    assert "unknown suffix '.csv'" in text and ".jsonl" in text and ".json" in text


def test_not_utf8(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    assert "is not UTF-8 text" in error_text(path)


# Merging


def test_merge_keeps_inline_then_file_examples():
    inline, from_file = {"tutorial": {"question": "Q"}}, {"q1": {"question": "A"}, "q2": {"question": "B"}}
    assert list(merge_examples(inline, from_file)) == ["tutorial", "q1", "q2"]


def test_merge_duplicate_id_names_both_sources():
    with pytest.raises(BertscopeError) as raised:
        merge_examples({"a": {}, "b": {}}, {"b": {}, "c": {}})
    text = str(raised.value)
    assert "'b'" in text and "config's examples" in text and "examples_file" in text and "Fix:" in text


def test_an_inline_example_without_an_answer_is_unanswerable_and_its_answer_fields_need_one():
    example = {"question": "What is important to us?", "context": CONTEXT}
    assert check_example("free", example) is None and gold_answers(example) == []
    for field, value in (("answer_start", 3), ("answers", ["us"])):
        with pytest.raises(
            BertscopeError, match=rf"field '{field}': is given without an answer\. Fix: give the answer"
        ):
            check_example("free", example | {field: value})
    assert gold_answers(example | {"answer": "us", "answers": ["us", "to us"]}) == ["us", "to us"]
