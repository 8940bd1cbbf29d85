"""Layer Integrated Gradients on the word, token-type and position embeddings at once (those the model's family
has, named in each example's record), for the start and the end position, for every example of a batch (one file
for the batch), its examples in groups that share the passes; with ``n_steps: auto`` each example's steps double
until the sub-embeddings together converge (bertscope.evaluation.convergence)."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units, lig_tries, log_deltas, steps_of
from bertscope.attribution.part1 import subembedding_lig
from bertscope.attribution.stored import stored_summary
from bertscope.evaluation.convergence import group_until_converged
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    units = batch_units(smk)
    model, device, groups = attribution_job(smk, units=units)
    plan = steps_of(smk)
    attribute = lig_tries(
        lambda tensors, steps: subembedding_lig(model, tensors, steps, smk.params.internal_batch_size)
    )
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        outcomes = group_until_converged(attribute, group, plan, "sub-embeddings")
        for example, outcome in zip(group.examples, outcomes, strict=True):
            attributions, delta = outcome.result
            kept = {"delta": delta}
            for source, attribution in attributions.items():
                summary = stored_summary(attribution, None, smk.params.attribution_storage)
                kept.update({f"{source}.{name}": value for name, value in summary.items()})
            record = attribution_record(smk, "subembeddings", device, outcome, subembeddings=list(attributions))
            results[example] = (kept, record)
            log_deltas(example, "sub-embeddings", delta)
    save_batch(smk.output.attributions, results)


if __name__ == "__main__":
    run_step(main, globals())
