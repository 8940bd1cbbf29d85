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


def refuse_escaping_links(directory: str | Path, field: str = "model") -> None:
    """Refuse a local model directory holding a symlink that leads out of it (``config.json -> /etc/passwd``).

    The model step copies the files it reads, following links; a link out of the directory would copy, and hash
    into the provenance, a file that is not the model's. Links inside the directory are kept.

    Args:
        directory: the local model directory, as the config names it.
        field: the config field that named it, for the message.
    """
    root = Path(directory).expanduser().resolve()
    for item in sorted(Path(directory).expanduser().iterdir()):
        if item.is_symlink() and not item.resolve().is_relative_to(root):
            raise BertscopeError(
                f"config field '{field}': the model directory '{directory}' holds {item.name}, a link to "
                f"{item.resolve()} outside the directory. Fix: copy the real file into the directory in its place"
            )


def local_model_files(model: str) -> list[str]:
    """The files of a local model directory whose change should rebuild the model step.

    A link leading out of the directory is refused (:func:`refuse_escaping_links`).

    Args:
        model: the ``model`` setting.

    Returns:
        The paths of its config, weights and tokenizer files that exist; none for ``demo`` or a Hub id.
    """
    if model == DEMO or not Path(model).expanduser().is_dir():
        return []
    directory = Path(model).expanduser()
    refuse_escaping_links(directory)
    names = ("config.json", *WEIGHT_FILES, *TOKENIZER_FILES, "tokenizer_config.json")
    return [str(directory / name) for name in names if (directory / name).is_file()]


def num_encoder_layers(model_dir: str) -> int:
    """The encoder depth from a model directory's config.json, without loading the model.

    Args:
        model_dir: a Hugging Face model directory.

    Returns:
        ``num_hidden_layers``.
    """
    return config_layers(json.loads((Path(model_dir) / "config.json").read_text()))


def check_model_dir(model_dir: str | Path, field: str = "model") -> Path:
    """Check that a directory holds a Hugging Face model: a config, weights and a tokenizer.

    Args:
        model_dir: the directory.
        field: the config field named in the error.

    Returns:
        The directory as a :class:`~pathlib.Path`.

    Raises:
        BertscopeError: it is not a directory, or lacks one of the files, naming ``field`` and the fix.
    """
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
