"""The scale benchmark: planning, end-to-end overhead, disk and memory of the pipeline at many examples.

Run by hand (never in CI), from the repository root:

    .venv/bin/python bench/scale_benchmark.py                          # everything (about 40 minutes on 2 quiet CPUs)
    .venv/bin/python bench/scale_benchmark.py --parts plan memory      # some parts only
    .venv/bin/python bench/scale_benchmark.py --e2e-examples 100 --skip-e2e-all --plan-sizes 100 1000   # quicker

Parts (each at the pipeline's default settings unless said otherwise):

plan    N synthetic tutorial-sized examples (default 100, 1000, 11873; every second one unanswerable) in an
        examples_file on a 12-layer tiny random
        BERT QA model (tests/conftest.py's build_tiny_model); the model checkpoint is built first
        (snakemake --cores 2 results/model) so that the whole DAG is planned; then the wall time of
        `snakemake -n --quiet rules`, the job count and jobs per example.
e2e     a full run (snakemake --cores 2) of 500 synthetic examples on a 12-layer random model (hidden 64, 4 heads,
        intermediate 256): wall time, jobs, bytes per example under results/ (model, logs and benchmarks excluded),
        peak RSS of the tables and summary_figures jobs, a no-op rerun; and the attribution compute alone: every
        attribution of every example in one Python process (2 torch threads, model loaded once), the ratio of the
        two, and the ratio to the attribution jobs' own summed times. Then the same with layers_per_job all and
        examples_per_job 250.
disk    2 examples of about 384 tokens on a bert-base-shaped random model (n_steps 2, figure_examples none): bytes
        per example under results/, with attribution_storage summary (the default) and full.
memory  synthetic table parts of 11,873 examples (186 batches of 64; ~150 tokens per example; hidden 64 in
        token_distributions) written straight to a work dir, then scripts/index_tables.py, table_previews.py and
        plot_summary.py run by hand under /usr/bin/time -v, with the inputs and params their rules give them.

Every measurement records the machine's load (uptime) at its start and end. Results go to
bench/results/scale-<timestamp>.json and .md; work directories to bench/work/scale/ (ignored by git).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work" / "scale"
RESULTS = BENCH / "results"
SNAKEFILE = REPO / "Snakefile"
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

MIB = 2**20
GIB = 2**30
EXCLUDED_RESULTS = ("model", "logs", "benchmarks")
"""Top-level folders of results/ that bytes per example leave out."""
ATTRIBUTION_RULES = ("embedding_lig", "subembedding_lig", "layer_conductance")
TABLES = ("token_attributions", "token_distributions", "layer_summary", "predictions", "convergence_deltas")
SUMMARY_TABLES = ("token_attributions", "layer_summary", "convergence_deltas", "predictions")
"""As in workflow/rules/summary.smk."""

TARGETS = {
    "plan_seconds": 30.0,
    "plan_jobs_per_example": 0.3,
    "noop_seconds": 10.0,
    "overhead_ratio": 1.25,
    "bytes_per_example": MIB,
    "cross_example_rss": 2 * GIB,
}


# ---------------------------------------------------------------------------------------------------------------------
# Machine, load, processes


def uptime() -> str:
    """The `uptime` line: the load of the shared machine at a measurement."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def load_now() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"uptime": uptime(), "load1": one, "load5": five, "load15": fifteen}


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1))
    import torch

    return {
        "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()),
        "cpu": names[0] if names else "unknown",
        "ram_gib": round(total_kib / 2**20, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }


def git_state() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "status": git("status", "--short").splitlines()}


def snakemake(workdir: Path, *args: str, log_name: str | None = None) -> dict:
    """Run the pipeline's Snakefile on ``workdir``; its wall time, exit status and output (kept in a log file)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir), *args]
    before = load_now()
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if log_name:
        (workdir / f"bench-{log_name}.log").write_text(
            f"$ {' '.join(command)}\n--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
        )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-5000:])
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {workdir} (exit {completed.returncode})")
    return {
        "command": "snakemake " + " ".join(args),
        "wall_s": wall,
        "stdout": completed.stdout,
        "stderr": completed.stderr,
        "load_before": before,
        "load_after": load_now(),
    }


def dry_run_counts(stdout: str) -> dict[str, int]:
    """rule → jobs from `snakemake -n --quiet rules` (its 'total' line included)."""
    counts = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit() and fields[0] != "job":
            counts[fields[0]] = int(fields[1])
    return counts


def jobs_done(output: str) -> int:
    """The jobs a run did, from its last 'N of M steps (P%) done' line (0 when it had nothing to do)."""
    matches = re.findall(r"(\d+) of (\d+) steps \(\d+%\) done", output)
    return int(matches[-1][0]) if matches else 0


def timed_process(command: list[str], cwd: Path) -> dict:
    """Run ``command`` under /usr/bin/time -v: wall seconds and max RSS from its report, and the load around it."""
    before = load_now()
    completed = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True)
    report = completed.stderr
    if completed.returncode != 0:
        sys.stderr.write(report[-5000:])
        raise RuntimeError(f"{command[1]} failed (exit {completed.returncode})")
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", report).group(1)
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return {"max_rss_mib": rss_kib / 1024, "wall_s": seconds, "load_before": before, "load_after": load_now()}


def write_config(workdir: Path, **config) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def fresh(workdir: Path) -> Path:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    return workdir


# ---------------------------------------------------------------------------------------------------------------------
# Models and examples


def vocabulary() -> list[str]:
    from conftest import _VOCAB_WORDS

    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(_VOCAB_WORDS)]


def build_model(directory: Path, **sizes) -> Path:
    """A randomly initialised BertForQuestionAnswering with the tiny model's cased vocabulary (tests/conftest.py),
    of the given sizes (BertConfig keywords), saved like a hub model. Kept when already there."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

    if (directory / "model.safetensors").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=False)
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(vocab_size=len(vocab), **sizes)).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_small_model(directory: Path) -> Path:
    """The end-to-end run's model: like conftest.build_tiny_model, 12 layers of hidden 64, 4 heads, intermediate 256."""
    return build_model(
        directory,
        hidden_size=64,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=64,
    )


def build_bert_base_model(directory: Path) -> Path:
    """bert-base dimensions (BertConfig's defaults: hidden 768, 12 layers, 12 heads, intermediate 3072), 512
    positions, random weights, the tiny model's small vocabulary."""
    return build_model(directory, max_position_embeddings=512)


def build_tiny12_model(directory: Path) -> Path:
    from conftest import build_tiny_model

    if (directory / "model.safetensors").is_file():
        return directory
    return build_tiny_model(directory, layers=12)


SUBJECTS = ("us", "them", "people", "humans")
VERBS = ("include", "empower", "support", "help")
OBJECTS = ("humans", "people", "them", "us")
SENTENCES = (
    "We help people.",
    "It is important.",
    "Who is it?",
    "We support them.",
    "It is a help.",
    "People help people.",
    "We include all kinds.",
    "Humans help humans.",
    "Where is it?",
    "It is the help of all.",
    "They are people.",
    "We empower them.",
)


def synthetic_examples(count: int, seed: int = 0, unanswerable: bool = False) -> list[dict]:
    """``count`` tutorial-sized examples (about 20-40 tokens), each with a unique id and varied wording, written
    with the tiny model's vocabulary only (tests/conftest.py), the answer verbatim in the context; with
    ``unanswerable``, every second one has no answer (about SQuAD v2 dev's half)."""
    rng = random.Random(seed)
    verb_triples = list(itertools.permutations(VERBS, 3))
    examples = []
    for number in range(1, count + 1):
        subject, obj = rng.choice(SUBJECTS), rng.choice(OBJECTS)
        first, second, third = rng.choice(verb_triples)
        kinds = rng.choice((" of all kinds", ""))
        what = f"to {first}, {second} and {third} {obj}{kinds}"
        lead = " ".join(rng.sample(SENTENCES, rng.randint(0, 2)))
        trail = " ".join(rng.sample(SENTENCES, rng.randint(0, 2)))
        context = " ".join(filter(None, [lead, f"It is important to {subject} {what}.", trail]))
        form = rng.randrange(3)
        if form == 0:
            question, answer = f"What is important to {subject}?", what
        elif form == 1:
            question, answer = f"Who is it important to {subject} to {third}?", f"{obj}{kinds}"
        else:
            question, answer = f"What is it important to {subject} to {first}?", f"{obj}{kinds}"
        example = {"id": f"q{number:05d}", "question": question, "context": context, "answer": answer}
        if unanswerable and number % 2 == 0:
            del example["answer"]
        examples.append(example)
    return examples


def write_examples_file(path: Path, examples: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(example) + "\n" for example in examples))
    return path


def token_counts(model_dir: Path, examples: list[dict]) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    counts = sorted(len(tokenizer.encode(example["question"], example["context"])) for example in examples)
    return {"min": counts[0], "median": counts[len(counts) // 2], "max": counts[-1]}


def long_examples(model_dir: Path, count: int = 2, tokens: int = 384) -> dict[str, dict]:
    """``count`` examples of about ``tokens`` tokens each: known words repeated, the tutorial's sentence last."""
    from conftest import TUTORIAL_EXAMPLE
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = {}
    for number in range(count):
        question = TUTORIAL_EXAMPLE["question"]
        filler = ""
        sentences = itertools.cycle(SENTENCES[number:] + SENTENCES[:number])
        while True:
            sentence = next(sentences) + " "
            if len(tokenizer.encode(question, filler + sentence + TUTORIAL_EXAMPLE["context"])) > tokens:
                break
            filler += sentence
        examples[f"long{number + 1}"] = {
            "question": question,
            "context": filler + TUTORIAL_EXAMPLE["context"],
            "answer": TUTORIAL_EXAMPLE["answer"],
        }
    return examples


# ---------------------------------------------------------------------------------------------------------------------
# Results of a run


def results_bytes(workdir: Path) -> dict[str, int]:
    """Bytes under results/ by top-level entry, without the model, the logs and the benchmarks."""
    sizes: dict[str, int] = {}
    results = workdir / "results"
    for path in results.rglob("*"):
        if path.is_file():
            top = path.relative_to(results).parts[0]
            if top not in EXCLUDED_RESULTS:
                sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return dict(sorted(sizes.items()))


def benchmark_rows(workdir: Path) -> dict[str, dict]:
    """Job (its benchmark file's path under results/benchmarks, without .tsv) → its benchmark row."""
    rows = {}
    root = workdir / "results" / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        with path.open() as handle:
            rows[str(path.relative_to(root).with_suffix(""))] = next(csv.DictReader(handle, delimiter="\t"))
    return rows


def rule_of(job: str) -> str:
    return job.split("/", 1)[0]


def rule_stats(rows: dict[str, dict]) -> dict[str, dict]:
    """Per rule: jobs, summed and largest job seconds, largest and median max_rss (MiB)."""
    stats: dict[str, dict] = {}
    for job, row in rows.items():
        entry = stats.setdefault(rule_of(job), {"jobs": 0, "s": [], "max_rss": []})
        entry["jobs"] += 1
        entry["s"].append(float(row["s"]))
        if row.get("max_rss", "NA") not in ("NA", "-", ""):
            entry["max_rss"].append(float(row["max_rss"]))
    out = {}
    for rule, entry in stats.items():
        rss = sorted(entry["max_rss"])
        out[rule] = {
            "jobs": entry["jobs"],
            "sum_s": sum(entry["s"]),
            "max_s": max(entry["s"]),
            "max_rss_mib": rss[-1] if rss else None,
            "median_max_rss_mib": rss[len(rss) // 2] if rss else None,
        }
    return out


# ---------------------------------------------------------------------------------------------------------------------
# 1. Planning


def plan_part(sizes: list[int], repeats: int) -> dict:
    model = build_tiny12_model(WORK / "models" / "tiny12")
    out = {}
    for count in sizes:
        workdir = fresh(WORK / f"plan-{count}")
        examples_file = write_examples_file(workdir / "examples.jsonl", synthetic_examples(count, unanswerable=True))
        write_config(workdir, model=str(model), examples={}, examples_file=str(examples_file))
        model_run = snakemake(workdir, "--cores", "2", "results/model", log_name="model")
        runs = []
        for repeat in range(repeats):
            run = snakemake(workdir, "-n", "--quiet", "rules", log_name=f"plan-{repeat}")
            counts = dry_run_counts(run["stdout"])
            runs.append({"wall_s": run["wall_s"], "load_before": run["load_before"], "load_after": run["load_after"]})
        walls = sorted(run["wall_s"] for run in runs)
        total = counts["total"]
        out[str(count)] = {
            "examples": count,
            "model_step_s": model_run["wall_s"],
            "runs": runs,
            "median_wall_s": walls[len(walls) // 2],
            "min_wall_s": walls[0],
            "jobs": total,
            "jobs_by_rule": {rule: jobs for rule, jobs in counts.items() if rule != "total"},
            "jobs_per_example": total / count,
        }
        print(
            f"plan {count}: {walls} s, {total} jobs, {total / count:.3f} jobs/example "
            f"({runs[0]['load_before']['uptime']})",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------------------------------
# 2. End to end, and the attribution compute alone


def compute_alone(workdir: Path, layers_per_call, n_steps: int, threads: int) -> dict:
    """Every attribution of every example of a finished run, in this process: the model loaded once."""
    started = time.perf_counter()
    import torch

    from bertscope.attribution.part1 import embedding_lig, layer_conductance, subembedding_lig
    from bertscope.models.loading import configure_torch, load_model
    from bertscope.pipeline.plan import layer_groups
    from bertscope.pipeline.tensor_io import BatchFile

    configure_torch(threads)
    model = load_model(workdir / "results" / "model", torch.device("cpu"))
    groups = list(layer_groups(model.config.num_hidden_layers, layers_per_call).values())
    loaded = time.perf_counter()
    examples = calls = 0
    for path in sorted((workdir / "results" / "inputs").glob("[!.]*.safetensors")):
        batch = BatchFile(path, framework="pt")
        for example in batch.examples:
            tensors = batch.tensors(example)
            embedding_lig(model, tensors, n_steps, "auto")
            subembedding_lig(model, tensors, n_steps, "auto")
            for layers in groups:
                layer_conductance(model, tensors, layers, n_steps, "auto")
            examples += 1
            calls += 2 + len(groups)
    done = time.perf_counter()
    return {
        "examples": examples,
        "calls": calls,
        "layers_per_call": layers_per_call,
        "threads": torch.get_num_threads(),
        "compute_s": done - loaded,
        "process_s_without_interpreter": done - started,
    }


def compute_alone_process(workdir: Path, layers_per_call, n_steps: int, threads: int = 2) -> dict:
    """:func:`compute_alone` in a fresh Python process (as a job would be, but one for everything)."""
    before = load_now()
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--compute-alone",
            str(workdir),
            "--compute-layers",
            str(layers_per_call),
            "--compute-n-steps",
            str(n_steps),
            "--compute-threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-5000:])
        raise RuntimeError("the in-process attribution compute failed")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return {**result, "process_wall_s": wall, "load_before": before, "load_after": load_now()}


def e2e_part(name: str, count: int, extra_config: dict, compute_layers) -> dict:
    model = build_small_model(WORK / "models" / "small12")
    examples = synthetic_examples(count, seed=1)
    workdir = fresh(WORK / name)
    examples_file = write_examples_file(workdir / "examples.jsonl", examples)
    write_config(workdir, model=str(model), examples={}, examples_file=str(examples_file), **extra_config)
    tokens = token_counts(model, examples)
    run = snakemake(workdir, "--cores", "2", log_name="run")
    jobs = jobs_done(run["stderr"] + run["stdout"])
    print(f"{name}: full run {run['wall_s']:.1f} s, {jobs} jobs ({run['load_before']['uptime']})", flush=True)
    noop = snakemake(workdir, "--cores", "2", log_name="noop")
    noop_output = noop["stdout"] + noop["stderr"]
    noop_jobs = jobs_done(noop_output)
    print(f"{name}: no-op rerun {noop['wall_s']:.1f} s, {noop_jobs} jobs", flush=True)
    sizes = results_bytes(workdir)
    stats = rule_stats(benchmark_rows(workdir))
    attribution_job_s = sum(stats[rule]["sum_s"] for rule in ATTRIBUTION_RULES if rule in stats)
    compute = compute_alone_process(workdir, compute_layers, n_steps=50)
    print(f"{name}: attribution compute alone {compute['compute_s']:.1f} s ({compute['calls']} calls)", flush=True)
    return {
        "examples": count,
        "config": extra_config,
        "tokens_per_example": tokens,
        "wall_s": run["wall_s"],
        "jobs": jobs,
        "load_before": run["load_before"],
        "load_after": run["load_after"],
        "noop_wall_s": noop["wall_s"],
        "noop_jobs": noop_jobs,
        "noop_nothing_to_do": "Nothing to be done" in noop_output,
        "noop_load": noop["load_before"],
        "results_bytes": sizes,
        "bytes_per_example": sum(sizes.values()) / count,
        "rules": stats,
        "tables_max_rss_mib": stats.get("tables", {}).get("max_rss_mib"),
        "tables_median_max_rss_mib": stats.get("tables", {}).get("median_max_rss_mib"),
        "summary_figures_max_rss_mib": stats.get("summary_figures", {}).get("max_rss_mib"),
        "attribution_jobs_sum_s": attribution_job_s,
        "compute_alone": compute,
        "ratio_wall_to_compute": run["wall_s"] / compute["compute_s"],
        "ratio_wall_to_attribution_jobs": run["wall_s"] / attribution_job_s,
    }


# ---------------------------------------------------------------------------------------------------------------------
# 3. Disk at bert-base size


def disk_part() -> dict:
    model = build_bert_base_model(WORK / "models" / "bert-base")
    examples = long_examples(model)
    tokens = token_counts(model, [{"question": e["question"], "context": e["context"]} for e in examples.values()])
    out = {"tokens_per_example": tokens}
    for storage in ("summary", "full"):
        workdir = fresh(WORK / f"disk-{storage}")
        write_config(
            workdir,
            model=str(model),
            examples=examples,
            n_steps=2,
            figure_examples="none",
            attribution_storage=storage,
        )
        run = snakemake(workdir, "--cores", "2", log_name="run")
        sizes = results_bytes(workdir)
        out[storage] = {
            "wall_s": run["wall_s"],
            "jobs": jobs_done(run["stderr"] + run["stdout"]),
            "results_bytes": sizes,
            "bytes_per_example": sum(sizes.values()) / len(examples),
            "load_before": run["load_before"],
        }
        print(f"disk {storage}: {sum(sizes.values()) / len(examples) / MIB:.3f} MiB per example", flush=True)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# 4. Memory of the cross-example steps


def _question_words(rng) -> list[str]:
    subject = rng.choice(SUBJECTS)
    return rng.choice(
        (
            ["What", "is", "important", "to", subject, "?"],
            ["Who", "is", "it", "important", "to", subject, "to", "support", "?"],
            ["What", "is", "it", "important", "to", subject, "to", "em", "##power", "and", "include", "?"],
        )
    )


def synthetic_batch(numbers: range, rng, np_rng, layers: int, hidden: int, tokens_mean: int) -> dict:
    """Every table's frame for the examples ``numbers``: real shapes, random values, '[CLS] q [SEP] c [SEP]' tokens
    with the true answer strictly inside the context."""
    import numpy as np
    import pandas as pd

    from bertscope import SUBEMBEDDINGS, TARGETS

    words = vocabulary()[5:]
    sources = [("embeddings", None), *[(name, None) for name in SUBEMBEDDINGS]]
    sources += [("layer", layer) for layer in range(1, layers + 1)]
    columns: dict[str, dict[str, list]] = {table: {} for table in TABLES}

    def add(table, **values):
        for key, value in values.items():
            columns[table].setdefault(key, []).append(value)

    targets = np.asarray(TARGETS, dtype=object)
    for number in numbers:
        example = f"q{number:05d}"
        question = _question_words(rng)
        count = rng.randint(tokens_mean - 20, tokens_mean + 20)
        context = [rng.choice(words) for _ in range(count - len(question) - 3)]
        tokens = np.asarray(["[CLS]", *question, "[SEP]", *context, "[SEP]"], dtype=object)
        context_begin = len(question) + 2
        answer_length = rng.randint(1, 8)
        true_start = rng.randint(context_begin, count - 2 - answer_length)
        true_end = true_start + answer_length - 1
        rows = len(sources) * len(TARGETS) * count
        values = np_rng.standard_normal((len(sources) * len(TARGETS), count))
        values /= np.linalg.norm(values, axis=1, keepdims=True)
        add(
            "token_attributions",
            example=np.full(rows, example, dtype=object),
            target=np.tile(np.repeat(targets, count), len(sources)),
            source=np.repeat(np.asarray([source for source, _ in sources], dtype=object), len(TARGETS) * count),
            layer=np.repeat(np.asarray([layer for _, layer in sources], dtype=object), len(TARGETS) * count),
            token_index=np.tile(np.arange(count), len(sources) * len(TARGETS)),
            token=np.tile(tokens, len(sources) * len(TARGETS)),
            attribution=values.reshape(-1),
        )
        per_layer = len(TARGETS) * hidden
        add(
            "token_distributions",
            example=np.full(layers * per_layer, example, dtype=object),
            target=np.tile(np.repeat(targets, hidden), layers),
            layer=np.repeat(np.arange(1, layers + 1), per_layer),
            token_index=np.full(layers * per_layer, true_end),
            token=np.full(layers * per_layer, tokens[true_end], dtype=object),
            dim=np.tile(np.arange(hidden), layers * len(TARGETS)),
            attribution=np_rng.standard_normal(layers * per_layer) * 0.01,
        )
        add(
            "layer_summary",
            example=np.full(layers * len(TARGETS), example, dtype=object),
            target=np.tile(targets, layers),
            layer=np.repeat(np.arange(1, layers + 1), len(TARGETS)),
            total_attribution=np_rng.standard_normal(layers * len(TARGETS)),
            entropy=np_rng.uniform(3.0, 6.6, layers * len(TARGETS)),
            convergence_delta=np_rng.standard_normal(layers * len(TARGETS)) * 1e-6,
        )
        predicted_start = rng.randint(context_begin, count - 2)
        predicted_end = rng.randint(predicted_start, min(predicted_start + 10, count - 2))
        add(
            "predictions",
            example=[example],
            predicted_start=[predicted_start],
            predicted_end=[predicted_end],
            predicted_answer=[" ".join(tokens[predicted_start : predicted_end + 1])],
            start_prob=[rng.random()],
            end_prob=[rng.random()],
            true_start=[true_start],
            true_end=[true_end],
            delta_start=[np_rng.standard_normal() * 1e-3],
            delta_end=[np_rng.standard_normal() * 1e-3],
            has_answer=[True],
            answer=[" ".join(tokens[true_start : true_end + 1])],
            span_start=[predicted_start],
            span_end=[predicted_end],
            span_answer=[" ".join(tokens[predicted_start : predicted_end + 1])],
            span_char_begin=[None],
            span_char_end=[None],
            null_score_diff=[-rng.random()],
            exact=[int(predicted_start == true_start and predicted_end == true_end)],
            f1=[rng.random()],
            outcome=["correct" if predicted_start == true_start and predicted_end == true_end else "wrong"],
            window=[0],
            window_count=[1],
            context_char_begin=[0],
            context_char_end=[0],
        )
        delta_sources = [("embeddings", None), ("subembeddings", None)]
        delta_sources += [("layer", layer) for layer in range(1, layers + 1)]
        add(
            "convergence_deltas",
            example=np.full(len(delta_sources) * len(TARGETS), example, dtype=object),
            target=np.tile(targets, len(delta_sources)),
            source=np.repeat(np.asarray([source for source, _ in delta_sources], dtype=object), len(TARGETS)),
            layer=np.repeat(np.asarray([layer for _, layer in delta_sources], dtype=object), len(TARGETS)),
            delta=np_rng.standard_normal(len(delta_sources) * len(TARGETS)) * 1e-4,
        )
    return {
        table: pd.DataFrame({key: np.concatenate(parts) for key, parts in values.items()})
        for table, values in columns.items()
    }


def write_synthetic_tables(workdir: Path, count: int, per_batch: int, hidden: int, tokens_mean: int) -> dict:
    import numpy as np

    from bertscope.pipeline.paths import TABLE_PART
    from bertscope.pipeline.plan import example_batches
    from bertscope.tables.io import write_table

    rng, np_rng = random.Random(0), np.random.default_rng(0)
    ids = [f"q{number:05d}" for number in range(1, count + 1)]
    batches = example_batches(ids, per_batch)
    rows = dict.fromkeys(TABLES, 0)
    started = time.perf_counter()
    first = 1
    for batch, members in batches.items():
        frames = synthetic_batch(range(first, first + len(members)), rng, np_rng, 12, hidden, tokens_mean)
        first += len(members)
        for table, frame in frames.items():
            write_table(frame, table, workdir / TABLE_PART.format(table=table, batch=batch), {"synthetic": "scale"})
            rows[table] += len(frame)
    return {"batches": list(batches), "rows": rows, "write_s": time.perf_counter() - started}


def memory_part(count: int, per_batch: int, hidden: int, tokens_mean: int) -> dict:
    from bertscope.pipeline.paths import TABLE_DATASET, TABLE_PART, TABLES_MANIFEST

    workdir = fresh(WORK / f"memory-{count}")
    written = write_synthetic_tables(workdir, count, per_batch, hidden, tokens_mean)
    print(f"memory: wrote {written['rows']} rows in {written['write_s']:.0f} s", flush=True)
    sizes = results_bytes(workdir)

    def parts(table):
        return json.dumps([TABLE_PART.format(table=table, batch=batch) for batch in written["batches"]])

    def listed(values):
        return json.dumps(list(values))

    python = sys.executable
    common = ["params.model=synthetic", "params.n_steps=50", "params.code=none"]
    runs = {}
    runs["index_tables"] = [
        python,
        str(REPO / "scripts" / "index_tables.py"),
        *[f"input.{table}={parts(table)}" for table in TABLES],
        f"output.manifest={TABLES_MANIFEST}",
        "params.code=none",
        f"params.tables={listed(TABLES)}",
        f"params.datasets={listed(TABLE_DATASET.format(table=table) for table in TABLES)}",
        "log.0=results/logs/table_datasets.log",
    ]
    runs["table_previews"] = [
        python,
        str(REPO / "scripts" / "table_previews.py"),
        f"input.manifest={TABLES_MANIFEST}",
        f"output.previews={listed(f'results/tables/{table}.html' for table in TABLES)}",
        *common,
        f"params.tables={listed(TABLES)}",
        "params.max_rows=500",
        "log.0=results/logs/table_previews.log",
    ]

    def figure(stem):
        return listed(f"results/figures/_summary/{stem}.{fmt}" for fmt in ("png", "svg"))

    runs["summary_figures"] = [
        python,
        str(REPO / "scripts" / "plot_summary.py"),
        *[f"input.{table}={parts(table)}" for table in SUMMARY_TABLES],
        f"input.manifest={TABLES_MANIFEST}",
        f"output.mean_layer_attribution={figure('mean_layer_attribution')}",
        f"output.entropy_by_layer={figure('entropy_by_layer')}",
        f"output.convergence_deltas={figure('convergence_deltas')}",
        "output.summary_html=results/figures/_summary/examples.html",
        *common,
        f"params.tables={listed(SUMMARY_TABLES)}",
        f"params.datasets={listed(TABLE_DATASET.format(table=table) for table in SUMMARY_TABLES)}",
        "log.0=results/logs/summary_figures.log",
    ]
    measured = {}
    for step, command in runs.items():
        measured[step] = timed_process(command, workdir)
        print(f"memory: {step} {measured[step]['max_rss_mib']:.0f} MiB, {measured[step]['wall_s']:.1f} s", flush=True)
    return {
        "examples": count,
        "examples_per_batch": per_batch,
        "batches": len(written["batches"]),
        "hidden_in_token_distributions": hidden,
        "tokens_per_example_mean": tokens_mean,
        "rows": written["rows"],
        "write_s": written["write_s"],
        "tables_bytes": sizes,
        "steps": measured,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Report


def mib(value) -> str:
    return "n/a" if value is None else f"{value / MIB:.3f} MiB"


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def target_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    plan = results.get("plan", {})
    if plan:
        largest = plan[max(plan, key=int)]
        rows.append(
            (
                f"plan {largest['examples']} examples ≤ {TARGETS['plan_seconds']:.0f} s (`snakemake -n --quiet rules`)",
                f"{largest['median_wall_s']:.1f} s median of {len(largest['runs'])} "
                f"({', '.join(format(run['wall_s'], '.1f') for run in largest['runs'])} s)",
                met(largest["median_wall_s"] <= TARGETS["plan_seconds"]),
            )
        )
        rows.append(
            (
                f"≤ {TARGETS['plan_jobs_per_example']} jobs per example",
                f"{largest['jobs_per_example']:.3f} ({largest['jobs']} jobs)",
                met(largest["jobs_per_example"] <= TARGETS["plan_jobs_per_example"]),
            )
        )
    for key, label in (("e2e", "layers_per_job 1, examples_per_job 64"), ("e2e_all", "layers_per_job all, 250")):
        run = results.get(key)
        if not run:
            continue
        n = run["examples"]
        rows.append(
            (
                f"{n} examples ({label}): wall / attribution compute alone ≤ {TARGETS['overhead_ratio']}",
                f"{run['wall_s']:.1f} s / {run['compute_alone']['compute_s']:.1f} s = "
                f"**{run['ratio_wall_to_compute']:.2f}**",
                met(run["ratio_wall_to_compute"] <= TARGETS["overhead_ratio"]),
            )
        )
        rows.append(
            (
                f"({label}) looser: wall / sum of attribution jobs' own times",
                f"{run['wall_s']:.1f} s / {run['attribution_jobs_sum_s']:.1f} s = "
                f"{run['ratio_wall_to_attribution_jobs']:.2f}",
                "(no target)",
            )
        )
        rows.append(
            (
                f"no-op rerun ≤ {TARGETS['noop_seconds']:.0f} s (target stated for 1,000 examples; here {n}, {label})",
                f"{run['noop_wall_s']:.1f} s"
                + ("" if run["noop_nothing_to_do"] else f" (ran {run['noop_jobs']} jobs!)"),
                met(run["noop_wall_s"] <= TARGETS["noop_seconds"] and run["noop_nothing_to_do"]),
            )
        )
        rows.append(
            (
                f"({label}) peak RSS of tables jobs / summary_figures",
                f"{run['tables_max_rss_mib']:.0f} MiB / {run['summary_figures_max_rss_mib']:.0f} MiB",
                met(
                    max(run["tables_max_rss_mib"], run["summary_figures_max_rss_mib"]) * MIB
                    <= TARGETS["cross_example_rss"]
                ),
            )
        )
    if "1000" in plan:
        rows.append(
            (
                "proxy for the 1,000-example no-op: dry-run planning of the 1,000-example plan work dir "
                "(model built only)",
                f"{plan['1000']['median_wall_s']:.1f} s",
                met(plan["1000"]["median_wall_s"] <= TARGETS["noop_seconds"]),
            )
        )
    disk = results.get("disk")
    if disk:
        rows.append(
            (
                "bytes per example at bert-base size, ~384 tokens, attribution_storage summary ≤ 1 MiB",
                mib(disk["summary"]["bytes_per_example"]),
                met(disk["summary"]["bytes_per_example"] <= TARGETS["bytes_per_example"]),
            )
        )
        rows.append(
            ("same, attribution_storage full (comparison)", mib(disk["full"]["bytes_per_example"]), "(no target)")
        )
    memory = results.get("memory")
    if memory:
        for step, measured in memory["steps"].items():
            rows.append(
                (
                    f"{step} at {memory['examples']:,} examples: max RSS ≤ 2 GiB",
                    f"{measured['max_rss_mib']:.0f} MiB, {measured['wall_s']:.1f} s",
                    met(measured["max_rss_mib"] * MIB <= TARGETS["cross_example_rss"]),
                )
            )
    return rows


def load_text(load: dict) -> str:
    return f"{load['load1']:.2f}, {load['load5']:.2f}, {load['load15']:.2f}"


def report(results: dict, command: str) -> str:
    info = results["machine"]
    lines = [
        f"# Scale benchmark, {results['started']}",
        "",
        f"Command: `{command}` (wall {results['total_s'] / 60:.1f} min)",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram_gib']} GiB RAM, GPU: {info['gpu']}, "
        f"torch {info['torch']}, Python {info['python']}. Shared with another user running tests: the load average "
        "(1, 5, 15 min) is given at each measurement.",
        "",
        f"Repository: {results['git']['commit']}"
        + (f" with {len(results['git']['status'])} uncommitted change(s)" if results["git"]["status"] else ""),
        "",
        *(
            [
                "Parts measured by other commands (`--resume`): "
                + "; ".join(f"{key}: `{by}`" for key, by in results["measured_by"].items() if by != command),
                "",
            ]
            if any(by != command for by in results.get("measured_by", {}).values())
            else []
        ),
        "| target | measured | met? |",
        "|---|---|---|",
    ]
    lines += [f"| {target} | {measured} | {ok} |" for target, measured, ok in target_rows(results)]
    plan = results.get("plan")
    if plan:
        lines += [
            "",
            "## 1. Planning (`snakemake -n --quiet rules`, model checkpoint built)",
            "",
            "| examples | wall (s), each run | jobs | jobs/example | load at start |",
            "|---|---|---|---|---|",
        ]
        for entry in plan.values():
            walls = ", ".join(f"{run['wall_s']:.1f}" for run in entry["runs"])
            lines.append(
                f"| {entry['examples']:,} | {walls} | {entry['jobs']:,} | {entry['jobs_per_example']:.3f} | "
                f"{load_text(entry['runs'][0]['load_before'])} |"
            )
        largest = plan[max(plan, key=int)]
        lines += ["", f"Jobs by rule at {largest['examples']:,}: {largest['jobs_by_rule']}"]
    for key in ("e2e", "e2e_all"):
        run = results.get(key)
        if not run:
            continue
        lines += [
            "",
            f"## 2. End to end: {run['examples']} examples, config {run['config'] or 'defaults'}",
            "",
            "Model: 12 layers, hidden 64, 4 heads, intermediate 256, random; tokens per example "
            f"{run['tokens_per_example']}.",
            "",
            "| measurement | value | load at start |",
            "|---|---|---|",
            f"| full run (`snakemake --cores 2`) | {run['wall_s']:.1f} s, {run['jobs']} jobs | "
            f"{load_text(run['load_before'])} |",
            f"| no-op rerun | {run['noop_wall_s']:.1f} s, nothing to do: {run['noop_nothing_to_do']} | "
            f"{load_text(run['noop_load'])} |",
            f"| attribution compute alone (1 process, 2 threads, {run['compute_alone']['calls']} calls, "
            f"{run['compute_alone']['layers_per_call']} layer(s) per conductance call) | "
            f"{run['compute_alone']['compute_s']:.1f} s (process {run['compute_alone']['process_wall_s']:.1f} s) | "
            f"{load_text(run['compute_alone']['load_before'])} |",
            f"| wall / compute alone | {run['ratio_wall_to_compute']:.2f} | |",
            f"| attribution jobs' own times (benchmark `s`, summed) | {run['attribution_jobs_sum_s']:.1f} s | |",
            f"| wall / that sum (looser measure) | {run['ratio_wall_to_attribution_jobs']:.2f} | |",
            "| bytes per example (results/ without model, logs, benchmarks) | "
            f"{run['bytes_per_example'] / 1024:.1f} KiB | |",
            f"| peak RSS, tables jobs (largest / median) | {run['tables_max_rss_mib']:.0f} / "
            f"{run['tables_median_max_rss_mib']:.0f} MiB | |",
            f"| peak RSS, summary_figures | {run['summary_figures_max_rss_mib']:.0f} MiB | |",
            "",
            "| rule | jobs | job seconds (sum) | largest job (s) | largest max_rss (MiB) |",
            "|---|---|---|---|---|",
        ]
        for rule, stats in run["rules"].items():
            rss = "n/a" if stats["max_rss_mib"] is None else f"{stats['max_rss_mib']:.0f}"
            lines.append(f"| {rule} | {stats['jobs']} | {stats['sum_s']:.1f} | {stats['max_s']:.1f} | {rss} |")
        lines += ["", f"Bytes under results/ by folder: {run['results_bytes']}"]
    disk = results.get("disk")
    if disk:
        lines += [
            "",
            "## 3. Disk at bert-base size (2 examples, n_steps 2, figure_examples none)",
            "",
            f"Tokens per example: {disk['tokens_per_example']}.",
            "",
            "| attribution_storage | bytes per example | by folder (bytes, both examples) | run wall |",
            "|---|---|---|---|",
        ]
        for storage in ("summary", "full"):
            entry = disk[storage]
            lines.append(
                f"| {storage} | {mib(entry['bytes_per_example'])} | {entry['results_bytes']} | "
                f"{entry['wall_s']:.0f} s |"
            )
    memory = results.get("memory")
    if memory:
        lines += [
            "",
            f"## 4. Cross-example steps at {memory['examples']:,} synthetic examples",
            "",
            f"{memory['batches']} parts per table ({memory['examples_per_batch']} examples each), about "
            f"{memory['tokens_per_example_mean']} tokens per example, 16 token_attributions sources × 2 targets, "
            f"token_distributions with hidden {memory['hidden_in_token_distributions']} (bert-base would have 768: "
            "12× its rows; of these steps only the previews read it, and only their first 500 rows). "
            f"Rows: {memory['rows']}; tables on disk {memory['tables_bytes']} bytes; written in "
            f"{memory['write_s']:.0f} s. Each step run by hand under `/usr/bin/time -v` with its rule's inputs "
            "and params.",
            "",
            "| step | max RSS | wall | load at start |",
            "|---|---|---|---|",
        ]
        for step, measured in memory["steps"].items():
            lines.append(
                f"| {step} | {measured['max_rss_mib']:.0f} MiB | {measured['wall_s']:.1f} s | "
                f"{load_text(measured['load_before'])} |"
            )
    if results.get("failed"):
        lines += ["", "## Failed", "", *[f"- {key}: {error}" for key, error in results["failed"].items()]]
    if results.get("notes"):
        lines += ["", "## Notes", "", *[f"- {note}" for note in results["notes"]]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("plan", "memory", "disk", "e2e"),
        default=["plan", "memory", "disk", "e2e"],
        help="what to measure (default: all, in this order)",
    )
    parser.add_argument("--plan-sizes", type=int, nargs="+", default=[100, 1000, 11873])
    parser.add_argument("--plan-repeats", type=int, default=2, help="dry runs per size (default 2)")
    parser.add_argument("--e2e-examples", type=int, default=500)
    parser.add_argument(
        "--e2e-all-examples", type=int, help="examples of the layers_per_job all run (default: --e2e-examples)"
    )
    parser.add_argument("--skip-e2e-all", action="store_true", help="skip the layers_per_job all run")
    parser.add_argument("--memory-examples", type=int, default=11873)
    parser.add_argument("--memory-tokens", type=int, default=150, help="mean tokens per synthetic example")
    parser.add_argument("--note", action="append", default=[], help="a note for the report (repeatable)")
    parser.add_argument(
        "--resume",
        type=Path,
        help="a scale-*.json of an earlier run: keep its parts and measure only --parts again (a rerun of some parts)",
    )
    parser.add_argument("--compute-alone", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compute-layers", default="1", help=argparse.SUPPRESS)
    parser.add_argument("--compute-n-steps", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--compute-threads", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.compute_alone:
        layers = args.compute_layers if args.compute_layers == "all" else int(args.compute_layers)
        print(json.dumps(compute_alone(args.compute_alone, layers, args.compute_n_steps, args.compute_threads)))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    command = " ".join([".venv/bin/python", "bench/scale_benchmark.py", *sys.argv[1:]])
    results: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
        "machine": machine(),
        "git": git_state(),
        "load_at_start": load_now(),
        "notes": list(args.note),
    }
    if args.resume:
        earlier = json.loads(args.resume.read_text())
        for key in ("plan", "memory", "disk", "e2e", "e2e_all"):
            if key in earlier:
                results[key] = earlier[key]
                results.setdefault("measured_by", {})[key] = earlier.get("measured_by", {}).get(key, earlier["command"])
        results["notes"] = [*earlier.get("notes", []), *results["notes"]]
    started = time.perf_counter()

    def save():
        results["total_s"] = time.perf_counter() - started
        (RESULTS / f"scale-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / f"scale-{stamp}.md").write_text(report(results, command))

    def part(key, measure):
        """One measurement; a failure is recorded in the results and the others still run."""
        try:
            results[key] = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), **measure()}
            results.setdefault("measured_by", {})[key] = command
        except Exception as error:  # a benchmark reports what failed and goes on
            results.setdefault("failed", {})[key] = f"{type(error).__name__}: {error}"
            print(f"{key} FAILED: {error}", file=sys.stderr, flush=True)
        save()

    if "plan" in args.parts:
        part("plan", lambda: plan_part(args.plan_sizes, args.plan_repeats))
    if "memory" in args.parts:
        part("memory", lambda: memory_part(args.memory_examples, 64, hidden=64, tokens_mean=args.memory_tokens))
    if "disk" in args.parts:
        part("disk", disk_part)
    if "e2e" in args.parts:
        part("e2e", lambda: e2e_part("e2e-layers1", args.e2e_examples, {}, 1))
        if not args.skip_e2e_all:
            config = {"layers_per_job": "all", "examples_per_job": 250}
            count = args.e2e_all_examples or args.e2e_examples
            part("e2e_all", lambda: e2e_part("e2e-layersall", count, config, "all"))
    results["load_at_end"] = load_now()
    save()
    print(report(results, command))
    print(f"written: {RESULTS / f'scale-{stamp}.md'} and .json")


if __name__ == "__main__":
    main()
