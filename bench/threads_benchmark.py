"""The ``threads_per_job`` default: cold pipeline runs with ``--cores 2`` at each setting, alternated.

    .venv/bin/python bench/threads_benchmark.py                      # the demo model, the default run, 1 and 2
    .venv/bin/python bench/threads_benchmark.py --shape bert-base --n-steps 10 --rounds 1

With ``--cores 2``, ``threads_per_job: 1`` lets two jobs run side by side (their start-ups overlap) and
``threads_per_job: 2`` gives each job both cores, one job at a time. Each round runs every setting once, cold, on
the tutorial's example with the shipped defaults otherwise (``layers_per_job: 1``: one conductance job per layer);
alternating the settings spreads a change of the machine's load over both. Prints each run's wall time, the
attribution rules' summed job seconds (Snakemake's benchmark files), and the load average around it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from run_benchmark import build_model, job_time_by_rule, pipeline_run, throughput_examples  # noqa: E402

MODEL_RULES = (
    "inputs",
    "embedding_lig",
    "subembedding_lig",
    "layer_conductance",
    "attention",
    "faithfulness",
    "sanity_cascade",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=("demo", "bert-base"), default="demo")
    parser.add_argument("--settings", default="1,2", help="threads_per_job values, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n-steps", type=int, default=50)
    args = parser.parse_args()
    model = "demo" if args.shape == "demo" else str(build_model(BENCH / "work" / "bert_base_model"))
    examples = throughput_examples(1)
    print(f"| {args.shape}, 1 example, n_steps {args.n_steps}, `--cores 2` | threads_per_job | wall s | "
          f"{' | '.join(MODEL_RULES)} (jobs, summed s) | load before → after |")  # fmt: skip
    print("|---|---|---|" + "---|" * len(MODEL_RULES) + "---|")
    for round_ in range(1, args.rounds + 1):
        for threads in args.settings.split(","):
            before = os.getloadavg()[0]
            workdir, seconds = pipeline_run(
                f"threads_{args.shape}_{threads}", model, examples, threads_per_job=int(threads), n_steps=args.n_steps
            )
            rules = job_time_by_rule(workdir)
            cells = " | ".join(
                f"{rules[rule][0]}, {rules[rule][1]:.1f}" if rule in rules else "-" for rule in MODEL_RULES
            )
            after = os.getloadavg()[0]
            print(f"| round {round_} | {threads} | {seconds:.1f} | {cells} | {before:.1f} → {after:.1f} |", flush=True)


if __name__ == "__main__":
    main()
