"""What ``precision: tf32`` and ``bf16`` change in every table against ``fp32``: demo model and bert-base shape.

    .venv/bin/python bench/precision_benchmark.py                        # demo and bert-base shape, CPU: fp32, bf16
    .venv/bin/python bench/precision_benchmark.py --shapes demo --examples 2
    .venv/bin/python bench/precision_benchmark.py --compare-only         # the tables of the runs already made

For each model and precision it runs the pipeline itself (``snakemake --cores 2``, a fresh work directory in
bench/work/precision/, ``layers_per_job: all``, ``threads_per_job: 1``, ``device: auto``), so the tables are the
pipeline's own; then it reads every table (``results/tables/*`` and ``results/summaries/*.parquet``) of each run and
prints, per table and floating-point column, the largest |difference| from fp32 and the largest relative difference
(:func:`compare_with_tutorial.relative_difference`: |a − b| / |b|, an element below 1% of the column's largest
magnitude measured against that 1%), whether the other columns (tokens, indices, predictions) are equal, and the
convergence deltas (``convergence_deltas``, largest |δ| by source) at each precision. The demo model runs the
tutorial's example and three like it at the default ``n_steps`` (50); the bert-base-shaped random model (that of
bench/run_benchmark.py) three of them at ``--bert-base-n-steps`` (10 on a CPU, where the default's 50 would make
the attribution jobs about 5 times as long). The tutorial's example gets the figures, so Part 2's
per-figure-example tables and the sanity cascade have rows. ``--shapes`` also takes a local model directory (your
own checkpoint: three of those examples at n_steps 50). On a CPU ``tf32`` is a no-op (it sets CUDA's matmul mode
only), so the CPU default leaves it out; on a GPU the default measures all three. Writes the Markdown and the raw
numbers to bench/results/precision-<timestamp>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work" / "precision"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / "tests" / "oracles"))
from compare_with_tutorial import relative_difference  # noqa: E402
from run_benchmark import build_model, throughput_examples  # noqa: E402

TUTORIAL = "ex00"
"""throughput_examples' first example is the tutorial's (question, context and answer)."""


def run_pipeline(workdir: Path, model: str, examples: dict, precision: str, n_steps: int) -> float:
    """The pipeline, cold, in ``workdir`` (emptied first) at ``precision``; its wall time in seconds."""
    subprocess.run(["rm", "-rf", str(workdir)], check=True)
    workdir.mkdir(parents=True)
    config = {
        "model": model,
        "examples": examples,
        "precision": precision,
        "n_steps": n_steps,
        "layers_per_job": "all",
        "threads_per_job": 1,
        "figure_examples": [TUTORIAL],
        "figure_formats": ["png"],
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([*command, "--cores", "2", "--quiet", "all"], check=True, env=environment)
    return time.perf_counter() - started


def read_tables(workdir: Path) -> dict[str, pd.DataFrame]:
    """Every table of a finished run, by name: the datasets of ``results/tables`` and the summaries."""
    results = workdir / "results"
    tables = {path.name: pd.read_parquet(path) for path in sorted((results / "tables").iterdir()) if path.is_dir()}
    tables.update({path.stem: pd.read_parquet(path) for path in sorted((results / "summaries").glob("*.parquet"))})
    return tables


def table_differences(tables: dict[str, pd.DataFrame], reference: dict[str, pd.DataFrame]) -> list[dict]:
    """Per table and floating-point column, how far ``tables`` lie from ``reference`` (fp32's), row by row.

    Args:
        tables: a run's tables (:func:`read_tables`).
        reference: the fp32 run's, of the same examples and settings (the rows come in the same order).

    Returns:
        One dict per table and float column: ``table``, ``column``, ``rows``, ``max_abs`` (largest |a − b|),
        ``max_rel`` (:func:`~compare_with_tutorial.relative_difference`, the 1% floor of the column's largest
        magnitude), ``scale`` (that largest |b|), and ``other_columns_differ``: the non-float columns whose values
        differ (a changed prediction, say), empty when every one is equal.

    Raises:
        ValueError: a table or its rows are missing from one run: the runs are not comparable.
    """
    if set(tables) != set(reference):
        raise ValueError(f"the runs' tables differ: {sorted(set(tables) ^ set(reference))}")
    rows = []
    for name, expected in reference.items():
        got = tables[name]
        if got.shape != expected.shape or list(got.columns) != list(expected.columns):
            raise ValueError(f"table {name}: {got.shape} against fp32's {expected.shape}")
        floats = [column for column in expected.columns if pd.api.types.is_float_dtype(expected[column])]
        others = [column for column in expected.columns if column not in floats]
        differing = [column for column in others if not got[column].reset_index(drop=True).equals(
            expected[column].reset_index(drop=True)
        )]  # fmt: skip
        for column in floats:
            a, b = got[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float)
            present = ~(np.isnan(a) & np.isnan(b))
            a, b = a[present], b[present]
            rows.append(
                {
                    "table": name,
                    "column": column,
                    "rows": int(present.sum()),
                    "max_abs": float(np.abs(a - b).max(initial=0.0)),
                    "max_rel": relative_difference(a, b, atol=1e-12) if present.any() else 0.0,
                    "scale": float(np.abs(b).max(initial=0.0)),
                    "other_columns_differ": differing,
                }
            )
    return rows


def delta_summary(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """The convergence deltas of a run by source (``convergence_deltas``): the largest and the median |δ|."""
    deltas = tables["convergence_deltas"]
    return {
        source: {"max_abs": float(group["delta"].abs().max()), "median_abs": float(group["delta"].abs().median())}
        for source, group in deltas.groupby("source", sort=False)
    }


def markdown(shape: str, runs: dict[str, dict], differences: dict[str, list[dict]]) -> list[str]:
    """The Markdown tables of one model: differences from fp32 per table and column, then the deltas."""
    others = [precision for precision in runs if precision != "fp32"]
    first = runs["fp32"]
    lines = [
        f"### {shape} ({first['examples']} examples, n_steps {first['n_steps']}, {first['device']})",
        "",
        "| table | column | rows | largest |fp32| | "
        + " | ".join(f"{p}: max abs diff | {p}: max rel diff" for p in others)
        + " |",
        "|---|---|---|---|" + "---|---|" * len(others),
    ]
    for index, reference in enumerate(differences[others[0]] if others else []):
        cells = []
        for precision in others:
            row = differences[precision][index]
            cells.append(f"{row['max_abs']:.2g} | {row['max_rel']:.2g}")
        lines.append(
            f"| {reference['table']} | {reference['column']} | {reference['rows']} | {reference['scale']:.3g} | "
            + " | ".join(cells)
            + " |"
        )
    changed = {
        precision: sorted({f"{row['table']}.{column}" for row in rows for column in row["other_columns_differ"]})
        for precision, rows in differences.items()
    }
    for precision, columns in changed.items():
        listed = ", ".join(columns) + " differ" if columns else "all equal"
        lines += ["", f"Non-float columns at {precision}: {listed}"]
    lines += ["", "| convergence deltas: source | " + " | ".join(f"{p}: max |δ| (median)" for p in runs) + " |"]
    lines.append("|---|" + "---|" * len(runs))
    for source in first["deltas"]:
        deltas = [runs[p]["deltas"][source] for p in runs]
        cells = [f"{delta['max_abs']:.3g} ({delta['median_abs']:.2g})" for delta in deltas]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    lines += ["", "| run | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    lines.append("| pipeline wall time, cold (s) | " + " | ".join(f"{runs[p]['seconds']:.0f}" for p in runs) + " |")
    return lines


def main(argv=None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="demo,bert-base", help="demo, bert-base, a model directory")
    parser.add_argument(
        "--precisions", default=None, help="fp32 first (default: fp32,bf16 on a CPU; fp32,tf32,bf16 on a GPU)"
    )
    parser.add_argument("--examples", type=int, default=None, help="examples per model (default: demo 4, bert-base 3)")
    parser.add_argument("--bert-base-n-steps", type=int, default=None, help="default: 10 on a CPU, 50 on a GPU")
    parser.add_argument("--compare-only", action="store_true", help="compare the runs already in bench/work/precision")
    args = parser.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores)"
    precisions = (args.precisions or ("fp32,tf32,bf16" if gpu else "fp32,bf16")).split(",")
    if precisions[0] != "fp32":
        parser.error("--precisions: fp32 comes first (the reference)")
    lines = [f"# Precision against fp32 ({device}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')})", ""]
    lines.append(f"load average before: {os.getloadavg()[0]:.1f}, {os.getloadavg()[1]:.1f}, {os.getloadavg()[2]:.1f}")
    raw = {}
    for shape in args.shapes.split(","):
        if shape == "demo":
            model, n_steps, count = "demo", 50, args.examples or 4
        elif shape == "bert-base":
            model = str(build_model(BENCH / "work" / "bert_base_model"))
            n_steps, count = args.bert_base_n_steps or (50 if gpu else 10), args.examples or 3
        else:  # a local model directory: the user's own checkpoint, at the default n_steps
            model, n_steps, count = str(Path(shape).resolve()), 50, args.examples or 3
        examples = throughput_examples(count)
        runs, tables = {}, {}
        for precision in precisions:
            workdir = WORK / f"{Path(shape).name}-{precision}"
            record_path = workdir / "precision_run.json"
            if args.compare_only:
                runs[precision] = json.loads(record_path.read_text())
            else:
                seconds = run_pipeline(workdir, model, examples, precision, n_steps)
                load = os.getloadavg()
                runs[precision] = {"seconds": seconds, "load_after": load, "examples": count, "n_steps": n_steps}
                runs[precision]["device"] = device
            tables[precision] = read_tables(workdir)
            runs[precision]["deltas"] = delta_summary(tables[precision])
            record_path.write_text(json.dumps(runs[precision]))
        differences = {p: table_differences(tables[p], tables["fp32"]) for p in precisions if p != "fp32"}
        lines += ["", *markdown(shape, runs, differences)]
        loads = ", ".join(f"{p} {runs[p]['load_after'][0]:.1f}" for p in runs)
        lines += ["", f"load average after each run (1 min): {loads}"]
        raw[shape] = {"runs": runs, "differences": differences}
    print("\n".join(lines))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"precision-{stamp}.md").write_text("\n".join(lines) + "\n")
    (BENCH / "results" / f"precision-{stamp}.json").write_text(json.dumps(raw, indent=1))
    return lines


if __name__ == "__main__":
    main()
