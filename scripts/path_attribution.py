"""The ``corrected`` procedure with every layer in one job: embedding LIG and the conductance of every encoder layer
from one pass over the path, for start and end, for every example of a batch, in groups that share the passes.
Writes the same two files as the ``embedding_lig`` and ``layer_conductance`` steps, with the same numbers (up to
float summation order)."""

from bertscope.attribution.job import (
    attribution_job,
    attribution_record,
    batch_units,
    conductance_kept,
    kept_tensors,
    log_deltas,
    split_layers,
)
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS, path_attribution
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, min_points=CONDUCTANCE_MIN_POINTS, units=units)
    layers = list(smk.params.layers)
    storage = smk.params.attribution_storage
    # The files keep the batch's order of examples, whatever the groups'.
    embeddings, conductance = dict.fromkeys(units), dict.fromkeys(units)
    for group in groups:
        (lig, lig_deltas), (attributions, deltas) = path_attribution(
            model, group.tensors, layers, smk.params.n_steps, smk.params.internal_batch_size
        )
        per_example = zip(
            group.split(lig), group.split(lig_deltas, ()), split_layers(group, attributions, deltas), strict=True
        )
        for example_lig, lig_delta, (example, record, (example_attributions, example_deltas)) in per_example:
            embeddings[example] = (
                kept_tensors(example_lig, lig_delta, None, storage),
                attribution_record(smk, "embeddings", device, shared_pass=True),
            )
            log_deltas(example, "embeddings", lig_delta)
            conductance[example] = (
                conductance_kept(example, example_attributions, example_deltas, record, storage),
                attribution_record(smk, "layer", device, layers=layers, shared_pass=True),
            )
    save_batch(smk.output.embeddings, embeddings)
    save_batch(smk.output.conductance, conductance)


if __name__ == "__main__":
    run_step(main, globals())
