"""Layer Integrated Gradients on the whole embedding layer, for the start and the end position, for every example
of a batch (one file for the batch), its examples in groups of similar lengths that share the passes."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units, kept_tensors, log_deltas
from bertscope.attribution.part1 import embedding_lig
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, units=units)
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        attributions, deltas = embedding_lig(model, group.tensors, smk.params.n_steps, smk.params.internal_batch_size)
        for example, attribution, delta in zip(
            group.examples, group.split(attributions), group.split(deltas, ()), strict=True
        ):
            kept = kept_tensors(attribution, delta, None, smk.params.attribution_storage)
            results[example] = (kept, attribution_record(smk, "embeddings", device))
            log_deltas(example, "embeddings", delta)
    save_batch(smk.output.attributions, results)


if __name__ == "__main__":
    run_step(main, globals())
