"""The step layer of the attribution scripts: a job's model, device and examples from Snakemake's job object."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from bertscope.attribution.batching import group_limit, length_groups, pad_group, split_rows
from bertscope.attribution.part1 import activation_memory_budget, bytes_per_point
from bertscope.attribution.progress import Progress
from bertscope.attribution.stored import layer_key, stored_summary
from bertscope.evaluation.convergence import AUTO_KEYS, Converged, StepsPlan, relative_delta, steps_plan
from bertscope.models.forward import EXPLAINED_POSITIONS
from bertscope.models.loading import configure_torch, load_model, resolve_device
from bertscope.models.precision import compute_precision
from bertscope.pipeline.schema import check_allowed
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

    def subset(self, indices: list[int]) -> ExampleGroup:
        """The group of examples ``indices`` (in this group's order), padded to the longest of them only: the
        examples ``n_steps: auto`` re-runs (:func:`~bertscope.evaluation.convergence.group_until_converged`)."""
        lengths = [self.lengths[index] for index in indices]
        rows = torch.tensor(indices, device=self.tensors["input_ids"].device)
        tensors = {
            name: tensor[rows] if name == EXPLAINED_POSITIONS else tensor[rows, : max(lengths)]
            for name, tensor in self.tensors.items()
        }
        return ExampleGroup(
            [self.examples[index] for index in indices], [self.records[index] for index in indices], lengths, tensors
        )


def batch_units(smk) -> list[str]:
    """The explained units of a job's batch, in order: every record of its inputs file, each example's (with the
    example's id) and, with ``explain_windows: all``, the other windows of its long contexts
    (:func:`bertscope.data.prepare.prepare_example`).

    Args:
        smk: Snakemake's job object (``input.inputs``).

    Returns:
        The units' ids; the batch's example ids when every example is one unit.
    """
    return BatchFile(smk.input.inputs).examples


def attribution_job(
    smk, attention_weights: bool = False, min_points: int = 2, attention_layers: int = 0, units: list[str] | None = None
):
    """What every attribution step starts with: torch set up, the model on the device, and the batch's examples.

    Args:
        smk: Snakemake's job object (``input.model``, ``input.inputs``, ``threads``; ``params``: device, precision,
            fused_activations, internal_batch_size, target, examples).
        attention_weights: load the model so that it returns them (:func:`~bertscope.models.loading.load_model`).
        min_points: the fewest path points of a chunk of the step's attribution, which sizes the groups
            (:func:`~bertscope.attribution.batching.group_limit`).
        attention_layers: the layers whose attention probabilities' conductance the step takes (Part 2), which
            the groups' memory counts (:func:`~bertscope.attribution.part1.bytes_per_point`).
        units: the inputs file's units to attribute (:func:`batch_units`); None: the batch's examples
            (``params.examples``: each example's prediction window).

    Returns:
        The model, the device's name, and an iterator of :class:`ExampleGroup`: the examples sorted by length and
        cut into length buckets (:func:`~bertscope.attribution.batching.length_groups`), read one group at a time,
        each computed under the configured precision and logged as it starts, with the step, the batch and an
        estimate of the time left; with ``target: predicted_logit`` its tensors carry the explained positions
        (:func:`with_target`).
    """
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    model = load_model(smk.input.model, device, attention_weights, smk.params.fused_activations)
    inputs = BatchFile(smk.input.inputs, framework="pt", device=str(device))
    lengths = {unit: len(inputs.records[unit]["tokens"]) for unit in (smk.params.examples if units is None else units)}
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
            records = [inputs.records[example] for example in examples]
            tensors = pad_group([inputs.tensors(example) for example in examples], pad_token_id)
            tensors = with_target(tensors, records, smk.params.target)
            with compute_precision(smk.params.precision, device):
                yield ExampleGroup(examples, records, [lengths[example] for example in examples], tensors)
            done += len(examples)
        progress.finished()

    return model, str(device), each_group()


def each_example(groups):
    """The examples of an attribution job's groups one by one, each with its own unpadded tensors: for the steps
    that treat one example at a time (faithfulness, the sanity cascade).

    Args:
        groups: :func:`attribution_job`'s iterator of :class:`ExampleGroup`.

    Yields:
        ``(example id, tensors, inputs record)``, the tensors (1, L_b) each (the explained positions (1, 2)).
    """
    for group in groups:
        for index, (example, record, length) in enumerate(
            zip(group.examples, group.records, group.lengths, strict=True)
        ):
            yield example, _unpadded(group.tensors, index, length), record


def _unpadded(tensors: dict, index: int, length: int) -> dict:
    """Example ``index``'s rows of a group's tensors, cut to its ``length`` tokens."""
    rows = {name: tensor[index : index + 1] for name, tensor in tensors.items()}
    return {name: row if name == EXPLAINED_POSITIONS else row[:, :length] for name, row in rows.items()}


def with_target(tensors: dict, records: list[dict], target: str) -> dict:
    """A group's tensors with the explained positions of ``target: predicted_logit`` (the start and end the model
    predicts on each real input, fixed along the path); unchanged for ``max_logit`` (the tutorial's).

    Args:
        tensors: the group's padded input tensors, (B, L) each.
        records: its examples' inputs records (``predicted_start``, ``predicted_end``), in the group's order.
        target: the ``target`` setting.

    Returns:
        ``tensors``, with :data:`~bertscope.models.forward.EXPLAINED_POSITIONS` (B, 2) long for ``predicted_logit``.
    """
    check_allowed("target", target)
    if target == "max_logit":
        return tensors
    device = tensors["input_ids"].device
    spans = [[record["predicted_start"], record["predicted_end"]] for record in records]
    return {**tensors, EXPLAINED_POSITIONS: torch.tensor(spans, dtype=torch.long, device=device)}


def _job_name(smk) -> str:
    """The step and its batch (and layer group) for the log lines: ``attention b0003/layers_01-04``."""
    rule = getattr(smk, "rule", None) or "attribution"
    values = [str(value) for value in getattr(smk, "wildcards", None) or []]  # Snakemake's wildcards: a list
    return f"{rule} {'/'.join(values)}" if values else rule


def steps_of(smk) -> StepsPlan:
    """The :class:`~bertscope.evaluation.convergence.StepsPlan` of a step's ``params`` (``n_steps`` and, with
    ``auto``, ``n_steps_min``, ``n_steps_max``, ``n_steps_tolerance``)."""
    params = smk.params
    return steps_plan(params.n_steps, {key: getattr(params, key) for key in AUTO_KEYS if hasattr(params, key)})


def attribution_record(smk, source: str, device: str, outcome: Converged, part: slice = slice(None), **extra) -> dict:
    """The record an attribution file keeps per example: what was computed, how, and on which device.

    Args:
        smk: the Snakemake job object (``params``: n_steps, procedure, precision, fused_activations, target).
        source: what the file holds (``embeddings``, ``subembeddings``, ``layer``, ``attention``).
        device: the device's name.
        outcome: the example's tries (:meth:`~bertscope.evaluation.convergence.Converged.record`: ``n_steps``, the
            steps used, ``converged``, ``tries``).
        part: the relative deltas of the tries that are this file's (the embeddings' of a shared pass: the first 2).
        **extra: more fields (``layers`` of a conductance file, ...).

    Returns:
        A JSON-able dict.
    """
    params = smk.params
    return {
        "source": source,
        **outcome.record(part),
        "device": device,
        "procedure": params.procedure,
        "precision": params.precision,
        "fused_activations": params.fused_activations,
        "target": params.target,
        **extra,
    }


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


def split_layers(group: ExampleGroup, attributions: dict, deltas: dict):
    """Each example's ``(id, inputs record, ({layer: (2, L_b, H)}, {layer: (2,)}))`` from a group's conductance.

    Args:
        group: the group the conductance was computed for.
        attributions: ``{layer: (B·2, L_max, H)}`` the group's rows (row 2b+t: example b, target t).
        deltas: ``{layer: (B·2,)}`` their convergence deltas.

    Yields:
        Per example of the group, in its order: its id, its inputs record, and its layers' unpadded conductance
        and deltas.
    """
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


def lig_tries(attribution):
    """The ``attribute`` of :func:`~bertscope.evaluation.convergence.group_until_converged` for an LIG.

    Args:
        attribution: ``(tensors, steps) -> (rows, deltas)``: the group's (2B, L, H) rows or ``{name: rows}`` (the
            sub-embeddings, complete together) and (2B,) deltas, e.g.
            :func:`~bertscope.attribution.part1.embedding_lig`.

    Returns:
        ``(group, steps) -> [((attribution (2, L_b, H) or {name: ...}, delta (2,)), relative deltas (2,)), ...]``.
    """

    def attribute(group: ExampleGroup, steps: int) -> list:
        attributions, deltas = attribution(group.tensors, steps)
        if isinstance(attributions, dict):
            per_name = {name: group.split(rows) for name, rows in attributions.items()}
            examples = [{name: rows[index] for name, rows in per_name.items()} for index in range(len(group.examples))]
        else:
            examples = group.split(attributions)
        pairs = zip(examples, group.split(deltas, ()), strict=True)
        return [((example, delta), relative_delta(example, delta)) for example, delta in pairs]

    return attribute


def layers_relative(attributions: dict, deltas: dict) -> np.ndarray:
    """The relative deltas of an example's layers, (2·layers,): each layer's start and end, in increasing layer order
    (:func:`~bertscope.evaluation.convergence.relative_delta`)."""
    return np.concatenate([relative_delta(attributions[layer], deltas[layer]) for layer in sorted(attributions)])


def conductance_tries(attribution):
    """The ``attribute`` of :func:`~bertscope.evaluation.convergence.group_until_converged` for conductance: an
    example converges when every layer of the job does (they share the passes).

    Args:
        attribution: ``(tensors, steps) -> ({layer: (2B, L, H)}, {layer: (2B,)})``, e.g.
            :func:`~bertscope.attribution.part1.layer_conductance`.

    Returns:
        ``(group, steps) -> [(({layer: (2, L_b, H)}, {layer: (2,)}), relative deltas (2·layers,)), ...]``.
    """

    def attribute(group: ExampleGroup, steps: int) -> list:
        attributions, deltas = attribution(group.tensors, steps)
        return [(pair, layers_relative(*pair)) for _, _, pair in split_layers(group, attributions, deltas)]

    return attribute
