"""The bertscope benchmark: the tutorial's procedure against the pipeline, side by side on one machine.

Run by hand (never in CI), from the repository root, with nothing else running:

    .venv/bin/python bench/run_benchmark.py                 # everything; see --help for a smaller run
    .venv/bin/python bench/run_benchmark.py --examples 4 --skip-long

It builds, offline, a bert-base-shaped random BertForQuestionAnswering (12 layers, hidden 768, 12 heads,
intermediate 3072, a 28,996-entry cased vocabulary that covers the tutorial's example) and times:

1. the tutorial's procedure as one plain script (tests/oracles/tutorial_procedure.py), one example, and the same
   procedure looped over the throughput examples in one process (model loaded once), for its examples per minute;
2. the pipeline, cold, one example, with layers_per_job 1 (one job per layer) and with layers_per_job all;
3. a no-op rerun;
4. the throughput examples through the pipeline in both modes (examples per minute);
5. peak RSS of every job for a 384-token context (Snakemake benchmark files);
6. the two procedures: attribution compute per example in one process (``tutorial``: embedding LIG, sub-embedding
   LIG and every layer's conductance; ``corrected``: the shared pass and sub-embedding LIG), and the pipeline cold,
   one example, ``procedure: corrected`` with layers_per_job all. ``--procedures-only`` runs this part alone.

It prints a Markdown table with ratios against the tutorial and writes it, with the raw numbers, to
bench/results/. Work directories live in bench/work/ (ignored by git).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
ORACLES = REPO / "tests" / "oracles"
sys.path.insert(0, str(ORACLES))
from tutorial_procedure import CONTEXT, GROUND_TRUTH, QUESTION  # noqa: E402

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "What",
    "Who",
    "is",
    "are",
    "important",
    "useful",
    "to",
    "us",
    "them",
    "it",
    "It",
    "include",
    ",",
    "em",
    "##power",
    "and",
    "support",
    "help",
    "humans",
    "people",
    "of",
    "all",
    "kinds",
    "ages",
    ".",
    "?",
    "the",
    "a",
    "we",
    "they",
    "for",
    "everyone",
    "tools",
    "build",
    "teach",
    "protect",
    "children",
]
BERT_BASE_VOCAB = 28996
SUBJECTS = ["us", "them", "people", "children"]
VERB_PHRASES = [
    "to include, empower and support humans of all kinds",
    "to help people of all ages",
    "to build tools for everyone",
    "to teach and protect children of all kinds",
]


def build_model(directory: Path) -> Path:
    """A bert-base-shaped, randomly initialised QA model whose vocabulary covers the benchmark's examples."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

    if (directory / "model.safetensors").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + list(dict.fromkeys(WORDS))
    vocab += [f"[unused{i}]" for i in range(BERT_BASE_VOCAB - len(vocab))]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=512)  # bert-base defaults otherwise
    BertForQuestionAnswering(config).eval().save_pretrained(directory)
    BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=False).save_pretrained(directory)
    return directory


def throughput_examples(count: int) -> dict[str, dict]:
    """``count`` distinct examples shaped like the tutorial's (about 20-30 tokens)."""
    examples = {}
    for i in range(count):
        subject, phrase = SUBJECTS[i % len(SUBJECTS)], VERB_PHRASES[(i // len(SUBJECTS)) % len(VERB_PHRASES)]
        adjective = ["important", "useful"][i % 2]
        question = f"What is {adjective} to {subject}?"
        context = f"It is {adjective} to {subject} {phrase}."
        examples[f"ex{i:02d}"] = {"question": question, "context": context, "answer": phrase}
    return examples


def long_example(model: Path, tokens: int = 384) -> dict:
    """One example of exactly ``tokens`` tokens: the tutorial's, with filler sentences before its own."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)

    def length(context: str) -> int:
        return len(tokenizer.encode(QUESTION, context))

    filler = ""
    while length(f"{filler}It is useful to them to help people of all ages. {CONTEXT}") <= tokens:
        filler += "It is useful to them to help people of all ages. "
    while length(filler + CONTEXT) < tokens:
        filler += ". "
    assert length(filler + CONTEXT) == tokens, length(filler + CONTEXT)
    return {"question": QUESTION, "context": filler + CONTEXT, "answer": GROUND_TRUTH, "token_to_explain": "kinds"}


def snakemake(workdir: Path, *args: str) -> float:
    """Run the pipeline in ``workdir``; return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--cores",
            "2",
            "--quiet",
            "all",
            *args,
        ],
        check=True,
    )
    return time.perf_counter() - started


def pipeline_run(name: str, model: Path, examples: dict, **config) -> tuple[Path, float]:
    workdir = WORK / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    settings = {"model": str(model), "examples": examples, "figure_formats": ["png"], **config}
    (workdir / "config.yaml").write_text(yaml.safe_dump(settings))
    return workdir, snakemake(workdir)


def tutorial_run(model: Path, examples: list[dict] | None, threads: int) -> float:
    """Wall time of the tutorial script as a fresh process (imports and model loading included)."""
    command = [sys.executable, str(ORACLES / "tutorial_procedure.py"), str(model), "--threads", str(threads)]
    if examples:
        examples_path = WORK / "tutorial_examples.json"
        examples_path.write_text(json.dumps(examples))
        command += ["--examples", str(examples_path)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_rss(workdir: Path) -> list[tuple[str, float]]:
    """(job, max_rss MiB) from every Snakemake benchmark file of a run."""
    rows = []
    for path in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        with path.open() as handle:
            record = next(csv.DictReader(handle, delimiter="\t"))
        rows.append((str(path.relative_to(workdir / "results" / "benchmarks")), float(record["max_rss"])))
    return rows


def job_time_by_rule(workdir: Path) -> dict[str, tuple[int, float]]:
    """rule → (jobs, summed wall seconds) from the Snakemake benchmark files of a run."""
    totals: dict[str, tuple[int, float]] = {}
    for path in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(workdir / "results" / "benchmarks").parts[0].removesuffix(".tsv")
        with path.open() as handle:
            seconds = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
        jobs, total = totals.get(rule, (0, 0.0))
        totals[rule] = (jobs + 1, total + seconds)
    return totals


def attribution_compute(model_dir: Path, threads: int, n_steps: int, repeats: int) -> dict[str, float]:
    """Seconds per example of each procedure's attributions in one process (model loaded, one warm-up example)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import torch

    from bertscope.attribution.part1 import embedding_lig, layer_conductance, path_attribution, subembedding_lig
    from bertscope.data.qa_inputs import encode_example
    from bertscope.models.loading import configure_torch, load_model, load_tokenizer

    configure_torch(threads)
    model, tokenizer = load_model(model_dir, torch.device("cpu")), load_tokenizer(model_dir)
    example = {"question": QUESTION, "context": CONTEXT, "answer": GROUND_TRUTH, "token_to_explain": 23}
    layers = list(range(1, model.config.num_hidden_layers + 1))

    def tutorial(tensors):
        embedding_lig(model, tensors, n_steps)
        subembedding_lig(model, tensors, n_steps)
        layer_conductance(model, tensors, layers, n_steps, procedure="tutorial")

    def corrected(tensors):
        path_attribution(model, tensors, layers, n_steps)
        subembedding_lig(model, tensors, n_steps)

    seconds = {}
    for procedure, compute in (("tutorial", tutorial), ("corrected", corrected)):
        tensors = encode_example(tokenizer, "tutorial", example, 512, procedure=procedure).tensors
        compute(tensors)
        started = time.perf_counter()
        for _ in range(repeats):
            compute(tensors)
        seconds[procedure] = (time.perf_counter() - started) / repeats
    return seconds


def procedure_lines(compute: dict[str, float], cold_corrected: float | None, threads: int, n_steps: int) -> list[str]:
    ratio = compute["corrected"] / compute["tutorial"]
    lines = [
        "",
        f"| procedure (in-process, {threads} threads, n_steps {n_steps}) | seconds per example | vs tutorial |",
        "|---|---|---|",
        f"| tutorial: embedding LIG, sub-embedding LIG, conductance (all layers) | {compute['tutorial']:.2f} | 1.00× |",
        f"| corrected: one shared pass + sub-embedding LIG | {compute['corrected']:.2f} | {ratio:.2f}× |",
    ]
    if cold_corrected is not None:
        lines.append(f"| pipeline cold, 1 example, corrected, layers_per_job all | {cold_corrected:.1f} | |")
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model_names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        cpu = model_names[0] if model_names else cpu
    except OSError:
        pass
    import torch

    device = f"{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPUs, {device}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=16, help="examples of the throughput runs (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the tutorial script")
    parser.add_argument(
        "--job-threads", type=int, default=1, help="threads_per_job of the pipeline (with --cores 2: two jobs at once)"
    )
    parser.add_argument(
        "--examples-per-job", type=int, default=8, help="examples_per_job of the pipeline runs (default 8)"
    )
    parser.add_argument("--skip-long", action="store_true", help="skip the 384-token memory run")
    parser.add_argument("--procedures-only", action="store_true", help="only compare the procedures (item 6 above)")
    parser.add_argument("--repeats", type=int, default=3, help="examples timed per procedure in item 6 (default 3)")
    parser.add_argument(
        "--long-n-steps",
        type=int,
        default=50,
        help="n_steps of the 384-token memory run (peak RSS depends on the chunk, not on n_steps)",
    )
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    model = build_model(WORK / "bert-base-random")
    tutorial_example = {
        "tutorial": {"question": QUESTION, "context": CONTEXT, "answer": GROUND_TRUTH, "token_to_explain": 23}
    }
    many = throughput_examples(args.examples)
    common = {"threads_per_job": args.job_threads, "examples_per_job": args.examples_per_job}
    compute = attribution_compute(model, args.threads, 50, args.repeats)
    if args.procedures_only:
        write_report([f"Machine: {machine()}", *procedure_lines(compute, None, args.threads, 50)], {"compute": compute})
        return
    timings: dict[str, float] = {}

    timings["tutorial, 1 example"] = tutorial_run(model, None, args.threads)
    timings[f"tutorial, {args.examples} examples"] = tutorial_run(model, list(many.values()), args.threads)
    workdir, timings["pipeline cold, layers_per_job 1"] = pipeline_run(
        "cold_per_layer", model, tutorial_example, layers_per_job=1, **common
    )
    timings["pipeline no-op rerun"] = snakemake(workdir)
    _, timings["pipeline cold, layers_per_job all"] = pipeline_run(
        "cold_all", model, tutorial_example, layers_per_job="all", **common
    )
    _, cold_corrected = pipeline_run(
        "cold_corrected_all", model, tutorial_example, layers_per_job="all", procedure="corrected", **common
    )
    for mode in (1, "all"):
        _, timings[f"pipeline, {args.examples} examples, layers_per_job {mode}"] = pipeline_run(
            f"throughput_{mode}", model, many, layers_per_job=mode, **common
        )
    job_seconds = {
        f"{args.examples} examples, layers_per_job {mode}": job_time_by_rule(WORK / f"throughput_{mode}")
        for mode in (1, "all")
    }
    rss = []
    if not args.skip_long:
        for mode in (1, "all"):
            long_dir, _ = pipeline_run(
                f"long_{mode}",
                model,
                {"long384": long_example(model)},
                layers_per_job=mode,
                n_steps=args.long_n_steps,
                **common,
            )
            rss += [(f"layers_per_job {mode}: {job}", mib) for job, mib in peak_rss(long_dir)]

    tutorial_one = timings["tutorial, 1 example"]
    tutorial_rate = args.examples / timings[f"tutorial, {args.examples} examples"] * 60
    settings = f"pipeline: --cores 2, threads_per_job {args.job_threads}, examples_per_job {args.examples_per_job}"
    lines = [
        f"Machine: {machine()}",
        f"Tutorial script: {args.threads} torch threads; {settings}",
        "",
        "| measurement | seconds | vs tutorial |",
        "|---|---|---|",
    ]
    on_gpu = "no GPU" not in machine()
    for name, seconds in timings.items():
        if "examples," in name or name.endswith("examples"):
            rate = args.examples / seconds * 60
            per_second = f", {args.examples / seconds:.2f} examples/s" if on_gpu else ""
            lines.append(
                f"| {name} | {seconds:.1f} ({rate:.2f} examples/min{per_second}) | {rate / tutorial_rate:.2f}× rate |"
            )
        else:
            lines.append(f"| {name} | {seconds:.1f} | {seconds / tutorial_one:.2f}× time |")
    for run, seconds_by_rule in job_seconds.items():
        lines += ["", f"| rule ({run}) | jobs | job seconds |", "|---|---|---|"]
        lines += [f"| {rule} | {jobs} | {seconds:.1f} |" for rule, (jobs, seconds) in seconds_by_rule.items()]
    if rss:
        lines += ["", "| job (384 tokens) | peak RSS (MiB) |", "|---|---|"]
        lines += [f"| {job} | {mib:.0f} |" for job, mib in rss]
    lines += procedure_lines(compute, cold_corrected, args.threads, 50)
    raw = {"timings": timings, "job_seconds": job_seconds, "peak_rss_mib": rss, "compute": compute}
    write_report(lines, {**raw, "cold_corrected_all": cold_corrected})


def write_report(lines: list[str], raw: dict) -> None:
    report = "\n".join(lines)
    print(report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"benchmark-{stamp}.md").write_text(report + "\n")
    (RESULTS / f"benchmark-{stamp}.json").write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
