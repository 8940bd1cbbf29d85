"""The GPU benchmark in its smallest form, on the CPU: it runs, measures, and finds shared passes equal."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from conftest import REPO

# bench/ is not a package: load the benchmark script by its path.
_spec = importlib.util.spec_from_file_location("gpu_benchmark", REPO / "bench" / "gpu_benchmark.py")
gpu_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_benchmark)


@pytest.mark.slow
def test_the_benchmark_runs_on_a_cpu_and_finds_shared_passes_equal(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        rows = gpu_benchmark.main(
            [
                "--device", "cpu", "--shape", "tiny", "--examples", "3", "--n-steps", "4", "--threads", "1",
                "--max-length", "90", "--precisions", "fp32,bf16", "--output", str(tmp_path / "rows.json"),
            ]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert [(row["part"], row["precision"]) for row in rows] == [
        ("part1", "fp32"),
        ("part1", "bf16"),
        ("part2", "fp32"),
        ("part2", "bf16"),
    ]
    for row in rows:
        assert row["shared"]["examples"] == 3 and row["one_by_one"]["examples"] == 3
        assert row["shared"]["tflops"] > 0 and row["shared"]["examples_per_s"] > 0
        assert row["dev_set_hours"] == pytest.approx(11_873 / row["shared"]["examples_per_s"] / 3600)
    assert all(row["largest_relative_difference_from_fp32_one_by_one"] <= 1e-5 for row in rows[::2])
    assert rows[1]["largest_relative_difference_from_fp32_one_by_one"] > 0  # bf16 did run
    printed = capsys.readouterr().out
    assert "| part1 | fp32 |" in printed and "tiny shape" in printed
    assert json.loads((tmp_path / "rows.json").read_text())["rows"][0]["part"] == "part1"


def test_synthetic_lengths_follow_squad_dev():
    lengths = gpu_benchmark.squad_dev_lengths(2000, 0, 384)
    assert min(lengths) >= 60 and max(lengths) <= 384
    assert 140 <= sum(lengths) / len(lengths) <= 180


def test_the_flop_count_of_a_bert_base_forward():
    """bert-base at 160 tokens: about 28 GFLOP per forward row (the issue's figure)."""
    model = gpu_benchmark.build_models("tiny", torch.device("cpu"), 0)[0]
    counter = gpu_benchmark.PassCounter(model)
    counter.config = type("C", (), gpu_benchmark.SHAPES["bert-base"])
    counter.hook.remove()
    assert counter.forward_flops(1, 160) == pytest.approx(27.9e9, rel=0.01)
