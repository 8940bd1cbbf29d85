"""Two subclasses of captum's attribution classes that share one forward pass between targets and layers.

They follow captum 0.9.0 (the pinned version) and use its private functions, so a captum upgrade must be checked
against them (``tests/test_attribution.py`` compares both with captum's own classes):

- :class:`SharedPassLayerIntegratedGradients` overrides ``LayerIntegratedGradients._make_gradient_func`` only.
- :class:`MultiLayerConductance` overrides ``LayerConductance._attribute`` (and wraps ``attribute`` to learn where
  the path ends); it uses ``_forward_layer_distributed_eval``, ``_reshape_and_sum``,
  ``_expand_additional_forward_args``, ``_format_additional_forward_args`` and ``approximation_parameters``.

Both expect the calling convention of :mod:`bertscope.attribution.part1`: every input repeated once per target along
axis 0, and ``target`` the list of target columns. The rows of one path point are then copies of the same input, so
the model runs once per path point and each target takes its own backward pass from that shared forward.
"""

from __future__ import annotations

import torch
from captum._utils.common import _expand_additional_forward_args, _format_additional_forward_args
from captum._utils.gradient import _forward_layer_distributed_eval
from captum.attr import LayerConductance, LayerIntegratedGradients
from captum.attr._utils.approximation_methods import approximation_parameters
from captum.attr._utils.common import _reshape_and_sum

from bertscope import TARGETS

TARGET_COLUMNS = list(range(len(TARGETS)))


def first_target_rows(tensor: torch.Tensor) -> torch.Tensor:
    """One row per path point from captum's target-interleaved rows (point 0 start, point 0 end, point 1 start, …).

    The rows of one path point are copies of the same input; anything else means the inputs were not repeated
    once per target, and sharing the forward pass would be wrong.

    Args:
        tensor: (points × targets, ...) rows, target-interleaved.

    Returns:
        (points, ...): the first target's row of each point.

    Raises:
        ValueError: the rows of a point differ.
    """
    rows = tensor.reshape(-1, len(TARGETS), *tensor.shape[1:])
    if not all(torch.equal(rows[:, 0], rows[:, column]) for column in TARGET_COLUMNS[1:]):
        raise ValueError("shared-pass attribution needs the inputs repeated once per target (per_target)")
    return rows[:, 0]


def first_target_arguments(arguments) -> tuple:
    """:func:`first_target_rows` of every tensor among a forward function's extra arguments; others unchanged.

    Args:
        arguments: the forward function's additional arguments, tensors (points × targets, ...) or not.

    Returns:
        The arguments, each tensor reduced to (points, ...).
    """
    return tuple(first_target_rows(argument) if torch.is_tensor(argument) else argument for argument in arguments)


def check_target_columns(target) -> None:
    """Check that ``target`` is captum's expansion of :data:`TARGET_COLUMNS` (0, 1, 0, 1, …).

    Shared passes compute every target for every path point, so no other target is possible.

    Args:
        target: the ``target`` captum passes on.

    Raises:
        ValueError: it is anything else.
    """
    columns = list(target) if isinstance(target, (list, tuple)) else None
    if not columns or columns != TARGET_COLUMNS * (len(columns) // len(TARGET_COLUMNS)):
        raise ValueError(f"shared-pass attribution needs target={TARGET_COLUMNS} (one row per target), not {target}")


def gradients_per_target(output: torch.Tensor, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Gradients of each target column of ``output`` w.r.t. ``tensors``, one backward pass each.

    The forward graph is kept between the passes. Rows come back target-interleaved, as captum lays them out:
    the gradients of point 0 for start and end, then point 1's, and so on.

    Args:
        output: (points, targets) forward output.
        tensors: the tensors to differentiate, each (points, ...).

    Returns:
        One (points × targets, ...) gradient per tensor.
    """
    per_column = [
        torch.autograd.grad(output[:, column].sum(), tensors, retain_graph=column < len(TARGET_COLUMNS) - 1)
        for column in TARGET_COLUMNS
    ]
    # fp32 whatever the forward's precision (precision: bf16): captum sums these over the path.
    return tuple(torch.stack(grads, dim=1).flatten(0, 1).float() for grads in zip(*per_column, strict=True))


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


def _saved_output(saved_per_device: dict, index: int | None) -> torch.Tensor:
    """The output tensor captum's hook saved for a layer, on the one device the model runs on: the only one, or
    element ``index`` of a tuple output."""
    (outputs,) = saved_per_device.values()
    if index is None:
        (layer_output,) = outputs
        return layer_output
    return outputs[index]


class MultiLayerConductance(LayerConductance):
    """captum's :class:`LayerConductance` for several layers and both targets from one shared pass over the path.

    captum computes one layer per call, each running the whole model over every path point and target. Here one
    forward per chunk (captum's own hooks, on every listed layer, one row per path point) and one backward per
    target give every layer's activations and gradients; each layer's conductance then follows exactly as in
    ``LayerConductance._attribute``, on detached activations. ``attribute`` (chunking over path points included)
    is captum's and returns a tuple with one tensor per layer.

    ``output_indices`` picks, per layer, one element of a tuple output (``None``: the layer's only output), e.g.
    the attention probabilities of a self-attention module, which returns (context, probabilities).

    With ``integrate_inputs``, the same backward passes also give the gradients with respect to the inputs, and
    ``attribute`` appends, per input, their sum over the path points weighted by the method's step sizes: times
    (input − baseline), that is Integrated Gradients of the inputs over the same points, with no second pass.
    captum's chunks share their boundary point; each point enters that sum once.
    """

    def __init__(self, forward_func, layers, integrate_inputs: bool = False, output_indices=None):
        super().__init__(forward_func, layers)
        self.integrate_inputs = integrate_inputs
        self.output_indices = output_indices or [None] * len(layers)
        self._last_alpha = None

    def attribute(self, inputs, baselines=None, *args, n_steps=50, method="gausslegendre", **kwargs):
        """captum's :meth:`LayerConductance.attribute` for every layer at once (its chunking over path points included).

        Args:
            inputs: the input tensor(s), (rows, ...), rows repeated once per target.
            baselines: the baseline(s), shaped like ``inputs``.
            *args: captum's further positional arguments (``target``, ``additional_forward_args``).
            n_steps: path points.
            method: the integral's approximation (captum's ``gausslegendre`` by default).
            **kwargs: captum's other keywords (``internal_batch_size``: rows per chunk of path points).

        Returns:
            A tuple: one conductance tensor per layer, each shaped like that layer's (chosen) output (rows, ...),
            then, with ``integrate_inputs``, one Integrated Gradients tensor per input, shaped like it.
        """
        _, alphas_func = approximation_parameters(method)
        self._last_alpha = alphas_func(n_steps + 1)[-1]
        return super().attribute(inputs, baselines, *args, n_steps=n_steps, method=method, **kwargs)

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
            step_sizes_func, alphas_func = approximation_parameters(method)
            step_sizes, alphas = step_sizes_func(n_steps + 1), alphas_func(n_steps + 1)
        else:
            step_sizes, alphas = step_sizes_and_alphas
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
        path_values = tuple(first_target_rows(scaled) for scaled in scaled_inputs)
        with torch.autograd.set_grad_enabled(True):
            saved, output = _forward_layer_distributed_eval(
                self.forward_func,
                path_values,
                self.layer,
                additional_forward_args=first_target_arguments(expanded_args or ()),
                forward_hook_with_return=True,
                require_layer_grads=True,
            )
            layer_outputs = tuple(
                _saved_output(saved[layer], index) for layer, index in zip(self.layer, self.output_indices, strict=True)
            )
            wrt = layer_outputs + (path_values if self.integrate_inputs else ())
            gradients = gradients_per_target(output, wrt)
        attributions = []
        for gradient, layer_output in zip(gradients, layer_outputs, strict=False):
            # The gradients are taken; detaching frees this chunk's forward graph, which captum's chunking would
            # otherwise keep alive through the first chunk's (undetached) sum until the end.
            evaluation = layer_output.detach().float().repeat_interleave(len(TARGETS), dim=0)
            step_differences = evaluation[num_examples:] - evaluation[:-num_examples]
            attributions.append(
                _reshape_and_sum(
                    step_differences * gradient[:-num_examples], n_steps, num_examples, tuple(evaluation.shape[1:])
                )
            )
        if self.integrate_inputs:
            # The chunk's last point opens the next chunk, unless it is the path's last point.
            ends_path = step_sizes_and_alphas is None or alphas[-1] == self._last_alpha
            points = len(alphas) if ends_path else len(alphas) - 1
            weights = torch.tensor(step_sizes[:points], dtype=inputs[0].dtype, device=inputs[0].device)
            for gradient in gradients[len(layer_outputs) :]:
                weighted = gradient[: points * num_examples].reshape(points, -1) * weights[:, None]
                attributions.append(_reshape_and_sum(weighted, points, num_examples, tuple(gradient.shape[1:])))
        return tuple(attributions)
