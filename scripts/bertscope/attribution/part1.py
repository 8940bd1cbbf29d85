"""The tutorial's attributions, each computed for the start and the end target in one captum call.

The forward functions return ``(batch, 2)``: the max start logit and the max end logit. Inputs are repeated once
per target and captum's ``target`` picks column 0 (start) for the first row and 1 (end) for the second, so one
captum call over the integration path serves both targets; the model runs once per path point and each target
takes its own backward pass (:mod:`bertscope.attribution.captum_extensions`). Every result stacks the targets on
axis 0 in :data:`bertscope.TARGETS` order.
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
from bertscope.models.forward import forward_from_embedding_output, forward_from_embeddings, forward_from_ids
from bertscope.pipeline.schema import check_allowed, default

DEFAULT_BATCH = default("internal_batch_size")
DEFAULT_PROCEDURE = default("procedure")
AUTO_BATCH_MEMORY_BYTES = 1.5 * 2**30
CONDUCTANCE_MIN_POINTS = 4
"""captum's conductance chunks share their boundary path point (it differences consecutive points), so a chunk of k
points computes k - 1 new ones: at least 4 keeps the repeated work to a quarter (at 2, half of it is repeated;
measured on a 384-token example, bert-base-shaped: 15.3 s and 1.4 GiB at 2 points, 11.1 s and 2.0 GiB at 4)."""


def per_target(tensor: torch.Tensor) -> torch.Tensor:
    """Repeat a batch-of-one tensor once per target along axis 0."""
    return tensor.expand(len(TARGETS), *tensor.shape[1:]).contiguous()


def auto_internal_batch_size(
    config, sequence_length: int, memory_bytes: float = AUTO_BATCH_MEMORY_BYTES, min_points: int = 2
) -> int:
    """How many captum rows fit one chunk: enough to keep torch busy, bounded by ``memory_bytes``.

    A chunk of captum rows runs the model on one row per path point (the targets share it), and the estimate
    counts the activations autograd keeps for such a row, per token and encoder layer: about 14 hidden-size
    vectors, 2 intermediate-size ones and the attention scores. The result is at least ``min_points`` path
    points (2, the least captum's conductance accepts, by default).
    """
    floats_per_token_layer = (
        14 * config.hidden_size + 2 * intermediate_size(config) + 3 * config.num_attention_heads * sequence_length
    )
    bytes_per_point = 4 * floats_per_token_layer * sequence_length * config.num_hidden_layers
    return len(TARGETS) * max(min_points, int(memory_bytes // bytes_per_point))


def activation_memory_budget(device: torch.device) -> float:
    """Bytes of activations one chunk may keep: a fixed budget on the CPU (bounded RSS), on a GPU half of what is
    free on the card once the model is there (large chunks are what keeps a GPU busy)."""
    if device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free_bytes
    return AUTO_BATCH_MEMORY_BYTES


def chunk_rows(model, tensors, internal_batch_size, min_points: int = 2) -> int:
    if internal_batch_size in (None, "auto"):
        ids = tensors["input_ids"]
        budget = activation_memory_budget(ids.device)
        return auto_internal_batch_size(model.config, ids.shape[1], budget, min_points=min_points)
    return int(internal_batch_size)


def embedding_lig(model, tensors: dict, n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """Layer Integrated Gradients on the whole embedding module: attributions (2, L, H) and deltas (2,)."""
    lig = SharedPassLayerIntegratedGradients(forward_from_ids(model), embeddings(model))
    attributions, delta = lig.attribute(
        inputs=per_target(tensors["input_ids"]),
        baselines=per_target(tensors["ref_input_ids"]),
        additional_forward_args=(
            per_target(tensors["token_type_ids"]),
            per_target(tensors["position_ids"]),
            per_target(tensors["attention_mask"]),
        ),
        target=TARGET_COLUMNS,
        n_steps=n_steps,
        internal_batch_size=chunk_rows(model, tensors, internal_batch_size),
        return_convergence_delta=True,
    )
    return attributions.detach(), delta.detach()


def subembedding_lig(model, tensors: dict, n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """LIG over the word, token-type and position embeddings at once (those the model's family has).

    Returns ``{name: (2, L, H)}`` for the family's sub-embeddings (:func:`bertscope.models.families.subembeddings`,
    in :data:`bertscope.SUBEMBEDDINGS` order: RoBERTa and DistilBERT no token-type one, DeBERTa-v3 only the
    word one) and deltas (2,): together they are complete, their sum over tokens and dimensions ≈
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
        additional_forward_args=(per_target(tensors["attention_mask"]),),
        target=TARGET_COLUMNS,
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


def _output_difference(forward, inputs, baselines, mask) -> torch.Tensor:
    """F(input) − F(reference) per target, (2,)."""
    with torch.no_grad():
        rows = torch.arange(len(TARGETS))
        return forward(inputs, mask)[rows, rows] - forward(baselines, mask)[rows, rows]


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
        additional_forward_args=(mask,),
        target=TARGET_COLUMNS,
        n_steps=conductance_differences(n_steps, procedure),
        internal_batch_size=chunk_rows(model, tensors, internal_batch_size, CONDUCTANCE_MIN_POINTS),
    )
    return results, (inputs, baselines), _output_difference(forward, inputs, baselines, mask)


def _per_layer(layers, attributions, difference):
    """``{layer: (2, L, H)}`` and ``{layer: (2,)}`` convergence deltas (the sum minus the output difference)."""
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
    and evaluates the embedding LIG's path points (:func:`conductance_differences`). Returns ``{layer: (2, L, H)}``
    and ``{layer: (2,)}`` convergence deltas: each layer's conductance summed over tokens and dimensions minus
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
