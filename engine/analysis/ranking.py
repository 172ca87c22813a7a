"""Rankings that give the same order on every machine.

Numbers that came out of training differ in their last digits from one CPU (or thread count)
to the next. Ranked naively, two channels a hair apart swap places and a picture changes. Here
scores that agree to a few significant digits of the largest count as tied, and ties keep index
order: the same numbers, or nearly the same, always give the same order.
"""

from __future__ import annotations

import numpy as np

SIGNIFICANT = 3
"""Scores closer than 10^-3 of the largest |score| are a tie."""


def ranked(scores: np.ndarray, significant: int = SIGNIFICANT) -> np.ndarray:
    """Indices of ``scores`` (1-D), largest first; near-ties in index order."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    top = float(np.abs(values).max()) if values.size else 0.0
    if top > 0 and np.isfinite(top):
        values = np.round(values / top, significant)
    return np.argsort(-values, kind="stable")
