"""The embedding LIG of the batch's figure examples at every step count of the ladder n_steps_min, twice that, ...,
n_steps_max (bertscope.evaluation.convergence.ladder): one part of the convergence_ladder table, whatever n_steps is."""

import logging
from functools import partial

import pandas as pd

from bertscope.attribution.job import attribution_job, each_example
from bertscope.attribution.part1 import embedding_lig
from bertscope.evaluation.convergence import ladder, ladder_rows
from bertscope.pipeline.provenance import table_metadata
from bertscope.pipeline.step import run_step
from bertscope.tables.io import write_table

log = logging.getLogger("bertscope")


def main(smk):
    params = smk.params
    steps = ladder(params.n_steps_min, params.n_steps_max)
    settings = {
        name: params[name]
        for name in ("procedure", "target", "precision", "fused_activations", "n_steps_min", "n_steps_max")
    }
    model, _, groups = attribution_job(smk)
    frames = []

    def attribute(tensors, count):
        return embedding_lig(model, tensors, count, params.internal_batch_size)

    for example, tensors, _ in each_example(groups):
        rows = ladder_rows(partial(attribute, tensors), steps)
        frames.append(pd.DataFrame(rows).assign(example=example))
        tries = "; ".join(f"{row['n_steps']} {row['target']} {row['relative_delta']:.3g}" for row in rows)
        log.info("%s: relative deltas at n_steps %s", example, tries)
    write_table(
        pd.concat(frames, ignore_index=True),
        "convergence_ladder",
        smk.output.table,
        table_metadata(smk.input.model, settings),
    )


if __name__ == "__main__":
    run_step(main, globals())
