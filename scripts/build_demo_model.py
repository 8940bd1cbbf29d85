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
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bertscope.models.demo_files import DEMO_DIR, MANIFEST, TRAINING_STATS, read_manifest, shown, write_manifest

log = logging.getLogger("bertscope")


def processor() -> str:
    """The processor's model name (the weights depend on it), from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown processor"


def rebuild(output: Path, seed: int, threads: int) -> dict:
    """Train into a staging directory beside ``output``, then replace the files of the previous build there."""
    from bertscope.models.demo_model import build_demo_model

    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".demo-build-", dir=output.parent) as staging_name:
        staging = Path(staging_name)
        stats = build_demo_model(staging, seed=seed, threads=threads)
        stats["built_with"] = {
            "python": platform.python_version(),
            **{package: version(package) for package in ("torch", "transformers", "tokenizers", "safetensors")},
            "machine": f"{platform.system()} {platform.machine()} ({processor()})",
        }
        (staging / TRAINING_STATS).write_text(json.dumps(stats, indent=2) + "\n")
        digests = write_manifest(staging)
        previous = read_manifest(output) if (output / MANIFEST).is_file() else {}
        for name in set(previous) - set(digests):
            (output / name).unlink(missing_ok=True)
        umask = os.umask(0)
        os.umask(umask)
        for name in [*digests, MANIFEST]:  # the manifest last: it names a complete build
            os.chmod(staging / name, 0o666 & ~umask)  # safetensors writes a private (0600) file
            shutil.move(staging / name, output / name)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data and the initialisation (0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads; the weights depend on it (2)")
    parser.add_argument("--output", type=Path, default=DEMO_DIR, help=f"where to write ({shown(DEMO_DIR)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.info("building the demo model (seed %d, %d threads) into %s", args.seed, args.threads, shown(args.output))
    stats = rebuild(args.output, args.seed, args.threads)
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
