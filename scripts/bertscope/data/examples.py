"""Examples to explain, read from a JSONL file or a SQuAD-format JSON file (v1.1 or v2.0).

A ``.jsonl`` file holds one JSON object per line: ``id``, ``question``, ``context``, and either ``answer`` (a string,
with an optional ``answer_start``) or SQuAD-style ``answers`` (``{"text": [...], "answer_start": [...]}``: the first
is the example's answer, every text a gold answer for scoring), or neither (an unanswerable question);
``token_to_explain`` is optional and other keys are ignored. A ``.json`` file is in SQuAD format; every question
becomes an example, answerable or not (``is_impossible``, or no answers: an example without ``answer``).

An answerable example has ``answer`` (and ``answer_start`` when known) and, when it comes from SQuAD-style answers,
``answers``: every gold answer text, the first being ``answer`` (SQuAD dev gives several per question).

Ids are kept as given, in every table's ``example`` column; the files named after an example use
:func:`bertscope.pipeline.names.example_file_name`, a safe file name unique to the id. The Snakefile imports this
module while it parses, so it uses the standard library only.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bertscope import BertscopeError, input_error

FILE_FIELD = "examples_file"
"""The config field naming the examples file; every error message names it."""

ID_MAX_LENGTH = 500
"""An id is any text of visible characters up to this length (files are named after a safe mapping of it, never the
id itself: :func:`bertscope.pipeline.names.example_file_name`); a longer one is surely not an id."""
_JSONL_FIX = 'write one JSON object per line: {"id": ..., "question": ..., "context": ..., "answer": ...}'
_SQUAD_FIX = (
    'give a SQuAD v1.1/v2.0 file ({"version": ..., "data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}), '
    "or a .jsonl file with one example per line"
)


@dataclass(frozen=True)
class _Place:
    """Where a record lies in the examples file: a JSONL line, a SQuAD path, or (location "") the whole file."""

    path: Path
    location: str = ""

    def error(self, problem: str, fix: str, field: str | None = None) -> BertscopeError:
        """An error about this place (and one of its fields), in the format of bertscope.input_error."""
        where = f"{FILE_FIELD} '{self.path}'"
        if self.location:
            where += f", {self.location}"
        if field:
            where += f", field '{field}'"
        return BertscopeError(f"{where}: {problem}. Fix: {fix}")

    def child(self, step: str) -> _Place:
        """The place of a part of this record, e.g. ``.qas[1]``."""
        return _Place(self.path, f"{self.location}{step}")


@dataclass(frozen=True)
class _Record:
    """One question of the file: its id as written, where it lies, and its example."""

    raw_id: str
    place: _Place
    example: dict


_JSON_KINDS = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _kind(value) -> str:
    """What kind of JSON value ``value`` is, for error messages."""
    return next((name for types, name in _JSON_KINDS if isinstance(value, types)), "null")


def _object(place: _Place, value, fix: str, field: str | None = None) -> dict:
    """``value`` (the record at ``place``, or its ``field``), which must be a JSON object."""
    if not isinstance(value, dict):
        raise place.error(f"is {_kind(value)}, not an object", fix, field)
    return value


def _present(place: _Place, field: str, value, fix: str, kind: type, kind_name: str):
    """The ``field`` of the record at ``place``, which must be there and be a ``kind`` (``kind_name`` in JSON)."""
    if value is None:
        raise place.error("is missing", fix, field)
    if not isinstance(value, kind):
        raise place.error(f"is {_kind(value)}, not {kind_name}", fix, field)
    return value


def _array(place: _Place, field: str, value, fix: str) -> list:
    """The ``field`` of the record at ``place``, which must be a JSON array."""
    return _present(place, field, value, fix, list, "an array")


def _string(place: _Place, field: str, value, fix: str) -> str:
    """The ``field`` of the record at ``place``, which must be a non-blank string."""
    if not _present(place, field, value, fix, str, "a string").strip():
        raise place.error("is empty", fix, field)
    return value


def _offset(place: _Place, field: str, value) -> int | None:
    """A character offset, or None when not given."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise place.error(
            f"is {value!r}, not a character offset", "give the answer's first character index in the context", field
        )
    return value


def _token_choice(place: _Place, value):
    """An optional token_to_explain: a token index or a token string."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise place.error(f"is {_kind(value)}", "give a token index (an integer) or a token string", "token_to_explain")
    return value


def _raw_id(place: _Place, record: dict) -> str:
    """The record's id as written (an integer id becomes its digits)."""
    value = record.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _string(place, "id", value, "give every question a unique id string")


def _check_answer(
    place: _Place, context: str, answer: str, answer_start: int | None, answer_field: str, start_field: str
) -> None:
    """Check that the answer occurs in the context, at answer_start when given."""
    if answer_start is None:
        if answer not in context:
            raise place.error(
                f"'{answer}' does not occur in the context", "copy the answer verbatim from the context", answer_field
            )
        return
    found = context[answer_start : answer_start + len(answer)]
    if found != answer:
        raise place.error(
            f"the context at character {answer_start} reads '{found}', not the answer '{answer}'",
            "give the character offset where the answer begins in the context",
            start_field,
        )


def _example(
    question: str, context: str, answer: str | None, answer_start: int | None, token_to_explain=None, golds=None
) -> dict:
    """An example with exactly the keys the config schema allows: no ``answer`` for an unanswerable question,
    ``answers`` (every gold text) when the file gives a list of them."""
    example = {"question": question, "context": context}
    if answer is not None:
        example["answer"] = answer
    if answer_start is not None:
        example["answer_start"] = answer_start
    if golds is not None:
        example["answers"] = golds
    if token_to_explain is not None:
        example["token_to_explain"] = token_to_explain
    return example


# JSONL


def _jsonl_object(place: _Place, line: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise place.error(f"is not valid JSON ({error.msg} at column {error.colno})", _JSONL_FIX) from None
    return _object(place, value, _JSONL_FIX)


def _jsonl_answers(place: _Place, answers) -> tuple[str, int | None, list[str]] | None:
    """The first answer of SQuAD-style ``answers`` (text and start) and every text, or None when the list is
    empty."""
    fix = 'give answers as {"text": ["..."], "answer_start": [...]}, or give answer as a string'
    answers = _object(place, answers, fix, "answers")
    texts = _array(place, "answers.text", answers.get("text"), fix)
    starts = _array(place, "answers.answer_start", answers.get("answer_start", []), fix)
    if not texts:
        return None
    golds = [_string(place, f"answers.text[{index}]", text, fix) for index, text in enumerate(texts)]
    return golds[0], _offset(place, "answers.answer_start[0]", starts[0] if starts else None), golds


def _jsonl_record(place: _Place, record: dict) -> _Record:
    raw_id = _raw_id(place, record)
    question = _string(place, "question", record.get("question"), "give the question as a non-empty string")
    context = _string(place, "context", record.get("context"), "give the context as a non-empty string")
    token_to_explain = _token_choice(place, record.get("token_to_explain"))
    if "answers" in record:
        if "answer" in record:
            raise place.error("is given together with 'answer'", "give either answer or answers, not both", "answers")
        first = _jsonl_answers(place, record["answers"])
        if first is None:
            return _Record(raw_id, place, _example(question, context, None, None, token_to_explain))
        (answer, answer_start, golds), fields = first, ("answers.text[0]", "answers.answer_start[0]")
    elif record.get("answer") is None:
        return _Record(raw_id, place, _example(question, context, None, None, token_to_explain))
    else:
        fix = "give the answer verbatim from the context as 'answer' (a string) or SQuAD-style 'answers'"
        answer, golds = _string(place, "answer", record.get("answer"), fix), None
        answer_start, fields = _offset(place, "answer_start", record.get("answer_start")), ("answer", "answer_start")
    _check_answer(place, context, answer, answer_start, *fields)
    return _Record(raw_id, place, _example(question, context, answer, answer_start, token_to_explain, golds))


def _parse_jsonl(path: Path, text: str) -> list[_Record]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            place = _Place(path, f"line {number}")
            records.append(_jsonl_record(place, _jsonl_object(place, line)))
    return records


# SQuAD JSON


def _squad_question(place: _Place, qa, context: str) -> _Record:
    fix = 'give each question as {"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": ...}]}'
    qa = _object(place, qa, fix)
    raw_id = _raw_id(place, qa)
    question = _string(place, "question", qa.get("question"), "give the question as a non-empty string")
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        problem = f"is {_kind(impossible)}, not a boolean"
        raise place.error(problem, "give is_impossible as true or false", "is_impossible")
    answers = _array(place, "answers", qa.get("answers", []), fix)
    if impossible or not answers:
        return _Record(raw_id, place, _example(question, context, None, None))
    golds = []
    for index, gold in enumerate(answers):
        answer_place = place.child(f".answers[{index}]")
        gold = _object(answer_place, gold, fix)
        golds.append(_string(answer_place, "text", gold.get("text"), "give the answer text verbatim from the context"))
        if index == 0:
            answer_start = _offset(answer_place, "answer_start", gold.get("answer_start"))
            _check_answer(answer_place, context, golds[0], answer_start, "text", "answer_start")
    return _Record(raw_id, place, _example(question, context, golds[0], answer_start, golds=golds))


def _squad_paragraph(place: _Place, paragraph) -> list[_Record]:
    paragraph = _object(place, paragraph, _SQUAD_FIX)
    context = _string(place, "context", paragraph.get("context"), "give the paragraph's context as a non-empty string")
    questions = _array(place, "qas", paragraph.get("qas"), _SQUAD_FIX)
    return [_squad_question(place.child(f".qas[{index}]"), qa, context) for index, qa in enumerate(questions)]


def _parse_squad(path: Path, text: str) -> list[_Record]:
    place = _Place(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        raise place.error(problem, _SQUAD_FIX) from None
    if not isinstance(document, dict) or "data" not in document:
        raise place.error("has no 'data' list, so it is not a SQuAD file", _SQUAD_FIX)
    records = []
    for index, article in enumerate(_array(place, "data", document["data"], _SQUAD_FIX)):
        article_place = _Place(path, f"data[{index}]")
        article = _object(article_place, article, _SQUAD_FIX)
        paragraphs = _array(article_place, "paragraphs", article.get("paragraphs"), _SQUAD_FIX)
        for number, paragraph in enumerate(paragraphs):
            records.extend(_squad_paragraph(article_place.child(f".paragraphs[{number}]"), paragraph))
    return records


# Loading


_PARSERS = {".jsonl": _parse_jsonl, ".json": _parse_squad}


def _read_text(path: Path) -> str:
    place = _Place(path)
    if not path.is_file():
        raise place.error(
            "no such file",
            f"set the config field {FILE_FIELD} to an existing .jsonl or SQuAD .json file "
            "(a relative path is relative to the working directory)",
        )
    if path.suffix.lower() not in _PARSERS:
        raise place.error(
            f"has the unknown suffix '{path.suffix}'",
            "name a JSONL file '*.jsonl' (one example per line) or a SQuAD JSON file '*.json'",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise place.error(f"is not UTF-8 text ({error.reason} at byte {error.start})", "save it as UTF-8") from None
    if not text.strip():
        raise place.error("is empty", "give a file with at least one question")
    return text


def _by_id(records: list[_Record]) -> dict[str, dict]:
    """The records' examples by id, kept as given (answerable or not); an id used twice or not an id is an error."""
    first_place: dict[str, _Place] = {}
    examples: dict[str, dict] = {}
    for record in records:
        if record.raw_id in first_place:
            raise record.place.error(
                f"'{record.raw_id}' is also the id of {first_place[record.raw_id].location}",
                "give every question a unique id",
                "id",
            )
        first_place[record.raw_id] = record.place
        try:
            check_example_id(record.raw_id)
        except BertscopeError as error:
            raise record.place.error(
                str(error).partition(". Fix: ")[0], "give every question a valid id", "id"
            ) from None
        examples[record.raw_id] = record.example
    return examples


def load_examples_file(path, max_examples: int | None = None) -> dict[str, dict]:
    """Examples from a JSONL file or a SQuAD-format JSON file (v1.1 or v2.0), by id, in file order.

    Every question is an example, answerable or not; ``max_examples`` keeps the first that many. The whole file
    is checked either way.
    """
    positive = isinstance(max_examples, int) and not isinstance(max_examples, bool) and max_examples >= 1
    if max_examples is not None and not positive:
        raise BertscopeError(f"max_examples is {max_examples!r}. Fix: set max_examples to a positive integer or null")
    path = Path(path)
    text = _read_text(path)
    records = _PARSERS[path.suffix.lower()](path, text)
    examples = _by_id(records)
    if not examples:
        raise _Place(path).error("holds no question", "give a file with at least one question")
    return dict(list(examples.items())[:max_examples])


def merge_examples(inline: dict[str, dict], from_file: dict[str, dict]) -> dict[str, dict]:
    """Inline config examples plus file examples; a duplicate id is an error naming both sources."""
    duplicates = [example_id for example_id in from_file if example_id in inline]
    if duplicates:
        raise BertscopeError(
            f"example id(s) {', '.join(repr(example_id) for example_id in duplicates)} are defined both in the "
            f"config's examples and in {FILE_FIELD}. Fix: rename or remove one of each pair"
        )
    return {**inline, **from_file}


def _visible(text: str) -> bool:
    """Whether ``text`` has a character a reader (and a tokenizer) sees: not only spaces or format characters."""
    return any(not char.isspace() and unicodedata.category(char) not in ("Cf", "Cc", "Zs") for char in text)


def check_example_id(example_id) -> None:
    """An id is text of at most :data:`ID_MAX_LENGTH` characters, some visible, none a control character (a line
    break or a tab); letters of any script, spaces and punctuation are kept as given."""
    fix = f"give a non-empty id of at most {ID_MAX_LENGTH} characters, on one line"
    if not isinstance(example_id, str) or not _visible(example_id):
        raise BertscopeError(f"example id {example_id!r} is not a valid id (ids are visible text). Fix: {fix}")
    if len(example_id) > ID_MAX_LENGTH:
        raise BertscopeError(f"example id {example_id[:40]!r}… is too long ({len(example_id)} characters). Fix: {fix}")
    control = next((index for index, char in enumerate(example_id) if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise BertscopeError(
            f"example id {example_id!r} holds {example_id[control]!r} (character {control + 1}), a control "
            f"character. Fix: {fix}"
        )


def gold_answers(example: dict) -> list[str]:
    """The gold answer texts an example's prediction is scored against: ``answers``, else ``[answer]``, else none
    (an unanswerable question)."""
    if "answers" in example:
        return list(example["answers"])
    return [example["answer"]] if "answer" in example else []


def check_example(example_id: str, example: dict) -> tuple[int, int] | None:
    """Check one example before anything runs: its id, a visible question, context and answer, and the answer in
    the context (at ``answer_start`` when given). Returns the answer's character span in the context, or None for
    an unanswerable example (no ``answer``)."""
    check_example_id(example_id)
    if "answer" not in example:
        for field in ("answer_start", "answers"):
            if field in example:
                raise input_error(example_id, field, "is given without an answer", "give the answer, or leave it out")
    for field in ("question", "context", "answer") if "answer" in example else ("question", "context"):
        text = example.get(field)
        if not isinstance(text, str) or not _visible(text):
            shown = "missing" if text is None else f"{text!r}, which has no visible character"
            raise input_error(example_id, field, f"is {shown}", f"give the example a {field} with words in it")
    if "answer" not in example:
        return None
    context, answer, answer_start = example["context"], example["answer"], example.get("answer_start")
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
