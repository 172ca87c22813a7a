"""The check every scene test makes of the subtitles Manim writes beside a video."""

from __future__ import annotations

import itertools
from pathlib import Path

MAX_CHARACTERS = 120
"""A caption is one short sentence: two subtitle lines at most."""


def read_captions(video: Path, seconds: float, coverage: float = 0.9) -> list[str]:
    """The captions beside ``video``, checked: valid SRT, in order without overlapping, from
    the start to the end of its ``seconds`` and covering at least ``coverage`` of them, each
    one line of at most ``MAX_CHARACTERS``. Returns their texts."""
    import srt

    path = video.with_suffix(".srt")
    assert path.exists(), f"no captions beside {video.name}"
    captions = list(srt.parse(path.read_text(encoding="utf-8")))
    assert captions, f"{path.name} is empty"
    spans = [(c.start.total_seconds(), c.end.total_seconds()) for c in captions]
    assert all(start < end for start, end in spans)
    assert all(a[1] <= b[0] + 1e-3 for a, b in itertools.pairwise(spans)), "captions overlap"
    assert spans[0][0] <= 0.1 and spans[-1][1] <= seconds + 0.25
    assert sum(end - start for start, end in spans) >= coverage * seconds
    for caption in captions:
        text = caption.content
        assert 0 < len(text) <= MAX_CHARACTERS and "\n" not in text, f"too long: {text!r}"
    return [c.content for c in captions]
