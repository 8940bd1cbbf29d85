"""Write results/provenance.json: which model, weights, packages, device and settings made the results."""

import json
import logging

from bertscope.pipeline.provenance import run_provenance
from bertscope.pipeline.step import atomic_output, run_step

log = logging.getLogger("bertscope")


def main(smk):
    provenance = run_provenance(smk.input.model, smk.input.inputs, smk.input.attributions, smk.params.config)
    with atomic_output(smk.output.provenance) as staging:
        staging.write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    log.info("model %s, config digest %s", provenance["model"], provenance["config_digest"][:12])


if __name__ == "__main__":
    run_step(main, globals())
