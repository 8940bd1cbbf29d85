"""Part 2 of the tutorial for a group of encoder layers and a batch of examples: attention probabilities, their
conductance and the layer outputs' (the word embeddings as input), and attention norms (one file per batch and
group; token-pair matrices only for the examples that get figures)."""

from bertscope.attribution.job import attribution_job, attribution_record
from bertscope.attribution.part2 import attention_results
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    model, device, examples = attribution_job(smk, attention_weights=True)
    layers, chosen = list(smk.params.layers), smk.params.chosen_layer
    with_matrices = set(smk.params.figure_examples)
    results = {}
    for example, tensors, _ in examples:
        kept = attention_results(
            model, tensors, layers, chosen, smk.params.n_steps, example in with_matrices, smk.params.internal_batch_size
        )
        record = attribution_record(smk, "attention", device, layers=layers, chosen_layer=chosen)
        results[example] = (kept, {**record, "matrices": example in with_matrices})
    save_batch(smk.output.attention, results)


if __name__ == "__main__":
    run_step(main, globals())
