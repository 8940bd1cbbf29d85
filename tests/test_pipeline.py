"""End to end: the real Snakefile on a tiny model in a temp dir, checked against the tutorial's procedure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from compare_with_tutorial import compare
from conftest import REPO, TUTORIAL_EXAMPLE

from bertscope.tables import SCHEMAS

N_STEPS = 20
TARGETS = ("start", "end")
REPEATED_WORD_EXAMPLE = {
    "question": "Who is important to us?",
    "context": "It is important to us to help them and us.",
    "answer": "us",
    "answer_start": 39,
    "token_to_explain": "help",
}


def snakemake(workdir, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def write_config(workdir, **config):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def dry_run_jobs(workdir, *args) -> dict[str, int]:
    """Rule → job count of what a run would do now."""
    completed = snakemake(workdir, "-n", "--quiet", "rules", *args)
    assert completed.returncode == 0, completed.stderr
    counts = {}
    for line in completed.stdout.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit() and fields[0] not in ("total", "job"):
            counts[fields[0]] = int(fields[1])
    return counts


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    workdir = tmp_path_factory.mktemp("pipeline")
    write_config(
        workdir,
        model=str(tiny_model_dir),
        examples={"tutorial": TUTORIAL_EXAMPLE, "repeated": REPEATED_WORD_EXAMPLE},
        n_steps=N_STEPS,
        threads_per_job=1,
        figure_formats=["png", "pdf"],
    )
    completed = snakemake(workdir, "--cores", "2")
    assert completed.returncode == 0, completed.stderr[-5000:]
    return workdir


def read_table(run_dir, table):
    return pd.read_parquet(run_dir / "results" / "tables" / f"{table}.parquet")


def test_every_table_and_figure_is_produced(run_dir):
    for table, schema in SCHEMAS.items():
        frame = read_table(run_dir, table)
        assert list(frame.columns) == list(schema), table
        assert set(frame["example"]) == {"tutorial", "repeated"}, table
    for example in ("tutorial", "repeated"):
        figures = run_dir / "results" / "figures" / example
        for target in TARGETS:
            assert (figures / f"token_attributions_{target}.html").stat().st_size > 0
            for ext in ("html", "csv"):
                assert (figures / f"top5_{target}.{ext}").stat().st_size > 0
            for stem in (
                "conductance_heatmap",
                "token_conductance_boxplot",
                "attribution_density",
                "attribution_entropy",
            ):
                for ext in ("png", "pdf"):
                    assert (figures / f"{stem}_{target}.{ext}").stat().st_size > 0, f"{stem}_{target}.{ext}"


def test_cross_example_summary_is_produced(run_dir):
    summary = run_dir / "results" / "figures" / "_summary"
    for stem in ("mean_layer_attribution", "entropy_by_layer", "convergence_deltas"):
        for ext in ("png", "pdf"):
            assert (summary / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
    page = (summary / "examples.html").read_text()
    assert "tutorial" in page and "repeated" in page


def test_one_conductance_job_per_encoder_layer_for_the_batch_of_examples(run_dir):
    conductance = run_dir / "results" / "attributions" / "repeated..tutorial" / "conductance"
    assert sorted(path.name for path in conductance.iterdir()) == ["layers_01-01", "layers_02-02", "layers_03-03"]
    for group in conductance.iterdir():
        assert sorted(path.name for path in group.glob("[!.]*")) == ["repeated", "tutorial"]
    layers = read_table(run_dir, "layer_summary").query("example == 'tutorial'")["layer"]
    assert sorted(set(layers)) == [1, 2, 3]


def test_repeated_word_example_is_located_in_the_context(run_dir):
    predictions = read_table(run_dir, "predictions").set_index("example")
    assert predictions.loc["repeated", ["true_start", "true_end"]].tolist() == [17, 17]
    distributions = read_table(run_dir, "token_distributions").query("example == 'repeated'")
    assert set(distributions["token"]) == {"help"}


def test_tables_equal_the_tutorial_procedure(run_dir, tiny_model_dir):
    differences = compare(
        run_dir / "results" / "tables",
        tiny_model_dir,
        "tutorial",
        TUTORIAL_EXAMPLE["question"],
        TUTORIAL_EXAMPLE["context"],
        TUTORIAL_EXAMPLE["answer"],
        TUTORIAL_EXAMPLE["token_to_explain"],
        N_STEPS,
        relative_floor=0.0,  # strictly elementwise: every value to 1e-4 of itself (or 1e-6 absolute)
        delta_atol=1e-6,
    )
    assert len(differences) == 24
    too_far = {name: difference for name, difference in differences.items() if difference > 1e-4}
    assert not too_far, too_far


@pytest.fixture(scope="module")
def report(run_dir):
    completed = snakemake(run_dir, "--report", "results/report.html")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return run_dir / "results" / "report.html"


def test_report_embeds_every_figure_and_table_preview(report):
    text = report.read_text()
    expected = [f"{table}.html" for table in SCHEMAS]
    expected += [f"{stem}.png" for stem in ("mean_layer_attribution", "entropy_by_layer", "convergence_deltas")]
    for target in TARGETS:
        expected += [f"token_attributions_{target}.html", f"top5_{target}.html"]
        for stem in ("conductance_heatmap", "token_conductance_boxplot", "attribution_density", "attribution_entropy"):
            expected.append(f"{stem}_{target}.png")
    missing = [name for name in expected if f"{name};base64," not in text]
    assert not missing, f"not embedded in the report: {missing}"


@pytest.mark.skipif(not shutil.which("chromium"), reason="the render check needs Debian's chromium")
def test_report_renders_in_headless_chromium(report, tmp_path):
    completed = subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", report.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    rendered = re.sub(r"<script.*?</script>", "", completed.stdout, flags=re.S)
    for menu_entry in ("Workflow", "Statistics", "tutorial", "repeated", "Tables", "Summary"):
        assert re.search(rf">\s*{menu_entry}\s*<", rendered), f"the rendered report has no '{menu_entry}' entry"


def test_second_run_does_nothing(run_dir):
    assert dry_run_jobs(run_dir) == {}


def test_lint_is_clean(run_dir):
    completed = snakemake(run_dir, "--lint")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Lints for" not in completed.stdout + completed.stderr


def test_changing_n_steps_reruns_attribution_tables_and_figures_only(run_dir):
    model_files = {path: path.stat().st_mtime_ns for path in (run_dir / "results" / "model").iterdir()}
    inputs_files = {path: path.stat().st_mtime_ns for path in (run_dir / "results" / "inputs").rglob("*")}
    planned = dry_run_jobs(run_dir, "--config", f"n_steps={N_STEPS + 2}")
    assert set(planned) == {
        "all",
        "embedding_lig",
        "subembedding_lig",
        "layer_conductance",
        "tables",
        "token_attribution_html",
        "top5_tables",
        "conductance_heatmaps",
        "token_boxplots",
        "attribution_densities",
        "summary_figures",
        "table_previews",
        "provenance",
    }
    assert planned["layer_conductance"] == 3
    completed = snakemake(run_dir, "--cores", "2", "--config", f"n_steps={N_STEPS + 2}")
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert {path: path.stat().st_mtime_ns for path in model_files} == model_files
    assert {path: path.stat().st_mtime_ns for path in inputs_files} == inputs_files
    import pyarrow.parquet as pq

    metadata = pq.read_schema(run_dir / "results" / "tables" / "predictions.parquet").metadata
    assert metadata[b"bertscope.n_steps"] == str(N_STEPS + 2).encode()
    assert dry_run_jobs(run_dir, "--config", f"n_steps={N_STEPS + 2}") == {}


def test_examples_per_job_changes_the_jobs_not_the_numbers(run_dir, tmp_path):
    import pyarrow.parquet as pq

    batched = {table: read_table(run_dir, table) for table in SCHEMAS}
    # Other tests may have rerun run_dir with other settings: keep the n_steps its tables were made with.
    n_steps = pq.read_schema(run_dir / "results" / "tables" / "predictions.parquet").metadata[b"bertscope.n_steps"]
    workdir = tmp_path / "one_per_job"
    shutil.copytree(run_dir, workdir, symlinks=True)
    config = ("--config", "examples_per_job=1", f"n_steps={n_steps.decode()}")
    planned = dry_run_jobs(workdir, *config)
    assert "model" not in planned
    assert {rule: planned[rule] for rule in ("inputs", "embedding_lig", "subembedding_lig")} == dict.fromkeys(
        ("inputs", "embedding_lig", "subembedding_lig"), 2
    )
    assert planned["layer_conductance"] == 6
    completed = snakemake(workdir, "--cores", "2", *config)
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert (workdir / "results" / "inputs" / "tutorial" / "tutorial.safetensors").is_file()
    for table, frame in batched.items():
        pd.testing.assert_frame_equal(read_table(workdir, table), frame, check_exact=True, obj=table)


def test_bad_example_fails_at_its_step_with_a_clear_message_and_no_output(tmp_path, tiny_model_dir):
    bad = {**TUTORIAL_EXAMPLE, "answer": "to exclude"}
    write_config(tmp_path, model=str(tiny_model_dir), examples={"bad": bad}, threads_per_job=1)
    completed = snakemake(tmp_path, "--cores", "1")
    assert completed.returncode != 0
    assert "example 'bad', field 'answer': 'to exclude' does not occur in the context" in completed.stderr
    assert (tmp_path / "results" / "model" / "config.json").is_file()
    assert list((tmp_path / "results" / "inputs").glob("*")) == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_steps": 0}, "n_steps"),
        ({"device": "tpu"}, "device"),
        ({"colour": "red"}, "colour"),
        ({"layers_per_job": "some"}, "layers_per_job"),
    ],
)
def test_invalid_config_is_refused_before_any_job(tmp_path, tiny_model_dir, override, message):
    write_config(tmp_path, model=str(tiny_model_dir), examples={"tutorial": TUTORIAL_EXAMPLE}, **override)
    completed = snakemake(tmp_path, "-n")
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert message in output
    assert "workflow/schemas/config.schema.yaml" in output
    assert not (tmp_path / "results").exists()


def test_missing_example_field_is_named_with_the_fix(tmp_path, tiny_model_dir):
    write_config(tmp_path, model=str(tiny_model_dir), examples={"q": {"context": "It is.", "answer": "It"}})
    completed = snakemake(tmp_path, "-n")
    assert completed.returncode != 0
    assert (
        "config key 'examples'['q']: 'question' is a required property. Fix: add it"
        in completed.stdout + completed.stderr
    )


def test_a_config_without_model_uses_the_demo_model(tmp_path):
    write_config(tmp_path, examples={"tutorial": TUTORIAL_EXAMPLE})
    assert dry_run_jobs(tmp_path)["model"] == 1
