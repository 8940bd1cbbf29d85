"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, for every example of a
batch (one file for the batch and group)."""

from bertscope.attribution.job import attribution_job, attribution_record, conductance_kept
from bertscope.attribution.part1 import layer_conductance
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    model, device, examples = attribution_job(smk)
    layers = list(smk.params.layers)
    results = {}
    for example, tensors, inputs_record in examples:
        attributions, deltas = layer_conductance(
            model, tensors, layers, smk.params.n_steps, smk.params.internal_batch_size, smk.params.procedure
        )
        kept = conductance_kept(example, attributions, deltas, inputs_record, smk.params.attribution_storage)
        results[example] = (kept, attribution_record(smk, "layer", device, layers=layers))
    save_batch(smk.output.conductance, results)


if __name__ == "__main__":
    run_step(main, globals())
