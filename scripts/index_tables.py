"""Close the tables' datasets: remove parts that no current batch wrote, and record every table's parts and rows.

A part is named after its batch, so a run with other examples or another examples_per_job writes other parts; the
parts an earlier run left would otherwise be read back with the current ones as one table.
"""

import json
import logging
from pathlib import Path

from bertscope.pipeline.step import atomic_output, run_step
from bertscope.tables.io import check_part, remove_stale_parts

log = logging.getLogger("bertscope")


def main(smk):
    manifest = {}
    for table, dataset in zip(smk.params.tables, smk.params.datasets, strict=True):
        parts = [Path(path) for path in smk.input[table]]
        removed = remove_stale_parts(Path(dataset), {path.resolve() for path in parts})
        if removed:
            log.info("%s: removed %d part(s) of an earlier run: %s", table, len(removed), ", ".join(removed))
        manifest[table] = {
            "dataset": dataset,
            "parts": len(parts),
            "rows": sum(check_part(path) for path in parts),
        }
        log.info("%s: %d rows in %d part(s)", table, manifest[table]["rows"], len(parts))
    with atomic_output(smk.output.manifest) as staging:
        staging.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    run_step(main, globals())
