"""Layer Integrated Gradients on the whole embedding layer, for the start and the end position."""

import logging

from bertscope.attribution import embedding_lig, load_attribution_job
from bertscope.step import run_step
from bertscope.tensor_io import save_tensors

log = logging.getLogger("bertscope")


def main(smk):
    model, tensors, record = load_attribution_job(smk)
    attributions, delta = embedding_lig(model, tensors, smk.params.n_steps, smk.params.internal_batch_size)
    save_tensors(
        smk.output.attributions,
        {"attributions": attributions, "delta": delta},
        {"example": record["example"], "source": "embeddings", "n_steps": smk.params.n_steps},
    )
    log.info("%s: convergence deltas start %.3g, end %.3g", record["example"], *delta.tolist())


if __name__ == "__main__":
    run_step(main, globals())
