"""``n_steps: auto``: an attribution re-run with doubling steps until its convergence delta is small enough.

The completeness of Integrated Gradients and Conductance says that the attributions sum to F(input) − F(reference);
the convergence delta is the sum minus that difference. Starting at ``n_steps_min``, the steps double (capped at
``n_steps_max``) until, for both targets, |delta| ≤ tolerance × |F(input) − F(reference)|. The attribution functions
are called as they are (:mod:`bertscope.attribution.part1`), not rewritten: each try is one ordinary call.

Examples that share passes (a group, :class:`~bertscope.attribution.job.ExampleGroup`) are tried together
(:func:`group_until_converged`): after each try the examples that converged keep it, and only the others, a group
of the rest, are re-run at twice the steps. An integer ``n_steps`` is one plan of one try
(:func:`steps_plan`): the attribution runs once, as without this module, and nothing is judged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from bertscope import TARGETS, BertscopeError

log = logging.getLogger("bertscope")

AUTO = "auto"
"""The ``n_steps`` value that asks for the doubling."""
AUTO_KEYS = ("n_steps_min", "n_steps_max", "n_steps_tolerance")
"""The settings of ``n_steps: auto``."""


@dataclass(frozen=True)
class StepsPlan:
    """The tries of an attribution: the first's steps, the cap, and the tolerance (None: one try, not judged)."""

    start: int
    cap: int
    tolerance: float | None


def steps_plan(n_steps, auto_settings: dict | None = None) -> StepsPlan:
    """The plan of ``n_steps``: an integer is one try at it; ``auto`` doubles from ``n_steps_min`` to ``n_steps_max``.

    Args:
        n_steps: the ``n_steps`` setting, an integer or ``"auto"``.
        auto_settings: with ``auto``, ``{"n_steps_min", "n_steps_max", "n_steps_tolerance"}`` (the rules' params
            carry them only then, so that changing them reruns nothing under an integer ``n_steps``).

    Returns:
        :class:`StepsPlan`.

    Raises:
        BertscopeError: ``n_steps_max`` is below ``n_steps_min``.
    """
    if n_steps != AUTO:
        return StepsPlan(int(n_steps), int(n_steps), None)
    first, cap = int(auto_settings["n_steps_min"]), int(auto_settings["n_steps_max"])
    if cap < first:
        raise BertscopeError(
            f"config field 'n_steps_max': {cap} is below n_steps_min ({first}). Fix: set n_steps_max to at least "
            f"n_steps_min, or lower n_steps_min"
        )
    return StepsPlan(first, cap, float(auto_settings["n_steps_tolerance"]))


def auto_settings(config: dict) -> dict:
    """The settings of ``n_steps: auto`` a rule's ``params`` pass, from the config: empty for an integer ``n_steps``.

    Args:
        config: the run's config.

    Returns:
        ``{"n_steps_min", "n_steps_max", "n_steps_tolerance"}`` from ``config``, or ``{}``.
    """
    if config["n_steps"] != AUTO:
        return {}
    return {key: config[key] for key in AUTO_KEYS}


@dataclass
class Converged:
    """The last try of an attribution: its result, the steps it used, whether it met the tolerance (None: an
    integer ``n_steps``, not judged), and every try's (steps, relative deltas)."""

    result: object
    steps: int
    converged: bool | None
    history: list[tuple[int, list[float]]] = field(default_factory=list)

    def record(self, part: slice = slice(None)) -> dict:
        """The attribution record's fields (JSON-able): ``n_steps`` (the steps used), ``converged`` and ``tries``
        (``[[steps, [relative deltas]], ...]``, the deltas in the order the attribution gives them, those of ``part``
        only: one file's share of a pass that serves two)."""
        tries = [[steps, relative[part]] for steps, relative in self.history]
        return {"n_steps": self.steps, "converged": self.converged, "tries": tries}


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
        np.asarray(part.detach().float().cpu() if hasattr(part, "detach") else part, np.float64).sum(axis=(1, 2))
        for part in parts
    )
    delta = np.asarray(delta.detach().float().cpu() if hasattr(delta, "detach") else delta, np.float64)
    difference = np.abs(total - delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(difference > 0, np.abs(delta) / difference, np.where(delta == 0, 0.0, np.inf))


def until_converged(attribute, plan: StepsPlan, what: str = "") -> Converged:
    """Call ``attribute(steps)`` with steps ``plan.start``, twice that, … (at most ``plan.cap``) until it converges.

    Args:
        attribute: ``steps -> (attributions (2, L, H) or a dict of them, delta (2,))``, e.g.
            ``lambda steps: embedding_lig(model, tensors, steps)``.
        plan: :func:`steps_plan`; a try at the cap that misses the tolerance ends the loop unconverged (logged).
        what: what is attributed, for the log (``"q17 embeddings"``).

    Returns:
        :class:`Converged`, its ``result`` the last try's ``(attributions, delta)``.
    """
    history = []
    for steps in ladder(plan.start, plan.cap):  # its last try, at the cap, always returns
        attributions, delta = attribute(steps)
        relative = relative_delta(attributions, delta)
        history.append((steps, relative.tolist()))
        converged = _judge(relative, steps, plan, what)
        if converged is not False or steps >= plan.cap:
            return Converged((attributions, delta), steps, converged, history)


def group_until_converged(attribute, group, plan: StepsPlan, what: str = "") -> list[Converged]:
    """:func:`until_converged` for the examples of a group that share passes: the group is tried at ``plan.start``,
    the examples that converged keep that try, the others (a group of the rest) are tried at twice the steps, and so
    on up to the cap.

    Args:
        attribute: ``(group, steps) -> [(result, relative deltas (k,)), ...]``, one per example of the group in its
            order: the attribution of the (sub)group at ``steps`` split per example, with every relative delta the
            example's convergence is judged on (:func:`relative_delta` of each attribution, concatenated).
        group: an :class:`~bertscope.attribution.job.ExampleGroup` (``examples``, ``subset``).
        plan: :func:`steps_plan`.
        what: what is attributed, for the log (``"embeddings"``: each line names the example too).

    Returns:
        One :class:`Converged` per example of ``group``, in its order.
    """
    outcomes: list[Converged | None] = [None] * len(group.examples)
    histories: list[list] = [[] for _ in group.examples]
    pending, current = list(range(len(group.examples))), group
    for steps in ladder(plan.start, plan.cap):  # at the cap every pending example gets its outcome
        unconverged = []
        for index, (result, relative) in zip(pending, attribute(current, steps), strict=True):
            histories[index].append((steps, np.asarray(relative, np.float64).tolist()))
            converged = _judge(np.asarray(relative), steps, plan, f"{group.examples[index]} {what}")
            if converged is not False or steps >= plan.cap:
                outcomes[index] = Converged(result, steps, converged, histories[index])
            else:
                unconverged.append(index)
        if not unconverged:
            break
        pending, current = unconverged, group.subset(unconverged)
    return outcomes


def _judge(relative: np.ndarray, steps: int, plan: StepsPlan, what: str) -> bool | None:
    """Whether a try met the plan's tolerance (None without one), logging the outcome of a last try."""
    if plan.tolerance is None:
        return None
    converged = bool((relative <= plan.tolerance).all())
    if converged:
        log.info("%s: converged at n_steps %d (relative deltas %s ≤ %g)", what, steps, _fmt(relative), plan.tolerance)
    elif steps >= plan.cap:
        log.warning(
            "%s: not converged at the cap, n_steps %d (relative deltas %s > %g). Fix: raise n_steps_max",
            what,
            steps,
            _fmt(relative),
            plan.tolerance,
        )
    return converged


def _fmt(values: np.ndarray) -> str:
    return ", ".join(f"{value:.3g}" for value in values)


def ladder(first: int, cap: int) -> list[int]:
    """The step counts of the convergence figure: ``first``, twice that, …, and ``cap`` (the tries of ``auto``).

    Args:
        first: ``n_steps_min``.
        cap: ``n_steps_max`` (at least ``first``).

    Returns:
        Increasing step counts, ``cap`` the last.
    """
    steps = [first]
    while steps[-1] < cap:
        steps.append(min(2 * steps[-1], cap))
    return steps


def ladder_rows(attribute, steps: list[int]) -> list[dict]:
    """One example's attribution at every step count of a :func:`ladder`, whatever ``n_steps`` is.

    Args:
        attribute: ``steps -> (attributions (2, L, H), delta (2,))`` of the example.
        steps: the step counts.

    Returns:
        Rows of ``convergence_ladder`` without ``example``: per step count and target, the delta and the relative
        delta (:func:`relative_delta`).
    """
    rows = []
    for count in steps:
        attributions, delta = attribute(count)
        relative = relative_delta(attributions, delta)
        for target, value, ratio in zip(TARGETS, np.asarray(delta.float().cpu(), np.float64), relative, strict=True):
            rows.append({"target": target, "n_steps": count, "delta": float(value), "relative_delta": float(ratio)})
    return rows
