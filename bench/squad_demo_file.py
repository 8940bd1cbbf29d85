"""Write a SQuAD v2.0-format file of generated questions the demo model reads (bertscope.data.squad_demo):
answerable, unanswerable (every 3rd) and longer than 512 tokens (every 10th).

    .venv/bin/python bench/squad_demo_file.py results/squad_demo.json --count 240
    .venv/bin/snakemake --cores 2 --config examples_file=results/squad_demo.json
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bertscope.data.squad_demo import write_squad_demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the JSON file to write")
    parser.add_argument("--count", type=int, default=240, help="number of questions (default 240)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    arguments = parser.parse_args()
    print(write_squad_demo(arguments.path, arguments.count, arguments.seed))
