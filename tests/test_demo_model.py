"""The generated demo QA model: a loadable 12-layer BERT that answers the Captum tutorial's question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TUTORIAL_TOKENS
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from bertscope import demo_model
from bertscope.demo_model import TUTORIAL_ANSWER, TUTORIAL_CONTEXT, TUTORIAL_QUESTION, build_demo_model
from bertscope.model_source import prepare_model

ANSWER_START, ANSWER_END = 13, 23


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """The demo model as the pipeline's model step prepares it (model: demo)."""
    output_dir = tmp_path_factory.mktemp("demo_model") / "model"
    output_dir.mkdir()
    record = prepare_model("demo", None, output_dir, demo_seed=0, threads=2)
    assert json.loads((output_dir / "source.json").read_text()) == record
    assert record["source"] == "demo" and record["num_hidden_layers"] == 12
    return output_dir, record["training"]


@pytest.fixture(scope="module")
def tokenizer(built):
    return AutoTokenizer.from_pretrained(built[0])


@pytest.fixture(scope="module")
def model(built):
    return AutoModelForQuestionAnswering.from_pretrained(built[0]).eval()


def tutorial_input_ids(tokenizer) -> list[int]:
    question_ids = tokenizer(TUTORIAL_QUESTION, add_special_tokens=False)["input_ids"]
    context_ids = tokenizer(TUTORIAL_CONTEXT, add_special_tokens=False)["input_ids"]
    return [tokenizer.cls_token_id, *question_ids, tokenizer.sep_token_id, *context_ids, tokenizer.sep_token_id]


def test_directory_holds_the_weights_and_the_vocabulary(built):
    output_dir, _ = built
    assert (output_dir / "config.json").is_file()
    assert (output_dir / "model.safetensors").is_file()
    vocab = (output_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "em" in vocab
    assert "##power" in vocab
    assert "empower" not in vocab


def test_model_is_a_12_layer_bert_for_question_answering(model, tokenizer):
    assert model.config.model_type == "bert"
    assert model.config.num_hidden_layers == 12
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


def test_model_answers_the_tutorial_question(model, tokenizer):
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
    assert tokenizer.decode(input_ids[start : end + 1]) == TUTORIAL_ANSWER


def test_stats_report_the_training_run(built):
    _, stats = built
    assert stats["train_steps"] > 0
    assert stats["heldout_examples"] > 0
    assert 0.0 <= stats["heldout_exact_match"] <= 1.0
    assert (stats["tutorial_start"], stats["tutorial_end"]) == (ANSWER_START, ANSWER_END)


def test_builds_are_bit_identical_for_the_same_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_model, "_TRAIN_STEPS", 3)
    for name, seed in (("first", 0), ("second", 0), ("other_seed", 1)):
        build_demo_model(tmp_path / name, seed=seed, threads=2)
    weights = {name: (tmp_path / name / "model.safetensors").read_bytes() for name in ("first", "second", "other_seed")}
    assert weights["first"] == weights["second"]
    assert weights["first"] != weights["other_seed"]
