"""Progress lines of a long job: which step and batch is speaking, how far it is, and the time left."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("bertscope")


def duration(seconds: float) -> str:
    """``42 s``, ``7 min 05 s``, ``2 h 03 min``: a time left for a log line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Log lines for a job's units of work (an attribution job's groups), each with an estimate of the time left.

    Args:
        job: what speaks, the step and its batch (``embedding_lig b0003``).
        costs: each unit's expected cost in any unit (a group's padded tokens): the time left is the elapsed time
            per cost done, times the cost left.
        clock: seconds, monotonic (a test passes its own).
    """

    def __init__(self, job: str, costs: list[float], clock=time.monotonic):
        self.job, self.costs, self.clock = job, costs, clock
        self.started = clock()

    def eta(self, done_units: int) -> str:
        """The estimated time left once ``done_units`` units are done: ``unknown`` before the first one."""
        done = sum(self.costs[:done_units])
        if done_units == 0 or done <= 0:
            return "unknown"
        return duration((self.clock() - self.started) / done * sum(self.costs[done_units:]))

    def starting(self, unit: int, what: str, examples_done: int, examples: int) -> None:
        """Log the start of unit ``unit`` (0-based) of the job, ``what`` it is, with the examples done so far."""
        log.info(
            "%s: group %d of %d (%s), %d of %d examples done, ETA %s",
            self.job,
            unit + 1,
            len(self.costs),
            what,
            examples_done,
            examples,
            self.eta(unit),
        )

    def finished(self) -> None:
        log.info("%s: done in %s", self.job, duration(self.clock() - self.started))
