"""Layer Integrated Gradients on the word, token-type and position embeddings at once (those the model's family
has, named in each example's record), for the start and the end position, for every example of a batch (one file
for the batch)."""

from bertscope.attribution.job import attribution_job, attribution_record, log_deltas
from bertscope.attribution.part1 import subembedding_lig
from bertscope.attribution.stored import stored_summary
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    model, device, examples = attribution_job(smk)
    results = {}
    for example, tensors, _ in examples:
        attributions, delta = subembedding_lig(model, tensors, smk.params.n_steps, smk.params.internal_batch_size)
        kept = {"delta": delta}
        for source, attribution in attributions.items():
            summary = stored_summary(attribution, None, smk.params.attribution_storage)
            kept.update({f"{source}.{name}": value for name, value in summary.items()})
        record = attribution_record(smk, "subembeddings", device, subembeddings=list(attributions))
        results[example] = (kept, record)
        log_deltas(example, "sub-embeddings", delta)
    save_batch(smk.output.attributions, results)


if __name__ == "__main__":
    run_step(main, globals())
