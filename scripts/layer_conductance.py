"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, for every example of a
batch (one file for the batch and group), its examples in groups of similar lengths that share the passes; with
``n_steps: auto`` each example's steps double until every layer of the job converges
(bertscope.evaluation.convergence)."""

from bertscope.attribution.job import (
    attribution_job,
    attribution_record,
    batch_units,
    conductance_kept,
    conductance_tries,
    steps_of,
)
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS, layer_conductance
from bertscope.evaluation.convergence import group_until_converged
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, min_points=CONDUCTANCE_MIN_POINTS, units=units)
    layers, params, plan = list(smk.params.layers), smk.params, steps_of(smk)
    attribute = conductance_tries(
        lambda tensors, steps: layer_conductance(
            model, tensors, layers, steps, params.internal_batch_size, params.procedure
        )
    )
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        outcomes = group_until_converged(attribute, group, plan, f"layers {layers[0]}-{layers[-1]}")
        for example, record, outcome in zip(group.examples, group.records, outcomes, strict=True):
            kept = conductance_kept(example, *outcome.result, record, params.attribution_storage)
            results[example] = (kept, attribution_record(smk, "layer", device, outcome, layers=layers))
    save_batch(smk.output.conductance, results)


if __name__ == "__main__":
    run_step(main, globals())
