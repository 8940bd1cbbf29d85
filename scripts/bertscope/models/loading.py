"""Loading a QA model and its tokenizer from a prepared model directory, and setting torch up for a job."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from bertscope import BertscopeError
from bertscope.models.directory import check_model_dir
from bertscope.models.families import family_for_type
from bertscope.pipeline.schema import default

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


FUSED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh"}
"""A checkpoint's activation → transformers' fused equivalent (``ACT2FN`` keys): ``NewGELUActivation`` writes the tanh
approximation of GELU as several element-wise kernels each way, ``GELUTanh`` is
``torch.nn.functional.gelu(approximate="tanh")``, the same formula in one."""


def activation_override(config, fused_activations: bool) -> dict:
    """The config override that loads a model with the fused equivalent of its activation.

    Args:
        config: the model's transformers config.
        fused_activations: the ``fused_activations`` setting.

    Returns:
        ``{field: "gelu_pytorch_tanh"}`` (the family's activation field, :class:`~bertscope.models.families.Family`)
        for a ``gelu_new`` model with ``fused_activations``; ``{}`` otherwise (the checkpoint's module kept).
    """
    field = family_for_type(config.model_type).activation
    fused = FUSED_ACTIVATIONS.get(getattr(config, field, None))
    return {field: fused} if fused_activations and fused else {}


def load_model(
    model_dir: str | Path, device: torch.device, attention_weights: bool = False, fused_activations: bool | None = None
):
    """The QA model from a prepared model directory, in eval mode on ``device``.

    Args:
        model_dir: the prepared model directory.
        device: where to put it.
        attention_weights: with transformers' eager attention, the only implementation that returns the attention
            probabilities (SDPA computes them inside a fused kernel).
        fused_activations: load a ``gelu_new`` model with its fused equivalent (:func:`activation_override`,
            transformers' own config override); ``None``: the setting's default in the schema.

    Returns:
        The ``…ForQuestionAnswering`` model, gradients zeroed.
    """
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    quiet_transformers()
    path = check_model_dir(model_dir)
    if fused_activations is None:
        fused_activations = default("fused_activations")
    config = AutoConfig.from_pretrained(path)
    override = activation_override(config, fused_activations)
    options = {"attn_implementation": "eager"} if attention_weights else {}
    model = AutoModelForQuestionAnswering.from_pretrained(path, **options, **override)  # override: config.json's
    for field, fused in override.items():
        log.info("activation %s loaded as transformers' fused %s (fused_activations)", getattr(config, field), fused)
    check_qa_model(model, str(model_dir))
    model.to(device)
    model.eval()
    model.zero_grad()
    return model


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(check_model_dir(model_dir))
