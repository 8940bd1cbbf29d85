"""Where the model comes from: the Hugging Face Hub, a local directory, or the demo model shipped in models/demo.

Whatever the source, the pipeline's model directory ends up the same: config.json, model.safetensors, the
tokenizer files, and ``source.json`` saying where it came from (for the demo: the shipped files and their sha256).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from bertscope import BertscopeError
from bertscope.models.demo_files import DEMO_DIR, copy_demo
from bertscope.models.directory import DEMO, TOKENIZER_FILES, check_model_dir, num_encoder_layers, refuse_escaping_links
from bertscope.models.families import FAMILIES, SUPPORTED, family_for_type
from bertscope.models.loading import quiet_transformers
from bertscope.pipeline.provenance import weights_sha256

log = logging.getLogger("bertscope")

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HUB_FILES = [
    "config.json",
    "*.safetensors",
    "pytorch_model.bin",
    *TOKENIZER_FILES,
    "merges.txt",
    "tokenizer*.json",
    "special_tokens_map.json",
    "added_tokens.json",
]


def source_kind(model: str) -> str:
    """Where a ``model`` setting points.

    Args:
        model: the ``model`` setting.

    Returns:
        ``demo``, ``local`` (an existing directory) or ``hub`` (a repository id).

    Raises:
        BertscopeError: it is none of the three, with the fix.
    """
    if model == DEMO:
        return "demo"
    if Path(model).expanduser().is_dir():
        return "local"
    if HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        return "hub"
    raise BertscopeError(
        f"config field 'model': '{model}' is not 'demo', not an existing directory and not a Hugging Face Hub id. "
        "Fix: give a Hub id such as deepset/bert-base-cased-squad2, the path of a local model directory, or demo"
    )


def download_from_hub(repo_id: str, revision: str | None) -> tuple[Path, str]:
    """Snapshot a Hub repository into the Hugging Face cache.

    Honours ``HF_HOME``/``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` (with it, only the cache is read).

    Args:
        repo_id: the repository (``deepset/bert-base-cased-squad2``).
        revision: a branch, tag or commit, or None for the default branch.

    Returns:
        ``(path, commit)``: the snapshot's directory and its resolved commit.

    Raises:
        BertscopeError: the Hub cannot be reached or has no such repository or revision, naming the offline
            alternatives.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline_alternatives = (
        "Fix: run where the Hub is reachable (or pre-fill the Hugging Face cache and set HF_HUB_OFFLINE=1), "
        "or use one of the two offline alternatives: model: demo (the demo model shipped in models/demo), "
        "or model: /path/to/dir (a local directory with a QA model and its tokenizer)"
    )
    try:
        path = Path(snapshot_download(repo_id=repo_id, revision=revision, allow_patterns=HUB_FILES))
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise BertscopeError(
            f"config field 'model'/'model_revision': the Hub has no '{repo_id}' at revision '{revision}' ({error}). "
            "Fix: check the repository id and revision"
        ) from error
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        reason = "HF_HUB_OFFLINE is set and the model is not in the cache" if offline else "the Hub cannot be reached"
        raise BertscopeError(
            f"config field 'model': could not download '{repo_id}' (revision '{revision}'): {reason} "
            f"({type(error).__name__}: {error}). {offline_alternatives}"
        ) from error
    return path, path.name


def _qa_tensors(model_type: str) -> tuple[str, ...]:
    """The weights a QA checkpoint of the family must hold: its word embeddings and a trained QA head."""
    return (f"{FAMILIES[model_type].base}.embeddings.word_embeddings.weight", "qa_outputs.weight")


def _check_family(model_dir: Path, model: str) -> str:
    """The ``model_type`` of the model's config.json, refused unless it is a supported family's."""
    return family_for_type(json.loads((model_dir / "config.json").read_text()).get("model_type"), model).model_type


def _refuse_missing_qa_tensors(missing: list[str], model: str) -> None:
    if missing:
        raise BertscopeError(
            f"config field 'model': '{model}' is not a question-answering model: its weights have no "
            f"{', no '.join(missing)}. Fix: use a question-answering checkpoint of a supported family "
            f"({SUPPORTED}), or model: demo"
        )


def _copy_weights(source_dir: Path, output_dir: Path, model: str, model_type: str) -> None:
    """The weights as model.safetensors, refused unless they hold the family's embeddings and a trained QA head.

    safetensors weights are checked from their header and copied (a copy rather than a link, so that rewriting
    the source model in place cannot change these results' weights); pytorch_model.bin is converted, and refused
    if transformers had to initialise any of those tensors itself.
    """
    source, target = source_dir / "model.safetensors", output_dir / "model.safetensors"
    if source.is_file():
        from safetensors import safe_open

        with safe_open(str(source), framework="numpy") as handle:
            names = set(handle.keys())
        _refuse_missing_qa_tensors([name for name in _qa_tensors(model_type) if name not in names], model)
        shutil.copy(source_dir / "config.json", output_dir / "config.json")
        shutil.copy(source, target)
        return
    from safetensors.torch import save_file
    from transformers import AutoModelForQuestionAnswering

    # transformers would unpickle the file itself; unpickled here, with torch's weights-only unpickler (tensors and
    # plain containers, no code), the model is built from safetensors only.
    state = _weights_only(source_dir / "pytorch_model.bin", model)
    with tempfile.TemporaryDirectory(dir=output_dir) as staging:
        shutil.copy(source_dir / "config.json", Path(staging) / "config.json")
        save_file({name: tensor.contiguous().clone() for name, tensor in state.items()}, f"{staging}/model.safetensors")
        converted, loading = AutoModelForQuestionAnswering.from_pretrained(staging, output_loading_info=True)
    _refuse_missing_qa_tensors([name for name in _qa_tensors(model_type) if name in loading["missing_keys"]], model)
    converted.save_pretrained(output_dir)


def _weights_only(path: Path, model: str) -> dict:
    """The tensors of a ``pytorch_model.bin``, unpickled weights-only: a pickle that would run code is refused.

    Args:
        path: the ``pytorch_model.bin`` file.
        model: the config's ``model`` value, for the message.

    Returns:
        The state dict: tensor name -> tensor (on the CPU).
    """
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BertscopeError(
            f"config field 'model': {path} (of '{model}') cannot be loaded with weights-only unpickling "
            f"({first_line}); bertscope never unpickles code. Fix: save the weights as model.safetensors "
            "(model.save_pretrained(dir) writes it), or give a file that holds only tensors"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(tensor, torch.Tensor) for tensor in state.values()):
        raise BertscopeError(
            f"config field 'model': {path} (of '{model}') holds no state dict of tensors. "
            "Fix: save the weights as model.safetensors (model.save_pretrained(dir) writes it)"
        )
    return state


def prepare_model(model: str, revision: str | None, output_dir: Path, demo_dir: str | Path = DEMO_DIR) -> dict:
    """Fill ``output_dir`` with the normalised model directory and return what ``source.json`` records.

    ``model: demo`` copies the files shipped in ``demo_dir``, each checked against its recorded sha256; it never
    trains (``make demo-model`` rebuilds the shipped files).

    Args:
        model: the ``model`` setting (``demo``, a local directory or a Hub id).
        revision: ``model_revision`` (Hub models only).
        output_dir: the pipeline's model directory (``results/model``), existing.
        demo_dir: where the shipped demo model lives.

    Returns:
        The source record, also written to ``output_dir/source.json``: the model, its kind (``source``), the
        revision and resolved commit (Hub) or the shipped files and their build (demo), the encoder depth and the
        weights' sha256.
    """
    from transformers import AutoTokenizer

    quiet_transformers()
    kind = source_kind(model)
    record: dict = {"model": model, "source": kind}
    if kind == "demo":
        shipped = copy_demo(output_dir, demo_dir)
        record["demo_files"] = {"directory": shipped["directory"], "sha256": shipped["sha256"]}
        record["training"] = shipped["training"]
    else:
        if kind == "hub":
            source_dir, commit = download_from_hub(model, revision)
            record.update(revision=revision, resolved_commit=commit)
        else:
            refuse_escaping_links(model)
            source_dir = Path(model).expanduser().resolve()
        check_model_dir(source_dir)
        _copy_weights(source_dir, output_dir, model, _check_family(source_dir, model))
        AutoTokenizer.from_pretrained(source_dir).save_pretrained(output_dir)
    record["num_hidden_layers"] = num_encoder_layers(output_dir)
    record["weights_sha256"] = weights_sha256(output_dir)
    (output_dir / "source.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
