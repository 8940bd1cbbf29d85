"""Where a job's start-up seconds go: an attribution job's phases, and every step script's imports.

    .venv/bin/python bench/startup_breakdown.py [--shape bert-base|demo] [--threads 1] [--repeats 3]
    .venv/bin/python bench/startup_breakdown.py --steps [--scripts DIR] [--repeats 3]

Without ``--steps``: the phases of an attribution job, in the order it pays them, each timed in one fresh process
(the median of ``--repeats`` processes): Python's start, Snakemake's preamble (the imports its script wrapper runs
before the step: ``snakemake.logging``, ``snakemake.iocontainers``), torch, transformers and captum, bertscope's
attribution modules, the weights (:func:`bertscope.models.loading.load_model`, the model of the demo or of
bench/run_benchmark.py's bert-base shape), the inputs (a batch file of one 160-token example, read and checked as
a job reads it), the first embedding LIG (2 path points) and writing its file. With ``--steps``: per step script
of ``--scripts`` (default: this checkout's scripts/; ``--only`` names some), the wall and CPU seconds a fresh
process takes to run the preamble's imports and the script's own (everything before its ``main``), the median of
``--repeats``. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PREAMBLE = "import pickle; from snakemake.logging import logger; from snakemake.iocontainers import Snakemake"
"""What Snakemake's script wrapper imports before a step's own code (snakemake/script/__init__.py)."""
PHASES = r"""
import sys, time, json
t = {"start": time.perf_counter()}
PREAMBLE
t["Snakemake's preamble"] = time.perf_counter()
import torch
t["import torch"] = time.perf_counter()
import transformers, captum.attr
t["import transformers, captum"] = time.perf_counter()
sys.path.insert(0, SCRIPTS)
from bertscope.attribution import job, part1
from bertscope.pipeline.tensor_io import BatchFile, save_batch
t["import bertscope (attribution)"] = time.perf_counter()
from bertscope.models.loading import configure_torch, load_model
configure_torch(THREADS)
model = load_model(MODEL, torch.device("cpu"))
t["load the weights (load_model)"] = time.perf_counter()
inputs = BatchFile(INPUTS, framework="pt")
tensors = inputs.tensors("example")
t["read the inputs (one 160-token example)"] = time.perf_counter()
attributions, deltas = part1.embedding_lig(model, tensors, 2, "auto")
t["first embedding LIG (2 points)"] = time.perf_counter()
kept = job.kept_tensors(attributions[0], deltas[0], None, "summary")
save_batch(OUTPUT, {"example": (kept, {"source": "embeddings"})})
t["write its file"] = time.perf_counter()
print(json.dumps(t))
"""


def fresh_process(code: str, cwd: Path) -> dict[str, float]:
    """Run ``code`` in a fresh Python; its printed JSON of moments, with its launch as ``launched``."""
    launched = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, check=True)
    return {"launched": launched, **json.loads(completed.stdout.strip().splitlines()[-1])}


def job_phases(shape: str, threads: int, repeats: int) -> list[tuple[str, float]]:
    """The median seconds of each phase of an attribution job over ``repeats`` fresh processes."""
    sys.path.insert(0, str(BENCH))
    import torch
    from gpu_benchmark import synthetic_example
    from run_benchmark import build_model

    sys.path.insert(0, str(REPO / "scripts"))
    from bertscope.pipeline.tensor_io import save_batch

    model = REPO / "models" / "demo" if shape == "demo" else build_model(BENCH / "work" / "bert_base_model")
    with tempfile.TemporaryDirectory() as directory:
        inputs = Path(directory) / "inputs.safetensors"
        tensors = synthetic_example(160, 292 if shape == "demo" else 28_996, torch.Generator().manual_seed(0))
        save_batch(inputs, {"example": (tensors, {"tokens": ["x"] * 160})})
        code = PHASES.replace("PREAMBLE", PREAMBLE).replace("SCRIPTS", repr(str(REPO / "scripts")))
        code = code.replace("THREADS", str(threads)).replace("MODEL", repr(str(model)))
        code = code.replace("INPUTS", repr(str(inputs))).replace("OUTPUT", repr(str(Path(directory) / "out")))
        runs = [fresh_process(code, BENCH) for _ in range(repeats)]
    phases = [name for name in runs[0] if name != "launched"]
    seconds = {name: [] for name in ["Python start-up", *phases[1:]]}
    for run in runs:
        seconds["Python start-up"].append(run["start"] - run["launched"])
        for previous, name in itertools.pairwise(phases):
            seconds[name].append(run[name] - run[previous])
    return [(name, statistics.median(values)) for name, values in seconds.items()]


def step_imports(scripts: Path, repeats: int, only: list[str]) -> list[tuple[str, float, float]]:
    """Per step script of ``scripts`` (or those named in ``only``): the median wall and CPU seconds (user + system,
    which the other processes of a loaded machine do not inflate) of a fresh process's preamble and script imports."""
    code = (
        f"{PREAMBLE}\n"
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(scripts)!r})\n"
        "spec = importlib.util.spec_from_file_location('step', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    )
    names = only or sorted(path.stem for path in scripts.glob("*.py"))
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):  # round-robin: a change of the machine's load falls on every step alike
        for name in names:
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            launched = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code, str(scripts / f"{name}.py")], check=True, capture_output=True, cwd=REPO
            )
            wall[name].append(time.perf_counter() - launched)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    return [(name, statistics.median(wall[name]), statistics.median(cpu[name])) for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=("bert-base", "demo"), default="bert-base")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", action="store_true", help="time every step script's imports instead")
    parser.add_argument("--scripts", type=Path, default=REPO / "scripts", help="the step scripts (--steps)")
    parser.add_argument("--only", nargs="*", default=[], help="these step scripts only (--steps)")
    args = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    if args.steps:
        print(f"| step script ({args.scripts}), median of {args.repeats} | wall s | CPU s |\n|---|---|---|")
        for name, wall, cpu in step_imports(args.scripts.resolve(), args.repeats, args.only):
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    else:
        print(f"| phase ({args.shape} shape, {args.threads} thread, median of {args.repeats}) | seconds |\n|---|---|")
        for name, seconds in job_phases(args.shape, args.threads, args.repeats):
            print(f"| {name} | {seconds:.2f} |")
    print(f"\nload average before (1, 5, 15 min): {load}; after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
