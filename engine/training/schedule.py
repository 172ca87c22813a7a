"""Cadences: on which training steps a stream takes a snapshot.

Written as short strings so they fit on a command line and in the manifest:
``every:N`` (steps N, 2N, ...), ``log:N`` (about N steps spaced logarithmically, so early
learning, where most changes, gets most frames), ``epoch`` (step 0, then each epoch's last step),
``once`` (a single snapshot). Step 0 is the untrained network; step t is after t updates.
"""

from __future__ import annotations

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
