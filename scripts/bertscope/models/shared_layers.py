"""ALBERT's one layer called once per encoder layer, made hookable per call.

A forward hook on a module fires on every call, so a hook on ALBERT's shared ``AlbertLayer`` sees all
``num_hidden_layers`` calls of a pass (captum #794, #904) and captum's layer attributions cannot tell the layers
apart. :func:`shared_layer_calls` replaces the shared layer (and its self-attention) in the module tree by a
:class:`CallRouter` that hands the k-th call of each forward pass to the k-th of its :class:`Call` proxies: a hook
on proxy k fires for layer k only. The weights stay the shared module's (the proxies register none).
"""

from __future__ import annotations

from torch import nn

from bertscope import BertscopeError


class Call(nn.Module):
    """One call of a shared module: its forward is the shared module's; hooks on it see that call only."""

    def __init__(self, shared: nn.Module):
        super().__init__()
        self.__dict__["shared"] = shared  # not registered: the parameters stay the shared module's, counted once

    def forward(self, *args, **kwargs):
        return self.shared(*args, **kwargs)


class CallRouter(nn.Module):
    """Stands in for a shared module called ``calls`` times per pass; the k-th call runs ``self.calls[k]``.

    The count restarts at every pass of the base model (a pre-hook set by :func:`shared_layer_calls`), so a pass
    that stopped half-way (an error) does not shift the next. Attributes it lacks are the shared module's.
    """

    def __init__(self, shared: nn.Module, calls: int):
        super().__init__()
        self.shared = shared
        self.__dict__["calls"] = [Call(shared) for _ in range(calls)]
        self.count = 0

    def forward(self, *args, **kwargs):
        call = self.calls[self.count % len(self.calls)]
        self.count += 1
        return call(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["shared"], name)


def _check_one_shared_layer(config) -> None:
    if config.num_hidden_groups != 1 or config.inner_group_num != 1:
        raise BertscopeError(
            f"config field 'model': this ALBERT model has num_hidden_groups {config.num_hidden_groups} and "
            f"inner_group_num {config.inner_group_num}; bertscope supports ALBERT's one shared layer (both 1, as in "
            "every released ALBERT checkpoint). Fix: use such a checkpoint, e.g. twmkn9/albert-base-v2-squad2"
        )


def shared_layer_calls(model, layers: nn.ModuleList, attention: str) -> list[nn.Module]:
    """The per-call proxies of the shared layer in ``layers`` (installing the routers on first use).

    Args:
        model: the ALBERT QA model.
        layers: the layer group's ``albert_layers`` (one layer).
        attention: the self-attention's attribute on the layer, routed per call as well.

    Returns:
        ``num_hidden_layers`` modules, the k-th standing for the k-th call.
    """
    config = model.config
    _check_one_shared_layer(config)
    if not isinstance(layers[0], CallRouter):
        layer = layers[0]
        routers = [CallRouter(layer, config.num_hidden_layers)]
        setattr(layer, attention, CallRouter(getattr(layer, attention), config.num_hidden_layers))
        routers.append(getattr(layer, attention))
        layers[0] = routers[0]

        def restart(module, inputs):
            for router in routers:
                router.count = 0

        getattr(model, model.base_model_prefix).register_forward_pre_hook(restart)
    return list(layers[0].calls)


def attention_calls(calls: list[nn.Module]) -> list[nn.Module]:
    """The self-attention proxies, one per layer call, of the routed shared layer whose calls are ``calls``."""
    attention = next(module for module in calls[0].shared.children() if isinstance(module, CallRouter))
    return list(attention.calls)


def shared_module(layers: nn.ModuleList) -> nn.Module:
    """The one layer module holding the weights, routed or not."""
    layer = layers[0]
    return layer.shared if isinstance(layer, CallRouter) else layer
