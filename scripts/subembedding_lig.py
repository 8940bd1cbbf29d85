"""Layer Integrated Gradients on the word, token-type and position embeddings, for start and end, for each example
of a batch (one file per example)."""

import logging

from bertscope.attribution import load_attribution_job, subembedding_lig
from bertscope.plan import example_file
from bertscope.step import atomic_output, run_step
from bertscope.tensor_io import save_tensors

log = logging.getLogger("bertscope")


def main(smk):
    model, examples = load_attribution_job(smk)
    with atomic_output(smk.output.attributions, directory=True) as staging:
        for example, tensors in examples:
            attributions, delta = subembedding_lig(model, tensors, smk.params.n_steps, smk.params.internal_batch_size)
            save_tensors(
                example_file(staging, example),
                {**attributions, "delta": delta},
                {"example": example, "source": "subembeddings", "n_steps": smk.params.n_steps},
            )
            log.info("%s: convergence deltas start %.3g, end %.3g", example, *delta.tolist())


if __name__ == "__main__":
    run_step(main, globals())
