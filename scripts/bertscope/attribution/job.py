"""The step layer of the attribution scripts: a job's model, device and examples from Snakemake's job object."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bertscope.attribution.batching import group_limit, length_groups, pad_group, split_rows
from bertscope.attribution.part1 import activation_memory_budget, bytes_per_point
from bertscope.attribution.progress import Progress
from bertscope.attribution.stored import layer_key, stored_summary
from bertscope.models.loading import configure_torch, load_model, resolve_device
from bertscope.models.precision import compute_precision
from bertscope.pipeline.tensor_io import BatchFile

log = logging.getLogger("bertscope")


@dataclass
class ExampleGroup:
    """Examples of a job attributed together: their ids, inputs records, tokens and padded (B, L_max) tensors."""

    examples: list[str]
    records: list[dict]
    lengths: list[int]
    tensors: dict

    def split(self, rows, token_dims: tuple[int, ...] = (1,)) -> list:
        """:func:`~bertscope.attribution.batching.split_rows` of the group's result rows: one tensor per example."""
        return split_rows(rows, self.lengths, token_dims)


def attribution_job(smk, attention_weights: bool = False, min_points: int = 2, attention_layers: int = 0):
    """What every attribution step starts with: torch set up, the model on the device, and the batch's examples.

    Args:
        smk: Snakemake's job object (``params``: device, precision, internal_batch_size, examples).
        attention_weights: load the model so that it returns them (:func:`~bertscope.models.loading.load_model`).
        min_points: the fewest path points of a chunk of the step's attribution, which sizes the groups
            (:func:`~bertscope.attribution.batching.group_limit`).
        attention_layers: the layers whose attention probabilities' conductance the step takes (Part 2), which
            the groups' memory counts (:func:`~bertscope.attribution.part1.bytes_per_point`).

    Returns:
        The model, the device's name, and an iterator of :class:`ExampleGroup`: the examples sorted by length and
        cut into length buckets (:func:`~bertscope.attribution.batching.length_groups`), read one group at a time,
        each computed under the configured precision and logged as it starts, with the step, the batch and an
        estimate of the time left.
    """
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    model = load_model(smk.input.model, device, attention_weights)
    inputs = BatchFile(smk.input.inputs, framework="pt", device=str(device))
    lengths = {example: len(inputs.records[example]["tokens"]) for example in smk.params.examples}
    budget = activation_memory_budget(device)

    def limit(length: int) -> int:
        per_point = bytes_per_point(model.config, length, attention_layers)
        return group_limit(per_point, budget, smk.params.internal_batch_size, min_points)

    groups = length_groups(lengths, limit)
    pad_token_id = model.config.pad_token_id or 0
    progress = Progress(_job_name(smk), [len(group) * lengths[group[-1]] for group in groups])

    def each_group():
        done = 0
        for number, examples in enumerate(groups):
            what = f"{len(examples)} example{'s' if len(examples) > 1 else ''} of {lengths[examples[-1]]} tokens"
            progress.starting(number, what, done, len(lengths))
            tensors = pad_group([inputs.tensors(example) for example in examples], pad_token_id)
            with compute_precision(smk.params.precision, device):
                yield ExampleGroup(
                    examples, [inputs.records[e] for e in examples], [lengths[e] for e in examples], tensors
                )
            done += len(examples)
        progress.finished()

    return model, str(device), each_group()


def _job_name(smk) -> str:
    """The step and its batch (and layer group) for the log lines: ``attention b0003/layers_01-04``."""
    rule = getattr(smk, "rule", None) or "attribution"
    values = [str(value) for value in getattr(smk, "wildcards", None) or []]  # Snakemake's wildcards: a list
    return f"{rule} {'/'.join(values)}" if values else rule


def attribution_record(smk, source: str, device: str, **extra) -> dict:
    """The record an attribution file keeps per example: what was computed, how, and on which device."""
    params = smk.params
    return {
        "source": source,
        "n_steps": params.n_steps,
        "device": device,
        "procedure": params.procedure,
        "precision": params.precision,
        **extra,
    }


def kept_tensors(attribution, delta, explained, storage: str, prefix: str = "") -> dict:
    """What the file keeps of one attribution (:func:`stored_summary`) and its deltas, names under ``prefix.``."""
    kept = {**stored_summary(attribution, explained, storage), "delta": delta}
    return {f"{prefix}.{name}" if prefix else name: value for name, value in kept.items()}


def log_deltas(example: str, what: str, delta) -> None:
    log.info("%s %s: convergence deltas start %.3g, end %.3g", example, what, *delta.tolist())


def split_layers(group: ExampleGroup, attributions: dict, deltas: dict):
    """Each example's ``(id, inputs record, ({layer: (2, L_b, H)}, {layer: (2,)}))`` from a group's conductance."""
    per_layer = {layer: group.split(rows) for layer, rows in attributions.items()}
    per_layer_deltas = {layer: group.split(rows, ()) for layer, rows in deltas.items()}
    for index, (example, record) in enumerate(zip(group.examples, group.records, strict=True)):
        yield (
            example,
            record,
            (
                {layer: rows[index] for layer, rows in per_layer.items()},
                {layer: rows[index] for layer, rows in per_layer_deltas.items()},
            ),
        )


def conductance_kept(example: str, attributions: dict, deltas: dict, inputs_record: dict, storage: str) -> dict:
    """What a conductance file keeps of an example's layers, names under ``layer_NN.``, each layer's deltas logged."""
    kept = {}
    for layer, attribution in attributions.items():
        explained = inputs_record["token_to_explain"]
        kept.update(kept_tensors(attribution, deltas[layer], explained, storage, prefix=layer_key(layer)))
        log_deltas(example, f"layer {layer}", deltas[layer])
    return kept
