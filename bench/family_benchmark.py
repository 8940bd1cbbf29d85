"""Attribution compute per model family at one shape, against BERT's (the target: at most 1.2× BERT's).

Each family's random QA model (tests/model_families.py, at the --hidden/--layers/--heads shape) explains one input of
--tokens tokens joined by its own tokenizer's pair encoding: Part 1's tutorial procedure (embedding LIG,
sub-embedding LIG, conductance of every layer) and Part 2 (attention conductance of every layer, the attention norms),
at --n-steps, in one process after a warm-up, the median of --repeats; ALBERT twice, with fused_activations (the
default: its gelu_new loaded as gelu_pytorch_tanh) and without, and the largest difference between the two's results.
The table compares CPU seconds of the process (``time.process_time``: on a shared machine the wall clock also counts
the waits for other users' work); the JSON keeps both. Prints a Markdown table and writes it with the raw numbers
and the load average before and after to bench/results/families-<time>.{md,json}.

    .venv/bin/python bench/family_benchmark.py            # hidden 256, 4 layers, 128 tokens, n_steps 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]
UNFUSED = "albert, fused_activations: false"


def family_tensors(model, tokenizer, tokens: int) -> dict:
    """An input of exactly ``tokens`` tokens: question and context of random word ids, the family's specials."""
    import torch

    from bertscope.data.qa_inputs import join_pair, pair_template
    from bertscope.models.families import position_offset

    template = pair_template(tokenizer)
    words = [i for i in range(len(tokenizer)) if i not in tokenizer.all_special_ids]
    generator = torch.Generator().manual_seed(0)
    content = [
        words[int(i)] for i in torch.randint(len(words), (tokens - template.special_tokens,), generator=generator)
    ]
    question, context = content[:12], content[12:]
    ids, types, _ = join_pair(template, question, context)
    reference, _, _ = join_pair(template, [tokenizer.pad_token_id] * 12, [tokenizer.pad_token_id] * len(context))
    first = position_offset(model.config)

    def row(values):
        return torch.tensor([values], dtype=torch.long)

    return {
        "input_ids": row(ids),
        "ref_input_ids": row(reference),
        "token_type_ids": row(types),
        "ref_token_type_ids": row([0] * tokens),
        "position_ids": row(list(range(first, first + tokens))),
        "ref_position_ids": row([first] * tokens),
        "attention_mask": row([1] * tokens),
    }


def time_family(model_dir: Path, args, fused_activations: bool = True) -> tuple[dict[str, float], dict]:
    """Part 1's and Part 2's CPU and wall seconds on one family's model, and what each computed (its last repeat)."""
    import torch

    from bertscope.attribution.part1 import embedding_lig, layer_conductance, subembedding_lig
    from bertscope.attribution.part2 import attention_results
    from bertscope.models.loading import load_model, load_tokenizer

    model = load_model(model_dir, torch.device("cpu"), attention_weights=True, fused_activations=fused_activations)
    tensors = family_tensors(model, load_tokenizer(model_dir), args.tokens)
    layers = list(range(1, args.layers + 1))

    def part1():
        computed = (
            embedding_lig(model, tensors, args.n_steps),
            subembedding_lig(model, tensors, args.n_steps),
            layer_conductance(model, tensors, layers, args.n_steps, procedure="tutorial"),
        )
        return {"attributions": [result[0] for result in computed], "deltas": [result[1] for result in computed]}

    def part2():
        return attention_results(model, tensors, layers, layers[-1], args.n_steps, matrices=True)

    seconds, outputs = {}, {}
    for name, compute in (("part1", part1), ("part2", part2)):
        compute()  # warm-up
        cpu, wall = [], []
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            outputs[name] = compute()
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
        seconds[name], seconds[f"{name}_wall"] = statistics.median(cpu), statistics.median(wall)
    return seconds, outputs


def largest_difference(ours, theirs, relative: bool = True) -> float:
    """The largest absolute difference between two results' tensors, over every tensor of the (nested dict, tuple
    and list) results; ``relative``: each tensor's relative to the largest magnitude of ``theirs``'."""
    if isinstance(theirs, dict):
        return max(largest_difference(ours[key], value, relative) for key, value in theirs.items())
    if isinstance(theirs, tuple | list):
        return max(largest_difference(mine, value, relative) for mine, value in zip(ours, theirs, strict=True))
    difference = float((ours - theirs).abs().max())
    scale = float(theirs.abs().max()) if relative else 1.0
    return difference / scale if scale else difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from model_families import FAMILY_TYPES, build_family_model

    from bertscope.models.loading import configure_torch

    configure_torch(args.threads)
    load_before = os.getloadavg()
    sizes = {
        "hidden_size": args.hidden,
        "num_attention_heads": args.heads,
        "num_hidden_layers": args.layers,
        "intermediate_size": 4 * args.hidden,
    }
    seconds = {}
    with tempfile.TemporaryDirectory() as directory:
        for family in FAMILY_TYPES:
            model_dir = build_family_model(family, Path(directory) / family, sizes=sizes, positions=args.tokens)
            seconds[family], computed = time_family(model_dir, args)
            if family == "albert":  # its checkpoint's gelu_new as it is, against the fused default
                seconds[UNFUSED], unfused = time_family(model_dir, args, fused_activations=False)
                difference = {
                    "part1": largest_difference(computed["part1"]["attributions"], unfused["part1"]["attributions"]),
                    "part2": largest_difference(computed["part2"], unfused["part2"]),
                    "deltas": largest_difference(computed["part1"]["deltas"], unfused["part1"]["deltas"], False),
                }
    shape = f"hidden {args.hidden}, {args.layers} layers, {args.heads} heads, {args.tokens} tokens"
    lines = [
        f"| family ({shape}, n_steps {args.n_steps}, {args.threads} threads) | Part 1 CPU s | vs BERT "
        "| Part 2 CPU s | vs BERT |",
        "|---|---|---|---|---|",
    ]
    bert = seconds["bert"]
    for family, values in seconds.items():
        lines.append(
            f"| {family} | {values['part1']:.2f} | {values['part1'] / bert['part1']:.2f}× | {values['part2']:.2f} "
            f"| {values['part2'] / bert['part2']:.2f}× |"
        )
    lines.append(
        "\nALBERT fused against its own gelu_new, largest difference relative to the quantity's largest magnitude: "
        f"Part 1's attributions {difference['part1']:.1e}, Part 2's results {difference['part2']:.1e}; "
        f"Part 1's convergence deltas {difference['deltas']:.1e} absolute"
    )
    load = os.getloadavg()
    lines.append(
        f"\nload average (1, 5, 15 min) before the run: {', '.join(f'{value:.1f}' for value in load_before)}; "
        f"after: {', '.join(f'{value:.1f}' for value in load)}"
    )
    print("\n".join(lines))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = REPO / "bench" / "results"
    (results / f"families-{stamp}.md").write_text("\n".join(lines) + "\n")
    record = {
        "args": vars(args),
        "seconds": seconds,
        "albert_fused_difference": difference,
        "load": [load_before, load],
    }
    (results / f"families-{stamp}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
