"""Tensors between steps: one safetensors file per job, holding every example of its batch.

A tensor is stored as ``{example}/{name}``, ``{example}`` the example's file name
(:func:`~bertscope.pipeline.names.example_file_name`: an id may hold '/'); the header's metadata carries a JSON
record per example, by id (what the tensors are, the tokens, the prediction, ...), so that a step can read the
records without reading any tensor, and one example's tensors without reading the others'. The header also holds
the sha256 of every tensor's bytes, checked whenever the tensor is read: a damaged file fails with its path and the
fix, never reaches a table.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from bertscope import DamagedFileError
from bertscope.pipeline.names import example_file_name
from bertscope.pipeline.step import atomic_output

_RECORD_KEY = "bertscope"
_FIX = "Fix: delete the file, then rerun the step that read it with --forcerun (Snakemake then rebuilds the file)"
_SEPARATOR = "/"


def save_batch(path: str | os.PathLike, examples: dict[str, tuple[dict, dict[str, Any]]]) -> None:
    """Write every example's tensors and record to one safetensors file, atomically.

    Args:
        path: the file.
        examples: ``{example: (tensors, record)}``: ``{name: tensor}`` (torch tensors on any device, or numpy arrays,
            any shape) and a JSON-able record.
    """
    import numpy as np
    from safetensors.numpy import save_file

    arrays, records = {}, {}
    for example, (tensors, record) in examples.items():
        records[example] = record
        for name, tensor in tensors.items():
            array = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else tensor
            arrays[f"{example_file_name(example)}{_SEPARATOR}{name}"] = np.ascontiguousarray(array)
    checksums = {key: _sha256(array) for key, array in arrays.items()}
    header = {"examples": records, "sha256": checksums}
    with atomic_output(path) as staging:
        save_file(arrays, str(staging), metadata={_RECORD_KEY: json.dumps(header)})


def _sha256(array) -> str:
    """sha256 of a tensor's bytes (numpy array or torch tensor, on any device)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return hashlib.sha256(memoryview(array.reshape(-1)).cast("B") if array.size else b"").hexdigest()


def _check_size(path: str) -> None:
    """A truncated or extended file is refused at once: its size must be what its header describes."""
    try:
        with open(path, "rb") as handle:
            header_bytes = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_bytes)) if 0 < header_bytes < 100 * 2**20 else None
        data_bytes = max(
            (entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0
        )
        expected = 8 + header_bytes + data_bytes
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        raise DamagedFileError(f"{path} cannot be read: its header is missing or damaged. " + _FIX) from None
    size = os.path.getsize(path)
    if size != expected:
        raise DamagedFileError(f"{path} cannot be read: it is {size} bytes, its header describes {expected}. " + _FIX)


class BatchFile:
    """A file written by :func:`save_batch`, open for reading: records at once, tensors one at a time.

    ``framework`` is ``numpy`` or ``pt`` (torch tensors, placed on ``device``).
    """

    def __init__(self, path: str | os.PathLike, framework: str = "numpy", device: str = "cpu"):
        from safetensors import safe_open

        self.path = str(path)
        _check_size(self.path)
        try:
            self._handle = safe_open(self.path, framework=framework, device=device)
            header = json.loads(self._handle.metadata()[_RECORD_KEY])
            self.records: dict[str, dict] = header["examples"]
            self._checksums: dict[str, str] = header["sha256"]
        except Exception as error:  # safetensors' own errors, a missing record, bad JSON
            raise DamagedFileError(f"{self.path} cannot be read ({type(error).__name__}: {error}). " + _FIX) from None

    @property
    def examples(self) -> list[str]:
        """The file's examples, in the order they were written."""
        return list(self.records)

    def tensor(self, example: str, name: str):
        """One tensor of one example, checked against the checksum written with it.

        Args:
            example: the example's id.
            name: the tensor's name (``delta``, ``layer_03.token_sums``).

        Returns:
            The tensor, as it was saved (a numpy array, or a torch tensor on the file's device).

        Raises:
            DamagedFileError: the tensor is missing, unreadable, or does not match its checksum, with the fix.
        """
        key = f"{example_file_name(example)}{_SEPARATOR}{name}"
        try:
            tensor = self._handle.get_tensor(key)
        except Exception as error:  # safetensors raises its own error types for a missing or damaged tensor
            raise DamagedFileError(
                f"{self.path}: no readable tensor '{name}' of example '{example}' ({error}). " + _FIX
            ) from None
        if _sha256(tensor) != self._checksums.get(key):
            raise DamagedFileError(
                f"{self.path}: tensor '{name}' of example '{example}' does not match the checksum written with it "
                "(the file was damaged or changed after it was written). " + _FIX
            )
        return tensor

    def tensors(self, example: str) -> dict:
        """Every tensor of one example, each checked (:meth:`tensor`).

        Args:
            example: the example's id.

        Returns:
            ``{name: tensor}``.
        """
        prefix = f"{example_file_name(example)}{_SEPARATOR}"
        names = [key[len(prefix) :] for key in self._handle.keys() if key.startswith(prefix)]  # noqa: SIM118
        return {name: self.tensor(example, name) for name in names}


def read_records(path: str | os.PathLike) -> dict[str, dict]:
    """Only the records of a file written by :func:`save_batch`, by example, without reading any tensor.

    Args:
        path: the file.

    Returns:
        ``{example: record}``.

    Raises:
        DamagedFileError: the file cannot be read or its size is not what its header says.
    """
    return BatchFile(path).records
