"""Examples per second of bertscope's attributions, one example at a time against examples sharing passes.

A random ``BertForQuestionAnswering`` (bert-base shape by default) and N synthetic examples whose lengths follow
SQuAD v2.0 dev's (60–384 tokens, mean about 160) go through Part 1 (``procedure: tutorial``: embedding LIG,
sub-embedding LIG, conductance of every layer) and Part 2 (attention conductance of every layer and the attention
norms), at each precision, one by one and in length groups (``bertscope.attribution.batching``, as the attribution
jobs run). For each it prints examples per second, the achieved TFLOP/s (from a count of the passes it ran: every
encoder forward's rows and padded length, a forward with gradients followed by one backward per target, each
backward about one forward's FLOPs since no weight gradient is taken) against the card's peak for the precision,
the peak memory, the projected time of the whole dev set (11,873 questions), and the largest relative difference
of the grouped results from the one-by-one ones.

    .venv/bin/python bench/gpu_benchmark.py                       # on a GPU: bert-base shape, fp32/tf32/bf16
    .venv/bin/python bench/gpu_benchmark.py --device cpu --shape demo --examples 6 --n-steps 10

Nothing is installed or downloaded; the model is random, so the numbers say how fast, not what the model sees.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bertscope.attribution.batching import group_limit, length_groups, pad_group, split_rows
from bertscope.attribution.part1 import (
    CONDUCTANCE_MIN_POINTS,
    activation_memory_budget,
    bytes_per_point,
    embedding_lig,
    layer_conductance,
    subembedding_lig,
)
from bertscope.attribution.part2 import attention_group_results
from bertscope.models.precision import compute_precision

DEV_SET_QUESTIONS = 11_873
SHAPES = {
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "demo": {"hidden_size": 64, "num_hidden_layers": 12, "num_attention_heads": 4, "intermediate_size": 256},
    "tiny": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32},
}
# Dense peak TFLOP/s by card and precision (vendor datasheets, no sparsity): the share of it a run achieves.
PEAK_TFLOPS = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0},
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0},
}
QUESTION_TOKENS = 12


def squad_dev_lengths(count: int, seed: int, longest: int) -> list[int]:
    """Token lengths like SQuAD v2.0 dev's with a bert tokenizer: 60 to 384, mean about 160 (a shifted gamma)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.gamma(shape=3.0, scale=33.0, size=count) + 60, 60, 384).astype(int)
    return [int(min(length, longest)) for length in lengths]


def synthetic_example(length: int, vocab: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """An example's (1, L) tensors as the inputs step builds them: [CLS] question [SEP] context [SEP], its
    reference ([PAD] but [CLS]/[SEP]), the tutorial's token types (the first [SEP] in segment 1), positions."""
    cls_id, sep_id, pad_id = 2, 3, 0
    ids = torch.randint(5, vocab, (length,), generator=generator)
    ids[0], ids[QUESTION_TOKENS + 1], ids[-1] = cls_id, sep_id, sep_id
    reference = torch.full((length,), pad_id)
    reference[0], reference[QUESTION_TOKENS + 1], reference[-1] = cls_id, sep_id, sep_id
    types = (torch.arange(length) > QUESTION_TOKENS).long()
    positions = torch.arange(length)
    row = {
        "input_ids": ids,
        "ref_input_ids": reference,
        "token_type_ids": types,
        "ref_token_type_ids": torch.zeros(length, dtype=torch.long),
        "position_ids": positions,
        "ref_position_ids": torch.zeros(length, dtype=torch.long),
        "attention_mask": torch.ones(length, dtype=torch.long),
    }
    return {name: tensor.unsqueeze(0) for name, tensor in row.items()}


def build_models(shape: str, device: torch.device, seed: int):
    """The random QA model (SDPA attention, Part 1) and the same weights with eager attention (Part 2)."""
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=28_996, max_position_embeddings=512, **SHAPES[shape])
    part1 = BertForQuestionAnswering(config).eval()
    part2 = BertForQuestionAnswering(BertConfig(**config.to_dict(), attn_implementation="eager")).eval()
    part2.load_state_dict(part1.state_dict())
    return part1.to(device), part2.to(device)


class PassCounter:
    """FLOPs of the encoder passes run: a forward hook on the encoder counts rows × padded length; a forward with
    gradients is followed by one backward per target (each about one forward: input gradients only)."""

    def __init__(self, model):
        self.config, self.flops = model.config, 0.0
        self.hook = model.bert.encoder.register_forward_hook(self._count)

    def forward_flops(self, rows: int, length: int) -> float:
        c = self.config
        per_layer = 2 * length * (4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size)
        per_layer += 4 * length * length * c.hidden_size  # scores and the weighted sum of values
        return rows * per_layer * c.num_hidden_layers

    def _count(self, module, inputs, output):
        rows, length = inputs[0].shape[:2]
        self.flops += self.forward_flops(rows, length) * (3 if torch.is_grad_enabled() else 1)


def part1(model, tensors, lengths, n_steps):
    """Part 1 of ``procedure: tutorial`` on a group: every example's token sums, by quantity."""
    layers = list(range(1, model.config.num_hidden_layers + 1))
    lig, _ = embedding_lig(model, tensors, n_steps, "auto")
    sub, _ = subembedding_lig(model, tensors, n_steps, "auto")
    conductance, _ = layer_conductance(model, tensors, layers, n_steps, "auto", "tutorial")
    quantities = {"embeddings": lig, **sub, **{f"layer_{layer}": rows for layer, rows in conductance.items()}}
    return {name: [rows.sum(-1) for rows in split_rows(value, lengths)] for name, value in quantities.items()}


def part2(model, tensors, lengths, n_steps):
    """Part 2 on a group (every layer, no token-pair matrices kept): every example's per-head results."""
    layers = list(range(1, model.config.num_hidden_layers + 1))
    kept = attention_group_results(model, tensors, lengths, layers, None, n_steps, [False] * len(lengths))
    return {name: [example[name] for example in kept] for name in kept[0]}


def grouped(examples: list[dict], model, device, shared: bool, attention_layers: int) -> list[list[int]]:
    """The groups a job would form (``shared``), or one example each."""
    if not shared:
        return [[index] for index in range(len(examples))]
    lengths = {str(index): tensors["input_ids"].shape[1] for index, tensors in enumerate(examples)}
    budget = activation_memory_budget(device)

    def limit(length):
        per_point = bytes_per_point(model.config, length, attention_layers)
        return group_limit(per_point, budget, "auto", CONDUCTANCE_MIN_POINTS)

    return [[int(index) for index in group] for group in length_groups(lengths, limit)]


def run(part, model, examples, device, precision, shared, n_steps) -> tuple[dict, dict]:
    """Time one part over the examples; returns the measurements and each example's results, by quantity."""
    counter = PassCounter(model)
    attention_layers = model.config.num_hidden_layers if part == "part2" else 0
    groups = grouped(examples, model, device, shared, attention_layers)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    results: dict[str, dict[int, torch.Tensor]] = {}
    started = time.perf_counter()
    try:
        for group in groups:
            members = [examples[index] for index in group]
            lengths = [tensors["input_ids"].shape[1] for tensors in members]
            with compute_precision(precision, device):
                values = (part1 if part == "part1" else part2)(model, pad_group(members, 0), lengths, n_steps)
            for name, per_example in values.items():
                results.setdefault(name, {}).update(
                    {index: value.float().cpu() for index, value in zip(group, per_example, strict=True)}
                )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    finally:
        counter.hook.remove()
    seconds = time.perf_counter() - started
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process RSS, MiB: a running maximum
    measured = {
        "examples": len(examples),
        "groups": len(groups),
        "seconds": seconds,
        "examples_per_s": len(examples) / seconds,
        "tflops": counter.flops / seconds / 1e12,
        "peak_mib": peak,
    }
    return measured, results


def largest_difference(results: dict, reference: dict) -> float:
    """The largest |a − b| / max|b| over every quantity and example of ``reference`` (fp32 one by one)."""
    worst = 0.0
    for name, per_example in reference.items():
        scale = max(float(value.abs().max()) for value in per_example.values()) or 1.0
        for index, value in per_example.items():
            worst = max(worst, float((results[name][index] - value).abs().max()) / scale)
    return worst


def card_peak(device: torch.device, precision: str, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for card, peaks in PEAK_TFLOPS.items():
        if card in name:
            return peaks[precision]
    return None


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda:N")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="bert-base")
    parser.add_argument("--examples", type=int, default=None, help="N (default: 32 on a GPU, 4 on a CPU)")
    parser.add_argument("--one-by-one", type=int, default=None, help="examples timed one by one (default: min(N, 8))")
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--precisions", default=None, help="comma-separated (default: fp32,tf32,bf16; CPU fp32,bf16)")
    parser.add_argument("--parts", default="part1,part2")
    parser.add_argument("--max-length", type=int, default=384, help="cut the synthetic lengths (CPU runs)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on a CPU")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, where not in the table")
    parser.add_argument("--output", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    count = args.examples or (32 if gpu else 4)
    precisions = (args.precisions or ("fp32,tf32,bf16" if gpu else "fp32,bf16")).split(",")
    models = dict(zip(("part1", "part2"), build_models(args.shape, device, args.seed), strict=True))
    generator = torch.Generator().manual_seed(args.seed)
    lengths = squad_dev_lengths(count, args.seed, args.max_length)
    examples = [
        {name: tensor.to(device) for name, tensor in synthetic_example(length, 28_996, generator).items()}
        for length in lengths
    ]
    one_by_one = examples[: args.one_by_one or min(count, 8)]
    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"# {name}, {args.shape} shape, n_steps {args.n_steps}, lengths mean {np.mean(lengths):.0f} "
        f"(min {min(lengths)}, max {max(lengths)}), torch {torch.__version__}"
    )
    rows = []
    for part in args.parts.split(","):
        # A warm-up (kernels, allocator), not timed.
        run(part, models[part], examples[:1], device, "fp32", False, 2)
        reference = None
        for precision in precisions:
            single, single_results = run(part, models[part], one_by_one, device, precision, False, args.n_steps)
            shared, shared_results = run(part, models[part], examples, device, precision, True, args.n_steps)
            if precision == "fp32":
                reference = single_results
            peak = card_peak(device, precision, args.peak_tflops)
            row = {
                "part": part,
                "precision": precision,
                "one_by_one": single,
                "shared": shared,
                "shared_over_one_by_one_time": single["examples_per_s"] / shared["examples_per_s"],
                "peak_tflops": peak,
                "dev_set_hours": DEV_SET_QUESTIONS / shared["examples_per_s"] / 3600,
                "largest_relative_difference_from_fp32_one_by_one": largest_difference(shared_results, reference)
                if reference
                else None,
            }
            rows.append(row)
    print(
        "| part | precision | one by one ex/s | shared ex/s | time ratio shared/one | TFLOP/s (share of peak) | "
        "peak MiB | groups | dev set | max rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        shared = row["shared"]
        share = f" ({shared['tflops'] / row['peak_tflops']:.0%})" if row["peak_tflops"] else ""
        print(
            f"| {row['part']} | {row['precision']} | {row['one_by_one']['examples_per_s']:.3g} | "
            f"{shared['examples_per_s']:.3g} | {row['shared_over_one_by_one_time']:.2f} | "
            f"{shared['tflops']:.3g}{share} | {shared['peak_mib']:.0f} | {shared['groups']} | "
            f"{row['dev_set_hours']:.3g} h | {row['largest_relative_difference_from_fp32_one_by_one']:.2g} |"
        )
    if args.output:
        args.output.write_text(json.dumps({"device": name, "shape": args.shape, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
