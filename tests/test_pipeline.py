"""End to end: the real Snakefile on a tiny model in a temp dir, checked against the tutorial's procedure."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from compare_with_tutorial import compare
from conftest import (
    REPO,
    TUTORIAL_EXAMPLE,
    dry_run_jobs,
    job_counts,
    missing_tool,
    read_table,
    shared_run,
    snakemake,
    table_metadata,
    write_config,
)

from bertscope.figures.attention import FIGURES as ATTENTION_FIGURES
from bertscope.tables.schemas import FAITHFULNESS_TABLES, LADDER_TABLES, SANITY_TABLES, SCHEMAS

# The real pipeline end to end (and its report in Chromium): minutes; `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

N_STEPS = 20
TARGETS = ("start", "end")
REPEATED_WORD_EXAMPLE = {
    "question": "Who is important to us?",
    "context": "It is important to us to help them and us.",
    "answer": "us",
    "answer_start": 39,
    "token_to_explain": "help",
}


@shared_run
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


BATCH = "repeated..tutorial"
TABLES = "results/tables/datasets.json"
"""The target of every table (the manifest of their datasets): a rerun that checks tables builds no figure."""
EXAMPLE_FIGURES = [
    *(f"token_attributions_{target}.html" for target in TARGETS),
    *(f"top5_{target}.{ext}" for target in TARGETS for ext in ("html", "csv")),
    *(
        f"{stem}_{target}.{ext}"
        for stem in ("conductance_heatmap", "token_conductance_boxplot", "attribution_density", "attribution_entropy")
        for target in TARGETS
        for ext in ("png", "pdf")
    ),
    *(f"{stem}.{ext}" for stem in ATTENTION_FIGURES for ext in ("png", "pdf")),
]


# Rows of each table for the two examples (26 and 20 tokens) on the tiny model: 3 layers, 2 heads, hidden 16.
TOKENS, LAYERS, HEADS, HIDDEN = 26 + 20, 3, 2, 16
SQUARES = 26**2 + 20**2
TABLE_ROWS = {
    "predictions": 2,
    "token_attributions": (4 + LAYERS) * 2 * TOKENS,  # embeddings, three sub-embeddings, each layer; two targets
    "token_distributions": 2 * LAYERS * 2 * HIDDEN,
    "layer_summary": 2 * LAYERS * 2,
    "convergence_deltas": 2 * (2 + 2 + LAYERS * 2),
    "convergence_tries": 2 * (2 + 2 + LAYERS * 2),  # an integer n_steps: one try per attribution
    "attention_heads": 2 * LAYERS * HEADS,
    "value_norms": LAYERS * HEADS * TOKENS,
    "word_input_conductance": LAYERS * 2 * TOKENS,
    # four matrices over the heads per layer, four per head of the chosen layer
    "attention_matrices": (4 * LAYERS + 4 * HEADS) * SQUARES,
}


def test_every_table_and_figure_is_produced(run_dir):
    # Part 1's and Part 2's tables to the row; the evidence tables (faithfulness, sanity: their rows follow their own
    # settings) hold both examples (both are inline, so figure examples, so sanity-checked).
    assert set(TABLE_ROWS) | {*FAITHFULNESS_TABLES, *SANITY_TABLES, *LADDER_TABLES} == set(SCHEMAS)
    for table, schema in SCHEMAS.items():
        frame = read_table(run_dir, table)
        assert list(frame.columns) == list(schema), table
        if table in TABLE_ROWS:
            assert len(frame) == TABLE_ROWS[table], table
        assert set(frame["example"]) == {"tutorial", "repeated"}, table
        assert [path.name for path in (run_dir / "results" / "tables" / table).iterdir()] == [f"{BATCH}.parquet"]
    for example in ("tutorial", "repeated"):
        figures = run_dir / "results" / "figures" / BATCH / example
        assert sorted(path.name for path in figures.iterdir()) == sorted(EXAMPLE_FIGURES)
        assert all(path.stat().st_size > 0 for path in figures.iterdir())


def test_cross_example_summary_is_produced(run_dir):
    summary = run_dir / "results" / "figures" / "_summary"
    for stem in ("mean_layer_attribution", "entropy_by_layer", "convergence_deltas", "attention_conductance_by_head"):
        for ext in ("png", "pdf"):
            assert (summary / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
    page = (summary / "examples.html").read_text()
    assert "tutorial" in page and "repeated" in page


def test_one_conductance_file_per_layer_group_for_the_batch_of_examples(run_dir):
    from bertscope.pipeline.tensor_io import read_records

    attributions = run_dir / "results" / "attributions" / BATCH
    groups = sorted(path.name for path in attributions.glob("conductance_*.safetensors"))
    assert groups == [f"conductance_layers_0{layer}-0{layer}.safetensors" for layer in (1, 2, 3)]
    for layer, name in enumerate(groups, 1):
        records = read_records(attributions / name)
        assert list(records) == ["repeated", "tutorial"]
        assert all(record["layers"] == [layer] and record["device"] == "cpu" for record in records.values())
    layers = read_table(run_dir, "layer_summary").query("example == 'tutorial'")["layer"]
    assert sorted(set(layers)) == [1, 2, 3]


def test_summary_storage_keeps_no_full_tensor(run_dir):
    from bertscope.pipeline.tensor_io import BatchFile

    conductance = BatchFile(run_dir / "results" / "attributions" / BATCH / "conductance_layers_02-02.safetensors")
    assert sorted(conductance.tensors("tutorial")) == ["layer_02.delta", "layer_02.explained", "layer_02.token_sums"]
    assert conductance.tensor("tutorial", "layer_02.token_sums").shape == (2, 26)
    assert conductance.tensor("tutorial", "layer_02.explained").shape == (2, 16)


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


@shared_run
def report(run_dir, tmp_path_factory):
    """The HTML report of a copy of the main run (the report adds files: run_dir stays as its run left it)."""
    workdir = tmp_path_factory.mktemp("report")
    shutil.copytree(run_dir, workdir, symlinks=True, dirs_exist_ok=True)
    completed = snakemake(workdir, "--report", "results/report.html")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return workdir / "results" / "report.html"


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


def test_report_renders_in_headless_chromium(report, tmp_path):
    if not shutil.which("chromium"):
        missing_tool("the render check needs Debian's chromium")
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


def test_changing_n_steps_reruns_attribution_tables_and_figures_only(run_dir, tmp_path):
    workdir = tmp_path / "n_steps"
    shutil.copytree(run_dir, workdir, symlinks=True)
    model_files = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "model").iterdir()}
    inputs_files = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "inputs").rglob("*")}
    planned = dry_run_jobs(workdir, "--config", f"n_steps={N_STEPS + 2}")
    assert planned == {
        "all": 1,
        "embedding_lig": 1,
        "subembedding_lig": 1,
        "layer_conductance": 3,
        "attention": 1,
        "tables": 1,
        "faithfulness": 1,
        "faithfulness_figures": 1,
        "faithfulness_summary": 1,
        "sanity_cascade": 1,
        "sanity_summary": 1,
        "convergence_summary": 1,  # its footer names n_steps; the ladder does not read it
        "table_datasets": 1,
        "example_figures": 1,
        "summary_figures": 1,
        "attention_summary": 1,
        "outcome_summary": 1,
        "table_previews": 1,
        "provenance": 1,
    }
    # The plan above is the test's claim; running the part that reads the new numbers first (the batch's tables, not
    # the evidence steps nor the figures drawn from the tables) shows that the model and inputs are kept while the
    # attributions are redone.
    targets = (f"results/tables/predictions/{BATCH}.parquet",)
    config = ("--config", f"n_steps={N_STEPS + 2}")
    completed = snakemake(workdir, "--cores", "2", *targets, *config)  # targets first: --config takes every word
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert {path: path.stat().st_mtime_ns for path in model_files} == model_files
    assert {path: path.stat().st_mtime_ns for path in inputs_files} == inputs_files
    assert table_metadata(workdir, "predictions")[b"bertscope.n_steps"] == str(N_STEPS + 2).encode()
    assert dry_run_jobs(workdir, *config, targets=targets) == {}


def relative_files(directory) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


def test_examples_per_job_changes_the_jobs_not_the_numbers_nor_the_figures(run_dir, tmp_path):
    workdir = tmp_path / "one_per_job"
    shutil.copytree(run_dir, workdir, symlinks=True)
    config = ("--config", "examples_per_job=1")
    planned = dry_run_jobs(workdir, *config)
    assert "model" not in planned
    per_batch = ("inputs", "embedding_lig", "subembedding_lig", "tables", "example_figures")
    assert {rule: planned[rule] for rule in per_batch} == dict.fromkeys(per_batch, 2)
    assert planned["layer_conductance"] == 6
    # The plan above is for both examples; one is enough to run: the shorter, padded to the other's length in the
    # shared batch (its passes shared with the other's), attributed alone now. Every table's part of its batch and its
    # figures are built.
    example = "repeated"
    parts = {table: f"results/tables/{table}/{example}.parquet" for table in SCHEMAS}
    figures = f"results/figures/{example}"
    completed = snakemake(workdir, "--cores", "2", *parts.values(), figures, *config)
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert (workdir / "results" / "inputs" / f"{example}.safetensors").is_file()
    for table, part in parts.items():
        together = read_table(run_dir, table).query("example == @example").reset_index(drop=True)
        assert len(together), table
        # Alone, the example is attributed by itself; together, in one padded group (shared passes): equal to 1e-5
        # relative, as the batching promises (Part 1's tables come out bit-identical here, Part 2's to the last bits).
        alone = pd.read_parquet(workdir / part)
        pd.testing.assert_frame_equal(alone, together, rtol=1e-5, atol=1e-12, obj=table)
    alone = relative_files(workdir / "results" / "figures" / example / example)
    together = relative_files(run_dir / "results" / "figures" / BATCH / example)
    assert alone.keys() == together.keys()
    differing = sorted(name for name, content in together.items() if alone[name] != content)
    assert not differing, differing


def test_the_dataset_reads_back_as_its_parts_concatenated(run_dir):
    for table in SCHEMAS:
        parts = sorted((run_dir / "results" / "tables" / table).glob("*.parquet"))
        concatenated = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
        pd.testing.assert_frame_equal(read_table(run_dir, table), concatenated, check_exact=True, obj=table)
    manifest = (run_dir / "results" / "tables" / "datasets.json").read_text()
    assert '"rows": 2' in manifest  # predictions: one row per example


def test_full_storage_keeps_every_tensor_and_gives_identical_tables(run_dir, tmp_path):
    from bertscope.attribution.stored import token_sums
    from bertscope.pipeline.tensor_io import BatchFile

    summary_tables = {table: read_table(run_dir, table) for table in SCHEMAS}
    workdir = tmp_path / "full"
    shutil.copytree(run_dir, workdir, symlinks=True)
    config = ("--config", "attribution_storage=full")
    planned = dry_run_jobs(workdir, *config)
    assert {"inputs", "model"}.isdisjoint(planned) and planned["layer_conductance"] == 3
    completed = snakemake(workdir, "--cores", "2", TABLES, *config)
    assert completed.returncode == 0, completed.stderr[-5000:]
    for table, frame in summary_tables.items():
        pd.testing.assert_frame_equal(read_table(workdir, table), frame, check_exact=True, obj=table)
    conductance = BatchFile(workdir / "results" / "attributions" / BATCH / "conductance_layers_03-03.safetensors")
    full = conductance.tensor("repeated", "layer_03.attributions")
    tokens = read_table(workdir, "token_attributions").query("example == 'repeated' and source == 'word'")
    assert full.shape == (2, len(tokens) // 2, 16)
    assert (token_sums(full) == conductance.tensor("repeated", "layer_03.token_sums")).all()
    explained = int(read_table(workdir, "token_distributions").query("example == 'repeated'")["token_index"].iloc[0])
    assert (full[:, explained, :] == conductance.tensor("repeated", "layer_03.explained")).all()


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


@pytest.fixture()
def file_examples(tmp_path):
    """Three examples: one written in the config (inline), two from an examples file."""
    lines = [
        {"id": "file1", **{key: TUTORIAL_EXAMPLE[key] for key in ("question", "context", "answer")}},
        {"id": "file2", **REPEATED_WORD_EXAMPLE},
    ]
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("selection", "drawn"),
    [
        (None, ["tutorial"]),  # the default, inline: only the config's own examples
        ("all", ["tutorial", "file1", "file2"]),
        ("none", []),
        (2, ["tutorial", "file1"]),
        (["file2"], ["file2"]),
    ],
)
def test_figure_examples_chooses_whose_figures_are_drawn(tmp_path, tiny_model_dir, file_examples, selection, drawn):
    extra = {} if selection is None else {"figure_examples": selection}
    write_config(
        tmp_path,
        model=str(tiny_model_dir),
        examples={"tutorial": TUTORIAL_EXAMPLE},
        examples_file=str(file_examples),
        examples_per_job=1,
        **extra,
    )
    listed = snakemake(tmp_path, "-n")  # one plan: its jobs with their outputs, then the count of each rule's
    assert listed.returncode == 0, listed.stderr[-3000:]
    planned = job_counts(listed.stdout)
    assert planned.get("example_figures", 0) == len(drawn)
    assert planned["tables"] == 3 and planned["summary_figures"] == 1
    for example in ("tutorial", "file1", "file2"):
        assert (f"results/figures/{example}" in listed.stdout) == (example in drawn), example


def test_unknown_figure_example_is_refused_before_any_job(tmp_path, tiny_model_dir):
    write_config(tmp_path, model=str(tiny_model_dir), examples={"tutorial": TUTORIAL_EXAMPLE}, figure_examples=["q9"])
    completed = snakemake(tmp_path, "-n")
    assert completed.returncode != 0
    assert "config field 'figure_examples': no example has the id(s) 'q9'" in completed.stdout + completed.stderr
    assert not (tmp_path / "results").exists()


@shared_run
def catalog_project(tmp_path_factory) -> Path:
    """The repository's workflow, scripts and demo model copied elsewhere, run on the catalog's `.test/config.yaml`
    (`snakemake --directory .test`, as CI runs it). Read only: a test that changes it works on its own copy."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    project = tmp_path_factory.mktemp("catalog") / "project"
    for name in listed.splitlines():
        if name.startswith(("scripts/", "workflow/", "models/demo/", ".test/", "Snakefile", "environment.yml")):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, project / name)
    completed = snakemake(project / ".test", "--cores", "2", snakefile=project / "Snakefile")
    assert completed.returncode == 0, completed.stderr[-5000:]
    return project


def test_the_catalog_test_config_runs_the_demo_model(catalog_project):
    workdir = catalog_project / ".test"
    source = json.loads((workdir / "results" / "model" / "source.json").read_text())
    assert source["source"] == "demo"
    predictions = read_table(workdir, "predictions")
    assert predictions["example"].tolist() == ["tutorial"]
    assert table_metadata(workdir, "predictions")[b"bertscope.n_steps"] == b"4"
    assert sorted(read_table(workdir, "layer_summary")["layer"].unique()) == list(range(1, 13))
    attributions = sorted(path.name for path in (workdir / "results" / "attributions" / "tutorial").iterdir())
    assert "conductance_layers_all.safetensors" in attributions


def test_a_project_copied_elsewhere_whole_has_nothing_to_rerun(catalog_project, tmp_path):
    """A project (the repository, its config and results) copied to another place is complete there."""
    moved = tmp_path / "elsewhere" / "deeper" / "moved"
    shutil.copytree(catalog_project, moved, symlinks=True)
    assert dry_run_jobs(moved / ".test", snakefile=moved / "Snakefile") == {}


def test_changing_a_table_schema_reruns_no_attribution_job(catalog_project, tmp_path):
    """A table's schema or docstring can change without rerunning any model or attribution job (code digests)."""
    project = tmp_path / "project"
    shutil.copytree(catalog_project, project, symlinks=True)
    schemas = project / "scripts" / "bertscope" / "tables" / "schemas.py"
    schemas.write_text(schemas.read_text() + "\n# A comment: the schemas module's code digest changes.\n")
    planned = dry_run_jobs(project / ".test", snakefile=project / "Snakefile")
    assert {"tables", "table_datasets", "summary_figures"} <= set(planned), planned
    attribution = {"model", "inputs", "embedding_lig", "subembedding_lig", "layer_conductance", "path_attribution"}
    assert not (attribution | {"attention"}) & set(planned), planned
    # The control: the same edit in what an attribution file keeps does rerun the attribution jobs.
    stored = project / "scripts" / "bertscope" / "attribution" / "stored.py"
    stored.write_text(stored.read_text() + "\n# A comment: the stored module's code digest changes.\n")
    planned = dry_run_jobs(project / ".test", snakefile=project / "Snakefile")
    assert {"embedding_lig", "subembedding_lig", "layer_conductance", "attention"} <= set(planned), planned


@shared_run
def corrected_dir(run_dir, tmp_path_factory):
    """A copy of the main run rerun with ``procedure: corrected`` (one conductance job per layer)."""
    workdir = tmp_path_factory.mktemp("corrected")
    shutil.copytree(run_dir, workdir, symlinks=True, dirs_exist_ok=True)
    planned = dry_run_jobs(workdir, *CORRECTED)
    assert "model" not in planned and planned["inputs"] == 1 and planned["layer_conductance"] == 3
    completed = snakemake(workdir, "--cores", "2", TABLES, f"results/figures/{BATCH}", *CORRECTED)
    assert completed.returncode == 0, completed.stderr[-5000:]
    return workdir


CORRECTED = ("--config", "procedure=corrected")


def test_the_corrected_procedure_reruns_from_the_inputs_and_is_recorded(run_dir, corrected_dir):
    workdir = corrected_dir
    assert table_metadata(workdir, "layer_summary")[b"bertscope.procedure"] == b"corrected"
    assert table_metadata(run_dir, "layer_summary")[b"bertscope.procedure"] == b"tutorial"
    page = (workdir / "results" / "figures" / BATCH / "tutorial" / "top5_start.html").read_text()
    assert "procedure: corrected" in page
    corrected, tutorial = (read_table(directory, "token_attributions") for directory in (workdir, run_dir))
    token_type = (corrected["source"] == "token_type") & (corrected["example"] == "tutorial")
    assert not corrected.loc[token_type, "attribution"].equals(tutorial.loc[token_type, "attribution"])


def test_corrected_with_every_layer_in_one_job_shares_one_pass_and_gives_the_same_tables(corrected_dir, tmp_path):
    workdir = tmp_path / "one_pass"
    shutil.copytree(corrected_dir, workdir, symlinks=True)
    config = (*CORRECTED, "layers_per_job=all")
    planned = dry_run_jobs(workdir, *config)
    assert planned["path_attribution"] == 1
    assert not {"embedding_lig", "layer_conductance", "subembedding_lig", "inputs"} & set(planned)
    completed = snakemake(workdir, "--cores", "2", TABLES, *config)
    assert completed.returncode == 0, completed.stderr[-5000:]
    attributions = workdir / "results" / "attributions" / BATCH
    assert (attributions / "conductance_layers_all.safetensors").is_file()
    for table in SCHEMAS:
        one_pass, per_layer = read_table(workdir, table), read_table(corrected_dir, table)
        pd.testing.assert_frame_equal(one_pass, per_layer, check_exact=False, rtol=1e-4, atol=1e-6)


def test_every_layer_in_one_job_plans_one_conductance_job_per_batch_in_either_procedure(run_dir):
    tutorial = dry_run_jobs(run_dir, "--config", "layers_per_job=all")
    assert tutorial["layer_conductance"] == 1 and "path_attribution" not in tutorial
    corrected = dry_run_jobs(run_dir, "--config", "layers_per_job=all", "procedure=corrected")
    assert corrected["path_attribution"] == 1 and "layer_conductance" not in corrected


def test_part2_tables_equal_the_notebooks_procedure(run_dir, tiny_model_dir):
    from tutorial_part2_procedure import run_part2

    assert table_metadata(run_dir, "attention_matrices")[b"bertscope.n_steps"] == str(N_STEPS).encode()
    port = run_part2(tiny_model_dir, TUTORIAL_EXAMPLE["question"], TUTORIAL_EXAMPLE["context"], n_steps=N_STEPS)
    length, last = len(port["tokens"]), port["layer"] + 1
    matrices = read_table(run_dir, "attention_matrices").query("example == 'tutorial'")
    assert set(matrices.loc[matrices["head"].notna(), "layer"]) == {last}, "per-head rows for the last layer only"

    def stacked(quantity, by):
        rows = matrices[matrices["quantity"] == quantity].sort_values([by, "from_index", "to_index"])
        return rows["value"].to_numpy().reshape(-1, length, length)

    expected = {
        ("attention", "head"): port["attention"],
        ("conductance_start", "head"): port["attn_conductance_start"],
        ("conductance_end", "head"): port["attn_conductance_end"],
        ("alpha_value_norm", "head"): port["alpha_f_x_norm"],
        ("attention_head_norm", "layer"): port["attention_head_norm"],
        ("conductance_start_head_norm", "layer"): port["attn_conductance_head_norm_start"],
        ("conductance_end_head_norm", "layer"): port["attn_conductance_head_norm_end"],
        ("summed_alpha_value_norm", "layer"): port["summed_alpha_f_x_norm"],
    }
    for (quantity, by), values in expected.items():
        np.testing.assert_allclose(stacked(quantity, by), values, rtol=1e-5, atol=1e-6 * np.abs(values).max())
    norms = (
        read_table(run_dir, "value_norms").query("example == 'tutorial'").sort_values(["layer", "head", "token_index"])
    )
    np.testing.assert_allclose(
        norms["value_norm"].to_numpy().reshape(port["f_x_norm"].shape), port["f_x_norm"], rtol=1e-5
    )
    word_input = read_table(run_dir, "word_input_conductance").query("example == 'tutorial'")
    for target in TARGETS:
        rows = word_input[word_input["target"] == target].sort_values(["layer", "token_index"])
        values = rows["attribution"].to_numpy().reshape(-1, length)
        np.testing.assert_allclose(values, port[f"layer_attrs_{target}"], rtol=1e-5, atol=1e-7)
    heads = read_table(run_dir, "attention_heads").query("example == 'tutorial' and layer == @last")
    frobenius = np.linalg.norm(port["attn_conductance_start"], axis=(1, 2))
    np.testing.assert_allclose(heads.sort_values("head")["conductance_norm_start"], frobenius, rtol=1e-5)


def test_attention_can_be_switched_off_and_its_layer_moved_rerunning_only_part2(run_dir):
    refused = snakemake(run_dir, "-n", "--config", "attention=false")
    assert refused.returncode != 0 and "True or False after --config" in refused.stdout + refused.stderr
    off = dry_run_jobs(run_dir, "--config", "attention=False")
    assert not {"attention", "attention_summary"} & set(off)
    assert not {"embedding_lig", "layer_conductance"} & set(off)
    assert off["tables"] == 1, "one job writes a batch's Part 1 and Part 2 tables: it reruns, without Part 2's"
    moved = dry_run_jobs(run_dir, "--config", "attention_layer=1")
    assert moved["attention"] == 1, "every layer in one job by default"
    assert moved["tables"] == 1
    per_layer = dry_run_jobs(run_dir, "--config", "attention_layers_per_job=1")
    assert per_layer["attention"] == 3
    assert not {"inputs", "embedding_lig", "subembedding_lig", "layer_conductance"} & set(moved)
    completed = snakemake(run_dir, "-n", "--config", "attention_layer=4")
    assert completed.returncode != 0
    assert "attention_layer': 4, but the model has 3 encoder layers" in completed.stdout + completed.stderr


def test_faithfulness_tables_and_figures_and_what_changing_k_reruns(run_dir, tmp_path):
    from bertscope.figures.faithfulness import FIGURES as FAITHFULNESS_FIGURES

    aopc = read_table(run_dir, "faithfulness_aopc")
    random = aopc[aopc["source"] == "random"]
    assert sorted(random["seed"].unique()) == [0, 1, 2] and random["target"].isna().all()
    assert set(aopc["measure"]) == {"comprehensiveness", "sufficiency"}
    layers = aopc[aopc["source"] == "layer"]
    assert sorted(layers["layer"].unique()) == [1, 2, 3]
    assert table_metadata(run_dir, "faithfulness_curves")[b"bertscope.faithfulness_reference"] == b"pad"
    for example in ("tutorial", "repeated"):
        folder = run_dir / "results" / "figures" / "_faithfulness" / BATCH / example
        assert sorted(path.name for path in folder.iterdir()) == sorted(
            f"{stem}.{ext}" for stem in FAITHFULNESS_FIGURES for ext in ("png", "pdf")
        )
    summary = run_dir / "results" / "figures" / "_summary"
    for stem in (*FAITHFULNESS_FIGURES, "sanity_cascade"):
        assert (summary / f"{stem}.png").stat().st_size > 0
    cascade = read_table(run_dir, "sanity_cascade")
    assert cascade.groupby("example")["stage"].nunique().tolist() == [6, 6]  # original, head, 3 layers, embeddings

    extra = tmp_path / "k.yaml"
    extra.write_text("faithfulness_percent: [1, 50]\n")
    # The n_steps the run last used (another test may have changed it), so that only k differs.
    n_steps = table_metadata(run_dir, "predictions")[b"bertscope.n_steps"].decode()
    config = ("--configfile", str(run_dir / "config.yaml"), str(extra), "--config", f"n_steps={n_steps}")
    planned = dry_run_jobs(run_dir, *config)
    # No attribution, table or example figure reruns: the across-batch steps follow the datasets' manifest.
    assert set(planned) == {
        "all",
        "faithfulness",
        "faithfulness_figures",
        "faithfulness_summary",
        "table_datasets",
        "table_previews",
        "summary_figures",
        "outcome_summary",
        "provenance",
    }
