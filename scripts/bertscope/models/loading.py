"""Loading a QA model and its tokenizer from a prepared model directory, and setting torch up for a job."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from bertscope import BertscopeError
from bertscope.models.directory import check_model_dir
from bertscope.models.families import family_for_type

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


def check_qa_model(model, source: str) -> None:
    """Fail unless ``model`` is a question-answering model of a supported family with the modules the attributions
    hook (:mod:`bertscope.models.families`)."""
    family = family_for_type(model.config.model_type, source)
    if not hasattr(model, "qa_outputs") or getattr(getattr(model, family.base, None), "embeddings", None) is None:
        raise BertscopeError(
            f"config field 'model': '{source}' ({type(model).__name__}) is not a {family.name} question-answering "
            f"model: it has no .{family.base}.embeddings and .qa_outputs. "
            f"Fix: use a question-answering checkpoint such as {family.example}, or model: demo"
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
    check_qa_model(model, str(model_dir))
    model.to(device)
    model.eval()
    model.zero_grad()
    return model


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(check_model_dir(model_dir))
