"""Cadences: on which training steps a stream takes a snapshot.

Written as short strings so they fit on a command line and in the manifest:
``every:N`` (steps N, 2N, ...), ``log:N`` (about N steps spaced logarithmically, so early
learning, where most changes, gets most frames), ``epoch`` (step 0, then each epoch's last step),
``once`` (a single snapshot). Step 0 is the untrained network; step t is after t updates.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from engine.errors import NnreelError

KINDS = ("every", "log", "epoch", "once")


def parse(cadence: str) -> tuple[str, int]:
    kind, _, arg = cadence.partition(":")
    if kind not in KINDS:
        raise NnreelError(
            f"Unknown cadence {cadence!r}. Use every:N, log:N, epoch or once (e.g. log:60)."
        )
    if kind in ("every", "log"):
        if not arg.isdigit() or int(arg) < 1:
            raise NnreelError(f"Cadence {cadence!r} needs a positive whole number after ':'.")
        return kind, int(arg)
    return kind, 0


def schedule(cadence: str, total_steps: int, steps_per_epoch: int) -> np.ndarray:
    """The sorted, unique steps (0 … total_steps) at which ``cadence`` records."""
    kind, n = parse(cadence)
    if kind == "once":
        steps = np.array([0])
    elif kind == "epoch":
        steps = np.arange(0, total_steps + 1, steps_per_epoch)
        if steps[-1] != total_steps:
            steps = np.append(steps, total_steps)
    elif kind == "every":
        steps = np.arange(0, total_steps + 1, n)
        if steps[-1] != total_steps:
            steps = np.append(steps, total_steps)
    else:
        steps = log_spaced(n, total_steps)
    return np.unique(steps).astype(np.int64)


def log_spaced(count: int, total_steps: int) -> np.ndarray:
    """Step 0, then about ``count - 1`` steps up to ``total_steps`` evenly spaced in log(1+t).

    Early steps that round to the same integer are kept once, so the result may be shorter.
    """
    if total_steps <= 0:
        return np.array([0])
    points = np.expm1(np.linspace(0.0, np.log1p(total_steps), max(count, 2)))
    return np.unique(np.concatenate([[0], np.round(points), [total_steps]])).astype(np.int64)


OPEN_HORIZON = 10_000
"""A loop of unknown length spaces ``log:N`` snapshots as if it were this many steps long, and
goes on at the same ratio past it."""
OPEN_CAPACITY = 64
"""Snapshots first allocated for an open-ended cadence (the stream doubles when full)."""


class Due:
    """On which steps one cadence records: the steps of ``schedule`` when the run's length is
    known, else an open-ended rule (``every:N`` on multiples of N, ``log:N`` log-spaced as if
    the run were ``OPEN_HORIZON`` steps, ``epoch`` at step 0 and at each validation)."""

    def __init__(self, cadence: str, total_steps: int | None, steps_per_epoch: int | None):
        self.kind, self.n = parse(cadence)
        self.open = total_steps is None or (self.kind == "epoch" and not steps_per_epoch)
        if not self.open:
            steps = schedule(cadence, int(total_steps), int(steps_per_epoch or total_steps or 1))
            self._sorted: list[int] = steps.tolist()
            self._steps = set(self._sorted)
            self.capacity = len(steps)
            return
        self._steps = {0}
        self._sorted = [0]
        self._upto = 0
        self.capacity = 1 if self.kind == "once" else OPEN_CAPACITY
        if self.kind == "log":
            self._extend(OPEN_HORIZON)

    def at(self, step: int) -> bool:
        if not self.open or self.kind in ("once", "epoch"):
            return step in self._steps
        if self.kind == "every":
            return step % self.n == 0
        if step > self._upto:
            self._extend(2 * step)
        return step in self._steps

    def next_after(self, step: int) -> float:
        """The first step after ``step`` on which this cadence records by step (``inf``: none;
        an open ``epoch`` cadence records at validations instead), so that a training step can
        tell with one comparison whether anything is due."""
        if self.open and self.kind == "every":
            return (step // self.n + 1) * self.n
        if self.open and self.kind == "log":
            while self._sorted[-1] <= step:
                self._extend(2 * max(self._upto, step, 1))
        at = bisect.bisect_right(self._sorted, step)
        return self._sorted[at] if at < len(self._sorted) else math.inf

    def _extend(self, upto: int) -> None:
        """Log-spaced steps up to ``upto``, at the ratio ``log:N`` has over the horizon."""
        ratio = np.log1p(OPEN_HORIZON) / max(self.n - 1, 1)
        count = int(np.ceil(np.log1p(upto) / ratio)) + 1
        points = np.round(np.expm1(np.arange(count) * ratio)).astype(np.int64)
        self._steps.update(int(p) for p in points if p <= upto)
        self._sorted = sorted(self._steps)
        self._upto = upto
