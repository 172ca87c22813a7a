"""The check every scene test makes of the subtitles Manim writes beside a video: valid SRT
that covers the video, short sentences, and — at the readable pace — time to read each one."""

from __future__ import annotations

import itertools
from pathlib import Path

MAX_CHARACTERS = 120
"""A caption is one short sentence: two subtitle lines at most."""
MAX_SPEED = 17.0
"""Characters a second at most: subtitle practice for adult viewers is about 17–20."""
MIN_SECONDS = 1.5
"""Seconds every caption stays on screen at least."""


def read_captions(
    video: Path, seconds: float, coverage: float = 0.9, *, readable: bool = True, slack: float = 0
) -> list[str]:
    """The captions beside ``video``, checked: valid SRT, in order without overlapping, from
    the start to the end of its ``seconds`` and covering at least ``coverage`` of them, each
    one line of at most ``MAX_CHARACTERS``; when ``readable`` (a render at the readable pace),
    each on screen at least ``MIN_SECONDS`` and read at most ``MAX_SPEED`` characters a second
    (``slack``: seconds a caption may lose to the frame rate, as captions timed inside an
    animation start on a frame). Returns their texts."""
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
    if readable:
        hurried = too_fast(captions, slack)
        assert not hurried, f"{video.name}: captions too fast to read:\n" + "\n".join(hurried)
    return [c.content for c in captions]


def too_fast(captions, slack: float = 0.0) -> list[str]:
    """Each caption on screen for less than ``MIN_SECONDS`` or read faster than ``MAX_SPEED``
    characters a second, described."""
    found = []
    for caption in captions:
        shown = (caption.end - caption.start).total_seconds() + slack
        speed = len(caption.content) / shown
        if shown < MIN_SECONDS or speed > MAX_SPEED:
            found.append(
                f"  {caption.start.total_seconds():6.1f} s  {shown:4.1f} s  {speed:5.1f} "
                f"chars/s  {caption.content!r}"
            )
    return found
