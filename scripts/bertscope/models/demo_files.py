"""The demo model shipped with the repository, in models/demo: its files, their recorded sha256, and the check.

``model: demo`` copies the shipped weights, config and tokenizer into the pipeline's model directory, each checked
against the sha256 that ``models/demo/SHA256SUMS`` records (in ``sha256sum`` format, so that
``cd models/demo && sha256sum -c SHA256SUMS`` checks them by hand too). Nothing is trained during a run: the
training code (bertscope.models.demo_model) runs only when ``make demo-model`` rebuilds the shipped files and rewrites
the manifest (scripts/build_demo_model.py). This module stays free of torch: the Snakefile plans with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from bertscope import BertscopeError
from bertscope.models.directory import DEMO
from bertscope.pipeline.provenance import file_sha256

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = REPO / "models" / "demo"
MANIFEST = "SHA256SUMS"
TRAINING_STATS = "training.json"
"""The demo build's statistics (seed, held-out exact match, ...): shipped and checked, recorded in source.json."""
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", TRAINING_STATS)
FIX = (
    "Fix: restore the shipped files with `git checkout models/demo`, or rebuild them and their manifest with "
    "`make demo-model`"
)
_LINE = re.compile(r"([0-9a-f]{64}) [ *]([\w.-]+)")


def shown(path: str | os.PathLike) -> str:
    """A path as messages and records show it: relative to the repository when inside it.

    Args:
        path: any path.

    Returns:
        The path relative to the repository, or absolute.
    """
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _missing(path: Path, directory: Path) -> BertscopeError:
    return BertscopeError(
        f"model: demo: the shipped file {shown(path)} is missing ({shown(directory / MANIFEST)} lists it). {FIX}"
    )


def read_manifest(directory: str | os.PathLike = DEMO_DIR) -> dict[str, str]:
    """The recorded sha256 of each shipped file, by file name.

    Args:
        directory: the demo model's directory.

    Returns:
        ``{file name: sha256}`` as SHA256SUMS lists them.

    Raises:
        BertscopeError: the manifest is missing, has a malformed line or lacks a required file, with the fix.
    """
    manifest = Path(directory) / MANIFEST
    if not manifest.is_file():
        raise BertscopeError(f"model: demo: the shipped demo model has no manifest {shown(manifest)}. {FIX}")
    recorded = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        match = _LINE.fullmatch(line)
        if match is None:
            raise BertscopeError(
                f"model: demo: line {number} of {shown(manifest)} is not 'SHA256  FILE' (64 lowercase hex digits, "
                f"two spaces, a file name): {line[:80]!r}. {FIX}"
            )
        recorded[match.group(2)] = match.group(1)
    missing = [name for name in REQUIRED if name not in recorded]
    if missing:
        raise BertscopeError(f"model: demo: {shown(manifest)} records no {', no '.join(missing)}. {FIX}")
    return recorded


def write_manifest(directory: str | os.PathLike) -> dict[str, str]:
    """Record the sha256 of every file of ``directory`` but the manifest itself (and hidden files) in SHA256SUMS.

    Args:
        directory: a built demo model's directory.

    Returns:
        ``{file name: sha256}``, as written.
    """
    directory = Path(directory)
    digests = {
        path.name: file_sha256(path)
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != MANIFEST and not path.name.startswith(".")
    }
    (directory / MANIFEST).write_text("".join(f"{digest}  {name}\n" for name, digest in digests.items()))
    return digests


def planned_inputs(model: str, directory: str | os.PathLike = DEMO_DIR) -> dict[str, str | list[str]]:
    """The model step's inputs for ``model: demo``: the manifest and the files it lists; nothing for other models.

    Paths are relative to the working directory, so that a project moved as a whole (repository and results)
    has nothing to rerun; a changed shipped file reruns the model step.

    Args:
        model: the ``model`` setting.
        directory: the demo model's directory.

    Returns:
        ``{"demo_manifest": path, "demo_files": [paths]}`` (empty lists for another model).

    Raises:
        BertscopeError: a file the manifest lists is missing, with the fix.
    """
    if model != DEMO:
        return {"demo_manifest": [], "demo_files": []}
    directory = Path(directory)
    paths = [directory / name for name in read_manifest(directory)]
    for path in paths:
        if not path.is_file():
            raise _missing(path, directory)
    return {"demo_manifest": os.path.relpath(directory / MANIFEST), "demo_files": list(map(os.path.relpath, paths))}


def copy_demo(output_dir: str | os.PathLike, directory: str | os.PathLike = DEMO_DIR) -> dict:
    """Copy the shipped model files into ``output_dir`` once every one matches the sha256 recorded for it.

    Each file is read once, checked, and written from the bytes checked; nothing is written unless all match.

    Args:
        output_dir: the pipeline's model directory, existing.
        directory: the demo model's directory.

    Returns:
        The record for source.json: ``directory`` (shown), ``sha256`` of every shipped file, ``training`` (the build's
        statistics).

    Raises:
        BertscopeError: a file is missing or its sha256 differs from the recorded one, with the fix.
    """
    directory, output_dir = Path(directory), Path(output_dir)
    recorded = read_manifest(directory)
    contents = {}
    for name, expected in recorded.items():
        path = directory / name
        if not path.is_file():
            raise _missing(path, directory)
        contents[name] = path.read_bytes()
        actual = hashlib.sha256(contents[name]).hexdigest()
        if actual != expected:
            raise BertscopeError(
                f"model: demo: the shipped file {shown(path)} has sha256 {actual[:16]}…, not the {expected[:16]}… "
                f"that {shown(directory / MANIFEST)} records: it was changed or damaged. {FIX}"
            )
    training = json.loads(contents.pop(TRAINING_STATS))
    for name, data in contents.items():
        (output_dir / name).write_bytes(data)
    return {"directory": shown(directory), "sha256": recorded, "training": training}
