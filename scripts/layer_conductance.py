"""Layer Conductance of a group of encoder layers (one layer by default), for start and end, for every example of a
batch (one file for the batch and group)."""

import logging

from bertscope.attribution import layer_conductance
from bertscope.attribution_step import attribution_job
from bertscope.step import run_step
from bertscope.tables import layer_key, stored_summary
from bertscope.tensor_io import save_batch

log = logging.getLogger("bertscope")


def main(smk):
    model, device, examples = attribution_job(smk)
    layers = list(smk.params.layers)
    results = {}
    for example, tensors, inputs_record in examples:
        attributions, deltas = layer_conductance(
            model, tensors, layers, smk.params.n_steps, smk.params.internal_batch_size, smk.params.procedure
        )
        kept = {}
        for layer in layers:
            explained = inputs_record["token_to_explain"]
            summary = stored_summary(attributions[layer], explained, smk.params.attribution_storage)
            summary["delta"] = deltas[layer]
            kept.update({f"{layer_key(layer)}.{name}": value for name, value in summary.items()})
            log.info("%s layer %d: convergence deltas %s", example, layer, deltas[layer].tolist())
        record = {"source": "layer", "layers": layers, "n_steps": smk.params.n_steps, "device": device}
        record["procedure"] = smk.params.procedure
        results[example] = (kept, record)
    save_batch(smk.output.conductance, results)


if __name__ == "__main__":
    run_step(main, globals())
