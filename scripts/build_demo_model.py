"""Rebuild the shipped demo model, models/demo: train it again and rewrite its manifest, SHA256SUMS.

Run by hand, or with `make demo-model`, from the repository root; the pipeline never runs it (`model: demo` copies
the shipped files, checked against SHA256SUMS):

    .venv/bin/python scripts/build_demo_model.py                       # seed 0, 2 torch threads, into models/demo
    .venv/bin/python scripts/build_demo_model.py --seed 1 --output /tmp/demo-seed1

It generates the training data, trains for about a minute on 2 CPU cores (its log says how far it is), prints the
held-out exact match, and writes config.json, model.safetensors, the tokenizer files, training.json (the build's
statistics) and SHA256SUMS. A build is bit-identical for one seed and thread count on one machine, not across
processors: a rebuild elsewhere changes the weights, the sha256s, and the README's numbers and figures, which must
then be regenerated (`make run`) from the new files.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bertscope.models.demo_files import DEMO_DIR, MANIFEST, shown

log = logging.getLogger("bertscope")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data and the initialisation (0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads; the weights depend on it (2)")
    parser.add_argument("--output", type=Path, default=DEMO_DIR, help=f"where to write ({shown(DEMO_DIR)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.info("building the demo model (seed %d, %d threads) into %s", args.seed, args.threads, shown(args.output))
    from bertscope.models.demo_model import rebuild_demo_files  # torch: imported only once the arguments are good

    stats = rebuild_demo_files(args.output, args.seed, args.threads)
    correct = round(stats["heldout_exact_match"] * stats["heldout_examples"])
    print(
        f"demo model written to {shown(args.output)} in {stats['build_seconds']:.0f} s: held-out exact match "
        f"{stats['heldout_exact_match']:.3f} ({correct} of {stats['heldout_examples']} generated questions), "
        f"final loss {stats['final_loss']:.3f}, tutorial answer: tokens "
        f"{stats['tutorial_start']}..{stats['tutorial_end']}"
    )
    print(f"sha256 of each file: {shown(args.output / MANIFEST)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
