"""Layer Integrated Gradients on the word, token-type and position embeddings at once (those the model's family
has, named in each example's record), for the start and the end position, for every example of a batch (one file
for the batch), its examples in groups that share the passes."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units, log_deltas
from bertscope.attribution.part1 import subembedding_lig
from bertscope.attribution.stored import stored_summary
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, units=units)
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        attributions, deltas = subembedding_lig(
            model, group.tensors, smk.params.n_steps, smk.params.internal_batch_size
        )
        per_source = {source: group.split(attribution) for source, attribution in attributions.items()}
        record = attribution_record(smk, "subembeddings", device, subembeddings=list(attributions))
        for index, (example, delta) in enumerate(zip(group.examples, group.split(deltas, ()), strict=True)):
            kept = {"delta": delta}
            for source, attribution in per_source.items():
                summary = stored_summary(attribution[index], None, smk.params.attribution_storage)
                kept.update({f"{source}.{name}": value for name, value in summary.items()})
            results[example] = (kept, record)
            log_deltas(example, "sub-embeddings", delta)
    save_batch(smk.output.attributions, results)


if __name__ == "__main__":
    run_step(main, globals())
