"""The model step: local directories, the Hub's failure modes, and models it must refuse."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from bertscope import BertscopeError
from bertscope.models.source import prepare_model, source_kind


def test_local_directory_is_normalised_to_safetensors(tiny_model_dir, tmp_path):
    output = tmp_path / "model"
    output.mkdir()
    record = prepare_model(str(tiny_model_dir), None, output)
    weights = record.pop("weights_sha256")
    assert record == {"model": str(tiny_model_dir), "source": "local", "num_hidden_layers": 3}
    assert list(weights) == ["model.safetensors"] and len(weights["model.safetensors"]) == 64
    assert json.loads((output / "source.json").read_text())["num_hidden_layers"] == 3
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        assert (output / name).is_file(), name


@pytest.mark.parametrize(
    ("remove", "missing"),
    [("model.safetensors", "model.safetensors or pytorch_model.bin"), ("vocab.txt", "tokenizer.json or vocab.txt")],
)
def test_model_directory_without_weights_or_tokenizer_is_refused(tiny_model_dir, tmp_path, remove, missing):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / remove).unlink()
    if remove == "vocab.txt":
        (broken / "tokenizer.json").unlink()
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BertscopeError, match=rf"has no {re.escape(missing)}.*Fix:"):
        prepare_model(str(broken), None, output)


def copy_tokenizer(model_dir, directory):
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(model_dir / name, directory / name)


def test_a_model_of_an_unsupported_family_is_refused(tiny_model_dir, tmp_path):
    from transformers import MPNetConfig, MPNetForQuestionAnswering

    other = tmp_path / "mpnet"
    config = MPNetConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    MPNetForQuestionAnswering(config).save_pretrained(other)
    copy_tokenizer(tiny_model_dir, other)
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(
        BertscopeError,
        match=r"is a 'mpnet' model, which bertscope does not support.*RoBERTa \(model_type 'roberta'\).*DeBERTa",
    ):
        prepare_model(str(other), None, output)
    assert not (output / "model.safetensors").exists(), "refused before copying the weights"


def save_weights(model, directory, weights_file):
    """``model`` saved as transformers does, with its weights as ``weights_file`` (safetensors or a torch pickle)."""
    import torch

    model.save_pretrained(directory)
    if weights_file == "pytorch_model.bin":
        (directory / "model.safetensors").unlink()
        torch.save(model.state_dict(), directory / weights_file)


@pytest.mark.parametrize("weights_file", ["model.safetensors", "pytorch_model.bin"])
def test_bert_without_a_question_answering_head_is_refused(tiny_model_dir, tmp_path, weights_file):
    from transformers import AutoConfig, BertForMaskedLM

    masked_lm = tmp_path / "masked_lm"
    save_weights(BertForMaskedLM(AutoConfig.from_pretrained(tiny_model_dir)), masked_lm, weights_file)
    copy_tokenizer(tiny_model_dir, masked_lm)
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BertscopeError, match=r"not a question-answering model: its weights have no qa_outputs"):
        prepare_model(str(masked_lm), None, output)
    assert not (output / "model.safetensors").exists()


def test_pytorch_bin_weights_are_converted_to_safetensors(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForQuestionAnswering

    source = tmp_path / "bin_model"
    original = AutoModelForQuestionAnswering.from_pretrained(tiny_model_dir)
    save_weights(original, source, "pytorch_model.bin")
    copy_tokenizer(tiny_model_dir, source)
    output = tmp_path / "out"
    output.mkdir()
    prepare_model(str(source), None, output)
    converted = load_file(output / "model.safetensors")
    for name, tensor in original.state_dict().items():
        assert torch.equal(converted[name], tensor), name


@pytest.mark.parametrize("model", ["not a model!", "./missing/dir", "/no/such/dir"])
def test_model_that_is_neither_demo_directory_nor_hub_id_is_refused(model):
    with pytest.raises(BertscopeError, match=r"config field 'model'.*Fix:"):
        source_kind(model)


def test_unreachable_hub_fails_fast_naming_the_offline_alternatives(tmp_path):
    """Run the step by hand, as a user would, with the Hub offline and an empty cache."""
    output = tmp_path / "model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "prepare_model.py"),
            "params.model=deepset/bert-base-cased-squad2",
            "params.revision=main",
            f"output.model={output}",
            f"log.log={tmp_path / 'model.log'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "could not download 'deepset/bert-base-cased-squad2'" in completed.stderr
    assert "model: demo" in completed.stderr and "model: /path/to/dir" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not output.exists()
    assert list(tmp_path.glob(".model.*")) == [], "no staging directory may be left behind"
