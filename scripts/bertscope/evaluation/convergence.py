"""``n_steps: auto``: an attribution re-run with doubling steps until its convergence delta is small enough.

The completeness of Integrated Gradients and Conductance says that the attributions sum to F(input) − F(reference);
the convergence delta is the sum minus that difference. Starting at ``n_steps``, the steps double (capped at
``max_steps``) until, for both targets, |delta| ≤ tolerance × |F(input) − F(reference)|. The attribution functions
are called as they are (:mod:`bertscope.attribution.part1`), not rewritten: each try is one ordinary call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("bertscope")


@dataclass
class Converged:
    """The last try of :func:`until_converged`: its attributions and deltas, the steps it used, whether it met the
    tolerance, and every try's (steps, relative delta per target)."""

    attributions: object
    delta: object
    steps: int
    converged: bool
    history: list[tuple[int, list[float]]] = field(default_factory=list)


def relative_delta(attributions, delta) -> np.ndarray:
    """|delta| / |F(input) − F(reference)| per target, the difference recovered as the attributions' sum − delta.

    Args:
        attributions: (2, L, H) tensor or array (or a dict of them, summed: the sub-embeddings together are complete).
        delta: (2,) convergence deltas.

    Returns:
        (2,) float64; inf where the output difference is 0 and the delta is not.
    """
    parts = attributions.values() if isinstance(attributions, dict) else [attributions]
    total = sum(
        np.asarray(part.detach().cpu() if hasattr(part, "detach") else part, np.float64).sum(axis=(1, 2))
        for part in parts
    )
    delta = np.asarray(delta.detach().cpu() if hasattr(delta, "detach") else delta, np.float64)
    difference = np.abs(total - delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(difference > 0, np.abs(delta) / difference, np.where(delta == 0, 0.0, np.inf))


def until_converged(attribute, n_steps: int, max_steps: int, tolerance: float, what: str = "") -> Converged:
    """Call ``attribute(steps)`` with steps n_steps, 2·n_steps, … (at most ``max_steps``) until it converges.

    Args:
        attribute: ``steps -> (attributions (2, L, H) or a dict of them, delta (2,))``, e.g.
            ``lambda steps: embedding_lig(model, tensors, steps)``.
        n_steps: the first try's steps.
        max_steps: the cap; a try at the cap that misses the tolerance ends the loop unconverged (logged).
        tolerance: the relative delta to reach, for both targets.
        what: what is attributed, for the log (``"q17 embeddings"``).

    Returns:
        :class:`Converged`.
    """
    steps, history = n_steps, []
    while True:
        attributions, delta = attribute(steps)
        relative = relative_delta(attributions, delta)
        history.append((steps, relative.tolist()))
        converged = bool((relative <= tolerance).all())
        if converged or steps >= max_steps:
            break
        steps = min(2 * steps, max_steps)
    if converged:
        log.info("%s: converged at n_steps %d (relative deltas %s ≤ %g)", what, steps, _fmt(relative), tolerance)
    else:
        log.warning(
            "%s: not converged at the cap, n_steps %d (relative deltas %s > %g). Fix: raise n_steps_max",
            what,
            steps,
            _fmt(relative),
            tolerance,
        )
    return Converged(attributions, delta, steps, converged, history)


def _fmt(values: np.ndarray) -> str:
    return ", ".join(f"{value:.3g}" for value in values)
