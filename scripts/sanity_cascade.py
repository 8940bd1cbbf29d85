"""The cascading randomisation sanity check of the embedding LIG for the batch's chosen examples
(bertscope.evaluation.sanity): one part of the sanity_cascade table."""

import logging

import pandas as pd

from bertscope.attribution.job import attribution_job, each_example, steps_of
from bertscope.attribution.part1 import embedding_lig
from bertscope.evaluation.convergence import until_converged
from bertscope.evaluation.sanity import cascade
from bertscope.pipeline.provenance import ATTRIBUTION_SETTINGS, table_metadata
from bertscope.pipeline.step import run_step
from bertscope.tables.io import write_table

log = logging.getLogger("bertscope")


def main(smk):
    params = smk.params
    settings = {name: params[name] for name in ATTRIBUTION_SETTINGS}
    metadata = table_metadata(smk.input.model, {**settings, "sanity_seed": params.seed})
    model, _, groups = attribution_job(smk)
    plan = steps_of(smk)  # with n_steps: auto, each stage's map converges on its own

    def attribute(stage_model, tensors):
        lig = until_converged(
            lambda steps: embedding_lig(stage_model, tensors, steps, params.internal_batch_size), plan
        )
        return lig.result

    frames = []
    for example, tensors, _ in each_example(groups):
        rows = pd.DataFrame(cascade(model, tensors, attribute, params.seed)).assign(example=example)
        frames.append(rows)
        last = rows[rows["stage_index"] == rows["stage_index"].max()]
        log.info("%s: Spearman at the last stage %s", example, ", ".join(f"{v:.3f}" for v in last["spearman"]))
    write_table(pd.concat(frames, ignore_index=True), "sanity_cascade", smk.output.table, metadata)


if __name__ == "__main__":
    run_step(main, globals())
