"""Tensors between steps: safetensors files whose header also carries a JSON record of what they hold."""

from __future__ import annotations

import json
import os
from typing import Any

from bertscope.step import atomic_output

_RECORD_KEY = "bertscope"


def save_tensors(path: str | os.PathLike, tensors: dict, record: dict[str, Any]) -> None:
    """Write torch tensors and a JSON-able record to ``path`` atomically."""
    from safetensors.torch import save_file

    contiguous = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    with atomic_output(path) as staging:
        save_file(contiguous, str(staging), metadata={_RECORD_KEY: json.dumps(record)})


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> tuple[dict, dict[str, Any]]:
    """Read the torch tensors and the record written by :func:`save_tensors`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device=device) as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (safe_open is not a dict)
        record = json.loads(handle.metadata()[_RECORD_KEY])
    return tensors, record


def load_arrays(path: str | os.PathLike) -> tuple[dict, dict[str, Any]]:
    """Like :func:`load_tensors` but as numpy arrays, for steps that should not import torch."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        arrays = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (safe_open is not a dict)
        record = json.loads(handle.metadata()[_RECORD_KEY])
    return arrays, record


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Only the record of a file written by :func:`save_tensors`, without reading its tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return json.loads(handle.metadata()[_RECORD_KEY])
