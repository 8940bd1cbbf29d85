"""What made the numbers: model source and weights digest, package versions, settings."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections import Counter
from datetime import UTC, datetime
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


def attribution_devices(paths: list[str]) -> dict[str, int]:
    """How many attribution files each device computed, from the files' own records."""
    from bertscope.pipeline.tensor_io import read_records

    devices = Counter(record["device"] for path in paths for record in read_records(path).values())
    return dict(sorted(devices.items()))


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def run_provenance(model_dir: str, inputs: list[str], attributions: list[str], config: dict) -> dict:
    """What made a run's results, for ``results/provenance.json``.

    Args:
        model_dir: the prepared model directory (its ``source.json``).
        inputs: the run's input tensor files (their times date the run's start).
        attributions: every attribution file (their records say which device computed them).
        config: the run's configuration, as validated.

    Returns:
        The provenance record: model, weights' sha256, packages, Python, devices, host, settings, times.
    """
    source = read_model_source(model_dir)
    started = min(Path(path).stat().st_mtime for path in [Path(model_dir) / "source.json", *map(Path, inputs)])
    provenance = {
        "model": source["model"],
        "model_source": source["source"],
        "model_revision": source.get("revision"),
        "model_commit": source.get("resolved_commit"),
        "weights_sha256": source["weights_sha256"],
        # model: demo: the shipped files (models/demo) the model directory was copied from, with their sha256.
        "demo_files": source.get("demo_files"),
        "num_hidden_layers": source["num_hidden_layers"],
        "packages": package_versions(),
        "python": platform.python_version(),
        "attribution_devices": attribution_devices(attributions),
        "host": f"{platform.node()} ({platform.processor() or platform.machine()})",
        "procedure": config["procedure"],
        "precision": config["precision"],
        "config_digest": config_digest(config),
        "config": config,
        "started_at": timestamp(started),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return provenance
