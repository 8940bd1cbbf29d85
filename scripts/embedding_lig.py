"""Layer Integrated Gradients on the whole embedding layer, for the start and the end position, for every example
of a batch (one file for the batch), its examples in groups of similar lengths that share the passes; with
``n_steps: auto`` each example's steps double until it converges (bertscope.evaluation.convergence)."""

from bertscope.attribution.job import (
    attribution_job,
    attribution_record,
    batch_units,
    kept_tensors,
    lig_tries,
    log_deltas,
    steps_of,
)
from bertscope.attribution.part1 import embedding_lig
from bertscope.evaluation.convergence import group_until_converged
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, units=units)
    plan = steps_of(smk)
    attribute = lig_tries(lambda tensors, steps: embedding_lig(model, tensors, steps, smk.params.internal_batch_size))
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        outcomes = group_until_converged(attribute, group, plan, "embeddings")
        for example, outcome in zip(group.examples, outcomes, strict=True):
            attribution, delta = outcome.result
            kept = kept_tensors(attribution, delta, None, smk.params.attribution_storage)
            results[example] = (kept, attribution_record(smk, "embeddings", device, outcome))
            log_deltas(example, "embeddings", delta)
    save_batch(smk.output.attributions, results)


if __name__ == "__main__":
    run_step(main, globals())
