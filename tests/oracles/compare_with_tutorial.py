"""Check a finished run's tables against the tutorial's procedure run by hand on the same model.

    .venv/bin/python tests/oracles/compare_with_tutorial.py [--results results] [--example tutorial]

Reruns tests/oracles/tutorial_procedure.py on the run's model (results/model) with the run's n_steps and the example's
question, context and answer, and prints, per quantity, the largest relative difference from the run's Parquet
tables (|a - b| / |b|, with near-zero elements measured against 1% of the quantity's largest, and convergence
deltas against an absolute 1e-5); it exits 1 if any exceeds --rtol (default 1e-4).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tutorial_procedure import run_tutorial

TARGETS = ("start", "end")


DELTA_ATOL = 1e-5
"""Convergence deltas are float32 differences of logit-sized sums: below this they are rounding noise."""


def relative_difference(got, expected, atol: float, relative_floor: float = 0.01) -> float:
    """Largest elementwise |got - expected| / |expected|, where elements smaller than ``atol`` or than
    ``relative_floor`` times the quantity's largest magnitude are measured against that floor instead (a
    near-zero attribution's float32 rounding is not a relative error)."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    floor = max(atol, relative_floor * float(np.abs(expected).max(initial=0.0)))
    return float((np.abs(got - expected) / np.maximum(np.abs(expected), floor)).max())


def token_labels(tokens: list[str]) -> list[tuple[int, str]]:
    """The (token_index, token) labels of an example's tokens, in order."""
    return list(enumerate(tokens))


def aligned(rows: pd.DataFrame, labels: list, what: str, columns=("token_index", "token")) -> pd.DataFrame:
    """``rows`` in the order of ``labels`` (tuples of ``columns``' values, or single values for one column).

    Raises:
        ValueError: naming ``what`` and the labels the rows lack or add, or a label that more than one row carries.
    """
    columns = list(columns)
    keys = [tuple(label) if isinstance(label, tuple) else (label,) for label in labels]
    got = [tuple(row) for row in rows[columns].itertuples(index=False)]
    if len(set(got)) != len(got):
        raise ValueError(f"{what}: more than one row has the same {', '.join(columns)}")
    if set(got) != set(keys):
        missing, extra = sorted(set(keys) - set(got)), sorted(set(got) - set(keys))
        raise ValueError(
            f"{what}: the rows' ({', '.join(columns)}) differ from the tutorial's: "
            f"missing {missing[:5]}, unexpected {extra[:5]}"
        )
    position = {key: index for index, key in enumerate(got)}
    return rows.iloc[[position[key] for key in keys]]


def compare(
    tables: Path,
    model_dir: Path,
    example: str,
    question: str,
    context: str,
    answer: str,
    token_to_explain: int,
    n_steps: int,
    atol: float = 1e-6,
    relative_floor: float = 0.01,
    delta_atol: float = DELTA_ATOL,
) -> dict[str, float]:
    """Largest relative difference per quantity between the tables and the tutorial's procedure.

    Rows are matched with the tutorial's numbers by their labels (target, source, layer, token_index, token, dim),
    row by row, never by position: a table whose rows carry other labels raises ValueError (``aligned``).
    ``relative_floor=0`` and ``delta_atol=atol`` give a plain elementwise |a - b| / max(|b|, atol).
    """

    def difference(got, expected, floor_atol=atol):
        return relative_difference(got, expected, floor_atol, relative_floor)

    expected = run_tutorial(
        model_dir,
        question=question,
        text=context,
        ground_truth=answer,
        token_to_explain=token_to_explain,
        n_steps=n_steps,
    )

    def read(table):
        frame = pd.read_parquet(tables / table)
        return frame[frame["example"] == example]

    tokens, distributions, summary = read("token_attributions"), read("token_distributions"), read("layer_summary")
    layers = range(1, len(expected["layers_start"]) + 1)
    differences = {}
    for target in TARGETS:
        rows = tokens[tokens["target"] == target]
        for source in ("embeddings", "word", "token_type", "position"):
            got = aligned(rows[rows["source"] == source], token_labels(expected["tokens"]), f"{source} {target}")
            differences[f"{source} {target}"] = difference(got["attribution"], expected[f"{source}_{target}"])
        labels = [(layer, *token) for layer in layers for token in token_labels(expected["tokens"])]
        got = aligned(rows[rows["source"] == "layer"], labels, f"layers {target}", ("layer", "token_index", "token"))
        differences[f"layers {target}"] = difference(got["attribution"], expected[f"layers_{target}"].reshape(-1))
        dims = expected[f"distribution_{target}"].shape[1]
        explained = [(layer, token_to_explain, expected["tokens"][token_to_explain]) for layer in layers]
        labels = [(*label, dim) for label in explained for dim in range(dims)]
        got = aligned(
            distributions[distributions["target"] == target],
            labels,
            f"distribution {target}",
            ("layer", "token_index", "token", "dim"),
        )
        differences[f"distribution {target}"] = difference(
            got["attribution"], expected[f"distribution_{target}"].reshape(-1)
        )
        per_layer = aligned(summary[summary["target"] == target], list(layers), f"layer_summary {target}", ("layer",))
        for column in ("total_attribution", "entropy"):
            differences[f"{column} {target}"] = difference(per_layer[column], expected[f"{column}_{target}"])
    predictions = read("predictions").iloc[0]
    for key in ("predicted_start", "predicted_end", "true_start", "true_end"):
        differences[key] = float(predictions[key] != expected[key])
    for key in ("start_prob", "end_prob"):
        differences[key] = difference(predictions[key], expected[key])
    for key in ("delta_start", "delta_end"):
        differences[key] = difference(predictions[key], expected[key], max(atol, delta_atol))
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--example", default="tutorial")
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args()
    provenance = json.loads((args.results / "provenance.json").read_text())
    example = provenance["config"]["examples"][args.example]
    token = pd.read_parquet(args.results / "tables" / "token_distributions")
    token_index = int(token[token["example"] == args.example]["token_index"].iloc[0])
    differences = compare(
        args.results / "tables",
        args.results / "model",
        args.example,
        example["question"],
        example["context"],
        example["answer"],
        token_index,
        provenance["config"]["n_steps"],
    )
    for name, difference in differences.items():
        print(f"{name:32s} {difference:.2e}")
    worst = max(differences.values())
    print(f"largest relative difference {worst:.2e} (tolerance {args.rtol:.0e})")
    sys.exit(0 if worst <= args.rtol else 1)


if __name__ == "__main__":
    main()
