"""Part 2 of the tutorial for a group of encoder layers and a batch of examples: attention probabilities, their
conductance and the layer outputs' (the word embeddings as input), and attention norms (one file per batch and
group; token-pair matrices only for the examples that get figures), its examples in groups that share the passes."""

from bertscope.attribution.job import attribution_job, attribution_record, batch_units
from bertscope.attribution.part1 import CONDUCTANCE_MIN_POINTS
from bertscope.attribution.part2 import attention_group_results
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    layers, chosen = list(smk.params.layers), smk.params.chosen_layer
    units = batch_units(smk)
    model, device, groups = attribution_job(
        smk, attention_weights=True, min_points=CONDUCTANCE_MIN_POINTS, attention_layers=len(layers), units=units
    )
    with_matrices = set(smk.params.figure_examples)
    results = dict.fromkeys(units)  # the file keeps the batch's order, whatever the groups'
    for group in groups:
        matrices = [example in with_matrices for example in group.examples]
        kept = attention_group_results(
            model,
            group.tensors,
            group.lengths,
            layers,
            chosen,
            smk.params.n_steps,
            matrices,
            smk.params.internal_batch_size,
        )
        for example, example_kept, example_matrices in zip(group.examples, kept, matrices, strict=True):
            record = attribution_record(smk, "attention", device, layers=layers, chosen_layer=chosen)
            results[example] = (example_kept, {**record, "matrices": example_matrices})
    save_batch(smk.output.attention, results)


if __name__ == "__main__":
    run_step(main, globals())
