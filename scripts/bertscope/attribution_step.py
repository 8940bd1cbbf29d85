"""The step layer of the attribution scripts: a job's model, device and examples from Snakemake's job object."""

from __future__ import annotations

import logging

from bertscope.model import configure_torch, load_model, resolve_device
from bertscope.tensor_io import BatchFile

log = logging.getLogger("bertscope")


def attribution_job(smk):
    """What every attribution step starts with: torch set up, the model on the device, and the batch's examples.

    Returns the model, the device's name, and an iterator of (example id, its tensors on the device, its inputs
    record), read one example at a time and logged as it goes (``example 3 of 64``).
    """
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    model = load_model(smk.input.model, device)
    inputs = BatchFile(smk.input.inputs, framework="pt", device=str(device))
    examples = list(smk.params.examples)

    def each_example():
        for number, example in enumerate(examples, 1):
            log.info("example %d of %d: %s", number, len(examples), example)
            yield example, inputs.tensors(example), inputs.records[example]

    return model, str(device), each_example()
