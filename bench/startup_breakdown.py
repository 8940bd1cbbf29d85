"""Where an attribution job's start-up seconds go: Python, the imports, the weights, the inputs, the first pass.

    .venv/bin/python bench/startup_breakdown.py [--shape bert-base|demo] [--threads 1]

Each phase is timed in one fresh process, in the order a job pays them; the model is random, saved to a temporary
directory first (not timed). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PHASES = r"""
import sys, time, json
t = {"start": time.perf_counter()}
import torch
t["import torch"] = time.perf_counter()
import transformers, captum.attr
t["import transformers, captum"] = time.perf_counter()
sys.path.insert(0, SCRIPTS)
from bertscope.attribution import job, part1
t["import bertscope (attribution)"] = time.perf_counter()
from bertscope.models.loading import configure_torch
configure_torch(THREADS)
# What load_model does past its checks of a prepared model directory (which a bare checkpoint lacks).
model = transformers.AutoModelForQuestionAnswering.from_pretrained(MODEL).eval()
t["load the weights"] = time.perf_counter()
from gpu_benchmark import synthetic_example
tensors = synthetic_example(160, 28_996, torch.Generator().manual_seed(0))
t["build a 160-token input"] = time.perf_counter()
part1.embedding_lig(model, tensors, 2, "auto")
t["first LIG (2 points)"] = time.perf_counter()
print(json.dumps(t))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="bert-base")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    from gpu_benchmark import build_models

    with tempfile.TemporaryDirectory() as directory:
        model, _ = build_models(args.shape, __import__("torch").device("cpu"), 0)
        model.save_pretrained(directory)
        code = (
            PHASES.replace("SCRIPTS", repr(str(BENCH.parent / "scripts")))
            .replace("THREADS", str(args.threads))
            .replace("MODEL", repr(directory))
        )
        launched = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=BENCH, check=True)
    import json

    times = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"| phase ({args.shape} shape, {args.threads} thread) | seconds |\n|---|---|")
    print(f"| Python start-up | {times['start'] - launched:.2f} |")
    previous = times.pop("start")
    for phase, moment in times.items():
        print(f"| {phase} | {moment - previous:.2f} |")
        previous = moment


if __name__ == "__main__":
    main()
