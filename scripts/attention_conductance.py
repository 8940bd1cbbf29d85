"""Part 2 of the tutorial for a group of encoder layers and a batch of examples: attention probabilities, their
conductance and the layer outputs' (the word embeddings as input), and attention norms (one file per batch and
group; token-pair matrices only for the examples that get figures), its examples in groups that share the passes;
with ``n_steps: auto`` each example's steps double until every layer output's conductance of the job converges
(bertscope.evaluation.convergence)."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units, steps_of
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS
from bertscope.attribution.part2 import attention_group_results, output_relative_deltas
from bertscope.evaluation.convergence import group_until_converged
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    params = smk.params
    layers, chosen, plan = list(params.layers), params.chosen_layer, steps_of(smk)
    units = batch_units(smk)
    model, device, groups = attribution_job(
        smk, attention_weights=True, min_points=CONDUCTANCE_MIN_POINTS, attention_layers=len(layers), units=units
    )
    with_matrices = set(params.figure_examples)

    def attribute(group, steps):
        matrices = [example in with_matrices for example in group.examples]
        kept = attention_group_results(
            model, group.tensors, group.lengths, layers, chosen, steps, matrices, params.internal_batch_size
        )
        return [(example_kept, output_relative_deltas(example_kept, layers)) for example_kept in kept]

    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        outcomes = group_until_converged(attribute, group, plan, f"Part 2 layers {layers[0]}-{layers[-1]}")
        for example, outcome in zip(group.examples, outcomes, strict=True):
            record = attribution_record(smk, "attention", device, outcome, layers=layers, chosen_layer=chosen)
            results[example] = (outcome.result, {**record, "matrices": example in with_matrices})
    save_batch(smk.output.attention, results)


if __name__ == "__main__":
    run_step(main, globals())
