"""The sanity check of Adebayo et al. (2018), cascading randomisation, for the embedding LIG.

The model's weights are re-initialised from the top down, cumulatively (the QA head, then the last encoder layer,
then the one below, ..., the embeddings last), and the embedding LIG is computed again at each stage; the Spearman
correlation of each stage's per-token map with the original one, signed and of the absolute values, per target,
says whether the map depends on the weights at all: for a method that explains the model, it falls.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from bertscope import TARGETS
from bertscope.evaluation.ranks import spearman
from bertscope.models.families import embeddings, encoder_layers


def cascade_stages(model) -> list[tuple[str, list]]:
    """The stages of the cascade, top down: ``qa_head``, ``layer_N`` … ``layer_1``, ``embeddings``; each with the
    modules it re-initialises (found through the family's adapter; ALBERT's layers share one module, so its first
    layer stage re-initialises them all).

    Args:
        model: a QA model of a supported family (every family's head is ``qa_outputs``).

    Returns:
        ``[(stage name, [modules])]`` in cascade order.
    """
    layers = encoder_layers(model)
    stages = [("qa_head", [model.qa_outputs])]
    stages += [(f"layer_{index:02d}", [layers[index - 1]]) for index in range(len(layers), 0, -1)]
    return [*stages, ("embeddings", [embeddings(model)])]


@torch.no_grad()
def reinitialise(model, modules, seed: int) -> None:
    """Re-initialise every submodule of ``modules`` with the model's own initialisation (transformers'
    ``_init_weights``: normal weights, zero biases, unit LayerNorms), from ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for module in modules:
            module.apply(model._init_weights)
    finally:
        torch.random.set_rng_state(generator_state)


def cascade(model, tensors: dict, attribute, seed: int = 0) -> list[dict]:
    """The embedding LIG of each cascade stage against the original model's.

    Args:
        model: the QA model (left unchanged: a copy is randomised).
        tensors: the example's tensors, (1, L) each.
        attribute: ``(model, tensors) -> (attributions (2, L, H), delta)``, e.g.
            ``lambda m, t: embedding_lig(m, t, n_steps)``.
        seed: the re-initialisation's seed (stage i uses ``seed + i``).

    Returns:
        One dict per stage and target (stage ``original`` first): ``stage``, ``stage_index`` (0 = original),
        ``target``, ``spearman`` (signed per-token sums), ``spearman_abs`` (their absolute values).
    """
    original = attribute(model, tensors)[0].sum(-1).detach().cpu().numpy()
    randomised = copy.deepcopy(model).eval()
    rows = [_row("original", 0, original, original)]
    for index, (stage, modules) in enumerate(cascade_stages(randomised), 1):
        reinitialise(randomised, modules, seed + index)
        sums = attribute(randomised, tensors)[0].sum(-1).detach().cpu().numpy()
        rows.append(_row(stage, index, original, sums))
    return [row for stage_rows in rows for row in stage_rows]


def _row(stage: str, index: int, original: np.ndarray, sums: np.ndarray) -> list[dict]:
    return [
        {
            "stage": stage,
            "stage_index": index,
            "target": target,
            "spearman": spearman(original[row], sums[row]),
            "spearman_abs": spearman(np.abs(original[row]), np.abs(sums[row])),
        }
        for row, target in enumerate(TARGETS)
    ]
