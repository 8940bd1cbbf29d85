"""Write results/provenance.json: which model, weights, packages, device and settings made the results."""

import json
import logging
import platform
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bertscope.provenance import config_digest, package_versions, read_model_source
from bertscope.step import atomic_output, run_step

log = logging.getLogger("bertscope")


def attribution_devices(paths: list[str]) -> dict[str, int]:
    """How many attribution files each device computed, from the files' own records."""
    from bertscope.tensor_io import read_records

    devices = Counter(record["device"] for path in paths for record in read_records(path).values())
    return dict(sorted(devices.items()))


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def main(smk):
    source = read_model_source(smk.input.model)
    started = min(
        Path(path).stat().st_mtime for path in [Path(smk.input.model) / "source.json", *map(Path, smk.input.inputs)]
    )
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
        "attribution_devices": attribution_devices(smk.input.attributions),
        "host": f"{platform.node()} ({platform.processor() or platform.machine()})",
        "procedure": smk.params.config["procedure"],
        "config_digest": config_digest(smk.params.config),
        "config": smk.params.config,
        "started_at": timestamp(started),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_output(smk.output.provenance) as staging:
        staging.write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    log.info("model %s, config digest %s", provenance["model"], provenance["config_digest"][:12])


if __name__ == "__main__":
    run_step(main, globals())
