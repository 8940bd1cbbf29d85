"""How long scoring the SQuAD v2 dev set's 11,873 predictions takes (target: ≤ 10 s), by hand, never in CI:

    .venv/bin/python bench/score_benchmark.py

Synthetic questions of the dev set's make-up (5,945 unanswerable; up to 4 gold answers of 1 to 6 words, from a
120-word vocabulary) and predictions (a gold answer, a cut or extended one, another text, or the null answer); each
is scored by bertscope.evaluation.squad.score_prediction, then summarised as the official script prints it. Prints
the wall time, the machine's load (uptime) and the scores.
"""

import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bertscope.evaluation.squad import score_prediction, summary_scores

QUESTIONS, UNANSWERABLE = 11873, 5945
WORDS = [f"word{number}" for number in range(100)] + ["the", "a", "an", "The", "U.S.", "1,000", "(b)", "x-y"] * 3


def synthetic(rng: random.Random) -> tuple[list[list[str]], list[str]]:
    golds, predictions = [], []
    for number in range(QUESTIONS):
        answers = [] if number < UNANSWERABLE else [
            " ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for _ in range(rng.randint(1, 4))
        ]  # fmt: skip
        choice = rng.random()
        if choice < 0.3 or not answers:
            prediction = "" if choice < 0.5 else " ".join(rng.choices(WORDS, k=3))
        elif choice < 0.6:
            prediction = answers[0]
        else:
            prediction = " ".join(answers[0].split()[1:] + rng.choices(WORDS, k=2))
        golds.append(answers)
        predictions.append(prediction)
    return golds, predictions


if __name__ == "__main__":
    golds, predictions = synthetic(random.Random(0))
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    began = time.perf_counter()
    scored = [score_prediction(gold, prediction) for gold, prediction in zip(golds, predictions, strict=True)]
    scores = summary_scores([s[0] for s in scored], [s[1] for s in scored], [bool(gold) for gold in golds])
    seconds = time.perf_counter() - began
    print(f"scored {QUESTIONS} predictions in {seconds:.3f} s (target ≤ 10 s); load: {load}")
    print(json.dumps(scores, indent=2))
