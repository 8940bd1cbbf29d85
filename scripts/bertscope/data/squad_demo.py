"""A SQuAD v2.0-format file of generated questions the demo model can read: answerable and unanswerable ones, and
some contexts longer than the model's maximum, for trying the scored, windowed pipeline offline.

The answerable questions are the demo model's own kind (:func:`bertscope.models.demo_model.generate_example`). An
unanswerable one asks about a fact its context does not state: the context's fact is about another adjective and
target. A long context pads its fact with filler sentences to more than the demo model's 512 tokens.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from bertscope.models.demo_model import FILLER_SENTENCES, generate_example

LONG_FILLER = 120
"""Filler sentences around the fact in a long context: about 650 tokens, so the input needs two 512-token windows."""


def squad_demo_document(count: int, seed: int = 0, unanswerable_every: int = 3, long_every: int = 10) -> dict:
    """A SQuAD v2.0 document of ``count`` generated questions, one paragraph each.

    Args:
        count: the number of questions.
        seed: the generator's seed.
        unanswerable_every: every this-many-th question (the 2nd, 5th, ... with 3) is unanswerable.
        long_every: every this-many-th question (the 1st, 11th, ... with 10) has a context longer than 512 tokens.

    Returns:
        ``{"version": "v2.0", "data": [{"title": ..., "paragraphs": [...]}]}``.
    """
    rng = random.Random(seed)
    paragraphs = []
    for number in range(count):
        example = generate_example(rng)
        context, answer_start = example.context, example.answer_start
        if number % long_every == 0:
            before = " ".join(rng.choice(FILLER_SENTENCES) for _ in range(LONG_FILLER // 2))
            after = " ".join(rng.choice(FILLER_SENTENCES) for _ in range(LONG_FILLER // 2))
            context, answer_start = f"{before} {context} {after}", answer_start + len(before) + 1
        qa = {"id": f"demo-{number:05d}", "question": example.question, "answers": [], "is_impossible": False}
        if number % unanswerable_every == 1:
            other = generate_example(rng)
            while other.question.split()[:4] == example.question.split()[:4]:
                other = generate_example(rng)
            qa.update(question=other.question, is_impossible=True)
        else:
            qa["answers"] = [{"text": example.answer, "answer_start": answer_start}]
        paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "v2.0", "data": [{"title": "bertscope demo", "paragraphs": paragraphs}]}


def write_squad_demo(path: str | Path, count: int, seed: int = 0) -> Path:
    """Write :func:`squad_demo_document` of ``count`` questions to ``path`` (JSON); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(squad_demo_document(count, seed), indent=1) + "\n", encoding="utf-8")
    return path
