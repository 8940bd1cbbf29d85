"""Where each supported model family keeps what the attributions hook, and which inputs its forward takes.

One small adapter per family (checked against transformers 5.23's ``modeling_<family>.py``): the base model's
attribute, the embedding module and its sub-embeddings, the encoder layers, each layer's self-attention module (the
one whose second output is the attention probabilities, with eager attention) and its value and output projections,
which of token types and positions the forward takes, and where positions start. Everything else in bertscope is
family-agnostic and asks :func:`family_of` for these. This module imports no torch (the planner reads
:func:`config_layers` without it); ALBERT's shared layer is routed per call by :mod:`bertscope.models.shared_layers`.

Facts per family:

- BERT: ``bert.embeddings`` (word, token type, position), ``bert.encoder.layer[i].attention.self``; the tutorial's
  first-``[SEP]`` token-type quirk (``procedure: tutorial``) is BERT's alone.
- RoBERTa: ``roberta``, as BERT, but one token type (``type_vocab_size: 1``: no token-type row) and positions
  counted from ``padding_idx + 1``; the model derives positions from the ids (a ``<pad>`` reference would move
  them), so bertscope always passes them.
- DistilBERT: ``distilbert.embeddings`` has word and position embeddings only, layers at
  ``distilbert.transformer.layer``, self-attention ``layer.attention`` (``v_lin``, ``out_lin``); no token types in
  its forward; its config names the activation ``activation`` (the others: ``hidden_act``).
- ALBERT: embeddings of ``embedding_size`` projected up inside the encoder (``embedding_hidden_mapping_in``); one
  shared ``AlbertLayer`` called ``num_hidden_layers`` times (a hook on it fires once per call), self-attention
  ``layer.attention`` (``value``, ``dense``); activation ``gelu_new`` (the others': ``gelu``), loaded fused with
  ``fused_activations`` (:func:`bertscope.models.loading.activation_override`).
- ELECTRA: ``electra``, as BERT; ``embeddings_project`` after the embedding module when the sizes differ.
- DeBERTa-v2/v3: ``deberta.embeddings``; absolute positions only with ``position_biased_input`` (v3: none), token
  types only with ``type_vocab_size > 0`` (v3: none); relative positions inside the encoder; its layers return
  ``(output, attention or None)`` (captum's hooks take tensors only), so a layer's output is hooked at its last
  submodule ``output``; its ``DisentangledSelfAttention`` (``value_proj``) returns the probabilities only when asked
  (``output_attentions=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bertscope import BertscopeError


@dataclass(frozen=True)
class Family:
    """One architecture's structure, as dotted attribute paths below the QA model."""

    model_type: str
    name: str
    base: str
    """The base model's attribute on the QA model (``bert`` for ``BertForQuestionAnswering``)."""
    layers: str
    """The encoder's layer list below the base model."""
    attention: str
    """The self-attention module below one layer (its output 1: the attention probabilities, eager attention)."""
    value: str
    """The value projection below the self-attention module."""
    output: str
    """The attention output projection (heads → hidden) below one layer."""
    takes_token_types: bool = True
    """Whether the forward has a ``token_type_ids`` argument."""
    layer_output: str = ""
    """The submodule of a layer whose one output is the layer's hidden state (``""``: the layer itself)."""
    needs_output_attentions: bool = False
    """Whether the self-attention returns its probabilities only with ``output_attentions=True``."""
    shared_layer: bool = False
    """One layer module called once per encoder layer (ALBERT): hooks go to per-call proxies."""
    tutorial_token_types: bool = False
    """Whether ``procedure: tutorial`` gives the first separator token type 1 (the notebook's quirk, BERT only)."""
    example: str = ""
    """A SQuAD 2.0 checkpoint of the family on the Hub (docs/paper.md)."""
    activation: str = "hidden_act"
    """The config field that names the feed-forward activation (a key of transformers' ``ACT2FN``)."""


FAMILIES = {
    family.model_type: family
    for family in (
        Family(
            "bert",
            "BERT",
            "bert",
            "encoder.layer",
            "attention.self",
            "value",
            "attention.output.dense",
            tutorial_token_types=True,
            example="deepset/bert-base-cased-squad2",
        ),
        Family(
            "roberta",
            "RoBERTa",
            "roberta",
            "encoder.layer",
            "attention.self",
            "value",
            "attention.output.dense",
            example="deepset/roberta-base-squad2",
        ),
        Family(
            "distilbert",
            "DistilBERT",
            "distilbert",
            "transformer.layer",
            "attention",
            "v_lin",
            "attention.out_lin",
            takes_token_types=False,
            example="distilbert/distilbert-base-cased-distilled-squad",
            activation="activation",
        ),
        Family(
            "albert",
            "ALBERT",
            "albert",
            "encoder.albert_layer_groups.0.albert_layers",
            "attention",
            "value",
            "attention.dense",
            shared_layer=True,
            example="twmkn9/albert-base-v2-squad2",
        ),
        Family(
            "electra",
            "ELECTRA",
            "electra",
            "encoder.layer",
            "attention.self",
            "value",
            "attention.output.dense",
            example="deepset/electra-base-squad2",
        ),
        Family(
            "deberta-v2",
            "DeBERTa-v2/v3",
            "deberta",
            "encoder.layer",
            "attention.self",
            "value_proj",
            "attention.output.dense",
            layer_output="output",
            needs_output_attentions=True,
            example="deepset/deberta-v3-base-squad2",
        ),
    )
}
SUPPORTED = ", ".join(f"{family.name} (model_type '{family.model_type}')" for family in FAMILIES.values())


def family_for_type(model_type: str | None, source: str = "the model") -> Family:
    """The adapter of a config's ``model_type``, or an error naming the supported families.

    Args:
        model_type: ``config.model_type`` (``config.json``'s ``model_type``).
        source: what the config field ``model`` named, for the message.

    Returns:
        The family's :class:`Family`.
    """
    if model_type not in FAMILIES:
        raise BertscopeError(
            f"config field 'model': '{source}' is a '{model_type}' model, which bertscope does not support. "
            f"Fix: use a question-answering checkpoint of a supported family: {SUPPORTED}; or model: demo"
        )
    return FAMILIES[model_type]


def family_of(model) -> Family:
    """The adapter of a loaded model (by ``model.config.model_type``)."""
    return family_for_type(model.config.model_type, type(model).__name__)


def config_layers(config: dict) -> int:
    """The encoder depth from a ``config.json`` (DistilBERT calls it ``n_layers``), without torch."""
    return int(config["n_layers"] if config.get("model_type") == "distilbert" else config["num_hidden_layers"])


def _attribute(module, path: str):
    for name in path.split("."):
        module = module[int(name)] if name.isdigit() else getattr(module, name)
    return module


def base_model(model):
    """The QA model's base model (``model.bert``, ``model.roberta``, ...)."""
    return getattr(model, family_of(model).base)


def embeddings(model):
    """The embedding module, whose output the encoder (or a projection before it) takes."""
    return base_model(model).embeddings


def subembeddings(model) -> dict:
    """The sub-embedding modules the family has, by name in :data:`bertscope.SUBEMBEDDINGS` order.

    A token-type table of one row (RoBERTa) carries no information (input and reference share the type), so it is
    left out, as are DeBERTa-v3's missing token-type and position tables.

    Returns:
        ``{"word": Embedding, "token_type": Embedding, "position": Embedding}``, without the ones it lacks.
    """
    module = embeddings(model)
    found = {
        "word": module.word_embeddings,
        "token_type": getattr(module, "token_type_embeddings", None),
        "position": getattr(module, "position_embeddings", None),
    }
    if found["token_type"] is not None and found["token_type"].num_embeddings < 2:
        found["token_type"] = None
    if getattr(module, "position_biased_input", True) is False:
        found["position"] = None
    return {name: layer for name, layer in found.items() if layer is not None}


def encoder_layers(model) -> list:
    """One module per encoder layer, in order, whose one output is the layer's and whose forward hooks fire once
    per forward pass.

    ALBERT's shared layer is replaced (once, in place) by a router to one proxy per call
    (:func:`bertscope.models.shared_layers.shared_layer_calls`), so that layer k's hook sees the k-th call; DeBERTa's
    layer output is its ``output`` submodule's.

    Returns:
        ``num_hidden_layers`` modules.
    """
    family = family_of(model)
    return [_attribute(layer, family.layer_output) if family.layer_output else layer for layer in _layers(model)]


def _layers(model) -> list:
    family = family_of(model)
    layers = _attribute(base_model(model), family.layers)
    if family.shared_layer:
        from bertscope.models.shared_layers import shared_layer_calls

        return shared_layer_calls(model, layers, family.attention)
    return list(layers)


def self_attention(model, layer: int):
    """The self-attention module of 1-based encoder ``layer`` (output 1: the attention probabilities)."""
    if family_of(model).shared_layer:
        from bertscope.models.shared_layers import attention_calls

        return attention_calls(_layers(model))[layer - 1]
    return _attribute(_layers(model)[layer - 1], family_of(model).attention)


def value_projection(model, layer: int):
    """The value projection (a Linear, bias included) of 1-based encoder ``layer``'s self-attention."""
    return _attribute(_attribute(_shared_or_layer(model, layer), family_of(model).attention), family_of(model).value)


def output_projection(model, layer: int):
    """The attention output projection (a Linear, heads · head size → hidden) of 1-based encoder ``layer``."""
    return _attribute(_shared_or_layer(model, layer), family_of(model).output)


def _shared_or_layer(model, layer: int):
    """The layer module holding ``layer``'s weights (ALBERT: the one shared layer)."""
    family = family_of(model)
    layers = _attribute(base_model(model), family.layers)
    if family.shared_layer:
        from bertscope.models.shared_layers import shared_module

        return shared_module(layers)
    return layers[layer - 1]


def position_offset(model_or_config) -> int:
    """The first position id of a sequence: ``padding_idx + 1`` for RoBERTa, 0 otherwise."""
    config = getattr(model_or_config, "config", model_or_config)
    return config.pad_token_id + 1 if config.model_type == "roberta" else 0


def max_tokens(config) -> int:
    """The longest input the model takes: its position table less the positions before the first one."""
    return config.max_position_embeddings - position_offset(config)


def intermediate_size(config) -> int:
    """The feed-forward width (DistilBERT calls it ``hidden_dim``)."""
    return config.hidden_dim if config.model_type == "distilbert" else config.intermediate_size


def forward_arguments(model, token_type_ids, position_ids) -> dict:
    """The token types and positions as the family's forward takes them (DistilBERT: no token types).

    Args:
        model: the QA model.
        token_type_ids: (batch, L) long.
        position_ids: (batch, L) long.

    Returns:
        Keyword arguments for the model's forward.
    """
    arguments = {"position_ids": position_ids}
    if family_of(model).takes_token_types:
        arguments["token_type_ids"] = token_type_ids
    return arguments


def attention_options(model) -> dict:
    """Forward options that make the self-attention return its probabilities (DeBERTa's only when asked)."""
    return {"output_attentions": True} if family_of(model).needs_output_attentions else {}
