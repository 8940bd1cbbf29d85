"""Determinism of cold runs, provenance, and recovery from a run killed in the middle of a job."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pytest
from conftest import (
    REPO,
    TUTORIAL_EXAMPLE,
    build_tiny_model,
    dry_run_jobs,
    read_table,
    shared_run,
    snakemake,
    table_metadata,
    write_config,
)

from bertscope.tables.schemas import tables_of_run

# Cold runs of the pipeline: minutes; `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

TABLE_TARGETS = ["results/tables/datasets.json"]
N_STEPS = 400
"""Enough path points that a conductance job computes for about a second, long enough to be killed mid-way."""


@pytest.fixture(scope="module")
def two_layer_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("two_layers") / "model", layers=2, seed=1)


EVIDENCE_OFF = {"faithfulness": False, "sanity_check": "none", "figure_examples": "none"}
"""The cold runs leave out the evidence steps (faithfulness, the sanity cascade, the convergence ladder: more model
passes per example, at N_STEPS for the cascade): their tables' determinism across processes is test_faults.py's
damaged-inputs test (every model step rerun from rebuilt inputs, each table equal bit for bit)."""
TABLES = tables_of_run(attention=True)


def configure(workdir, model_dir, **extra):
    examples = {"tutorial": TUTORIAL_EXAMPLE}
    write_config(workdir, model=str(model_dir), examples=examples, threads_per_job=1, **EVIDENCE_OFF, **extra)


def read_tables(workdir) -> dict[str, pd.DataFrame]:
    assert list(json.loads((workdir / TABLE_TARGETS[0]).read_text())) == TABLES
    return {table: read_table(workdir, table) for table in TABLES}


@shared_run
def cold_run(tmp_path_factory, two_layer_model):
    workdir = tmp_path_factory.mktemp("cold")
    configure(workdir, two_layer_model, n_steps=N_STEPS)
    completed = snakemake(workdir, "--cores", "2", *TABLE_TARGETS, "results/provenance.json")
    assert completed.returncode == 0, completed.stderr[-4000:]
    return workdir


@shared_run
def second_cold_run(tmp_path_factory, two_layer_model):
    """A second cold run of the same config in its own directory, killed in the middle of its first conductance job
    and resumed: every job of it is computed afresh, by its own processes, so its tables must equal the first run's
    bit for bit (determinism), and the kill must cost nothing but the killed job (recovery)."""
    workdir = tmp_path_factory.mktemp("killed")
    configure(workdir, two_layer_model, n_steps=N_STEPS)
    killed = kill_in_first_conductance_job(workdir)
    attributions = workdir / "results" / "attributions"
    outputs = [attributions / log.parent.name / f"conductance_{log.stem}.safetensors" for log in killed]
    left = [path for path in [*outputs, workdir / TABLE_TARGETS[0]] if path.exists()]  # the killed job's, the tables'
    locked = snakemake(workdir, "--cores", "2", *TABLE_TARGETS)
    assert snakemake(workdir, "--unlock").returncode == 0
    # The killed job wrote nothing under its output's name (atomic writes), so a plain rerun just redoes it.
    resumed = snakemake(workdir, "--cores", "2", *TABLE_TARGETS, "results/provenance.json")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return workdir, killed, left, locked


def test_two_cold_runs_give_bit_identical_tables(cold_run, second_cold_run):
    first, second = read_tables(cold_run), read_tables(second_cold_run[0])
    for table in TABLES:
        pd.testing.assert_frame_equal(first[table], second[table], check_exact=True, obj=table)


def test_provenance_names_model_weights_packages_and_settings(cold_run, second_cold_run, two_layer_model):
    cold_runs = [cold_run, second_cold_run[0]]
    provenance = json.loads((cold_runs[0] / "results" / "provenance.json").read_text())
    weights = provenance["weights_sha256"]
    assert list(weights) == ["model.safetensors"] and len(weights["model.safetensors"]) == 64
    assert provenance["model"] == str(two_layer_model)
    # embeddings, subembeddings, two conductance layers, Part 2's attention (both layers in one job)
    assert provenance["attribution_devices"] == {"cpu": 5}
    assert {"torch", "transformers", "captum", "snakemake", "numpy"} <= set(provenance["packages"])
    assert provenance["config"]["n_steps"] == N_STEPS and len(provenance["config_digest"]) == 64
    second = json.loads((cold_runs[1] / "results" / "provenance.json").read_text())
    assert second["weights_sha256"] == weights and second["config_digest"] == provenance["config_digest"]
    metadata = table_metadata(cold_runs[0], "layer_summary")
    assert metadata[b"bertscope.model"] == str(two_layer_model).encode()
    assert json.loads(metadata[b"bertscope.weights_sha256"]) == weights
    assert metadata[b"bertscope.version.captum"] == provenance["packages"]["captum"].encode()


def kill_in_first_conductance_job(workdir) -> dict:
    """Start a run of ``workdir`` on one core and SIGKILL it, Snakemake and its job, once the first conductance job
    says it computes. Returns ``{log path: its text}`` of the conductance logs that said so, read right after."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "1",
        *TABLE_TARGETS,
    ]
    # Snakemake's stderr carries each job's header ("rule layer_conductance:") and, with one core, then that job's
    # own log lines: read line by line (blocking, no polling), it says when a conductance job starts computing
    # ("group 1 of N", logged once the model is loaded, just before the computation of N_STEPS path points).
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    rule = None
    for line in process.stderr:
        header = re.match(r"\s*(?:local)?rule (\w+):", line)
        rule = header.group(1) if header else rule
        if rule == "layer_conductance" and "group 1 of" in line:
            break
    else:
        pytest.fail("the run ended before a conductance job started computing")
    os.killpg(process.pid, signal.SIGKILL)
    process.stderr.close()
    process.wait()
    logs = (workdir / "results" / "logs" / "layer_conductance").rglob("*.log")
    return {log: log.read_text() for log in logs if "group 1 of" in log.read_text()}


def test_run_killed_mid_job_resumes_to_the_same_results(second_cold_run):
    workdir, killed, left, locked = second_cold_run
    assert killed, "the log of the job that said it computes"
    assert not any("done in" in text for text in killed.values()), "the job finished before it was killed"
    assert not left, f"a killed run left {left}"
    assert locked.returncode != 0 and "--unlock" in locked.stderr, "a run after the kill is told to unlock"
    for log in killed:
        # resumed: the rerun redid the killed job (its log is rewritten to its end), where the kill left no output
        assert "done in" in log.read_text(), f"the rerun did not redo {log}"
    staging = [path for path in (workdir / "results").rglob(".*") if path.name != ".snakemake_timestamp"]
    assert not staging, f"no staging file or directory may be left behind: {staging}"
    assert dry_run_jobs(workdir, targets=(*TABLE_TARGETS, "results/provenance.json")) == {}, "work left undone"
