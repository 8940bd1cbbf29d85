"""The three attributions of the tutorial, each computed for the start and the end target in one captum call.

The forward functions return ``(batch, 2)``: the max start logit and the max end logit. Inputs are repeated once
per target and captum's ``target`` picks column 0 (start) for the first row and 1 (end) for the second, so one
captum call over the integration path serves both targets. The two rows of a path point are the same input, so
the gradient step runs the model once per path point and takes one backward pass per target from that shared
forward (:func:`gradients_per_target`), instead of running the model on both copies. Every result stacks the
targets on axis 0 in :data:`bertscope.TARGETS` order.
"""

from __future__ import annotations

import warnings

import torch
from captum._utils.common import _expand_additional_forward_args, _format_additional_forward_args
from captum._utils.gradient import _forward_layer_distributed_eval
from captum.attr import LayerConductance, LayerIntegratedGradients
from captum.attr._utils.approximation_methods import approximation_parameters
from captum.attr._utils.common import _reshape_and_sum

from bertscope import SUBEMBEDDINGS, TARGETS
from bertscope.model import forward_from_embedding_output, forward_from_embeddings, forward_from_ids

TARGET_COLUMNS = list(range(len(TARGETS)))

AUTO_BATCH_MEMORY_BYTES = 1.5 * 2**30
CONDUCTANCE_MIN_POINTS = 4
"""captum's conductance chunks share their boundary path point (it differences consecutive points), so a chunk of k
points computes k - 1 new ones: at least 4 keeps the repeated work to a quarter (at 2, half of it is repeated;
measured on a 384-token example, bert-base-shaped: 15.3 s and 1.4 GiB at 2 points, 11.1 s and 2.0 GiB at 4)."""


def per_target(tensor: torch.Tensor) -> torch.Tensor:
    """Repeat a batch-of-one tensor once per target along axis 0."""
    return tensor.expand(len(TARGETS), *tensor.shape[1:]).contiguous()


def first_target_rows(tensor: torch.Tensor) -> torch.Tensor:
    """One row per path point from captum's target-interleaved rows (point 0 start, point 0 end, point 1 start, …).

    The rows of one path point are copies of the same input (see :func:`per_target`); anything else means the
    inputs were not built that way, and sharing the forward pass would be wrong.
    """
    rows = tensor.reshape(-1, len(TARGETS), *tensor.shape[1:])
    if not all(torch.equal(rows[:, 0], rows[:, column]) for column in TARGET_COLUMNS[1:]):
        raise ValueError("shared-pass attribution needs the inputs repeated once per target (per_target)")
    return rows[:, 0]


def first_target_arguments(arguments) -> tuple:
    """:func:`first_target_rows` of every tensor among a forward function's extra arguments; others unchanged."""
    return tuple(first_target_rows(argument) if torch.is_tensor(argument) else argument for argument in arguments)


def check_target_columns(target) -> None:
    """Shared passes compute every target for every path point: ``target`` must be captum's expansion of
    :data:`TARGET_COLUMNS` (0, 1, 0, 1, …), which is what the attribution functions here pass."""
    columns = list(target) if isinstance(target, (list, tuple)) else None
    if not columns or columns != TARGET_COLUMNS * (len(columns) // len(TARGET_COLUMNS)):
        raise ValueError(f"shared-pass attribution needs target={TARGET_COLUMNS} (one row per target), not {target}")


def gradients_per_target(output: torch.Tensor, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Gradients of each target column of ``output`` (points, targets) w.r.t. ``tensors``, one backward pass each.

    The forward graph is kept between the passes. Rows come back target-interleaved, as captum lays them out:
    the gradients of point 0 for start and end, then point 1's, and so on.
    """
    per_column = [
        torch.autograd.grad(output[:, column].sum(), tensors, retain_graph=column < len(TARGET_COLUMNS) - 1)
        for column in TARGET_COLUMNS
    ]
    return tuple(torch.stack(grads, dim=1).flatten(0, 1) for grads in zip(*per_column, strict=True))


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
        14 * config.hidden_size + 2 * config.intermediate_size + 3 * config.num_attention_heads * sequence_length
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


def _batch_size(model, tensors, internal_batch_size, min_points: int = 2) -> int:
    if internal_batch_size in (None, "auto"):
        ids = tensors["input_ids"]
        budget = activation_memory_budget(ids.device)
        return auto_internal_batch_size(model.config, ids.shape[1], budget, min_points=min_points)
    return int(internal_batch_size)


class SharedPassLayerIntegratedGradients(LayerIntegratedGradients):
    """captum's :class:`LayerIntegratedGradients` with the targets' gradients taken from one shared forward pass.

    captum's gradient step replaces the layers' outputs with the scaled path values (forward hooks) and runs the
    model on every row. This one does the same on one row per path point and takes the gradients of each target
    from that pass; everything else (path, chunking, Riemann/Gauss-Legendre sums, convergence delta) is captum's.
    """

    def _make_gradient_func(self, num_outputs_cumsum, attribute_to_layer_input, grad_kwargs):
        layers = self.layer if isinstance(self.layer, list) else [self.layer]
        if attribute_to_layer_input or grad_kwargs or self.device_ids:
            raise ValueError("shared-pass LIG supports layer outputs on one device, without grad_kwargs")

        def gradient_func(forward_fn, inputs, target_ind=None, additional_forward_args=None):
            check_target_columns(target_ind)
            path_values = tuple(first_target_rows(value).detach().requires_grad_() for value in inputs)
            if len(path_values) != len(layers):
                raise ValueError("shared-pass LIG needs layers with one output tensor each")
            arguments = first_target_arguments(additional_forward_args)
            hooks = [
                layer.register_forward_hook(lambda module, layer_input, layer_output, value=value: value)
                for layer, value in zip(layers, path_values, strict=True)
            ]
            try:
                with torch.autograd.set_grad_enabled(True):
                    output = self.forward_func(*arguments)
                    return gradients_per_target(output, path_values)
            finally:
                for hook in hooks:
                    hook.remove()

        return gradient_func


def embedding_lig(model, tensors: dict, n_steps: int, internal_batch_size="auto"):
    """Layer Integrated Gradients on the whole embedding module: attributions (2, L, H) and deltas (2,)."""
    lig = SharedPassLayerIntegratedGradients(forward_from_ids(model), model.bert.embeddings)
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
        internal_batch_size=_batch_size(model, tensors, internal_batch_size),
        return_convergence_delta=True,
    )
    return attributions.detach(), delta.detach()


def subembedding_lig(model, tensors: dict, n_steps: int, internal_batch_size="auto"):
    """LIG over the word, token-type and position embeddings at once.

    Returns ``{name: (2, L, H)}`` for :data:`SUBEMBEDDINGS` and deltas (2,): the three together are complete,
    their sum over tokens and dimensions ≈ F(input) − F(reference).
    """
    embeddings = model.bert.embeddings
    layers = [embeddings.word_embeddings, embeddings.token_type_embeddings, embeddings.position_embeddings]
    with warnings.catch_warnings():
        # captum warns that layers must not feed each other; the three sub-embeddings are parallel, summed after.
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = SharedPassLayerIntegratedGradients(forward_from_ids(model), layers)
    attributions, delta = lig.attribute(
        inputs=tuple(per_target(tensors[name]) for name in ("input_ids", "token_type_ids", "position_ids")),
        baselines=tuple(
            per_target(tensors[name]) for name in ("ref_input_ids", "ref_token_type_ids", "ref_position_ids")
        ),
        additional_forward_args=(per_target(tensors["attention_mask"]),),
        target=TARGET_COLUMNS,
        n_steps=n_steps,
        internal_batch_size=_batch_size(model, tensors, internal_batch_size),
        return_convergence_delta=True,
    )
    return {
        name: attribution.detach() for name, attribution in zip(SUBEMBEDDINGS, attributions, strict=True)
    }, delta.detach()


PROCEDURES = ("tutorial", "corrected")
"""``procedure``: the tutorial's, number for number, or with its two quirks corrected (see the README)."""


@torch.no_grad()
def conductance_embeddings(model, tensors: dict, procedure: str = "tutorial") -> tuple[torch.Tensor, torch.Tensor]:
    """Input and reference embedding outputs, the two ends of the conductance path.

    ``tutorial``: as the tutorial builds them, both with the input's token types and positions (only the ids
    differ: the reference is ``[PAD]`` with ``[CLS]``/``[SEP]`` kept). ``corrected``: the embedding LIG's path ends,
    the reference with its own token types and positions (all 0).
    """
    embeddings = model.bert.embeddings
    inputs = embeddings(
        tensors["input_ids"], token_type_ids=tensors["token_type_ids"], position_ids=tensors["position_ids"]
    )
    reference_types, reference_positions = (
        (tensors["token_type_ids"], tensors["position_ids"])
        if procedure == "tutorial"
        else (tensors["ref_token_type_ids"], tensors["ref_position_ids"])
    )
    reference = embeddings(tensors["ref_input_ids"], token_type_ids=reference_types, position_ids=reference_positions)
    return inputs, reference


def _only_output(saved_per_device: dict) -> torch.Tensor:
    """The one output tensor captum's hook saved for a layer, on the one device the model runs on."""
    ((layer_output,),) = saved_per_device.values()
    return layer_output


class MultiLayerConductance(LayerConductance):
    """captum's :class:`LayerConductance` for several layers and both targets from one shared pass over the path.

    captum computes one layer per call, each running the whole model over every path point and target. Here one
    forward per chunk (captum's own hooks, on every listed layer, one row per path point) and one backward per
    target give every layer's activations and gradients; each layer's conductance then follows exactly as in
    ``LayerConductance._attribute``, on detached activations. ``attribute`` (chunking over path points included)
    is captum's, unchanged, and returns a tuple with one tensor per layer.
    """

    def _attribute(
        self,
        inputs,
        baselines,
        target=None,
        additional_forward_args=None,
        n_steps=50,
        method="gausslegendre",
        attribute_to_layer_input=False,
        step_sizes_and_alphas=None,
        grad_kwargs=None,
    ):
        num_examples = inputs[0].shape[0]
        if step_sizes_and_alphas is None:
            _, alphas_func = approximation_parameters(method)
            alphas = alphas_func(n_steps + 1)
        else:
            _, alphas = step_sizes_and_alphas
        scaled_inputs = tuple(
            torch.cat([baseline + alpha * (input - baseline) for alpha in alphas], dim=0).requires_grad_()
            for input, baseline in zip(inputs, baselines, strict=True)
        )
        additional_forward_args = _format_additional_forward_args(additional_forward_args)
        expanded_args = (
            _expand_additional_forward_args(additional_forward_args, n_steps + 1)
            if additional_forward_args is not None
            else None
        )
        if attribute_to_layer_input or grad_kwargs or self.device_ids:
            raise ValueError("shared-pass conductance supports layer outputs on one device, without grad_kwargs")
        check_target_columns(target)
        with torch.autograd.set_grad_enabled(True):
            saved, output = _forward_layer_distributed_eval(
                self.forward_func,
                tuple(first_target_rows(scaled) for scaled in scaled_inputs),
                self.layer,
                additional_forward_args=first_target_arguments(expanded_args or ()),
                forward_hook_with_return=True,
                require_layer_grads=True,
            )
            layer_outputs = tuple(_only_output(saved[layer]) for layer in self.layer)
            layer_gradients = gradients_per_target(output, layer_outputs)
        attributions = []
        for gradient, layer_output in zip(layer_gradients, layer_outputs, strict=True):
            # The gradients are taken; detaching frees this chunk's forward graph, which captum's chunking would
            # otherwise keep alive through the first chunk's (undetached) sum until the end.
            evaluation = layer_output.detach().repeat_interleave(len(TARGETS), dim=0)
            step_differences = evaluation[num_examples:] - evaluation[:-num_examples]
            attributions.append(
                _reshape_and_sum(
                    step_differences * gradient[:-num_examples], n_steps, num_examples, tuple(evaluation.shape[1:])
                )
            )
        return tuple(attributions)


def layer_conductance(
    model, tensors: dict, layers: list[int], n_steps: int, internal_batch_size="auto", procedure: str = "tutorial"
):
    """Conductance of encoder layers ``layers`` (1-based, as in every table and file name) for start and end.

    ``tutorial`` feeds the embedding outputs to BERT as ``inputs_embeds``, which embeds them a second time (position
    and token-type embeddings, layer norm), as the tutorial does; ``corrected`` feeds them to the encoder directly.
    Returns ``{layer: (2, L, H)}`` and ``{layer: (2,)}`` convergence deltas: each layer's conductance summed over
    tokens and dimensions minus F(input) − F(reference).
    """
    if procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}, not {procedure!r}")
    forward = (forward_from_embeddings if procedure == "tutorial" else forward_from_embedding_output)(model)
    input_embeddings, reference_embeddings = conductance_embeddings(model, tensors, procedure)
    inputs, baselines = per_target(input_embeddings), per_target(reference_embeddings)
    mask = per_target(tensors["attention_mask"])
    conductance = MultiLayerConductance(forward, [model.bert.encoder.layer[layer - 1] for layer in layers])
    attributions = conductance.attribute(
        inputs=inputs,
        baselines=baselines,
        additional_forward_args=(mask,),
        target=TARGET_COLUMNS,
        n_steps=n_steps,
        internal_batch_size=_batch_size(model, tensors, internal_batch_size, CONDUCTANCE_MIN_POINTS),
    )
    with torch.no_grad():
        rows = torch.arange(len(TARGETS))
        difference = forward(inputs, mask)[rows, rows] - forward(baselines, mask)[rows, rows]
    results, deltas = {}, {}
    for layer, attribution in zip(layers, attributions, strict=True):
        results[layer] = attribution.detach()
        deltas[layer] = attribution.detach().sum(dim=(1, 2)) - difference
    return results, deltas
