"""Loading a QA model and its tokenizer from a prepared model directory, and setting torch up for a job."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from bertscope import BertscopeError
from bertscope.models.directory import check_model_dir

log = logging.getLogger("bertscope")


def configure_torch(threads: int) -> None:
    """Use the job's threads (and no more), and deterministic kernels where torch has them.

    cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when CUDA starts, so it is set before any CUDA call.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(requested: str) -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BertscopeError(
            f"config field 'device' is '{requested}' but torch sees no CUDA device here. "
            "Fix: set device: auto (GPU when present, else CPU) or device: cpu"
        )
    return device


def check_bert_qa(model, source: str) -> None:
    """Fail unless ``model`` has the modules the attributions hook: ``.bert.embeddings`` and ``.bert.encoder``."""
    embeddings = getattr(getattr(model, "bert", None), "embeddings", None)
    needed = ("word_embeddings", "token_type_embeddings", "position_embeddings")
    if embeddings is None or not all(hasattr(embeddings, name) for name in needed):
        raise BertscopeError(
            f"config field 'model': '{source}' ({type(model).__name__}) is not a BERT question-answering model: "
            "it has no .bert.embeddings with word, token-type and position embeddings. "
            "Fix: use a BertForQuestionAnswering checkpoint such as deepset/bert-base-cased-squad2, or model: demo"
        )


def quiet_transformers() -> None:
    """No progress bars in the job logs."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def load_model(model_dir: str | Path, device: torch.device, attention_weights: bool = False):
    """The QA model from a prepared model directory, in eval mode on ``device``.

    ``attention_weights``: with transformers' eager attention, the only implementation that returns the attention
    probabilities (SDPA computes them inside a fused kernel).
    """
    from transformers import AutoModelForQuestionAnswering

    quiet_transformers()
    path = check_model_dir(model_dir)
    options = {"attn_implementation": "eager"} if attention_weights else {}
    model = AutoModelForQuestionAnswering.from_pretrained(path, **options)
    check_bert_qa(model, str(model_dir))
    model.to(device)
    model.eval()
    model.zero_grad()
    return model


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(check_model_dir(model_dir))
