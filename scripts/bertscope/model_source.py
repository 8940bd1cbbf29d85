"""Where the model comes from: the Hugging Face Hub, a local directory, or the built-in demo.

Whatever the source, the pipeline's model directory ends up the same: config.json, model.safetensors, the
tokenizer files, and ``source.json`` saying where it came from.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from bertscope import BertscopeError
from bertscope.model import check_bert_qa, check_model_dir, quiet_transformers
from bertscope.plan import DEMO
from bertscope.provenance import weights_sha256

log = logging.getLogger("bertscope")

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HUB_FILES = [
    "config.json",
    "*.safetensors",
    "pytorch_model.bin",
    "vocab.txt",
    "tokenizer*.json",
    "special_tokens_map.json",
]


def source_kind(model: str) -> str:
    """``demo``, ``local`` (an existing directory) or ``hub`` (a repository id); anything else is an error."""
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
    """Snapshot a Hub repository into the Hugging Face cache; returns its path and resolved commit.

    Honours ``HF_HOME``/``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` (with it, only the cache is read).
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
        "or use one of the two offline alternatives: model: demo (the built-in demo model), or model: /path/to/dir "
        "(a local directory with a BERT QA model and its tokenizer)"
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


def prepare_model(model: str, revision: str | None, output_dir: Path, demo_seed: int, threads: int) -> dict:
    """Fill ``output_dir`` with the normalised model directory and return what ``source.json`` records."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    quiet_transformers()
    kind = source_kind(model)
    record: dict = {"model": model, "source": kind}
    if kind == "demo":
        from bertscope.demo_model import build_demo_model

        record["training"] = build_demo_model(output_dir, seed=demo_seed, threads=threads)
        record["demo_seed"] = demo_seed
        source_dir = output_dir
    else:
        if kind == "hub":
            source_dir, commit = download_from_hub(model, revision)
            record.update(revision=revision, resolved_commit=commit)
        else:
            source_dir = Path(model).expanduser().resolve()
        check_model_dir(source_dir)
        try:
            loaded = AutoModelForQuestionAnswering.from_pretrained(source_dir)
        except ValueError as error:
            raise BertscopeError(
                f"config field 'model': '{model}' has no question-answering head transformers can load ({error}). "
                "Fix: use a BertForQuestionAnswering checkpoint such as deepset/bert-base-cased-squad2, or model: demo"
            ) from error
        check_bert_qa(loaded, model)
        loaded.save_pretrained(output_dir)
        AutoTokenizer.from_pretrained(source_dir).save_pretrained(output_dir)
    loaded = AutoModelForQuestionAnswering.from_pretrained(output_dir)
    check_bert_qa(loaded, model)
    record["num_hidden_layers"] = loaded.config.num_hidden_layers
    record["weights_sha256"] = weights_sha256(output_dir)
    (output_dir / "source.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
