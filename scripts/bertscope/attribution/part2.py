"""Part 2 of the tutorial: attention probabilities, their conductance, and attention norms (Kobayashi et al. 2020).

Part 2 feeds the *word* embeddings as the interpretable input (token types and positions go to the model as ids),
unlike Part 1, which feeds the whole embedding output. For each encoder layer it computes the conductance of the
layer's output and of its attention probabilities α (the second output of the family's self-attention module,
BERT's ``attention.self``: ``BertLayer`` returns one tensor in transformers 5; every module from
:mod:`bertscope.models.families`), for start and end, in one shared pass over the path
(:class:`~bertscope.attribution.captum_extensions.MultiLayerConductance`). The attention norms need no path: f(x)
is a head's value vector (bias included) times the head's slice of the attention output projection (bias excluded);
‖α f(x)‖ per head and ‖Σ_h α f(x)‖ per layer follow for every token pair. Heads come from the model's config and
head sizes from the output projection (the notebook hard-codes 12 and 64).

All functions take 1-based layer numbers. :func:`attention_conductance` and :func:`attention_and_values` take a
group's (B, L) tensors (:mod:`bertscope.attribution.batching`) and return its rows, targets example-minor on axis
0; :func:`attention_group_results` returns each example's own tensors, targets on axis 0 where there are any.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from bertscope.attribution.batching import split_rows
from bertscope.attribution.captum_extensions import MultiLayerConductance
from bertscope.attribution.part1 import (
    CONDUCTANCE_MIN_POINTS,
    DEFAULT_BATCH,
    chunk_rows,
    output_difference,
    per_target,
    target_columns,
)
from bertscope.attribution.stored import layer_key, token_sums
from bertscope.models.families import (
    attention_options,
    encoder_layers,
    output_projection,
    self_attention,
    subembeddings,
    value_projection,
)
from bertscope.models.forward import forward_from_word_embeddings, run_on_input, target_positions


@torch.no_grad()
def word_embeddings(model, tensors: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The word embeddings of the input and of the reference ids: Part 2's two ends of the path."""
    lookup = subembeddings(model)["word"]
    return lookup(tensors["input_ids"]), lookup(tensors["ref_input_ids"])


def attention_conductance(model, tensors: dict, layers: list[int], n_steps: int, internal_batch_size=DEFAULT_BATCH):
    """Conductance of each layer's output and of its attention probabilities, for start and end, one pass.

    Returns ``{layer: (2B, L, H)}`` (the layer output's, as Part 2 computes it) and ``{layer: (2B, heads, L, L)}``
    (the attention probabilities': from token, to token), rows example-major and target-minor.
    """
    blocks = [encoder_layers(model)[layer - 1] for layer in layers]
    modules = blocks + [self_attention(model, layer) for layer in layers]
    conductance = MultiLayerConductance(
        forward_from_word_embeddings(model, **attention_options(model)),
        modules,
        output_indices=[None] * len(layers) + [1] * len(layers),
    )
    inputs, baselines = word_embeddings(model, tensors)
    results = conductance.attribute(
        inputs=per_target(inputs),
        baselines=per_target(baselines),
        additional_forward_args=_word_path_arguments(tensors),
        target=target_columns(tensors),
        n_steps=n_steps,
        internal_batch_size=chunk_rows(
            model, tensors, internal_batch_size, CONDUCTANCE_MIN_POINTS, attention_layers=len(layers)
        ),
    )
    outputs, probabilities = results[: len(layers)], results[len(layers) :]
    return (
        {layer: result.detach() for layer, result in zip(layers, outputs, strict=True)},
        {layer: result.detach() for layer, result in zip(layers, probabilities, strict=True)},
    )


def _word_path_arguments(tensors: dict) -> tuple:
    """The word-embedding forward's further arguments, per target: token types, positions, mask, explained positions."""
    per_name = (per_target(tensors[name]) for name in ("token_type_ids", "position_ids", "attention_mask"))
    return (*per_name, *target_positions(tensors))


def word_output_difference(model, tensors: dict) -> torch.Tensor:
    """F(input) − F(reference) along Part 2's path (the word embeddings of the input and of the reference), (2B,):
    what each layer output's conductance sums to, so that it minus that sum is the convergence delta."""
    inputs, baselines = word_embeddings(model, tensors)
    forward = forward_from_word_embeddings(model, **attention_options(model))
    return output_difference(forward, per_target(inputs), per_target(baselines), *_word_path_arguments(tensors))


def output_relative_deltas(kept: dict, layers: list[int]) -> np.ndarray:
    """An example's relative convergence deltas of Part 2's layer outputs, (2·layers,), each layer's start and end in
    ``layers``' order: |``layer_NN.output_delta``| / |``output_difference``| (:func:`attention_group_results`)."""
    difference = np.abs(kept["output_difference"].numpy().astype(np.float64))
    deltas = [np.abs(kept[f"{layer_key(layer)}.output_delta"].numpy().astype(np.float64)) for layer in layers]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.concatenate(
            [np.where(difference > 0, delta / difference, np.where(delta == 0, 0.0, np.inf)) for delta in deltas]
        )


@torch.no_grad()
def attention_and_values(model, tensors: dict, layers: list[int]) -> tuple[dict, dict]:
    """The attention probabilities ``{layer: (B, heads, L, L)}`` and the value activations ``{layer: (B, L,
    hidden)}`` (the ``value`` projection's output, bias included) of one forward pass on the (B, L) input.

    The values are the value projection applied to what each layer's self-attention receives (a hook on the
    self-attention, which fires once per layer in every family, ALBERT's shared layer included).
    """
    values = {}

    def keep_values(module, inputs, kwargs, output, layer):
        hidden_states = inputs[0] if inputs else kwargs["hidden_states"]
        values[layer] = value_projection(model, layer)(hidden_states).float()

    hooks = [
        self_attention(model, layer).register_forward_hook(partial(keep_values, layer=layer), with_kwargs=True)
        for layer in layers
    ]
    try:
        output = run_on_input(model, tensors, output_attentions=True)
    finally:
        for hook in hooks:
            hook.remove()
    return {layer: output.attentions[layer - 1].float() for layer in layers}, values


def transformed_values(model, layer: int, values: torch.Tensor) -> torch.Tensor:
    """f(x) of every head and token, (heads, L, hidden): each head's value vectors through its slice of the
    attention output projection's weight (no bias), as Kobayashi et al. define it."""
    heads = model.config.num_attention_heads
    weight = output_projection(model, layer).weight  # (hidden out, heads * head_size)
    head_size = weight.shape[1] // heads
    per_head_values = values.reshape(values.shape[0], heads, head_size)
    return torch.einsum("shd,ohd->hso", per_head_values, weight.reshape(weight.shape[0], heads, head_size))


@torch.no_grad()
def attention_norms(model, layer: int, attention: torch.Tensor, values: torch.Tensor) -> dict[str, torch.Tensor]:
    """‖f(x)‖ (heads, L), ‖α f(x)‖ (heads, L, L) and ‖Σ_h α f(x)‖ (L, L) of one layer.

    α ≥ 0, so ‖α_ks f_s‖ = α_ks ‖f_s‖; and ‖Σ_h α_hks f_hs‖² = Σ_{h,g} α_hks α_gks ⟨f_hs, f_gs⟩, which needs the
    heads' Gram matrix per token instead of an (L, L, hidden) tensor per layer (453 MiB at 384 tokens, bert-base).
    """
    transformed = transformed_values(model, layer, values)
    value_norm = transformed.norm(dim=-1)
    gram = torch.einsum("hso,gso->shg", transformed, transformed)
    summed_squared = torch.einsum("hks,gks,shg->ks", attention, attention, gram)
    return {
        "value_norm": value_norm,
        "alpha_value_norm": attention * value_norm[:, None, :],
        "summed_alpha_value_norm": summed_squared.clamp_min(0).sqrt(),
    }


def attention_entropy_bits(attention: torch.Tensor) -> torch.Tensor:
    """Mean entropy (bits) of the attention distributions of each head, (heads,): a row is one from-token's."""
    logs = torch.log2(attention.clamp_min(torch.finfo(attention.dtype).tiny))
    return -(attention * logs).sum(dim=-1).mean(dim=-1)


def attention_results(
    model,
    tensors: dict,
    layers: list[int],
    chosen_layer: int | None,
    n_steps: int,
    matrices: bool,
    internal_batch_size=DEFAULT_BATCH,
) -> dict[str, torch.Tensor]:
    """Everything Part 2 keeps of one example for ``layers``, as ``layer_NN.name`` tensors.

    Always (small, for every example): ``head_entropy`` (heads,), ``value_norm_mean`` (heads,),
    ``head_conductance_norm`` (2, heads) and ``output_delta`` (2,), the convergence delta of the layer output's
    conductance (its sum minus ``output_difference``, F(input) − F(reference) on Part 2's path, (2,), kept once
    without a layer prefix). With ``matrices`` (the examples that get figures): ``output_token_sums``
    (2, L), ``value_norm`` (heads, L) and the (L, L) matrices of every layer — ``attention_head_norm``,
    ``conductance_head_norm`` (2, L, L), ``summed_alpha_value_norm``; for ``chosen_layer`` also the per-head
    ``attention``, ``conductance`` (2, heads, L, L) and ``alpha_value_norm``.
    """
    length = tensors["input_ids"].shape[1]
    (kept,) = attention_group_results(
        model, tensors, [length], layers, chosen_layer, n_steps, [matrices], internal_batch_size
    )
    return kept


def attention_group_results(
    model,
    tensors: dict,
    lengths: list[int],
    layers: list[int],
    chosen_layer: int | None,
    n_steps: int,
    matrices: list[bool],
    internal_batch_size=DEFAULT_BATCH,
) -> list[dict[str, torch.Tensor]]:
    """:func:`attention_results` of every example of a group from one conductance pass and one forward pass.

    Args:
        tensors: the group's (B, L_max) tensors, padded (:func:`bertscope.attribution.batching.pad_group`).
        lengths: each example's tokens (B,), in group order.
        matrices: per example, whether it keeps the token-pair matrices.

    Returns:
        One dict per example, as :func:`attention_results` returns it, the padded positions dropped.
    """
    outputs, probabilities = attention_conductance(model, tensors, layers, n_steps, internal_batch_size)
    difference = word_output_difference(model, tensors)
    deltas = {layer: split_rows(rows.sum(dim=(1, 2)) - difference, lengths, ()) for layer, rows in outputs.items()}
    differences = split_rows(difference, lengths, ())
    attention, values = attention_and_values(model, tensors, layers)
    outputs = {layer: split_rows(rows, lengths) for layer, rows in outputs.items()}
    probabilities = {layer: split_rows(rows, lengths, token_dims=(2, 3)) for layer, rows in probabilities.items()}
    results = []
    for index, length in enumerate(lengths):
        kept = {}
        for layer in layers:
            example_attention = attention[layer][index, :, :length, :length]
            example_conductance = probabilities[layer][index]
            norms = attention_norms(model, layer, example_attention, values[layer][index, :length])
            per_layer = {
                "head_entropy": attention_entropy_bits(example_attention),
                "value_norm_mean": norms["value_norm"].mean(dim=-1),
                "head_conductance_norm": torch.linalg.norm(example_conductance, dim=(-2, -1)),
                "output_delta": deltas[layer][index],
            }
            if matrices[index]:
                per_layer |= {
                    "output_token_sums": torch.from_numpy(token_sums(outputs[layer][index].detach().cpu().numpy())),
                    "value_norm": norms["value_norm"],
                    "attention_head_norm": torch.linalg.norm(example_attention, dim=0),
                    "conductance_head_norm": torch.linalg.norm(example_conductance, dim=1),
                    "summed_alpha_value_norm": norms["summed_alpha_value_norm"],
                }
                if layer == chosen_layer:
                    per_layer |= {
                        "attention": example_attention,
                        "conductance": example_conductance,
                        "alpha_value_norm": norms["alpha_value_norm"],
                    }
            # fp32 whatever the passes' precision (bf16 autocasts the norms' products too).
            kept |= {f"{layer_key(layer)}.{name}": value.detach().float() for name, value in per_layer.items()}
        results.append({**kept, "output_difference": differences[index]})
    return results
