"""What made the numbers: model source and weights digest, package versions, settings."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "transformers", "captum", "snakemake", "numpy", "pandas", "pyarrow", "safetensors")
WEIGHTS_SUFFIX = ".safetensors"


def package_versions() -> dict[str, str | None]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model_dir: str | os.PathLike) -> dict[str, str]:
    """sha256 of every weight file of a model directory, by file name."""
    return {path.name: file_sha256(path) for path in sorted(Path(model_dir).glob(f"*{WEIGHTS_SUFFIX}"))}


def config_digest(config: dict) -> str:
    """sha256 of the configuration as canonical JSON: equal digests, equal settings."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def read_model_source(model_dir: str | os.PathLike) -> dict:
    return json.loads((Path(model_dir) / "source.json").read_text())


def table_metadata(model_dir: str | os.PathLike, settings: dict) -> dict[str, str]:
    """The key provenance fields, flattened to ``bertscope.*`` strings for Parquet key/value metadata."""
    source = read_model_source(model_dir)
    fields = {
        "model": source["model"],
        "model_revision": source.get("revision"),
        "model_commit": source.get("resolved_commit"),
        "weights_sha256": json.dumps(source["weights_sha256"], sort_keys=True),
        **settings,
        **{f"version.{package}": value for package, value in package_versions().items()},
    }
    return {f"bertscope.{key}": "" if value is None else str(value) for key, value in fields.items()}
