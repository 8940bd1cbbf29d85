"""Shared fixtures: a tiny random BERT QA model directory and the tutorial's example."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist each worker gets its share of the cores for torch's threads (it would take them all).
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault(
        "OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "oracles"))

TUTORIAL_EXAMPLE = {
    "question": "What is important to us?",
    "context": "It is important to us to include, empower and support humans of all kinds.",
    "answer": "to include, empower and support humans of all kinds",
    "token_to_explain": 23,
}

# How bert-base-cased tokenizes the tutorial's question and context, as the Captum tutorial prints them.
TUTORIAL_TOKENS = [
    "[CLS]",
    "What",
    "is",
    "important",
    "to",
    "us",
    "?",
    "[SEP]",
    "It",
    "is",
    "important",
    "to",
    "us",
    "to",
    "include",
    ",",
    "em",
    "##power",
    "and",
    "support",
    "humans",
    "of",
    "all",
    "kinds",
    ".",
    "[SEP]",
]

_VOCAB_WORDS = [
    *TUTORIAL_TOKENS[1:7],
    *TUTORIAL_TOKENS[8:-1],
    "Who",
    "where",
    "the",
    "a",
    "people",
    "them",
    "help",
    "we",
    "it",
]


BIAS_STD = 0.1
"""Spread of the seeded noise given to every bias and LayerNorm parameter of the tests' models."""


def perturb_biases(model, seed: int, std: float = BIAS_STD) -> None:
    """Give every bias and every LayerNorm weight seeded normal noise, in place.

    A fresh BERT has every bias at 0 and every LayerNorm at weight 1, bias 0, so code that drops a bias (the value
    projection's in Part 2's norms, say) would compute the same numbers as the tutorial: with this noise it does not.

    Args:
        model: a torch module (every parameter whose name ends in ``bias``, and every LayerNorm weight, is changed).
        seed: seeds the noise, independently of the global torch generator.
        std: the noise's standard deviation (LayerNorm weights get 1 + noise).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * std
            if name.endswith("bias"):
                parameter.copy_(noise)
            elif "LayerNorm" in name and name.endswith("weight"):
                parameter.copy_(1 + noise)


def build_tiny_model(directory: Path, layers: int = 3, seed: int = 0) -> Path:
    """A randomly initialised BertForQuestionAnswering (hidden 16) with a cased vocabulary, saved like a hub model.

    Every bias and LayerNorm parameter is non-trivial (``perturb_biases``), so that a dropped bias changes numbers.
    """
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(_VOCAB_WORDS)]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=False)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = BertForQuestionAnswering(config).eval()
    perturb_biases(model, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


IN_CI = os.environ.get("CI") == "true"
"""Under CI (.ci/run installs every tool the tests use) a missing tool fails its test instead of skipping it."""


def missing_tool(reason: str):
    """Skip the calling test for a missing tool, or fail it under CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)")
    pytest.skip(reason)


SHARED_RUNS: set[str] = set()
"""The names of the fixtures made with :func:`shared_run`."""


def shared_run(function):
    """A module-scoped fixture that makes something costly several tests read (a run directory, a cluster, a
    reference computation).

    ``make test`` runs the tests on every core (pytest-xdist, ``--dist loadgroup``): the tests of a module that read
    the same shared runs, directly or through another fixture, go to one worker, so that each run is made once.
    """
    SHARED_RUNS.add(function.__name__)
    return pytest.fixture(scope="module")(function)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Put the tests of a module that share a run (:func:`shared_run`) in one xdist group: tests joined by any run
    they both read, directly or through another fixture, share the group."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(key):
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    runs_of = {}
    for item in items:
        runs = [(item.nodeid.split("::")[0], name) for name in getattr(item, "fixturenames", ()) if name in SHARED_RUNS]
        runs_of[item] = runs
        for run in runs:
            parent[root(run)] = root(runs[0])
    members: dict[tuple[str, str], set[str]] = {}
    for run in list(parent):
        members.setdefault(root(run), set()).add(run[1])
    for item, runs in runs_of.items():
        if runs:
            module, _ = group = root(runs[0])
            item.add_marker(pytest.mark.xdist_group(f"{module}:{'+'.join(sorted(members[group]))}"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model")


@pytest.fixture(scope="session")
def tensors(tiny_model_dir) -> dict:
    """The tutorial example's input and reference tensors for the tiny model (read only)."""
    from bertscope.data.qa_inputs import encode_example
    from bertscope.models.loading import load_tokenizer

    return encode_example(load_tokenizer(tiny_model_dir), "tutorial", TUTORIAL_EXAMPLE, 64).tensors


@pytest.fixture()
def tutorial_example() -> dict:
    return dict(TUTORIAL_EXAMPLE)


def snakemake(workdir, *args, snakefile=REPO / "Snakefile", timeout=600):
    """The real Snakefile through the CLI, in a subprocess, on ``workdir``."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def write_config(workdir, **config):
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def job_counts(output: str) -> dict[str, int]:
    """Rule → job count from the first "Job stats" table of Snakemake's output; ``{}`` where it says "Nothing to be
    done", and a failed assertion where it says neither or its table does not add up to its total."""
    if "Job stats:" not in output:
        assert "Nothing to be done" in output, output[-3000:]
        return {}
    counts = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:  # the blank line, the header, the dashes
        rule, count = line.split()
        if rule == "total":
            assert int(count) == sum(counts.values()), output[-3000:]
            return counts
        counts[rule] = int(count)
    raise AssertionError(f"no total row in the job stats: {output[-3000:]}")


def dry_run_jobs(workdir, *args, targets=(), **kwargs) -> dict[str, int]:
    """Rule → job count of what a run would do now (of ``targets``, or every output)."""
    # targets first: --quiet and --config take every word after them
    completed = snakemake(workdir, *targets, "-n", "--quiet", "rules", *args, **kwargs)
    assert completed.returncode == 0, completed.stderr
    return job_counts(completed.stdout)


def read_table(workdir, table):
    """A table's dataset (every batch's part) as one frame, as a user reads it."""
    import pandas as pd

    return pd.read_parquet(workdir / "results" / "tables" / table)


def table_metadata(workdir, table) -> dict[bytes, bytes]:
    """The key/value metadata of a table (its first part's: every part carries the same)."""
    import pyarrow.parquet as pq

    first = sorted((workdir / "results" / "tables" / table).glob("*.parquet"))[0]
    return pq.read_schema(first).metadata


def with_scores(prediction: dict) -> dict:
    """A ``predictions`` row with the scored columns (issue 19) of an answerable example scored correct, for tests
    that build the tables by hand."""
    return {
        **prediction,
        "has_answer": True,
        "answer": prediction["predicted_answer"],
        "span_start": prediction["predicted_start"],
        "span_end": prediction["predicted_end"],
        "span_answer": prediction["predicted_answer"],
        "span_char_begin": None,
        "span_char_end": None,
        "null_score_diff": -1.0,
        "exact": 1,
        "f1": 1.0,
        "outcome": "correct",
        "window": 0,
        "window_count": 1,
        "context_char_begin": 0,
        "context_char_end": 0,
    }
