"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, for each example of a
batch: one file per example and layer."""

import logging

from bertscope.attribution import layer_conductance, load_attribution_job
from bertscope.plan import conductance_file
from bertscope.step import atomic_output, run_step
from bertscope.tensor_io import save_tensors

log = logging.getLogger("bertscope")


def main(smk):
    model, examples = load_attribution_job(smk)
    layers = [int(layer) for layer in smk.params.layers]
    with atomic_output(smk.output.conductance, directory=True) as staging:
        for example, tensors in examples:
            attributions, deltas = layer_conductance(
                model, tensors, [layer - 1 for layer in layers], smk.params.n_steps, smk.params.internal_batch_size
            )
            for layer in layers:
                path = conductance_file(staging, example, layer)
                path.parent.mkdir(exist_ok=True)
                save_tensors(
                    path,
                    {"attributions": attributions[layer - 1], "delta": deltas[layer - 1]},
                    {"example": example, "source": "layer", "layer": layer, "n_steps": smk.params.n_steps},
                )
                log.info("%s layer %d: convergence deltas %s", example, layer, deltas[layer - 1].tolist())


if __name__ == "__main__":
    run_step(main, globals())
