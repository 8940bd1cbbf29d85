"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, for every example of a
batch (one file for the batch and group), its examples in groups of similar lengths that share the passes."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units, conductance_kept, split_layers
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS, layer_conductance
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, min_points=CONDUCTANCE_MIN_POINTS, units=units)
    layers = list(smk.params.layers)
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        attributions, deltas = layer_conductance(
            model, group.tensors, layers, smk.params.n_steps, smk.params.internal_batch_size, smk.params.procedure
        )
        for example, record, (example_attributions, example_deltas) in split_layers(group, attributions, deltas):
            kept = conductance_kept(
                example, example_attributions, example_deltas, record, smk.params.attribution_storage
            )
            results[example] = (kept, attribution_record(smk, "layer", device, layers=layers))
    save_batch(smk.output.conductance, results)


if __name__ == "__main__":
    run_step(main, globals())
