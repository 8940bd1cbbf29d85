"""Faults and bad input: each is refused with the field, the value and the fix, before any job where it can be,
and no damaged intermediate reaches a table."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time

import pandas as pd
import pytest
from conftest import (
    TUTORIAL_EXAMPLE,
    build_tiny_model,
    dry_run_jobs,
    job_counts,
    read_table,
    shared_run,
    snakemake,
    write_config,
)

from bertscope import BertscopeError, DamagedTablePartError
from bertscope.models.directory import local_model_files
from bertscope.models.source import prepare_model
from bertscope.pipeline.config import config_file_problem
from bertscope.pipeline.names import example_file_name
from bertscope.pipeline.plan import example_batches
from bertscope.pipeline.step import STAGING_SEPARATOR
from bertscope.tables.io import check_part, conform, read_part, write_table
from bertscope.tables.schemas import PART1_TABLES, SCHEMAS

BATCH = "tutorial"


@pytest.fixture(scope="module")
def two_layer_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("faults_model") / "model", layers=2, seed=2)


def refused_before_any_job(workdir, *args) -> str:
    """Plan ``workdir`` and return what Snakemake said, asserting that it refused and wrote nothing."""
    completed = snakemake(workdir, "-n", *args)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert not (workdir / "results").exists()
    return output


def configure(workdir, model, **settings):
    write_config(workdir, model=str(model), examples={"tutorial": TUTORIAL_EXAMPLE}, **settings)


@pytest.mark.parametrize(
    ("settings", "args", "expected"),
    [
        ({"n_steps": 50.0}, (), ["key 'n_steps'", "whole number (50)"]),
        ({}, ("--config", "n_steps=1000000000"), ["key 'n_steps'", "maximum"]),
        ({}, ("--config", "examples_per_job=2.0"), ["key 'examples_per_job'", "whole number (2)"]),
        ({"internal_batch_size": "big"}, (), ["key 'internal_batch_size'", "auto"]),
        ({"layers_per_job": "some"}, (), ["key 'layers_per_job'", "all"]),
        ({"figure_examples": "some"}, (), ["key 'figure_examples'", "inline, all, none"]),
        ({"device": "cuda:7"}, (), ["key 'device'", "'cuda:7'", "Fix: use device: auto"]),
        ({"device": "cpu\n"}, (), ["key 'device'"]),
    ],
)
def test_bad_settings_are_refused_before_any_job(tmp_path, two_layer_model, settings, args, expected):
    configure(tmp_path, two_layer_model, **settings)
    output = refused_before_any_job(tmp_path, *args)
    for words in expected:
        assert words in output, (words, output[-2000:])
    assert "Fix:" in output


@pytest.mark.parametrize(
    ("example_id", "expected"),
    [
        ("q" * 501, "too long"),
        ("q1\n", "holds '\\n' (character 3), a control character"),
    ],
)
def test_bad_example_ids_are_refused_before_any_job(tmp_path, two_layer_model, example_id, expected):
    write_config(tmp_path, model=str(two_layer_model), examples={example_id: TUTORIAL_EXAMPLE})
    output = refused_before_any_job(tmp_path)
    assert f"{example_id[:20]!r}"[:-1] in output and expected in output and "Fix:" in output


ISSUE_IDS = ["with space", "with/slash", "ünï℃ødé", "with_space", "question-" + "0123456789" * 24]


def test_ids_that_cannot_name_a_file_get_safe_names_unique_to_them():
    names = [example_file_name(example_id) for example_id in ISSUE_IDS]
    assert names[3] == "with_space", "an id that is a safe name is its own name"
    assert len(set(names)) == len(names), names
    assert names[0].startswith("with_space~") and names[1].startswith("with_slash~") and names[2].startswith("uni")
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}", name) and ".." not in name, name
    assert example_file_name("with space") == names[0], "the same id, the same name, in every run"


def write_issue_examples(workdir) -> None:
    """The issue's ids, each with its own question: example k's question ends in k extra tokens ('us')."""
    lines = [
        {"id": example_id, **TUTORIAL_EXAMPLE, "question": "What is important to us" + " us" * number + "?"}
        for number, example_id in enumerate(ISSUE_IDS)
    ]
    (workdir / "examples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.slow
def test_ids_are_kept_in_every_table_and_each_names_its_own_question(tmp_path, two_layer_model):
    write_issue_examples(tmp_path)
    write_config(
        tmp_path,
        model=str(two_layer_model),
        examples={},
        examples_file="examples.jsonl",
        n_steps=2,
        examples_per_job=3,  # three batches: two named by odd ids at both ends, the long id alone
        attention=False,
        faithfulness=False,  # the evidence steps read the same inputs as the attributions: not what is tested here
        sanity_check="none",
        figure_examples="all",
        layers_per_job="all",
        figure_formats=["png"],
        threads_per_job=1,
    )
    completed = snakemake(tmp_path, "--cores", "2")
    assert completed.returncode == 0, completed.stderr[-3000:]
    for table in ("token_attributions", "predictions", "layer_summary", "convergence_deltas"):
        assert sorted(set(read_table(tmp_path, table)["example"])) == sorted(ISSUE_IDS), table
    tokens = read_table(tmp_path, "token_attributions").query("source == 'embeddings' and target == 'start'")
    counts = tokens.groupby("example").size()
    base = counts[ISSUE_IDS[0]]
    assert [counts[example_id] - base for example_id in ISSUE_IDS] == list(range(len(ISSUE_IDS)))
    # the example figures: results/figures/{batch}/{example}/ (not the _summary and _faithfulness folders)
    folders = {path.name for path in (tmp_path / "results" / "figures").glob("[!_]*/*") if path.is_dir()}
    assert folders == {example_file_name(example_id) for example_id in ISSUE_IDS}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("answer", "\u200b", "no visible character"),
        ("question", " \t ", "no visible character"),
        ("answer", "to exclude", "'to exclude' does not occur in the context"),
    ],
)
def test_bad_examples_are_refused_before_any_job(tmp_path, two_layer_model, field, value, expected):
    write_config(tmp_path, model=str(two_layer_model), examples={"bad": {**TUTORIAL_EXAMPLE, field: value}})
    output = refused_before_any_job(tmp_path)
    assert f"example 'bad', field '{field}'" in output and expected in output and "Fix:" in output


def test_an_example_id_given_twice_in_yaml_is_refused_with_its_line(tmp_path, two_layer_model):
    tmp_path.joinpath("config.yaml").write_text(
        f"model: {two_layer_model}\n"
        "examples:\n"
        "  q1: {question: 'What is important to us?', context: 'It is important to us.', answer: 'It'}\n"
        "  q1: {question: 'Who?', context: 'It is us.', answer: 'us'}\n"
    )
    output = refused_before_any_job(tmp_path)
    assert "config.yaml, line 4" in output and "the key 'q1' is given twice (first on line 3)" in output


def test_malformed_yaml_is_refused_with_its_line(tmp_path, two_layer_model):
    tmp_path.joinpath("config.yaml").write_text(f"model: {two_layer_model}\nn_steps: [10\nexamples: {{}}\n")
    output = refused_before_any_job(tmp_path)
    assert "config.yaml, line 3" in output and "Fix: correct the file there" in output


# --- one finished run, shared through copies -----------------------------------------------------------------


AUTO_STEPS = {"n_steps": "auto", "n_steps_min": 2, "n_steps_max": 8, "n_steps_tolerance": 0.05}
"""The complete run's steps: ``n_steps: auto`` from 2 to 8 (at most 14 steps an attribution, the tiny model's)."""


@shared_run
def complete_run(tmp_path_factory, two_layer_model):
    """One finished default run (figures, summaries, Part 2) with ``n_steps: auto``, read by the auto-steps test
    and, through copies, by the damaged-intermediate, damaged- and deleted-table-part, killed-job and full-disk
    tests below."""
    workdir = tmp_path_factory.mktemp("complete")
    # png alone: every rerun below that redraws an example's figures draws a third fewer files
    configure(workdir, two_layer_model, threads_per_job=1, figure_formats=["png"], **AUTO_STEPS)
    completed = snakemake(workdir, "--cores", "2")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return workdir


def copy_of(run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(run, workdir, symlinks=True)
    return workdir


def tables_of(workdir) -> dict[str, pd.DataFrame]:
    return {table: read_table(workdir, table) for table in SCHEMAS}


def assert_same_tables(workdir, original: dict[str, pd.DataFrame]) -> None:
    for table, frame in original.items():
        pd.testing.assert_frame_equal(read_table(workdir, table), frame, check_exact=True, obj=table)


def files_below(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# --- damaged intermediates ------------------------------------------------------------------------------------


# The two kinds of intermediate, and the steps whose jobs read its tensors (the first to run reports the damage):
# the inputs, read by every model step, and an attribution file, read by the tables. Every file goes through the
# same checked reader (tensor_io; each damage on its own: test_step.py), so one attribution file stands for all.
INTERMEDIATES = [
    (
        f"results/inputs/{BATCH}.safetensors",
        "embedding_lig|subembedding_lig|layer_conductance|attention|faithfulness|sanity_cascade|convergence_ladder",
    ),
    (f"results/attributions/{BATCH}/conductance_layers_02-02.safetensors", "tables|faithfulness"),
]


def overwrite_tail(path, count=64):
    """Overwrite ``count`` bytes of the tensor data at the end of a safetensors file, keeping its size."""
    data = bytearray(path.read_bytes())
    data[-count:] = bytes(255 - byte for byte in data[-count:])
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {"overwrite_tail": overwrite_tail, "truncate": truncate}


@pytest.mark.parametrize(
    ("intermediate", "readers", "damage"),
    # each damage once, each by its kind of reader: the inputs' changed bytes by a model step, the attribution
    # file's lost half by the tables
    [(*INTERMEDIATES[0], "overwrite_tail"), (*INTERMEDIATES[1], "truncate")],
)
@pytest.mark.slow
def test_a_damaged_intermediate_never_reaches_a_table(complete_run, tmp_path, intermediate, readers, damage):
    original = tables_of(complete_run)
    workdir = copy_of(complete_run, tmp_path)
    damaged = workdir / intermediate
    DAMAGES[damage](damaged)
    parts = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "tables").rglob("*.parquet")}

    reader = readers.split("|")[0]
    completed = snakemake(workdir, "--cores", "1", "--forcerun", reader, "results/tables/datasets.json")
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert intermediate in output and "Fix: delete the file" in output, output[-3000:]
    assert re.search(rf"snakemake --forcerun ({readers})\b", output), output[-3000:]
    assert (
        ("checksum" in output) if damage == "overwrite_tail" else ("cannot be read" in output or "checksum" in output)
    )
    rewritten = [
        path
        for path in (workdir / "results" / "tables").rglob("*.parquet")
        if parts.get(path) != path.stat().st_mtime_ns
    ]
    assert not rewritten, "a table part was written from the damaged file"
    assert not [path for path in (workdir / "results" / "tables").rglob(".*")], "staging left behind"

    damaged.unlink()
    rerun = snakemake(workdir, "--cores", "2", "--forcerun", reader, "results/tables/datasets.json")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # every reader of the rebuilt file ran again (for the inputs, every model step: the evidence tables' determinism
    # across processes rests on this comparison, test_reproducibility.py)
    assert set(readers.split("|")) <= set(job_counts(rerun.stderr)), rerun.stderr[-3000:]
    assert_same_tables(workdir, original)


# --- hostile config files ---------------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_once_with_its_file_and_line(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "examples_per_job: 2\n"
        + "\n".join(f"x{level}: &x{level} [{', '.join([f'*x{level - 1}'] * 9)}]" for level in range(1, 10)).replace(
            "*x0", "q"
        )
        + "\n"
    )
    started = time.perf_counter()
    problem = config_file_problem(bomb)
    assert time.perf_counter() - started < 1
    assert problem.startswith(f"{bomb}, line 3,") and "alias *x1" in problem and "Fix:" in problem


def test_an_alias_bomb_in_an_extra_configfile_is_refused_before_any_job(tmp_path, two_layer_model):
    configure(tmp_path, two_layer_model)
    levels = [f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]" for level in range(1, 10)]
    (tmp_path / "extra.yaml").write_text("\n".join(levels).replace("*l0", "tutorial") + "\nfigure_examples: *l9\n")
    started = time.perf_counter()
    output = refused_before_any_job(tmp_path, "--configfile", str(tmp_path / "extra.yaml"))
    assert time.perf_counter() - started < 30
    assert "extra.yaml, line 2, column" in output and "alias *l1" in output


# --- hostile model directories -----------------------------------------------------------------------------------


def test_a_model_file_linking_out_of_the_directory_is_refused_naming_it(two_layer_model, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(two_layer_model, hostile)
    (hostile / "config.json").unlink()
    (hostile / "config.json").symlink_to("/etc/passwd")
    (hostile / "vocab_link.txt").symlink_to(hostile / "vocab.txt")  # a link inside the directory is fine
    with pytest.raises(BertscopeError, match=r"holds config.json, a link to /etc/passwd outside the directory"):
        local_model_files(str(hostile))
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BertscopeError, match=r"config.json, a link to /etc/passwd"):
        prepare_model(str(hostile), None, output)
    assert not list(output.iterdir())


class _RunsCode:
    """An object whose unpickling would call a function (here a harmless one): what a hostile pickle does."""

    def __reduce__(self):
        return (print, ("unpickling ran code",))


def test_a_pytorch_bin_that_would_run_code_is_refused(two_layer_model, tmp_path):
    import torch
    from safetensors.torch import load_file

    hostile = tmp_path / "hostile"
    shutil.copytree(two_layer_model, hostile)
    state = load_file(hostile / "model.safetensors")
    (hostile / "model.safetensors").unlink()
    torch.save({**state, "extra": _RunsCode()}, hostile / "pytorch_model.bin")
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BertscopeError, match=r"pytorch_model.bin .*cannot be loaded with weights-only unpickling"):
        prepare_model(str(hostile), None, output)
    assert not (output / "model.safetensors").exists()


# --- stable batches ----------------------------------------------------------------------------------------------

SQUAD_LIKE_IDS = [hashlib.sha1(str(number).encode()).hexdigest()[:24] for number in range(11873)]


def changed_batches(before: list[str], after: list[str], examples_per_job: int = 64) -> int:
    """How many batches of ``after`` are not batches of ``before`` (same name and members): the jobs that rerun."""
    old = example_batches(before, examples_per_job)
    return sum(old.get(name) != members for name, members in example_batches(after, examples_per_job).items())


def test_inserting_an_example_at_the_top_reruns_about_one_batch():
    assert changed_batches(SQUAD_LIKE_IDS, ["new-question", *SQUAD_LIKE_IDS]) <= 2
    inserted = [f"new-{number}" for number in range(5)] + SQUAD_LIKE_IDS
    assert changed_batches(SQUAD_LIKE_IDS, inserted) <= 2


def test_deleting_examples_in_the_middle_reruns_about_as_many_batches():
    middle = len(SQUAD_LIKE_IDS) // 2
    assert changed_batches(SQUAD_LIKE_IDS, SQUAD_LIKE_IDS[:middle] + SQUAD_LIKE_IDS[middle + 1 :]) <= 2
    spread = set(SQUAD_LIKE_IDS[1000::2000])  # 6 examples far apart
    assert changed_batches(SQUAD_LIKE_IDS, [example for example in SQUAD_LIKE_IDS if example not in spread]) <= 12


def test_editing_an_example_keeps_every_batch():
    # An edit changes an example's fields, not its id: the batches stay, only the edited one's jobs see new params.
    assert example_batches(SQUAD_LIKE_IDS, 64) == example_batches(list(SQUAD_LIKE_IDS), 64)
    assert changed_batches(SQUAD_LIKE_IDS, SQUAD_LIKE_IDS) == 0


def test_planning_the_batches_of_a_squad_sized_file_takes_milliseconds():
    started = time.perf_counter()
    batches = example_batches(SQUAD_LIKE_IDS, 64)
    assert time.perf_counter() - started < 0.5
    assert sum(map(len, batches.values())) == len(SQUAD_LIKE_IDS)


# --- table parts: checked at read, rebuilt when missing, and no finished figure lost -------------------------------


def small_part(tmp_path):
    frame = pd.DataFrame(
        {
            "example": ["q1"] * 400,
            "target": ["start", "end"] * 200,
            "source": ["layer"] * 400,
            "layer": [index // 2 + 1 for index in range(400)],
            "delta": [index / 8 for index in range(400)],
            "n_steps": [4] * 400,
            "relative_delta": [index / 800 for index in range(400)],
            "converged": pd.array([None, True, False, None] * 100, dtype="boolean"),
        }
    )
    path = tmp_path / "convergence_deltas" / "q1.parquet"
    write_table(frame, "convergence_deltas", path, {"bertscope.n_steps": "4"})
    return path, frame


def test_a_table_part_reads_back_with_its_checks(tmp_path):
    path, frame = small_part(tmp_path)
    pd.testing.assert_frame_equal(read_part(path), conform(frame, "convergence_deltas"), check_exact=True)
    assert check_part(path) == 400


@pytest.mark.parametrize("damage", ["truncated", "flipped", "missing"])
def test_a_damaged_or_missing_table_part_fails_with_its_path_and_the_command_that_rebuilds_it(tmp_path, damage):
    path, _ = small_part(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        path.write_bytes(bytes(data[:100]))
    elif damage == "flipped":
        # A byte of the first data page, the size kept: only the page checksum can tell.
        import pyarrow.parquet as pq

        column = pq.ParquetFile(path).metadata.row_group(0).column(1)
        offset = column.data_page_offset + column.total_compressed_size - 8
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        path.unlink()
    with pytest.raises(DamagedTablePartError) as error:
        read_part(path)
    message = str(error.value)
    assert f"table part {path} " in message
    assert f"Fix: rebuild it with `snakemake --cores 1 --force {path}`" in message


@pytest.mark.slow
def test_auto_steps_reach_the_tolerance_or_stop_at_the_cap_and_say_so_in_the_log_and_the_tables(complete_run):
    deltas, tries = read_table(complete_run, "convergence_deltas"), read_table(complete_run, "convergence_tries")
    assert set(deltas["source"]) == {"embeddings", "subembeddings", "layer"} and deltas["converged"].notna().all()
    assert set(deltas["n_steps"]) <= {2, 4, 8}
    tolerance = AUTO_STEPS["n_steps_tolerance"]
    assert set(deltas["example"]) == {BATCH}  # one example: its rows per attribution
    for (source, layer), rows in deltas.groupby(["source", "layer"], dropna=False):
        converged, steps = bool(rows["converged"].iloc[0]), int(rows["n_steps"].iloc[0])
        assert (rows["relative_delta"] <= tolerance).all() == converged, (source, layer)
        assert converged or steps == AUTO_STEPS["n_steps_max"], (source, layer)
        mine = tries[(tries["source"] == source) & (tries["layer"].fillna(0) == (0 if pd.isna(layer) else layer))]
        assert sorted(set(mine["n_steps"])) == [count for count in (2, 4, 8) if count <= steps], (source, layer)
        assert mine[mine["n_steps"] == steps]["relative_delta"].tolist() == rows["relative_delta"].tolist()
    logs = {
        source: (complete_run / "results" / "logs" / folder / path).read_text()
        for source, folder, path in (
            ("embeddings", "embedding_lig", f"{BATCH}.log"),
            ("subembeddings", "subembedding_lig", f"{BATCH}.log"),
            ("layer", "layer_conductance", f"{BATCH}/layers_02-02.log"),
        )
    }
    for source, text in logs.items():
        row = deltas[(deltas["source"] == source) & (deltas["layer"].fillna(2) == 2)].iloc[0]
        expected = "converged at n_steps" if row["converged"] else "not converged at the cap, n_steps 8"
        assert f"{expected}" in text and "tutorial" in text, (source, text[-2000:])
    heads = read_table(complete_run, "attention_heads")
    assert heads["converged"].notna().all() and set(heads["n_steps"]) <= {2, 4, 8}
    ladder = read_table(complete_run, "convergence_ladder")
    assert sorted(set(ladder["n_steps"])) == [2, 4, 8] and set(ladder["example"]) == {BATCH}
    assert (complete_run / "results" / "figures" / "_summary" / "convergence.png").stat().st_size > 0


@pytest.mark.slow
def test_a_damaged_table_part_costs_no_finished_figure_and_names_its_rebuild(complete_run, tmp_path):
    workdir = copy_of(complete_run, tmp_path)
    figures = files_below(workdir / "results" / "figures" / BATCH)
    assert any(name.endswith(".png") for name in figures)
    part = f"results/tables/token_attributions/{BATCH}.parquet"
    (workdir / part).write_bytes((workdir / part).read_bytes()[:100])

    # --keep-going: the figure job runs (and fails) even when table_datasets fails first.
    failed = snakemake(workdir, "--cores", "1", "--keep-going", "--forcerun", "table_datasets")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Error in rule example_figures" in output, output[-3000:]
    assert f"table part {part} cannot be read" in output and "Traceback" not in output, output[-3000:]
    assert f"Fix: rebuild it with `snakemake --cores 1 --force {part}`" in output
    assert files_below(workdir / "results" / "figures" / BATCH) == figures, "a finished figure was lost"

    assert snakemake(workdir, "--cores", "1", "--force", part).returncode == 0
    rerun = snakemake(workdir, "--cores", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_same_tables(workdir, tables_of(complete_run))


@pytest.mark.slow
def test_a_deleted_table_part_is_rebuilt_by_a_plain_rerun(complete_run, tmp_path):
    workdir = copy_of(complete_run, tmp_path)
    (workdir / "results" / "tables" / "predictions" / f"{BATCH}.parquet").unlink()
    rerun = snakemake(workdir, "--cores", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Nothing to be done" not in rerun.stdout + rerun.stderr
    assert_same_tables(workdir, tables_of(complete_run))


def killed_during(workdir, rule: str, log: str) -> None:
    """Run ``--forcerun rule`` and kill -9 Snakemake and its jobs once the job's log has its first line."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import REPO

    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    log_path = workdir / log
    log_path.unlink(missing_ok=True)
    with open(workdir / "killed.out", "w") as out:
        process = subprocess.Popen(
            [*command, "-d", str(workdir), "--cores", "1", "--forcerun", rule],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        # Waiting for the job's own first log line (the job is then at work), not for a fixed time.
        while not (log_path.exists() and log_path.read_text().strip()):
            assert process.poll() is None, (workdir / "killed.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule", "log"),
    # a model step killed mid-computation, from a cold start: test_reproducibility.py
    [
        ("tables", f"results/logs/tables/{BATCH}.log"),
        ("summary_figures", "results/logs/summary_figures.log"),
    ],
)
def test_a_run_killed_during_a_job_is_completed_by_unlock_and_a_plain_rerun(complete_run, tmp_path, rule, log):
    workdir = copy_of(complete_run, tmp_path)
    killed_during(workdir, rule, log)
    # A killed Snakemake leaves its lock (it cannot tell a dead run from a live one on the same directory): --unlock
    # removes it; then a plain run finishes the work, a job killed as it finished (marked incomplete) included: the
    # workflow profile profiles/default sets rerun-incomplete.
    locked = snakemake(workdir, "--cores", "2")
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    assert snakemake(workdir, "--unlock").returncode == 0
    rerun = snakemake(workdir, "--cores", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not [path for path in (workdir / "results").rglob(f".*{STAGING_SEPARATOR}*")], "staging left behind"
    assert_same_tables(workdir, tables_of(complete_run))
    assert dry_run_jobs(workdir) == {}, "the rerun left work undone"


@pytest.mark.slow
def test_a_full_disk_fails_clearly_and_marks_nothing_complete(complete_run, tmp_path):
    import subprocess

    workdir = copy_of(complete_run, tmp_path)
    tables = workdir / "results" / "tables"
    kept = tmp_path / "tables"
    shutil.move(tables, kept)
    tables.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(tables)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        shutil.copytree(kept, tables, dirs_exist_ok=True)
        for part in tables.glob(f"*/{BATCH}.parquet"):  # the batch's Part 1 parts, which the rerun must write
            if part.parent.name in PART1_TABLES:
                part.unlink()
        subprocess.run(["dd", "if=/dev/zero", f"of={tables / 'filler'}", "bs=4k"], capture_output=True)
        failed = snakemake(workdir, "--cores", "1")
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert "no space left on the device writing results/tables/" in output, output[-3000:]
        assert "Fix: free space" in output and "Traceback" not in output, output[-3000:]
        left = [part for part in tables.glob(f"*/{BATCH}.parquet") if part.parent.name in PART1_TABLES]
        assert not left, "a part of the failed job is left as if complete"
        assert not list(tables.rglob(f".*{STAGING_SEPARATOR}*")), "staging left behind"
        (tables / "filler").unlink()
        rerun = snakemake(workdir, "--cores", "2")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert_same_tables(workdir, tables_of(complete_run))
    finally:
        subprocess.run(["umount", str(tables)], capture_output=True)


def test_a_read_only_results_folder_is_refused_before_any_job(tmp_path, two_layer_model):
    import subprocess

    configure(tmp_path, two_layer_model)
    results = tmp_path / "results"
    results.mkdir()
    bound = subprocess.run(["mount", "--bind", str(results), str(results)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(results)], check=True, capture_output=True)
        completed = snakemake(tmp_path, "--cores", "1")
        output = completed.stdout + completed.stderr
        assert completed.returncode != 0
        assert f"{results} cannot be written (Read-only file system)" in output, output[-3000:]
        assert "Fix: make it writable" in output and "Traceback" not in output
        assert "Select jobs to execute" not in output, "refused before any job"
    finally:
        subprocess.run(["umount", str(results)], capture_output=True)
