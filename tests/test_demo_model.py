"""The shipped demo model (models/demo): its manifest, the copy `model: demo` makes of it, and the training code.

`model: demo` never trains: it copies the files shipped in models/demo, each checked against SHA256SUMS. The
training code (bertscope.models.demo_model, behind `make demo-model`) is checked against the shipped model here: the
vocabulary it builds and the held-out exact match that training.json records.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, TUTORIAL_TOKENS, dry_run_jobs, snakemake, write_config
from safetensors.torch import load_file
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from bertscope import BertscopeError
from bertscope.models import demo_model
from bertscope.models.demo_files import DEMO_DIR, MANIFEST, TRAINING_STATS, planned_inputs, read_manifest
from bertscope.models.demo_model import TUTORIAL_ANSWER, TUTORIAL_CONTEXT, TUTORIAL_QUESTION, build_demo_model
from bertscope.models.source import prepare_model
from bertscope.pipeline.provenance import file_sha256

ANSWER_START, ANSWER_END = 13, 23
MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
SHIPPED_FILES = sorted([*MODEL_FILES, TRAINING_STATS])
NOT_SHIPPED = {MANIFEST, "README.md", ".gitattributes"}  # beside the files; never copied into results/model
FIX = r"Fix: restore the shipped files with `git checkout models/demo`, or rebuild them .* `make demo-model`"


def fail_if_called(*args, **kwargs):
    raise AssertionError("model: demo trained a model")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, dict]:
    """The demo model as the pipeline's model step prepares it (model: demo), with training made impossible."""
    output_dir = tmp_path_factory.mktemp("demo_model") / "model"
    output_dir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "bertscope.models.demo_model", None)  # importing the training code fails
        patch.setattr(torch.optim, "AdamW", fail_if_called)
        patch.setattr(demo_model, "build_demo_model", fail_if_called)
        record = prepare_model("demo", None, output_dir)
    assert json.loads((output_dir / "source.json").read_text()) == record
    return output_dir, record


@pytest.fixture(scope="module")
def tokenizer(prepared):
    return AutoTokenizer.from_pretrained(prepared[0])


@pytest.fixture(scope="module")
def model(prepared):
    return AutoModelForQuestionAnswering.from_pretrained(prepared[0]).eval()


@pytest.fixture(scope="module")
def training() -> dict:
    return json.loads((DEMO_DIR / TRAINING_STATS).read_text())


def tutorial_input_ids(tokenizer) -> list[int]:
    question_ids = tokenizer(TUTORIAL_QUESTION, add_special_tokens=False)["input_ids"]
    context_ids = tokenizer(TUTORIAL_CONTEXT, add_special_tokens=False)["input_ids"]
    return [tokenizer.cls_token_id, *question_ids, tokenizer.sep_token_id, *context_ids, tokenizer.sep_token_id]


def test_manifest_records_the_sha256_of_every_shipped_file():
    recorded = read_manifest()
    assert sorted(recorded) == SHIPPED_FILES
    assert sorted(path.name for path in DEMO_DIR.iterdir()) == sorted([*SHIPPED_FILES, *NOT_SHIPPED])
    for name, digest in recorded.items():
        assert file_sha256(DEMO_DIR / name) == digest, name


def test_shipped_model_is_small_and_kept_byte_exact_by_git():
    total = sum((DEMO_DIR / name).stat().st_size for name in SHIPPED_FILES)
    assert total < 3 * 2**20, f"{total} bytes"
    attributes = subprocess.run(
        ["git", "check-attr", "text", "--", *(f"models/demo/{name}" for name in SHIPPED_FILES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert attributes.count(": text: unset") == len(SHIPPED_FILES), attributes  # no line-ending conversion


def test_model_demo_copies_the_shipped_files_without_training(prepared):
    output_dir, record = prepared
    assert sorted(path.name for path in output_dir.iterdir()) == sorted([*MODEL_FILES, "source.json"])
    for name in MODEL_FILES:
        assert (output_dir / name).read_bytes() == (DEMO_DIR / name).read_bytes(), name
    recorded = read_manifest()
    assert record == {
        "model": "demo",
        "source": "demo",
        "demo_files": {"directory": "models/demo", "sha256": recorded},
        "training": json.loads((DEMO_DIR / TRAINING_STATS).read_text()),
        "num_hidden_layers": 12,
        "weights_sha256": {"model.safetensors": recorded["model.safetensors"]},
    }


def test_directory_holds_the_weights_and_the_vocabulary(prepared):
    output_dir, _ = prepared
    vocab = (output_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "em" in vocab
    assert "##power" in vocab
    assert "empower" not in vocab


def test_model_is_a_12_layer_bert_for_question_answering(model, tokenizer):
    assert model.config.model_type == "bert"
    assert model.config.num_hidden_layers == 12
    assert model.config.hidden_size == 64
    assert model.config.vocab_size == len(tokenizer)
    assert type(model).__name__ == "BertForQuestionAnswering"


def test_tokenizer_is_a_cased_fast_bert_tokenizer(tokenizer):
    assert tokenizer.is_fast
    assert tokenizer.tokenize("What") == ["What"]
    assert tokenizer.tokenize("what") != ["What"]
    special_ids = [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id]
    assert [*special_ids, tokenizer.mask_token_id] == [0, 1, 2, 3, 4]


def test_tutorial_text_tokenizes_like_bert_base_cased(tokenizer):
    assert tokenizer.convert_ids_to_tokens(tutorial_input_ids(tokenizer)) == TUTORIAL_TOKENS


def test_model_answers_the_tutorial_question(model, tokenizer, training):
    input_ids = tutorial_input_ids(tokenizer)
    first_sep = input_ids.index(tokenizer.sep_token_id)
    token_type_ids = [0] * (first_sep + 1) + [1] * (len(input_ids) - first_sep - 1)
    with torch.no_grad():
        outputs = model(
            input_ids=torch.tensor([input_ids]),
            token_type_ids=torch.tensor([token_type_ids]),
            attention_mask=torch.ones(1, len(input_ids), dtype=torch.long),
            position_ids=torch.arange(len(input_ids)).unsqueeze(0),
        )
    start, end = int(outputs.start_logits.argmax()), int(outputs.end_logits.argmax())
    assert (start, end) == (ANSWER_START, ANSWER_END)
    assert (training["tutorial_start"], training["tutorial_end"]) == (ANSWER_START, ANSWER_END)
    assert tokenizer.decode(input_ids[start : end + 1]) == TUTORIAL_ANSWER


def test_training_code_still_matches_the_shipped_model(prepared, training):
    """The generator's vocabulary is the shipped one, and the recorded held-out exact match is the model's."""
    train_examples, heldout_examples = demo_model._generate_splits(training["seed"])
    texts = [text for example in train_examples + heldout_examples for text in (example.question, example.context)]
    vocab = (prepared[0] / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert list(demo_model._build_vocab(texts)) == vocab

    tokenizer = AutoTokenizer.from_pretrained(prepared[0])
    model = AutoModelForQuestionAnswering.from_pretrained(prepared[0]).eval()
    data = demo_model._to_tensors(tokenizer, heldout_examples)
    starts, ends = demo_model._predict_spans(model, data)
    exact = ((starts == data["start_positions"]) & (ends == data["end_positions"])).float().mean()
    assert len(heldout_examples) == training["heldout_examples"] == 300
    assert float(exact) == training["heldout_exact_match"] >= 0.95
    assert (training["seed"], training["threads"], training["train_steps"]) == (0, 2, demo_model._TRAIN_STEPS)


def damaged_copy(tmp_path: Path, damage) -> Path:
    directory = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, directory)
    damage(directory)
    return directory


def flip_a_byte(directory: Path) -> None:
    weights = bytearray((directory / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (directory / "model.safetensors").write_bytes(weights)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (flip_a_byte, r"the shipped file .*/demo/model\.safetensors has sha256 \w+…, not the \w+… that .*SHA256SUMS"),
        (
            lambda directory: (directory / "tokenizer.json").write_text("{}"),
            r"the shipped file .*/demo/tokenizer\.json has sha256",
        ),
        (lambda directory: (directory / "config.json").unlink(), r"the shipped file .*/demo/config\.json is missing"),
        (lambda directory: (directory / MANIFEST).unlink(), r"the shipped demo model has no manifest .*SHA256SUMS"),
        (
            lambda directory: (directory / MANIFEST).write_text("not a digest  model.safetensors\n"),
            r"line 1 of .*SHA256SUMS is not 'SHA256  FILE'",
        ),
    ],
    ids=["flipped-byte", "rewritten", "missing-file", "missing-manifest", "bad-manifest"],
)
def test_a_damaged_shipped_model_is_refused_naming_the_file_and_the_fix(tmp_path, damage, message):
    demo_dir = damaged_copy(tmp_path, damage)
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BertscopeError, match=rf"^model: demo: {message}.*{FIX}"):
        prepare_model("demo", None, output, demo_dir)
    assert list(output.iterdir()) == [], "nothing is copied unless every file matches"


def test_the_model_step_refuses_a_damaged_shipped_file_without_a_traceback(tmp_path):
    """The step script by hand, as the model rule runs it, on a copy of models/demo with one byte changed."""
    demo_dir = damaged_copy(tmp_path, flip_a_byte)
    output = tmp_path / "model"
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "prepare_model.py"),
            "params.model=demo",
            "params.revision=main",
            f"input.demo_manifest={demo_dir / MANIFEST}",
            f"output.model={output}",
            f"log.log={tmp_path / 'model.log'}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert completed.returncode == 1
    assert f"the shipped file {demo_dir}/model.safetensors has sha256" in completed.stderr
    assert "git checkout models/demo" in completed.stderr and "make demo-model" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not output.exists()


def test_the_model_step_lists_the_shipped_files_as_inputs(tmp_path):
    inputs = planned_inputs("demo")
    assert Path(inputs["demo_manifest"]).resolve() == DEMO_DIR / MANIFEST
    assert sorted(Path(path).resolve() for path in inputs["demo_files"]) == [DEMO_DIR / name for name in SHIPPED_FILES]
    assert planned_inputs("deepset/bert-base-cased-squad2") == {"demo_manifest": [], "demo_files": []}


@pytest.mark.slow
def test_a_changed_shipped_file_reruns_the_model_step_and_a_damaged_one_fails_it(tmp_path):
    """The model rule alone on a copy of the project: it copies in seconds, and the shipped files are its inputs."""
    project = tmp_path / "project"
    for name in ("scripts", "workflow", "models"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(REPO / name, project / name)
    example = {"question": TUTORIAL_QUESTION, "context": TUTORIAL_CONTEXT, "answer": TUTORIAL_ANSWER}
    write_config(project, examples={"tutorial": example})
    run = ("--cores", "1", "results/model")
    completed = snakemake(project, *run, snakefile=project / "Snakefile")
    assert completed.returncode == 0, completed.stderr[-3000:]
    source = json.loads((project / "results" / "model" / "source.json").read_text())
    assert source["demo_files"]["sha256"] == read_manifest()
    assert dry_run_jobs(project, *run, snakefile=project / "Snakefile") == {}

    flip_a_byte(project / "models" / "demo")
    assert dry_run_jobs(project, *run, snakefile=project / "Snakefile") == {"model": 1}
    completed = snakemake(project, *run, snakefile=project / "Snakefile")
    assert completed.returncode != 0
    # The copy's own models/demo, named relative to its repository (the project copy).
    assert "the shipped file models/demo/model.safetensors has sha256" in completed.stderr


# Three 3-step builds (about 12 s, data generation dominating): bit-identical per machine; across processors the
# weights differ, which is why the demo model is shipped rather than trained by the pipeline.
@pytest.mark.slow
def test_rebuilds_are_bit_identical_for_the_same_seed_on_one_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_model, "_TRAIN_STEPS", 3)
    for name, seed in (("first", 0), ("second", 0), ("other_seed", 1)):
        build_demo_model(tmp_path / name, seed=seed, threads=2)
    weights = {name: (tmp_path / name / "model.safetensors").read_bytes() for name in ("first", "second", "other_seed")}
    assert weights["first"] == weights["second"]
    assert weights["first"] != weights["other_seed"]
    assert set(load_file(tmp_path / "first" / "model.safetensors")) == set(load_file(DEMO_DIR / "model.safetensors"))


@pytest.mark.slow  # a 3-step build: about 30 s on 2 loaded cores
def test_make_demo_model_rewrites_the_files_and_the_manifest(tmp_path, monkeypatch, capsys):
    """scripts/build_demo_model.py (3 training steps) into a directory holding an older build and a README."""
    import build_demo_model

    monkeypatch.setattr(demo_model, "_TRAIN_STEPS", 3)
    output = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, output)
    (output / "stale.bin").write_bytes(b"old")
    (output / MANIFEST).write_text((output / MANIFEST).read_text() + f"{'0' * 64}  stale.bin\n")
    assert build_demo_model.main(["--seed", "0", "--threads", "2", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert f"demo model written to {output} in " in printed and "held-out exact match 0." in printed
    recorded = read_manifest(output)
    assert sorted(recorded) == SHIPPED_FILES
    assert sorted(path.name for path in output.iterdir()) == sorted([*SHIPPED_FILES, *NOT_SHIPPED])
    assert all(file_sha256(output / name) == digest for name, digest in recorded.items())
    assert recorded["model.safetensors"] != read_manifest()["model.safetensors"], "3 steps train a different model"
    assert json.loads((output / TRAINING_STATS).read_text())["train_steps"] == 3
    assert (output / "model.safetensors").stat().st_mode & 0o044 == 0o044, "readable by all, as git would check out"
    target = tmp_path / "copy"
    target.mkdir()
    assert prepare_model("demo", None, target, output)["demo_files"]["sha256"] == recorded


def test_a_config_with_the_retired_demo_seed_is_refused_naming_make_demo_model():
    from bertscope.pipeline.config import config_problem

    problem = config_problem({"model": "demo", "demo_seed": 1}, REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert problem.startswith("config: unknown key(s) 'demo_seed'. 'demo_seed' is gone: the demo model is shipped")
    assert "`make demo-model DEMO_SEED=N`" in problem
