"""A model directory as the pipeline plans with it: which files it has and how deep the encoder is, without torch."""

from __future__ import annotations

import json
from pathlib import Path

from bertscope import BertscopeError
from bertscope.models.families import config_layers

DEMO = "demo"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spm.model", "spiece.model")
"""A tokenizer's vocabulary in any of the supported families' forms (WordPiece, byte-level BPE, SentencePiece)."""


def local_model_files(model: str) -> list[str]:
    """The files of a local model directory whose change should rebuild the model step (none for demo/Hub)."""
    if model == DEMO or not Path(model).expanduser().is_dir():
        return []
    directory = Path(model).expanduser()
    names = ("config.json", *WEIGHT_FILES, *TOKENIZER_FILES, "tokenizer_config.json")
    return [str(directory / name) for name in names if (directory / name).is_file()]


def num_encoder_layers(model_dir: str) -> int:
    """The encoder depth from a model directory's config.json, without loading the model."""
    return config_layers(json.loads((Path(model_dir) / "config.json").read_text()))


def check_model_dir(model_dir: str | Path, field: str = "model") -> Path:
    """A directory holding a Hugging Face model: a config, weights and a tokenizer, or a clear error."""
    path = Path(model_dir)
    if not path.is_dir():
        raise BertscopeError(
            f"config field '{field}': '{model_dir}' is not a directory. Fix: point it at a model directory"
        )
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if missing:
        raise BertscopeError(
            f"config field '{field}': the model directory '{model_dir}' has no {', no '.join(missing)}. "
            "Fix: save both the model and its tokenizer there (model.save_pretrained(dir) and "
            "tokenizer.save_pretrained(dir)), or use model: demo"
        )
    return path
