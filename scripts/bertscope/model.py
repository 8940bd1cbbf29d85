"""Loading a BERT QA model and the forward functions the attributions differentiate."""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path

import torch

from bertscope import BertscopeError
from bertscope.plan import TOKENIZER_FILES, WEIGHT_FILES

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


def _max_start_end_logits(output) -> torch.Tensor:
    """(batch, 2): the largest start logit and the largest end logit, the tutorial's explained quantities."""
    return torch.stack((output.start_logits.max(dim=1).values, output.end_logits.max(dim=1).values), dim=1)


def run_on_input(model, tensors: dict, **options):
    """The model's output on an example's input tensors (ids, token types, positions, mask); ``options`` go to
    the model (``output_attentions=True``, ...)."""
    return model(
        tensors["input_ids"],
        token_type_ids=tensors["token_type_ids"],
        position_ids=tensors["position_ids"],
        attention_mask=tensors["attention_mask"],
        **options,
    )


def _forward_from_ids(model, input_ids, token_type_ids=None, position_ids=None, attention_mask=None):
    output = model(input_ids, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask)
    return _max_start_end_logits(output)


def _forward_from_embeddings(model, inputs_embeds, attention_mask=None):
    return _max_start_end_logits(model(inputs_embeds=inputs_embeds, attention_mask=attention_mask))


def _forward_from_word_embeddings(model, word_embeddings, token_type_ids, position_ids, attention_mask=None):
    output = model(
        inputs_embeds=word_embeddings,
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        attention_mask=attention_mask,
    )
    return _max_start_end_logits(output)


def _forward_from_embedding_output(model, embedding_output, attention_mask=None):
    hook = model.bert.embeddings.register_forward_hook(lambda module, inputs, output: embedding_output)
    try:
        placeholder_ids = torch.zeros(embedding_output.shape[:2], dtype=torch.long, device=embedding_output.device)
        return _max_start_end_logits(model(placeholder_ids, attention_mask=attention_mask))
    finally:
        hook.remove()


def forward_from_ids(model):
    """Forward function of (input_ids, token_type_ids, position_ids, attention_mask) → (batch, [start, end])."""
    return partial(_forward_from_ids, model)


def forward_from_embeddings(model):
    """Forward function of (inputs_embeds, attention_mask) → (batch, [start, end]).

    As in the tutorial, the embeddings are fed as ``inputs_embeds``, so BERT adds its position and token-type
    embeddings (token type 0) and layer norm once more on top of them.
    """
    return partial(_forward_from_embeddings, model)


def forward_from_embedding_output(model):
    """Forward function of (embedding_output, attention_mask) → (batch, [start, end]) that feeds the encoder directly.

    The embedding module's output is replaced by ``embedding_output`` (a forward hook, as captum's layer attributions
    do), so nothing is added to it a second time: the path of ``procedure: corrected``.
    """
    return partial(_forward_from_embedding_output, model)


def forward_from_word_embeddings(model):
    """Forward function of (word_embeddings, token_type_ids, position_ids, attention_mask) → (batch, [start, end]).

    Part 2 of the tutorial: the word embeddings are the interpretable input (``inputs_embeds``), and BERT adds the
    token-type and position embeddings of the ids it is given, and its layer norm, as for any input.
    """
    return partial(_forward_from_word_embeddings, model)
