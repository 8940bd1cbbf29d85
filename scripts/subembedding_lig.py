"""Layer Integrated Gradients on the word, token-type and position embeddings, for start and end."""

import logging

from bertscope.attribution import load_attribution_job, subembedding_lig
from bertscope.step import run_step
from bertscope.tensor_io import save_tensors

log = logging.getLogger("bertscope")


def main(smk):
    model, tensors, record = load_attribution_job(smk)
    attributions, delta = subembedding_lig(model, tensors, smk.params.n_steps, smk.params.internal_batch_size)
    save_tensors(
        smk.output.attributions,
        {**attributions, "delta": delta},
        {"example": record["example"], "source": "subembeddings", "n_steps": smk.params.n_steps},
    )
    log.info("%s: convergence deltas start %.3g, end %.3g", record["example"], *delta.tolist())


if __name__ == "__main__":
    run_step(main, globals())
