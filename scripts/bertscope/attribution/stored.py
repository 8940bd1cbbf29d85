"""What an attribution file keeps of each attribution: the one definition the attribution steps (Part 1 and Part 2)
and the table steps share.

Per attribution of one example, (targets, tokens, hidden): ``token_sums`` (targets, tokens), the sum over the
hidden dimension, always; ``explained`` (targets, hidden), the explained token's vector, for conductance; and
``attributions``, the whole tensor, with ``attribution_storage: full``. A layer's tensors are named under
:func:`layer_key` (``layer_03.token_sums``). Table schemas and writers live in :mod:`bertscope.tables`, outside the
attribution steps' code digests, so that changing a table reruns no attribution.
"""

from __future__ import annotations

import numpy as np


def layer_key(layer: int) -> str:
    """The prefix of a layer's tensors in a conductance or attention file (``layer_03.token_sums``).

    Args:
        layer: the encoder layer, counted from 1.

    Returns:
        ``layer_NN``, the layer zero-padded to two digits.
    """
    return f"layer_{layer:02d}"


def token_sums(attributions: np.ndarray) -> np.ndarray:
    """The sum of an attribution over the hidden dimension, in float64.

    Args:
        attributions: (targets, tokens, hidden) array.

    Returns:
        (targets, tokens) float64 array.
    """
    return attributions.astype(np.float64).sum(axis=-1)


def stored_summary(attributions, explained: int | None, storage: str) -> dict[str, np.ndarray]:
    """What an attribution file keeps of one attribution.

    Args:
        attributions: (targets, tokens, hidden) torch tensor (on any device) or array.
        explained: the explained token's index, or None (no ``explained`` vector: the embedding LIGs).
        storage: ``attribution_storage``: ``summary`` or ``full``.

    Returns:
        ``{"token_sums": (targets, tokens)}`` always (:func:`token_sums`), with ``"explained"``: (targets, hidden), the
        explained token's vector, when ``explained`` is an index, and ``"attributions"``: the whole (targets, tokens,
        hidden) array when ``storage`` is ``full``.
    """
    array = attributions.detach().cpu().numpy() if hasattr(attributions, "detach") else np.asarray(attributions)
    kept = {"token_sums": token_sums(array)}
    if explained is not None:
        kept["explained"] = np.ascontiguousarray(array[:, explained, :])
    if storage == "full":
        kept["attributions"] = array
    return kept
