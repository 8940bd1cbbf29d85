"""Prepare the model directory: download a Hub model, copy a local one, or build the demo model."""

import logging

from bertscope.step import atomic_output, run_step

log = logging.getLogger("bertscope")


def main(smk):
    from bertscope.model_source import prepare_model

    with atomic_output(smk.output.model, directory=True) as staging:
        record = prepare_model(smk.params.model, smk.params.revision, staging, smk.params.demo_seed, smk.threads)
    log.info("model '%s' (%s) ready: %d encoder layers", record["model"], record["source"], record["num_hidden_layers"])


if __name__ == "__main__":
    run_step(main, globals())
