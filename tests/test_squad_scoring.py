"""The SQuAD v2.0 scorer against hand-worked cases of the official definitions, and the span decoding."""

import numpy as np
import pytest

from bertscope.evaluation.squad import (
    best_span,
    exact_match,
    f1_score,
    normalize_answer,
    outcome,
    score_prediction,
    summary_scores,
)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear  ", "apple pear"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("A.D. 1066", "ad 1066"),  # punctuation removed before the articles: "a.d." is "ad", not an article
        ("rock-and-roll", "rockandroll"),
        ("", ""),
    ],
)
def test_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_and_f1_by_hand():
    assert exact_match("the Denver Broncos", "Denver Broncos.") == 1
    assert exact_match("Denver Broncos", "Broncos") == 0
    # gold "denver broncos" (2 words), predicted "broncos" (1): precision 1, recall 1/2, F1 2/3.
    assert f1_score("Denver Broncos", "the Broncos") == pytest.approx(2 / 3)
    # gold "w x y z", predicted "x y v": shared 2; precision 2/3, recall 1/2, F1 4/7.
    assert f1_score("w x y z", "x y v") == pytest.approx(4 / 7)
    # "a" is an article: gold "b c d", predicted "b c e", P = R = 2/3.
    assert f1_score("a b c d", "b c e") == pytest.approx(2 / 3)
    # words are a multiset: gold "x x y", predicted "x y y": shared x, y; P = R = 2/3.
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_score("Broncos", "Panthers") == 0.0
    assert f1_score("", "") == 1.0
    assert f1_score("", "Broncos") == 0.0


def test_maximum_over_golds_and_the_null_answer():
    assert score_prediction(["Denver Broncos", "Broncos", "the Broncos"], "Broncos") == (1, 1.0)
    exact, f1 = score_prediction(["Santa Clara, California", "Levi's Stadium"], "Levi's Stadium in Santa Clara")
    # against "levis stadium": P 2/5, R 1 → 4/7; against "santa clara california": P 2/5, R 2/3 → 1/2.
    assert (exact, f1) == (0, pytest.approx(4 / 7))
    assert score_prediction([], "") == (1, 1.0)
    assert score_prediction([], "Broncos") == (0, 0.0)
    # a gold answer that normalises to nothing is dropped: only the null answer is left.
    assert score_prediction(["the", "."], "") == (1, 1.0)


def test_summary_as_the_official_script_prints_it():
    scores = summary_scores(exact=[1, 0, 1, 0], f1=[1.0, 0.5, 1.0, 0.0], has_answer=[True, True, False, False])
    assert list(scores) == [
        "exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total"
    ]  # fmt: skip
    assert scores == {
        "exact": 50.0, "f1": 62.5, "total": 4,
        "HasAns_exact": 50.0, "HasAns_f1": 75.0, "HasAns_total": 2,
        "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
    }  # fmt: skip
    assert "NoAns_total" not in summary_scores([1], [1.0], [True])


def test_outcomes():
    assert [outcome("", 1), outcome("", 0), outcome("Broncos", 1), outcome("Panthers", 0)] == [
        "abstained",
        "abstained",
        "correct",
        "wrong",
    ]


def test_span_decoding_keeps_start_before_end_inside_the_context():
    # [CLS] q [SEP] c0 c1 c2 c3 [SEP]: context tokens 3..6.
    start = np.array([0.0, 9.0, 0.0, 1.0, 0.0, 5.0, 0.0, 9.0])
    end = np.array([0.0, 9.0, 0.0, 4.0, 0.0, 0.0, 0.0, 9.0])
    span = best_span(start, end, context_begin=3, context_end=7)
    # the independent argmaxes (1 and 1, in the question) are not allowed; start 5 > end 3 is not either: 3..3 = 5.
    assert (span.start, span.end, span.score, span.null_score, span.is_null) == (3, 3, 5.0, 0.0, False)
    limited = best_span(start, end, 3, 7, max_tokens=1)
    assert (limited.start, limited.end) == (3, 3)
    long = np.array([0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0])
    far = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0, 0.0])
    assert (best_span(long, far, 3, 7).start, best_span(long, far, 3, 7).end) == (3, 6)
    assert best_span(long, far, 3, 7, max_tokens=3).score == 6.0  # 3..6 is 4 tokens: only one end at 6 or start at 3


def test_span_decoding_against_the_null_answer():
    start = np.array([4.0, 0.0, 0.0, 2.0, 1.0, 0.0])
    end = np.array([3.0, 0.0, 0.0, 1.0, 4.0, 0.0])
    span = best_span(start, end, 3, 5)
    assert (span.start, span.end, span.score, span.null_score, span.is_null) == (0, 0, 6.0, 7.0, True)
    start[0] = 2.0
    assert (best_span(start, end, 3, 5).start, best_span(start, end, 3, 5).end) == (3, 4)
