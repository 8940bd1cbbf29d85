"""The ``corrected`` procedure with every layer in one job: embedding LIG and the conductance of every encoder layer
from one pass over the path, for start and end, for every example of a batch, in groups that share the passes.
Writes the same two files as the ``embedding_lig`` and ``layer_conductance`` steps, with the same numbers (up to
float summation order); with ``n_steps: auto`` an example's steps double until the LIG and every layer converge."""

import numpy as np

from bertscope.attribution import job
from bertscope.attribution.job import attribution_record, conductance_kept, kept_tensors, layers_relative, split_layers
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS, path_attribution
from bertscope.evaluation.convergence import group_until_converged, relative_delta
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch

LIG, LAYERS = slice(0, 2), slice(2, None)  # each file's share of the relative deltas of a try


def main(smk):
    units = job.batch_units(smk)
    model, device, groups = job.attribution_job(smk, min_points=CONDUCTANCE_MIN_POINTS, units=units)
    layers, storage, plan = list(smk.params.layers), smk.params.attribution_storage, job.steps_of(smk)

    def attribute(group, steps):
        (lig, lig_deltas), (attributions, deltas) = path_attribution(
            model, group.tensors, layers, steps, smk.params.internal_batch_size
        )
        per_example = zip(
            group.split(lig), group.split(lig_deltas, ()), split_layers(group, attributions, deltas), strict=True
        )
        return [
            (((a, d), pair), np.concatenate([relative_delta(a, d), layers_relative(*pair)]))
            for a, d, (_, _, pair) in per_example
        ]

    # The files keep the batch's order of examples, whatever the groups'.
    embeddings, conductance = dict.fromkeys(units), dict.fromkeys(units)
    for group in groups:
        outcomes = group_until_converged(attribute, group, plan, "embeddings and layers")
        for example, record, outcome in zip(group.examples, group.records, outcomes, strict=True):
            (example_lig, lig_delta), layer_pair = outcome.result
            embeddings[example] = (
                kept_tensors(example_lig, lig_delta, None, storage),
                attribution_record(smk, "embeddings", device, outcome, LIG, shared_pass=True),
            )
            job.log_deltas(example, "embeddings", lig_delta)
            conductance[example] = (
                conductance_kept(example, *layer_pair, record, storage),
                attribution_record(smk, "layer", device, outcome, LAYERS, layers=layers, shared_pass=True),
            )
    save_batch(smk.output.embeddings, embeddings)
    save_batch(smk.output.conductance, conductance)


if __name__ == "__main__":
    run_step(main, globals())
