"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, one file per layer."""

import logging
from pathlib import Path

from bertscope.attribution import layer_conductance, load_attribution_job
from bertscope.step import atomic_output, run_step
from bertscope.tensor_io import save_tensors

log = logging.getLogger("bertscope")


def layer_file_name(layer: int) -> str:
    return f"layer_{layer:02d}.safetensors"


def main(smk):
    model, tensors, record = load_attribution_job(smk)
    layers = [int(layer) for layer in smk.params.layers]
    attributions, deltas = layer_conductance(
        model, tensors, [layer - 1 for layer in layers], smk.params.n_steps, smk.params.internal_batch_size
    )
    with atomic_output(smk.output.conductance, directory=True) as staging:
        for layer in layers:
            save_tensors(
                Path(staging) / layer_file_name(layer),
                {"attributions": attributions[layer - 1], "delta": deltas[layer - 1]},
                {"example": record["example"], "source": "layer", "layer": layer, "n_steps": smk.params.n_steps},
            )
            log.info("%s layer %d: convergence deltas %s", record["example"], layer, deltas[layer - 1].tolist())


if __name__ == "__main__":
    run_step(main, globals())
