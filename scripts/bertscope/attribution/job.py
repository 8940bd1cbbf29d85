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

    Args:
        smk: the Snakemake job object (``input.model``, ``input.inputs``, ``params.device``, ``params.examples``,
            ``threads``).
        attention_weights: load the model so that it returns attention weights
            (:func:`~bertscope.models.loading.load_model`).

    Returns:
        ``(model, device, examples)``: the model in eval mode on the device, the device's name (``cpu``, ``cuda:0``),
        and an iterator of ``(example id, tensors, inputs record)``, the example's (1, L) tensors on the device, read
        one example at a time and logged as it goes (``example 3 of 64``).
    """
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    model = load_model(smk.input.model, device, attention_weights)
    inputs = BatchFile(smk.input.inputs, framework="pt", device=str(device))
    examples = list(smk.params.examples)

    def each_example():
        """The batch's examples, one at a time, each logged before it is computed."""
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
    """The record an attribution file keeps per example: what was computed, how, and on which device.

    Args:
        smk: the Snakemake job object (``params.n_steps``, ``params.procedure``).
        source: what the file holds (``embeddings``, ``subembeddings``, ``layer``, ``attention``).
        device: the device's name.
        **extra: more fields (``layers`` of a conductance file, ...).

    Returns:
        A JSON-able dict.
    """
    params = smk.params
    record = {"source": source, "n_steps": params.n_steps, "device": device, "procedure": params.procedure}
    return {**record, "target": params.target, **extra}


def kept_tensors(attribution, delta, explained, storage: str, prefix: str = "") -> dict:
    """What a file keeps of one attribution (:func:`~bertscope.attribution.stored.stored_summary`) and its deltas.

    Args:
        attribution: (targets, tokens, hidden) tensor.
        delta: (targets,) convergence deltas.
        explained: the explained token's index, or None.
        storage: ``attribution_storage``.
        prefix: names the tensors ``prefix.name`` (a layer's :func:`~bertscope.attribution.stored.layer_key`);
            empty: plain names.

    Returns:
        ``{name: tensor}``: ``token_sums`` (targets, tokens), ``delta`` (targets,), and ``explained`` (targets, hidden)
        and ``attributions`` (targets, tokens, hidden) as stored_summary keeps them.
    """
    kept = {**stored_summary(attribution, explained, storage), "delta": delta}
    return {f"{prefix}.{name}" if prefix else name: value for name, value in kept.items()}


def log_deltas(example: str, what: str, delta) -> None:
    """Log an attribution's convergence deltas.

    Args:
        example: the example's id.
        what: the attribution (``embeddings``, ``layer 3``).
        delta: (2,) tensor: the start and end targets' deltas.
    """
    log.info("%s %s: convergence deltas start %.3g, end %.3g", example, what, *delta.tolist())


def conductance_kept(example: str, attributions: dict, deltas: dict, inputs_record: dict, storage: str) -> dict:
    """What a conductance file keeps of an example's layers, each layer's deltas logged.

    Args:
        example: the example's id.
        attributions: ``{layer: (targets, tokens, hidden)}`` conductance.
        deltas: ``{layer: (targets,)}`` convergence deltas.
        inputs_record: the example's inputs record (its ``token_to_explain``).
        storage: ``attribution_storage``.

    Returns:
        ``{name: tensor}`` with every layer's :func:`kept_tensors` under ``layer_NN.``.
    """
    kept = {}
    for layer, attribution in attributions.items():
        explained = inputs_record["token_to_explain"]
        kept.update(kept_tensors(attribution, deltas[layer], explained, storage, prefix=layer_key(layer)))
        log_deltas(example, f"layer {layer}", deltas[layer])
    return kept
