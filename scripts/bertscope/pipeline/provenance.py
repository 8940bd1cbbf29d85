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
ATTRIBUTION_SETTINGS = ("n_steps", "procedure", "target", "precision", "fused_activations")
"""The settings of the model passes that every table computed from attributions records (:func:`table_metadata`);
the rules that build those tables pass each as a param."""


def package_versions() -> dict[str, str | None]:
    """The installed version of each package of :data:`PACKAGES`.

    Returns:
        ``{package: version}``, None for a package that is not installed.
    """
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks.

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model_dir: str | os.PathLike) -> dict[str, str]:
    """sha256 of every weight file of a model directory, by file name.

    Args:
        model_dir: the model directory.

    Returns:
        ``{file name: sha256}`` of its ``*.safetensors`` files.
    """
    return {path.name: file_sha256(path) for path in sorted(Path(model_dir).glob(f"*{WEIGHTS_SUFFIX}"))}


def config_digest(config: dict) -> str:
    """sha256 of the configuration as canonical JSON: equal digests, equal settings.

    Args:
        config: the configuration.

    Returns:
        The hex digest.
    """
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def read_model_source(model_dir: str | os.PathLike) -> dict:
    """The model step's record of where the model came from.

    Args:
        model_dir: the pipeline's model directory.

    Returns:
        Its ``source.json`` (:func:`~bertscope.models.source.prepare_model`).
    """
    return json.loads((Path(model_dir) / "source.json").read_text())


def table_metadata(model_dir: str | os.PathLike, settings: dict) -> dict[str, str]:
    """The key provenance fields, flattened to ``bertscope.*`` strings for Parquet key/value metadata.

    Args:
        model_dir: the pipeline's model directory.
        settings: the settings the table depends on (``n_steps``, ``procedure``, ...).

    Returns:
        ``{"bertscope.model": ..., "bertscope.version.torch": ..., ...}``, every value a string ("" for None).
    """
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
    """How many attribution records each device computed, from the files' own records.

    Args:
        paths: the attribution files.

    Returns:
        ``{device: records}``, by device name (one record per example and file).
    """
    from bertscope.pipeline.tensor_io import read_records

    devices = Counter(record["device"] for path in paths for record in read_records(path).values())
    return dict(sorted(devices.items()))


def timestamp(seconds: float) -> str:
    """A POSIX time as an ISO 8601 UTC timestamp to the second.

    Args:
        seconds: seconds since the epoch.

    Returns:
        ``2026-12-02T04:25:00+00:00``.
    """
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
        "fused_activations": config["fused_activations"],
        "config_digest": config_digest(config),
        "config": config,
        "started_at": timestamp(started),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return provenance
