"""Predictions scored as the official SQuAD v2.0 evaluation scores them, and the standard span decoding.

The scorer follows the definitions of the official ``evaluate-v2.0.py`` (written here from them, not copied):

- an answer is normalised by lower-casing it, removing ASCII punctuation, removing the articles "a", "an" and
  "the" as whole words, and collapsing white space;
- exact match is 1 when the normalised prediction equals a normalised gold answer; F1 is the harmonic mean of the
  precision and recall of the prediction's normalised words against a gold answer's (as multisets), 1 when both
  are empty and 0 when only one is; both are the maximum over the gold answers;
- gold answers that normalise to nothing are dropped, and a question left without one (an unanswerable question)
  has the null answer "" as its only gold answer: predicting "" scores 1, anything else 0;
- the totals are percentages over every question (``exact``, ``f1``, ``total``), over the answerable ones
  (``HasAns_*``) and the unanswerable ones (``NoAns_*``), in the order the official script prints them. No
  no-answer probability file is used (the official default): every prediction counts as given.

The span decoding is the one of the SQuAD baselines and the Hugging Face QA pipeline: the best span with
start ≤ end, at most :data:`MAX_ANSWER_TOKENS` tokens, both ends inside the context, scored by the sum of its start
and end logits, against the null answer's score (the start and end logits at ``[CLS]``); the null answer is
predicted when its score is higher than the best span's.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

import numpy as np

MAX_ANSWER_TOKENS = 30
"""The longest span the decoding predicts, in tokens (``max_answer_length`` of the SQuAD baselines)."""

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """An answer as SQuAD compares it: lower case, no punctuation, no articles, single spaces."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(gold: str, prediction: str) -> int:
    """1 when the two answers are equal once normalised, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def f1_score(gold: str, prediction: str) -> float:
    """The word-overlap F1 of two answers, once normalised; 1 when both are empty, 0 when only one is."""
    gold_words, predicted_words = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_words or not predicted_words:
        return float(gold_words == predicted_words)
    shared = sum((Counter(gold_words) & Counter(predicted_words)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted_words), shared / len(gold_words)
    return 2 * precision * recall / (precision + recall)


def scored_golds(golds) -> list[str]:
    """The gold answers a prediction is scored against: those that normalise to something, or the null answer."""
    kept = [gold for gold in golds if normalize_answer(gold)]
    return kept or [""]


def score_prediction(golds, prediction: str) -> tuple[int, float]:
    """Exact match and F1 of one prediction, each the maximum over :func:`scored_golds` of ``golds``.

    Args:
        golds: the question's gold answer texts (empty for an unanswerable question).
        prediction: the predicted answer text, "" for the null answer.

    Returns:
        (exact, f1): exact in {0, 1}, f1 in [0, 1].
    """
    kept = scored_golds(golds)
    return max(exact_match(gold, prediction) for gold in kept), max(f1_score(gold, prediction) for gold in kept)


def summary_scores(exact, f1, has_answer) -> dict[str, float | int]:
    """The official script's summary of per-question scores: percentages overall, HasAns and NoAns.

    Args:
        exact: (N,) exact match per question, 0 or 1.
        f1: (N,) F1 per question, in [0, 1].
        has_answer: (N,) bool, whether the question has a gold answer.

    Returns:
        ``exact``, ``f1`` (percentages) and ``total`` over every question, then the same prefixed ``HasAns_`` and
        ``NoAns_`` for each kind that occurs (the official script leaves out a kind with no question).
    """
    exact, f1 = np.asarray(exact, dtype=float), np.asarray(f1, dtype=float)
    has_answer = np.asarray(has_answer, dtype=bool)
    scores: dict[str, float | int] = {}
    for prefix, chosen in (("", np.ones_like(has_answer)), ("HasAns_", has_answer), ("NoAns_", ~has_answer)):
        total = int(chosen.sum())
        if total == 0 and prefix:
            continue
        scores[f"{prefix}exact"] = 100.0 * float(exact[chosen].sum()) / total if total else 0.0
        scores[f"{prefix}f1"] = 100.0 * float(f1[chosen].sum()) / total if total else 0.0
        scores[f"{prefix}total"] = total
    return scores


def scores_of_predictions(predictions) -> dict[str, float | int]:
    """:func:`summary_scores` of a ``predictions`` table (columns exact, f1, has_answer; one row per example)."""
    return summary_scores(predictions["exact"], predictions["f1"], predictions["has_answer"])


OUTCOMES = ("correct", "wrong", "abstained")
"""What the scored prediction was: a non-null answer with exact match 1, one with exact match 0, or the null
answer (the model abstained), whether the question is answerable or not."""


def outcome(prediction: str, exact: int) -> str:
    """The :data:`OUTCOMES` value of a prediction and its exact match."""
    if prediction == "":
        return "abstained"
    return "correct" if exact else "wrong"


@dataclass(frozen=True)
class Span:
    """A decoded answer: token indices into the input (inclusive; both 0, ``[CLS]``, for the null answer), the
    span's score (start + end logit), the null answer's score, and whether the null answer won."""

    start: int
    end: int
    score: float
    null_score: float
    is_null: bool


def best_span(start_logits, end_logits, context_begin: int, context_end: int, max_tokens=MAX_ANSWER_TOKENS) -> Span:
    """The standard decoding of one input: the best valid span against the null answer.

    Args:
        start_logits: (L,) the model's start logits on the input.
        end_logits: (L,) its end logits.
        context_begin: index of the first context token of the input.
        context_end: index one past the last context token.
        max_tokens: the longest span allowed, in tokens.

    Returns:
        The best span with ``context_begin ≤ start ≤ end < context_end`` and ``end - start < max_tokens``, by
        ``start_logits[start] + end_logits[end]``; the null answer (start = end = 0) when
        ``start_logits[0] + end_logits[0]`` is larger.
    """
    starts = np.asarray(start_logits, dtype=np.float64)[context_begin:context_end]
    ends = np.asarray(end_logits, dtype=np.float64)[context_begin:context_end]
    pair = starts[:, None] + ends[None, :]  # (context, context): start row, end column
    offset = np.subtract.outer(np.arange(len(starts)), np.arange(len(ends)))  # start - end
    pair[(offset > 0) | (offset <= -max_tokens)] = -np.inf
    flat = int(np.argmax(pair))
    start, end = divmod(flat, len(ends))
    score = float(pair[start, end])
    null_score = float(start_logits[0]) + float(end_logits[0])
    if null_score > score:
        return Span(0, 0, score, null_score, True)
    return Span(context_begin + start, context_begin + end, score, null_score, False)
