"""The step layer of the attribution scripts: a job's model, device and examples from Snakemake's job object."""

from __future__ import annotations

import logging

import torch

from bertscope.attribution.stored import layer_key, stored_summary
from bertscope.models.forward import EXPLAINED_POSITIONS
from bertscope.models.loading import configure_torch, load_model, resolve_device
from bertscope.pipeline.schema import check_allowed
from bertscope.pipeline.tensor_io import BatchFile

log = logging.getLogger("bertscope")


def attribution_job(smk, attention_weights: bool = False):
    """What every attribution step starts with: torch set up, the model on the device, and the batch's examples.
    ``attention_weights``: load the model so that it returns them (:func:`~bertscope.models.loading.load_model`).

    Returns the model, the device's name, and an iterator of (example id, its tensors on the device, its inputs
    record), read one example at a time and logged as it goes (``example 3 of 64``).
    """
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    model = load_model(smk.input.model, device, attention_weights)
    inputs = BatchFile(smk.input.inputs, framework="pt", device=str(device))
    examples = list(smk.params.examples)

    def each_example():
        for number, example in enumerate(examples, 1):
            log.info("example %d of %d: %s", number, len(examples), example)
            tensors, record = inputs.tensors(example), inputs.records[example]
            yield example, with_target(tensors, record, smk.params.target), record

    return model, str(device), each_example()


def with_target(tensors: dict, record: dict, target: str) -> dict:
    """The example's tensors with the explained positions of ``target: predicted_logit`` (the start and end the
    model predicts on the real input, fixed along the path); unchanged for ``max_logit`` (the tutorial's).

    Args:
        tensors: the example's input tensors, (1, L) each.
        record: its inputs record (``predicted_start``, ``predicted_end``).
        target: the ``target`` setting.

    Returns:
        ``tensors``, with :data:`~bertscope.models.forward.EXPLAINED_POSITIONS` (1, 2) long for ``predicted_logit``.
    """
    check_allowed("target", target)
    if target == "max_logit":
        return tensors
    device = tensors["input_ids"].device
    positions = torch.tensor([[record["predicted_start"], record["predicted_end"]]], dtype=torch.long, device=device)
    return {**tensors, EXPLAINED_POSITIONS: positions}


def attribution_record(smk, source: str, device: str, **extra) -> dict:
    """The record an attribution file keeps per example: what was computed, how, and on which device."""
    params = smk.params
    record = {"source": source, "n_steps": params.n_steps, "device": device, "procedure": params.procedure}
    return {**record, "target": params.target, **extra}


def kept_tensors(attribution, delta, explained, storage: str, prefix: str = "") -> dict:
    """What the file keeps of one attribution (:func:`stored_summary`) and its deltas, names under ``prefix.``."""
    kept = {**stored_summary(attribution, explained, storage), "delta": delta}
    return {f"{prefix}.{name}" if prefix else name: value for name, value in kept.items()}


def log_deltas(example: str, what: str, delta) -> None:
    log.info("%s %s: convergence deltas start %.3g, end %.3g", example, what, *delta.tolist())


def conductance_kept(example: str, attributions: dict, deltas: dict, inputs_record: dict, storage: str) -> dict:
    """What a conductance file keeps of an example's layers, names under ``layer_NN.``, each layer's deltas logged."""
    kept = {}
    for layer, attribution in attributions.items():
        explained = inputs_record["token_to_explain"]
        kept.update(kept_tensors(attribution, deltas[layer], explained, storage, prefix=layer_key(layer)))
        log_deltas(example, f"layer {layer}", deltas[layer])
    return kept
