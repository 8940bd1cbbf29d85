"""The execution profiles: profiles/local and profiles/slurm.

Always: both profiles parse, and profiles/slurm plans the pipeline with the resources each rule asks SLURM for
(one GPU for each attribution job, none for the CPU steps), which the executor plugin turns into `--gpus=1`.
With SLURM at hand (`sbatch` on PATH, or BERTSCOPE_TEST_SLURM=1): tests/slurm/start_slurm.sh starts a
single-node cluster on localhost (with fake GPUs), the pipeline runs on the tiny model through profiles/slurm,
one sbatch job per step, and the daemons the script started are stopped afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import IN_CI, REPO, TUTORIAL_EXAMPLE, missing_tool, shared_run

pytest.importorskip(
    "snakemake_executor_plugin_slurm",
    reason="profiles/slurm needs the executor plugin: pip install snakemake-executor-plugin-slurm==2.8.0",
)

SLURM_PROFILE = REPO / "profiles" / "slurm"
LOCAL_PROFILE = REPO / "profiles" / "local"
START_SLURM = REPO / "tests" / "slurm" / "start_slurm.sh"
STOP_SLURM = REPO / "tests" / "slurm" / "stop_slurm.sh"
GPU_RULES = ("inputs", "embedding_lig", "subembedding_lig", "layer_conductance", "attention")
"""The model-running rules planned before the model checkpoint has run (each asks for a GPU)."""
MODEL_RULES = (*GPU_RULES, "faithfulness", "sanity_cascade", "convergence_ladder")
"""Every rule whose jobs run the model on a GPU: those and the evidence steps, planned once the model is known."""
CPU_RULES = (
    "model",
    "tables",
    "example_figures",
    "table_datasets",
    "table_previews",
    "summary_figures",
    "attention_summary",
    "outcome_summary",
    "provenance",
)
ATTRIBUTION_TARGETS = (
    "results/attributions/tutorial/embeddings.safetensors",
    "results/attributions/tutorial/subembeddings.safetensors",
    "results/attributions/tutorial/conductance_layers_01-01.safetensors",
    "results/attributions/tutorial/attention_layers_all.safetensors",
)
TABLES = ("token_attributions", "token_distributions", "layer_summary", "predictions", "convergence_deltas")
# Environment variables profiles/slurm reads; cleared so that the caller's own settings don't leak in.
PROFILE_VARIABLES = (
    "BERTSCOPE_SLURM_PARTITION",
    "BERTSCOPE_SLURM_GPU_PARTITION",
    "BERTSCOPE_SLURM_ACCOUNT",
    "BERTSCOPE_SLURM_GPUS",
    "BERTSCOPE_SLURM_GPU_MODEL",
)


def snakemake(workdir, *args, env=None, timeout=600):
    base = {key: value for key, value in os.environ.items() if key not in PROFILE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


def write_config(workdir, model_dir, **overrides):
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "model": str(model_dir),
        "examples": {"tutorial": TUTORIAL_EXAMPLE},
        "n_steps": 10,
        "threads_per_job": 1,
        "figure_formats": ["png"],
        **overrides,
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def planned_resources(output: str) -> dict[str, dict[str, str]]:
    """Rule → the `resources:` of its (first) job in a dry run's output."""
    resources, rule = {}, None
    for line in output.splitlines():
        header = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line.strip())
        if header:
            rule = header.group(1)
        elif rule and line.strip().startswith("resources:"):
            fields = line.strip().removeprefix("resources:").split(", ")
            resources.setdefault(rule, dict(field.strip().split("=", 1) for field in fields))
            rule = None
    return resources


def dry_run_resources(workdir, *args, env=None):
    completed = snakemake(workdir, "--profile", str(SLURM_PROFILE), "-n", *args, env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return planned_resources(completed.stdout + completed.stderr), completed


class FakeResources(dict):
    """Just enough of a job's resources for the plugin's sbatch-argument helpers."""

    def __getattr__(self, name):
        return self[name]


def sbatch_gpu_arguments(resources: dict[str, str]) -> str:
    """What the plugin adds to `sbatch` for these (dry-run printed) resources."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    values = {key: int(value) if value.isdigit() else value for key, value in resources.items()}
    return set_gres_string(type("Job", (), {"resources": FakeResources(values)})()).strip()


def test_slurm_profile_parses_and_plans_the_pipeline(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir)
    resources, completed = dry_run_resources(workdir)
    output = completed.stdout + completed.stderr
    # Snakemake names the profile and the workflow profile (profiles/default) it reads.
    assert f"Using profiles {SLURM_PROFILE} and workflow specific profile" in output
    # Before the model checkpoint has run, the plan reaches the model, the inputs and everything after the tables.
    assert {"model", "inputs", "tables", "all"} <= set(resources)
    for rule, asked in resources.items():
        assert int(asked["runtime"]) > 0 and int(asked["mem_mb"]) > 0, rule
        # One CPU per thread (threads_per_job is 1 here).
        assert asked["cpus_per_task"] == "1", rule
    assert resources["model"]["mem_mb"] == "8000"
    for rule in set(CPU_RULES) & set(resources):
        assert resources[rule].get("gpu", "0") == "0", rule
        assert sbatch_gpu_arguments(resources[rule]) == "", rule
    assert resources["inputs"]["gpu"] == "1"


def test_attribution_jobs_ask_slurm_for_one_gpu_each(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir)
    resources, _ = dry_run_resources(workdir, *ATTRIBUTION_TARGETS)
    assert set(GPU_RULES) <= set(resources)
    for rule in GPU_RULES:
        assert resources[rule]["gpu"] == "1", rule
        assert "gpu_model" not in resources[rule] and "slurm_partition" not in resources[rule], rule
        assert sbatch_gpu_arguments(resources[rule]) == "--gpus=1", rule
    for rule in ("embedding_lig", "subembedding_lig", "layer_conductance"):
        assert resources[rule]["mem_mb"] == "16000", rule
    assert int(resources["layer_conductance"]["runtime"]) >= int(resources["embedding_lig"]["runtime"])


def test_the_shared_pass_job_asks_for_a_gpu_and_conductances_time(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir, procedure="corrected", layers_per_job="all")
    resources, _ = dry_run_resources(
        workdir, ATTRIBUTION_TARGETS[0], "results/attributions/tutorial/conductance_layers_all.safetensors"
    )
    assert "embedding_lig" not in resources and "layer_conductance" not in resources
    assert sbatch_gpu_arguments(resources["path_attribution"]) == "--gpus=1"
    assert resources["path_attribution"]["mem_mb"] == "16000"
    assert resources["path_attribution"]["runtime"] == "120"


def test_slurm_profile_reads_partition_account_and_gpu_settings_from_the_environment(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir)
    env = {
        "BERTSCOPE_SLURM_PARTITION": "cpu",
        "BERTSCOPE_SLURM_GPU_PARTITION": "gpu",
        "BERTSCOPE_SLURM_ACCOUNT": "proj01",
        "BERTSCOPE_SLURM_GPU_MODEL": "a100",
    }
    resources, _ = dry_run_resources(workdir, *ATTRIBUTION_TARGETS, env=env)
    assert resources["model"]["slurm_partition"] == "cpu"
    assert resources["model"]["slurm_account"] == "proj01"
    for rule in GPU_RULES:
        assert resources[rule]["slurm_partition"] == "gpu", rule
        assert resources[rule]["gpu_model"] == "a100", rule
        assert sbatch_gpu_arguments(resources[rule]) == "--gpus=a100:1", rule

    resources, _ = dry_run_resources(workdir, *ATTRIBUTION_TARGETS, env={"BERTSCOPE_SLURM_GPUS": "0"})
    for rule in GPU_RULES:
        assert resources[rule]["gpu"] == "0", rule
        assert sbatch_gpu_arguments(resources[rule]) == "", rule


# Snakemake 9 prints `Provided resources: gpu=Resource("gpu", 1)`; older ones `gpu=1`.
PROVIDED_GPUS = r'Provided resources:.*\bgpu=(?:Resource\("gpu", )?{count}\b'


@pytest.mark.slow
def test_local_profile_offers_one_gpu_unless_told_otherwise(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir)
    completed = snakemake(workdir, "--profile", str(LOCAL_PROFILE), "results/model")
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert f"Using profiles {LOCAL_PROFILE} and workflow specific profile" in output
    assert re.search(PROVIDED_GPUS.format(count=1), output), output[-3000:]
    assert (workdir / "results" / "model" / "config.json").is_file()

    completed = snakemake(workdir, "--profile", str(LOCAL_PROFILE), "--resources", "gpu=2", "-f", "results/model")
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert re.search(PROVIDED_GPUS.format(count=2), output), output[-3000:]


# --- A real run on a single-node SLURM cluster -------------------------------------------------------------


@shared_run
def slurm_cluster():
    """SLURM_CONF of a running cluster; stops, at the end, the daemons that the start script started."""
    forced = os.environ.get("BERTSCOPE_TEST_SLURM") == "1" or IN_CI
    if not forced and shutil.which("sbatch") is None:
        missing_tool("no SLURM here (no sbatch on PATH); BERTSCOPE_TEST_SLURM=1 installs and starts one (root, apt)")
    started_at = time.monotonic()
    completed = subprocess.run(
        ["bash", str(START_SLURM)],
        capture_output=True,
        text=True,
        timeout=600,
        # Two fake GPUs on the 2-CPU node: two attribution jobs at a time, one per "card".
        env={**os.environ, "BERTSCOPE_SLURM_FAKE_GPUS": os.environ.get("BERTSCOPE_SLURM_FAKE_GPUS", "2")},
    )
    started = re.findall(r"^started: (\w+)$", completed.stdout, flags=re.MULTILINE)
    try:
        if completed.returncode != 0:
            reason = (
                f"tests/slurm/start_slurm.sh could not start SLURM (exit {completed.returncode}):\n"
                + (completed.stderr[-3000:])
            )
            if IN_CI or (forced and completed.returncode != 2):
                pytest.fail(reason)
            pytest.skip(reason)
        slurm_conf = re.search(r"^SLURM_CONF=(.+)$", completed.stdout, flags=re.MULTILINE).group(1)
        print(f"SLURM up in {time.monotonic() - started_at:.1f} s (started: {', '.join(started) or 'nothing'})")
        yield slurm_conf
    finally:
        if started:
            subprocess.run(["bash", str(STOP_SLURM), *started], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_pipeline_runs_through_slurm(slurm_cluster, tmp_path, tiny_model_dir):
    # Every layer in one conductance job: each rule still submits, with two sbatch jobs (and status checks) fewer.
    workdir = write_config(tmp_path / "run", tiny_model_dir, layers_per_job="all")
    began = time.monotonic()
    completed = snakemake(
        workdir,
        "--profile",
        str(SLURM_PROFILE),
        # The test cluster keeps finished jobs in squeue (MinJobAge 300 s) and has no accounting for sacct;
        # first status check after 2 s instead of 40 s.
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "2",
        # The tables need every kind of job that asks SLURM for resources, the grouped postprocess job included.
        "results/tables/datasets.json",
        env={"SLURM_CONF": slurm_cluster},
        timeout=420,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    print(f"pipeline through SLURM: {time.monotonic() - began:.1f} s")
    assert "has been submitted with SLURM jobid" in output

    for table in TABLES:
        frame = pd.read_parquet(workdir / "results" / "tables" / table)
        assert len(frame) > 0, table
        assert set(frame["example"]) == {"tutorial"}, table

    # Each step was its own SLURM job, and exactly the GPU rules asked for a GPU (the comment names the rule).
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    queue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id, "-O", "Comment:|,tres-per-job:|,State:"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_CONF": slurm_cluster},
        check=True,
    ).stdout
    jobs = [line.split("|") for line in queue.splitlines() if line.strip()]
    by_rule = {}
    for comment, tres, state in jobs:
        # A single job's comment names its rule; a group job's names its group, then its rules.
        rule = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", comment.strip()).group(1)
        rule = "postprocess" if rule.startswith("postprocess") else rule
        by_rule.setdefault(rule, set()).add(tres.strip())
        assert state.strip() == "COMPLETED", (comment, state)
    assert set(GPU_RULES) | {"model", "postprocess", "table_datasets"} <= set(by_rule), sorted(by_rule)
    for rule, tres in by_rule.items():
        assert tres == ({"gres:gpu:1"} if rule in MODEL_RULES else {"N/A"}), (rule, tres)


@pytest.mark.slow
def test_slurm_profile_bundles_the_short_per_batch_jobs(tmp_path, tiny_model_dir):
    workdir = write_config(tmp_path / "run", tiny_model_dir, examples_per_job=1, figure_examples="all")
    examples = {f"q{index}": dict(TUTORIAL_EXAMPLE) for index in range(3)}  # copies: yaml writes no aliases
    (workdir / "config.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load((workdir / "config.yaml").read_text()), "examples": examples})
    )
    completed = snakemake(workdir, "--profile", str(SLURM_PROFILE), "-n", "results/model")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert snakemake(workdir, "--cores", "1", "results/model").returncode == 0
    _, completed = dry_run_resources(workdir)
    output = completed.stdout + completed.stderr
    # Three batches' tables and figures jobs: six jobs, all in one cluster job of the postprocess group.
    assert output.count("Group job postprocess") == 1, output[-3000:]
    for rule in ("tables", "example_figures"):
        assert len(re.findall(rf"^    rule {rule}:$", output, flags=re.MULTILINE)) == 3, rule
