"""The tutorial's attributions, each computed for the start and the end target in one captum call.

The forward functions return ``(batch, 2)``: the max start logit and the max end logit. Inputs are repeated once
per target and captum's ``target`` picks column 0 (start) for the first row and 1 (end) for the second, so one
captum call over the integration path serves both targets; the model runs once per path point and each target
takes its own backward pass (:mod:`bertscope.attribution.captum_extensions`). Every result stacks the targets on
axis 0 in :data:`bertscope.TARGETS` order.

Every function takes a group of B examples, ``tensors`` of shape (B, L) padded to the longest with the attention
mask 0 on the padding (one example: B = 1), and returns rows example-major and target-minor (row ``2b + t``:
example b, target t), (2B, L, ...), padded positions included; :func:`bertscope.attribution.batching.split_rows`
cuts them into each example's (2, L_b, ...).
"""

from __future__ import annotations

import warnings

import torch

from bertscope import TARGETS
from bertscope.attribution.captum_extensions import (
    TARGET_COLUMNS,
    MultiLayerConductance,
    SharedPassLayerIntegratedGradients,
)
from bertscope.models.families import (
    embeddings,
    encoder_layers,
    forward_arguments,
    intermediate_size,
    subembeddings,
)
from bertscope.models.forward import (
    forward_from_embedding_output,
    forward_from_embeddings,
    forward_from_ids,
    target_positions,
)
from bertscope.pipeline.schema import check_allowed, default

DEFAULT_BATCH = default("internal_batch_size")
DEFAULT_PROCEDURE = default("procedure")
AUTO_BATCH_MEMORY_BYTES = 1.5 * 2**30
CONDUCTANCE_MIN_POINTS = 4
"""captum's conductance chunks share their boundary path point (it differences consecutive points), so a chunk of k
points computes k - 1 new ones: at least 4 keeps the repeated work to a quarter (at 2, half of it is repeated;
measured on a 384-token example, bert-base-shaped: 15.3 s and 1.4 GiB at 2 points, 11.1 s and 2.0 GiB at 4)."""


def per_target(tensor: torch.Tensor) -> torch.Tensor:
    """Repeat each example's row once per target along axis 0: (B, ...) → (B·targets, ...), row ``2b + t`` is
    example b and target t (:mod:`bertscope.attribution.batching`)."""
    return tensor.repeat_interleave(len(TARGETS), dim=0)


def target_columns(tensors: dict) -> list[int]:
    """captum's ``target`` for the rows of :func:`per_target`: start, end, start, end, … for the B examples."""
    return TARGET_COLUMNS * tensors["input_ids"].shape[0]


ATTENTION_FLOATS_PER_PAIR = 8
"""Floats per head and token pair that the conductance of a layer's attention probabilities (Part 2) keeps per path
point beyond the forward's activations: for each of the 2 targets their gradient, the evaluation repeated per
target, the step differences and the product of the two. At 300 tokens on the demo model that is 1.9 times the
forward's activations: without it, chunks sized for 1.5 GiB held about 4.6 GB (two Part 2 jobs of 3.7 GB each were
seen with the 1.5 GiB budget)."""


def bytes_per_point(config, sequence_length: int, attention_layers: int = 0) -> float:
    """The activations autograd keeps for one example's path point (one row: the targets share it), per token and
    encoder layer about 14 hidden-size vectors, 2 intermediate-size ones and the attention scores; plus, for the
    ``attention_layers`` whose attention probabilities' conductance Part 2 takes, :data:`ATTENTION_FLOATS_PER_PAIR`
    per head and token pair."""
    heads = config.num_attention_heads
    floats_per_token_layer = 14 * config.hidden_size + 2 * intermediate_size(config) + 3 * heads * sequence_length
    floats = floats_per_token_layer * sequence_length * config.num_hidden_layers
    floats += ATTENTION_FLOATS_PER_PAIR * heads * sequence_length**2 * attention_layers
    return 4 * floats


def auto_internal_batch_size(
    config,
    sequence_length: int,
    memory_bytes: float = AUTO_BATCH_MEMORY_BYTES,
    min_points: int = 2,
    examples: int = 1,
    attention_layers: int = 0,
) -> int:
    """How many captum rows fit one chunk: enough to keep torch busy, bounded by ``memory_bytes``.

    Args:
        config: the model's config (sizes).
        sequence_length: the (padded) tokens of the examples.
        memory_bytes: the activation budget of one chunk.
        min_points: the fewest path points per chunk (2, the least captum's conductance accepts, by default).
        examples: the examples attributed together (a group, :mod:`bertscope.attribution.batching`).
        attention_layers: the layers whose attention probabilities' conductance is taken (Part 2).

    Returns:
        Rows: every target of every example, times the path points that fit (at least ``min_points``).
    """
    per_point = examples * bytes_per_point(config, sequence_length, attention_layers)
    points = max(min_points, int(memory_bytes // per_point))
    return len(TARGETS) * examples * points


def activation_memory_budget(device: torch.device) -> float:
    """Bytes of activations one chunk may keep: a fixed budget on the CPU (bounded RSS), on a GPU half of what is
    free on the card once the model is there (large chunks are what keeps a GPU busy)."""
    if device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free_bytes
    return AUTO_BATCH_MEMORY_BYTES


def chunk_rows(model, tensors, internal_batch_size, min_points: int = 2, attention_layers: int = 0) -> int:
    """captum's ``internal_batch_size`` for the (B, L) ``tensors``: ``auto`` sized to the device's budget."""
    if internal_batch_size in (None, "auto"):
        ids = tensors["input_ids"]
        budget = activation_memory_budget(ids.device)
        return auto_internal_batch_size(
            model.config, ids.shape[1], budget, min_points, examples=ids.shape[0], attention_layers=attention_layers
        )
    return int(internal_batch_size)


def embedding_lig(model, tensors: dict, n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """Layer Integrated Gradients on the whole embedding module: attributions (2B, L, H) and deltas (2B,)."""
    lig = SharedPassLayerIntegratedGradients(forward_from_ids(model), embeddings(model))
    attributions, delta = lig.attribute(
        inputs=per_target(tensors["input_ids"]),
        baselines=per_target(tensors["ref_input_ids"]),
        additional_forward_args=(
            per_target(tensors["token_type_ids"]),
            per_target(tensors["position_ids"]),
            per_target(tensors["attention_mask"]),
            *target_positions(tensors),
        ),
        target=target_columns(tensors),
        n_steps=n_steps,
        internal_batch_size=chunk_rows(model, tensors, internal_batch_size),
        return_convergence_delta=True,
    )
    return attributions.detach(), delta.detach()


def subembedding_lig(model, tensors: dict, n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """LIG over the word, token-type and position embeddings at once (those the model's family has).

    Returns ``{name: (2B, L, H)}`` for the family's sub-embeddings (:func:`bertscope.models.families.subembeddings`,
    in :data:`bertscope.SUBEMBEDDINGS` order: RoBERTa and DistilBERT no token-type one, DeBERTa-v3 only the
    word one) and deltas (2B,): together they are complete, their sum over tokens and dimensions ≈
    F(input) − F(reference).
    """
    layers = subembeddings(model)
    with warnings.catch_warnings():
        # captum warns that layers must not feed each other; the sub-embeddings are parallel, summed after.
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = SharedPassLayerIntegratedGradients(forward_from_ids(model), list(layers.values()))
    attributions, delta = lig.attribute(
        inputs=tuple(per_target(tensors[name]) for name in ("input_ids", "token_type_ids", "position_ids")),
        baselines=tuple(
            per_target(tensors[name]) for name in ("ref_input_ids", "ref_token_type_ids", "ref_position_ids")
        ),
        additional_forward_args=(per_target(tensors["attention_mask"]), *target_positions(tensors)),
        target=target_columns(tensors),
        n_steps=n_steps,
        internal_batch_size=chunk_rows(model, tensors, internal_batch_size),
        return_convergence_delta=True,
    )
    return {name: attribution.detach() for name, attribution in zip(layers, attributions, strict=True)}, delta.detach()


@torch.no_grad()
def conductance_embeddings(model, tensors: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The embedding outputs of the input and of the reference: the two ends of the embedding LIG's path.

    Both use the input's token types and positions (only the ids differ: the reference is ``[PAD]`` with
    ``[CLS]``/``[SEP]`` kept), as LIG on the embedding layer builds them and as the tutorial builds its conductance
    path (its helper takes reference token types and positions and ignores them).
    """
    module = embeddings(model)
    arguments = forward_arguments(model, tensors["token_type_ids"], tensors["position_ids"])
    return module(tensors["input_ids"], **arguments), module(tensors["ref_input_ids"], **arguments)


def conductance_differences(n_steps: int, procedure: str) -> int:
    """captum's ``n_steps`` for conductance: the differences between consecutive path points it sums.

    ``tutorial``: ``n_steps`` differences, captum's own meaning (``n_steps + 1`` Gauss-Legendre points).
    ``corrected``: the embedding LIG's ``n_steps`` points, so that both come from the same forward passes
    (:func:`path_attribution`): ``n_steps − 1`` differences.
    """
    check_allowed("procedure", procedure)
    return n_steps if procedure == "tutorial" else n_steps - 1


def output_difference(forward, inputs, baselines, *arguments) -> torch.Tensor:
    """F(input) − F(reference) of each row's target, (B·targets,): what a complete attribution's sum equals.

    Args:
        forward: ``(inputs, *arguments) -> (B·targets, 2)`` (:mod:`bertscope.models.forward`).
        inputs: the :func:`per_target` rows of the path's input end.
        baselines: those of its reference end.
        *arguments: the forward's further arguments (mask, explained positions, ...), per target too.

    Returns:
        (B·targets,) fp32, row ``2b + t`` target t's column of example b.
    """
    with torch.no_grad():
        rows = torch.arange(inputs.shape[0], device=inputs.device)
        columns = rows % len(TARGETS)
        difference = forward(inputs, *arguments)[rows, columns] - forward(baselines, *arguments)[rows, columns]
        return difference.float()


def _conductance(model, tensors, layers, n_steps, internal_batch_size, procedure, integrate_inputs=False):
    """MultiLayerConductance over the procedure's path: the per-layer results, then (with ``integrate_inputs``)
    the embedding output's weighted gradient sum; the path ends and the output difference."""
    forward = (forward_from_embeddings if procedure == "tutorial" else forward_from_embedding_output)(model)
    input_embeddings, reference_embeddings = conductance_embeddings(model, tensors)
    inputs, baselines = per_target(input_embeddings), per_target(reference_embeddings)
    mask = per_target(tensors["attention_mask"])
    modules = encoder_layers(model)
    conductance = MultiLayerConductance(
        forward, [modules[layer - 1] for layer in layers], integrate_inputs=integrate_inputs
    )
    results = conductance.attribute(
        inputs=inputs,
        baselines=baselines,
        additional_forward_args=(mask, *target_positions(tensors)),
        target=target_columns(tensors),
        n_steps=conductance_differences(n_steps, procedure),
        internal_batch_size=chunk_rows(model, tensors, internal_batch_size, CONDUCTANCE_MIN_POINTS),
    )
    difference = output_difference(forward, inputs, baselines, mask, *target_positions(tensors))
    return results, (inputs, baselines), difference


def _per_layer(layers, attributions, difference):
    """``{layer: (2B, L, H)}`` and ``{layer: (2B,)}`` convergence deltas (the sum minus the output difference)."""
    results = {layer: attribution.detach() for layer, attribution in zip(layers, attributions, strict=True)}
    return results, {layer: results[layer].sum(dim=(1, 2)) - difference for layer in layers}


def layer_conductance(
    model,
    tensors: dict,
    layers: list[int],
    n_steps: int,
    internal_batch_size=DEFAULT_BATCH,
    procedure: str = DEFAULT_PROCEDURE,
):
    """Conductance of encoder layers ``layers`` (1-based, as in every table and file name) for start and end.

    ``tutorial`` feeds the embedding outputs to BERT as ``inputs_embeds``, which embeds them a second time (position
    and token-type embeddings, layer norm), as the tutorial does; ``corrected`` feeds them to the encoder directly
    and evaluates the embedding LIG's path points (:func:`conductance_differences`). Returns ``{layer: (2B, L, H)}``
    and ``{layer: (2B,)}`` convergence deltas: each layer's conductance summed over tokens and dimensions minus
    F(input) − F(reference).
    """
    attributions, _, difference = _conductance(model, tensors, layers, n_steps, internal_batch_size, procedure)
    return _per_layer(layers, attributions, difference)


def path_attribution(model, tensors: dict, layers: list[int], n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """The ``corrected`` procedure's embedding LIG and conductance of ``layers`` from one pass over the path.

    LIG on the embedding layer and corrected conductance follow the same path (the encoder fed the interpolated
    embedding output) at the same ``n_steps`` points, so one forward and one backward per target at each point
    give both. Returns what :func:`embedding_lig` and :func:`layer_conductance` return for ``corrected``, in that
    order; the numbers equal theirs up to float summation order.
    """
    results, (inputs, baselines), difference = _conductance(
        model, tensors, layers, n_steps, internal_batch_size, "corrected", integrate_inputs=True
    )
    *conductance, gradient_integral = results
    lig = (gradient_integral * (inputs - baselines)).detach()
    return (lig, lig.sum(dim=(1, 2)) - difference), _per_layer(layers, conductance, difference)
