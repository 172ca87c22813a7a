"""Looks: the colours (a ``Palette``: dark for video, light for slides and print) and the type
sizes (a ``TypeScale``: for video and slides, or large enough for a 640 px README GIF) that
every scene draws with, and which of them is in use now.

Plain Python, no Manim: ``raster`` reads its colour maps from here, ``theme`` its colours and
sizes. A scene renders inside ``using(theme, layout)``; nothing reads a colour or a size at
import time, so the same process can render a dark scene and then a light one.

Colour maps are chosen per palette so that zero reads as "nothing" on that background: white
(the background) on light, the panel colour on dark — a silent pixel never glares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from engine.errors import UnknownNameError


@dataclass(frozen=True)
class Palette:
    """Every colour a scene uses, as hex codes (Manim takes them as they are)."""

    name: str
    background: str
    panel: str
    """The fill of panels: a step off the background (on dark, also the colour maps' zero)."""
    gap: str
    """Padding between the tiles of a colour-mapped grid: apart from both the background and
    the colour maps' zero, so every tile's edge shows even where its map is all zero."""
    text: str
    muted: str
    accent: str
    """What the viewer should look at: the current layer, the predicted class."""
    accent_word: str
    """The accent's colour in words, for keys that say 'yellow: predicted'."""
    good: str
    """Ground truth (the true class)."""
    bad: str
    """Marks that mean something is wrong or absent (silent channels, a wrong prediction)."""
    bar: str
    runner_up: str
    """The second-best class's bar: quieter than the accent, apart from the other bars."""
    ghost: str
    """Something that was there and is gone (pruned weights)."""
    zero_word: str
    """What zero looks like in the palette's colour maps, for legends: 'dark', 'white'."""
    colormaps: Mapping[str, str]
    """Colour maps whose look depends on the background: anchor colours low to high."""
    activation_map: str
    """The colour map activations use unless a scene is told otherwise."""


DARK = Palette(
    name="dark",
    background="#101318",
    panel="#1b2029",
    gap="#101318",
    text="#eceff4",
    muted="#9aa3af",
    accent="#ffc857",
    accent_word="yellow",
    good="#7bd389",
    bad="#f25f5c",
    bar="#5b8def",
    runner_up="#e8e2d0",
    ghost="#5a2a2c",
    zero_word="dark",
    colormaps={
        # Greens rising out of the panel colour: zero is as dark as the padding around it.
        "greens": "1b2029 173823 1a5530 23753d 34964c 5fb56a 93d18f c0e6b6 e5f5e0",
        # RdBu folded around the panel colour: the stronger a value, the brighter, either sign.
        "diverging": "a6d0e6 5aa2d0 2f78b8 24466b 1b2029 6b2a2f b8303b de6a58 f6b196",
        "gray": "1b2029 ffffff",
    },
    activation_map="viridis",
)
LIGHT = Palette(
    name="light",
    background="#ffffff",
    panel="#f3f4f6",
    gap="#d0d7de",
    text="#1f2328",
    muted="#57606a",
    accent="#c2410c",
    accent_word="orange",
    good="#1a7f37",
    bad="#cf222e",
    bar="#0969da",
    runner_up="#8c959f",
    ghost="#f2c4c4",
    zero_word="white",
    colormaps={
        # Seed 004's ColorBrewer Greens from white: darker green = stronger.
        "greens": "ffffff e5f5e0 c7e9c0 a1d99b 74c476 41ab5d 238b45 006d2c 00441b",
        # ColorBrewer RdBu reversed: blue negative, white zero, red positive.
        "diverging": "2166ac 4393c3 92c5de d1e5f0 ffffff fddbc7 f4a582 d6604d b2182b",
        "gray": "ffffff 000000",
    },
    activation_map="greens",
)
PALETTES = {palette.name: palette for palette in (DARK, LIGHT)}


@dataclass(frozen=True)
class TypeScale:
    """Font sizes in Manim points (72 to a frame unit; a frame is about 14.2 units wide)."""

    name: str
    title: int
    heading: int
    body: int
    label: int
    small: int


VIDEO = TypeScale("video", title=30, heading=24, body=20, label=18, small=16)
"""Sizes for 1080p video and slides: the smallest is 16 px tall (cap height) at 1080p."""
GIF = TypeScale("gif", title=32, heading=28, body=25, label=23, small=22)
"""Sizes for a README GIF 640 px wide (45 px to a frame unit): the smallest text, 22 pt, is
14 px to the em there and 10 px tall in capitals and digits, the least that stays legible."""
LAYOUTS = {scale.name: scale for scale in (VIDEO, GIF)}


class Look(NamedTuple):
    """A palette and a type scale: ``colours, sizes = current()``."""

    palette: Palette
    sizes: TypeScale


_current: list[Look] = [Look(DARK, VIDEO)]


def current() -> Look:
    """The look scenes draw with now."""
    return _current[-1]


def look(theme: str | None = None, layout: str | None = None) -> Look:
    """The look of a theme and a layout by name (None: the current one's)."""
    now = current()
    if theme is not None and theme not in PALETTES:
        raise UnknownNameError("theme", theme, PALETTES)
    if layout is not None and layout not in LAYOUTS:
        raise UnknownNameError("layout", layout, LAYOUTS)
    return Look(PALETTES[theme] if theme else now.palette, LAYOUTS[layout] if layout else now.sizes)


@contextlib.contextmanager
def using(chosen: Look) -> Iterator[Look]:
    """Draw with ``chosen`` inside the block; the look before it comes back after."""
    _current.append(chosen)
    try:
        yield chosen
    finally:
        _current.pop()
