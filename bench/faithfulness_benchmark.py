"""The faithfulness benchmark: what the faithfulness step adds to one example's attribution compute.

Run by hand (never in CI), from the repository root:

    .venv/bin/python bench/faithfulness_benchmark.py                 # bert-base shape, 128 tokens, n_steps 50
    .venv/bin/python bench/faithfulness_benchmark.py --tokens 64 --n-steps 20   # quicker

On a randomly initialised bert-base-shaped BertForQuestionAnswering (12 layers, hidden 768; no download), one
example of ``--tokens`` tokens, 2 torch threads: the wall time of the default attribution steps' work measured one
by one (embedding LIG, sub-embedding LIG, one layer's conductance, Part 2's attention conductance of every layer),
the per-example attribution compute of a default run (embedding + sub-embedding + depth × one layer's conductance +
Part 2), and the faithfulness step's work at its defaults (every Part 1 source; Part 2's word-input conductance is
ranked only for the figure examples and not here), the ratio of the two, and the machine's load (uptime) before
and after. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))


def timed(function):
    begin = time.perf_counter()
    result = function()
    return time.perf_counter() - begin, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=50)
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from bertscope.attribution.part1 import (
        activation_memory_budget,
        embedding_lig,
        layer_conductance,
        subembedding_lig,
    )
    from bertscope.attribution.part2 import attention_conductance
    from bertscope.evaluation.faithfulness import evaluate_example, rows_per_pass
    from bertscope.pipeline.schema import default

    torch.set_num_threads(2)
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072)
    model = BertForQuestionAnswering(config).eval()
    length, question = args.tokens, 12
    ids = torch.randint(1000, 20000, (1, length))
    ids[0, 0], ids[0, question + 1], ids[0, -1] = 101, 102, 102
    reference = torch.where((ids == 101) | (ids == 102), ids, torch.zeros_like(ids))
    types = (torch.arange(length) > question).long().unsqueeze(0)
    tensors = {
        "input_ids": ids,
        "ref_input_ids": reference,
        "token_type_ids": types,
        "ref_token_type_ids": torch.zeros_like(types),
        "position_ids": torch.arange(length).unsqueeze(0),
        "ref_position_ids": torch.zeros_like(types),
        "attention_mask": torch.ones_like(ids),
    }
    load_before = os.getloadavg()
    steps = args.n_steps
    times = {}
    times["embedding LIG"], (lig, _) = timed(lambda: embedding_lig(model, tensors, steps))
    times["sub-embedding LIG"], (sub, _) = timed(lambda: subembedding_lig(model, tensors, steps))
    times["one layer's conductance"], (cond, _) = timed(lambda: layer_conductance(model, tensors, [12], steps))
    model.set_attn_implementation("eager")  # Part 2 needs the attention probabilities (models/loading.py)
    times["Part 2 (every layer)"], _ = timed(lambda: attention_conductance(model, tensors, list(range(1, 13)), steps))
    model.set_attn_implementation("sdpa")
    attribution = (
        times["embedding LIG"]
        + times["sub-embedding LIG"]
        + 12 * times["one layer's conductance"]
        + times["Part 2 (every layer)"]
    )
    sums = lig.sum(-1).numpy()
    scores = {("embeddings", None): sums, **{(name, None): value.sum(-1).numpy() for name, value in sub.items()}}
    rng = np.random.default_rng(0)
    layer_sums = cond[12].sum(-1).numpy()
    for layer in range(1, 13):  # every layer's conductance map: shapes as the run's, values perturbed apart
        scores[("layer", layer)] = layer_sums + rng.normal(scale=1e-3, size=layer_sums.shape)
    with torch.no_grad():
        output = model(ids, token_type_ids=types)
    record = {
        "tokens": ["x"] * length,
        "question_length": question,
        "predicted_start": int(output.start_logits.argmax()),
        "predicted_end": int(output.end_logits.argmax()),
    }
    chunk = rows_per_pass(config, length, activation_memory_budget(torch.device("cpu")))
    times["faithfulness (16 sources, τ-LOO)"], _ = timed(
        lambda: evaluate_example(
            model,
            tensors,
            record,
            scores,
            example="bench",
            percents=default("faithfulness_percent"),
            reference_id=0,
            protect=default("faithfulness_protect"),
            seeds=default("faithfulness_random_seeds"),
            rows_per_pass=chunk,
        )
    )
    load_after = os.getloadavg()
    print(f"bert-base shape, {length} tokens, n_steps {steps}, 2 torch threads, {chunk} rows per forward pass")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}\n")
    print("| work | seconds |\n|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.1f} |")
    faithfulness = times["faithfulness (16 sources, τ-LOO)"]
    print(
        f"| attribution compute of the example (embedding + sub-embedding + 12 × layer + Part 2) | {attribution:.1f} |"
    )
    print(f"| faithfulness / attribution | {100 * faithfulness / attribution:.1f}% |")


if __name__ == "__main__":
    main()
