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
    """The prefix of a layer's tensors in a conductance file (``layer_03.token_sums``)."""
    return f"layer_{layer:02d}"


def token_sums(attributions: np.ndarray) -> np.ndarray:
    """(targets, tokens, hidden) → (targets, tokens): the sum over the hidden dimension, in float64."""
    return attributions.astype(np.float64).sum(axis=-1)


def stored_summary(attributions, explained: int | None, storage: str) -> dict[str, np.ndarray]:
    """What an attribution file keeps of one (targets, tokens, hidden) attribution (a torch tensor or an array).

    ``token_sums`` always; ``explained`` (targets, hidden), the explained token's vector, when ``explained`` is an
    index; ``attributions``, the whole tensor, with ``storage`` full.
    """
    array = attributions.detach().cpu().numpy() if hasattr(attributions, "detach") else np.asarray(attributions)
    kept = {"token_sums": token_sums(array)}
    if explained is not None:
        kept["explained"] = np.ascontiguousarray(array[:, explained, :])
    if storage == "full":
        kept["attributions"] = array
    return kept
