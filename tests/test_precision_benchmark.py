"""The precision benchmark's comparison of two runs' tables (its pipeline runs are bench/ material, never CI's)."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from conftest import REPO

# bench/ is not a package: load the benchmark script by its path.
_spec = importlib.util.spec_from_file_location("precision_benchmark", REPO / "bench" / "precision_benchmark.py")
precision_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(precision_benchmark)


def write_run(root, attribution, delta, token="us"):
    """A finished run's results: a two-part table dataset, the deltas' table and a summary."""
    tables = root / "results" / "tables"
    for batch, rows in (("b1", slice(0, 2)), ("b2", slice(2, 4))):
        frame = pd.DataFrame(
            {"example": ["a", "a", "b", "b"], "token": ["It", token, "It", "is"], "attribution": attribution}
        )[rows]
        (tables / "token_attributions").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tables / "token_attributions" / f"{batch}.parquet")
    (tables / "convergence_deltas").mkdir()
    pd.DataFrame({"source": ["embeddings", "layer", "layer"], "delta": delta}).to_parquet(
        tables / "convergence_deltas" / "b1.parquet"
    )
    (root / "results" / "summaries").mkdir()
    pd.DataFrame({"share": [0.5, 0.5]}).to_parquet(root / "results" / "summaries" / "outcome_shares.parquet")
    return precision_benchmark.read_tables(root)


def test_differences_per_table_and_column(tmp_path):
    fp32 = write_run(tmp_path / "fp32", [1.0, -0.5, 0.001, 0.25], [0.1, -0.2, 0.3])
    bf16 = write_run(tmp_path / "bf16", [0.99, -0.5, 0.002, 0.25], [0.1, -0.25, 0.3], token="them")
    rows = {(row["table"], row["column"]): row for row in precision_benchmark.table_differences(bf16, fp32)}
    assert set(rows) == {("token_attributions", "attribution"), ("convergence_deltas", "delta"),
                         ("outcome_shares", "share")}  # fmt: skip
    attribution = rows[("token_attributions", "attribution")]
    assert attribution["rows"] == 4 and attribution["scale"] == 1.0
    assert attribution["max_abs"] == pytest.approx(0.01)
    # 0.001 → 0.002 is measured against 1% of the column's largest magnitude (0.01): 0.1, not 100%.
    assert attribution["max_rel"] == pytest.approx(0.1)
    assert attribution["other_columns_differ"] == ["token"]
    assert rows[("convergence_deltas", "delta")]["max_abs"] == pytest.approx(0.05)
    assert rows[("outcome_shares", "share")]["max_rel"] == 0.0
    assert precision_benchmark.delta_summary(bf16)["layer"] == {"max_abs": 0.3, "median_abs": pytest.approx(0.275)}
    runs = {
        precision: {"examples": 2, "n_steps": 4, "device": "CPU", "seconds": 1.0,
                    "deltas": precision_benchmark.delta_summary(tables)}
        for precision, tables in (("fp32", fp32), ("bf16", bf16))
    }  # fmt: skip
    lines = precision_benchmark.markdown("demo", runs, {"bf16": list(rows.values())})
    assert "| token_attributions | attribution | 4 | 1 | 0.01 | 0.1 |" in lines
    assert "Non-float columns at bf16: token_attributions.token differ" in lines
    assert "| layer | 0.3 (0.25) | 0.3 (0.28) |" in lines


def test_runs_of_other_examples_are_refused(tmp_path):
    fp32 = write_run(tmp_path / "fp32", [1.0, -0.5, 0.001, 0.25], [0.1, -0.2, 0.3])
    other = write_run(tmp_path / "other", [1.0, -0.5, 0.001, 0.25], [0.1, -0.2, 0.3])
    other["convergence_deltas"] = other["convergence_deltas"].iloc[:2]
    with pytest.raises(ValueError, match="table convergence_deltas"):
        precision_benchmark.table_differences(other, fp32)
