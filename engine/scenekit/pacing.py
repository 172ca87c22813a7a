"""How long things stay on screen at the readable pace (plain Python, no Manim).

Subtitle practice for adult viewers is at most about 17–20 characters a second and at least
about 1.5 s per caption; a layer or an idea needs about 3 s before the next one replaces it.
``RunScene`` scales every hold and transition by its ``pace`` option (1 = these figures;
``brisk`` = half), and ``RunScene.hold`` waits at least until the caption on screen can be read.
"""

from __future__ import annotations

READING_SPEED = 16.0
"""Characters a second a caption is timed for: a margin under the 17 that the tests allow."""
MIN_CAPTION = 1.6
"""Seconds every caption stays at least (the tests ask for 1.5)."""
IDEA = 3.0
"""Seconds on each layer or idea."""
BEAT = 0.8
"""Seconds of one transition: a grid moving, a focus zooming in."""


def reading_seconds(text: str) -> float:
    """Seconds a caption needs on screen to be read at ``READING_SPEED``."""
    return max(MIN_CAPTION, len(" ".join(text.split())) / READING_SPEED)


def readable_cues(cues: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The cues ``(seconds, text)`` that can each be read before the next one replaces it,
    in time order: a cue that comes too soon after the one before is dropped (the first is
    always kept; the caller holds the last one long enough)."""
    kept: list[tuple[float, str]] = []
    for at, text in sorted(cues, key=lambda cue: cue[0]):
        if not kept or at - kept[-1][0] >= reading_seconds(kept[-1][1]):
            kept.append((at, text))
    return kept
