"""Tensors between steps: one safetensors file per job, holding every example of its batch.

A tensor is stored as ``{example}/{name}``; the header's metadata carries a JSON record per example (what the
tensors are, the tokens, the prediction, ...) so that a step can read the records without reading any tensor, and
one example's tensors without reading the others'.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bertscope import BertscopeError
from bertscope.step import atomic_output

_RECORD_KEY = "bertscope"
_SEPARATOR = "/"


def save_batch(path: str | os.PathLike, examples: dict[str, tuple[dict, dict[str, Any]]]) -> None:
    """Write ``{example: (tensors, record)}`` to ``path`` atomically; tensors are torch tensors or numpy arrays."""
    import numpy as np
    from safetensors.numpy import save_file

    arrays, records = {}, {}
    for example, (tensors, record) in examples.items():
        records[example] = record
        for name, tensor in tensors.items():
            array = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else tensor
            arrays[f"{example}{_SEPARATOR}{name}"] = np.ascontiguousarray(array)
    with atomic_output(path) as staging:
        save_file(arrays, str(staging), metadata={_RECORD_KEY: json.dumps({"examples": records})})


class BatchFile:
    """A file written by :func:`save_batch`, open for reading: records at once, tensors one at a time.

    ``framework`` is ``numpy`` or ``pt`` (torch tensors, placed on ``device``).
    """

    def __init__(self, path: str | os.PathLike, framework: str = "numpy", device: str = "cpu"):
        from safetensors import safe_open

        self.path = str(path)
        try:
            self._handle = safe_open(self.path, framework=framework, device=device)
            self.records: dict[str, dict] = json.loads(self._handle.metadata()[_RECORD_KEY])["examples"]
        except Exception as error:  # safetensors' own errors, a missing record, bad JSON
            raise BertscopeError(
                f"{self.path} cannot be read ({type(error).__name__}: {error}). "
                "Fix: delete it and run the pipeline again, which rebuilds it"
            ) from None

    @property
    def examples(self) -> list[str]:
        return list(self.records)

    def tensor(self, example: str, name: str):
        try:
            return self._handle.get_tensor(f"{example}{_SEPARATOR}{name}")
        except Exception as error:  # safetensors raises its own error types for a missing or damaged tensor
            raise BertscopeError(
                f"{self.path}: no readable tensor '{name}' of example '{example}' ({error}). "
                "Fix: delete the file and run the pipeline again, which rebuilds it"
            ) from None

    def tensors(self, example: str) -> dict:
        prefix = f"{example}{_SEPARATOR}"
        names = [key[len(prefix) :] for key in self._handle.keys() if key.startswith(prefix)]  # noqa: SIM118
        return {name: self.tensor(example, name) for name in names}


def read_records(path: str | os.PathLike) -> dict[str, dict]:
    """Only the records of a file written by :func:`save_batch`, by example, without reading any tensor."""
    return BatchFile(path).records
