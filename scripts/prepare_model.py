"""Prepare the model directory: download a Hub model, copy a local one, or copy the shipped demo model."""

import logging
from pathlib import Path

from bertscope.pipeline.step import atomic_output, run_step

log = logging.getLogger("bertscope")


def main(smk):
    from bertscope.models.demo_files import DEMO_DIR
    from bertscope.models.source import prepare_model

    # model: demo lists the shipped manifest as an input (models/demo/SHA256SUMS); the files sit beside it.
    manifest = getattr(smk.input, "demo_manifest", None)
    demo_dir = Path(manifest).parent if manifest else DEMO_DIR
    with atomic_output(smk.output.model, directory=True) as staging:
        record = prepare_model(smk.params.model, smk.params.revision, staging, demo_dir)
    log.info("model '%s' (%s) ready: %d encoder layers", record["model"], record["source"], record["num_hidden_layers"])


if __name__ == "__main__":
    run_step(main, globals())
