"""One look for every scene: colours, fonts, sizes, margins and the text helpers that use them.

Colours and sizes are those of the look in use (``palette``): ``theme.ACCENT`` is the dark
palette's yellow in a dark render and the light palette's orange in a light one, and
``theme.SMALL`` is 16 pt for video and 22 pt in the GIF layout (10 px tall in a 640 px wide
GIF). Read them where they are used, never at import time. Sizes are Manim ``font_size``
values (points, 72 to a frame unit). Scenes use these helpers rather than raw ``Text`` so
that captions, titles and counters look alike everywhere; ``text`` makes a fast raster
``Label``, ``vector_text`` a Manim ``Text`` for typography that animates.
"""

from __future__ import annotations

import math

from manim import DOWN, LEFT, RIGHT, UP, Group, Text, config

from engine.scenekit import palette
from engine.scenekit.label import Label

# -- colours and sizes: those of the look in use (``palette.using``) --------------------------
COLOURS = {
    "BACKGROUND": "background",
    "PANEL": "panel",
    "GAP": "gap",
    "TEXT": "text",
    "MUTED": "muted",
    "ACCENT": "accent",
    "ACCENT_WORD": "accent_word",
    "GOOD": "good",
    "BAD": "bad",
    "BAR": "bar",
    "RUNNER_UP": "runner_up",
    "GHOST": "ghost",
    "ZERO_WORD": "zero_word",
}
"""``theme.ACCENT`` and the rest: the current palette's (see ``palette.Palette``)."""
SIZES = {"TITLE": "title", "HEADING": "heading", "BODY": "body", "LABEL": "label", "SMALL": "small"}
"""``theme.SMALL`` and the rest: the current type scale's, in Manim points."""
FONT = "DejaVu Sans"


def __getattr__(name: str):
    """Colours and sizes are read when used, from the look in use: never bind one at import
    time (a default argument, a module constant), or a light render would draw it dark."""
    look = palette.current()
    if name in COLOURS:
        return getattr(look.palette, COLOURS[name])
    if name in SIZES:
        return getattr(look.sizes, SIZES[name])
    raise AttributeError(f"module 'engine.scenekit.theme' has no attribute {name!r}")


# -- layout (frame units; the frame is about 14.2 × 8) -----------------------------------------
MARGIN = 0.35


def frame_width() -> float:
    return float(config.frame_width)


def content_width() -> float:
    """The frame's width inside its margins: as wide as anything on screen may be."""
    return frame_width() - 2 * MARGIN


def frame_height() -> float:
    return float(config.frame_height)


def text(
    content: str,
    size: int | None = None,
    color: str | None = None,
    *,
    weight: str = "NORMAL",
    mono: bool = False,
) -> Label:
    """One line in the theme's font, as a ``Label``: a raster made at the output resolution
    (about 2 ms, against tens for a Manim ``Text``; see ``label``). Size and colour default
    to the body size and the text colour."""
    colours, sizes = palette.current()
    size = sizes.body if size is None else size
    color = colours.text if color is None else color
    return Label(content, size, color, bold=weight == "BOLD", mono=mono)


def vector_text(
    content: str, size: int | None = None, color: str | None = None, weight: str = "NORMAL"
) -> Text:
    """Manim's vector ``Text`` in the theme's font, for text that is animated as shapes
    (``Write``, morphing). Slower to build and to draw than ``text``."""
    colours, sizes = palette.current()
    size = sizes.body if size is None else size
    color = colours.text if color is None else color
    return Text(content, font=FONT, font_size=size, color=color, weight=weight)


SEPARATOR = "  ·  "
"""Between the parts of a title or a caption line: where a line too long is cut."""


def title_room(line: int = 0) -> float:
    """How wide the title's main line (0) or its subtitle (1) may be beside the step
    counter's two lines in the top-right corner ('step 9,999 of 9,999', 'epoch 99 of 99')."""
    sizes = palette.current().sizes
    counter = (
        text("step 9,999 of 9,999", sizes.body, weight="BOLD")
        if line == 0
        else text("epoch 99 of 99", sizes.label)
    )
    return content_width() - counter.width - 0.3


def title(main: str, sub: str | None = None, width: float | None = None) -> Group:
    """The scene title, top left: a bold line and an optional muted line under it, both at
    most ``width`` wide (default: the room beside the step counter). What does not fit is
    cut at a ' · ': the main line's tail moves to the front of the subtitle, and the
    subtitle's last parts go first."""
    colours, sizes = palette.current()
    widths = [
        title_room(line) if width is None else min(width, title_room(line)) for line in (0, 1)
    ]
    heads = main.split(SEPARATOR)
    parts = sub.split(SEPARATOR) if sub else []
    while (
        len(heads) > 1 and text(SEPARATOR.join(heads), sizes.title, weight="BOLD").width > widths[0]
    ):
        parts.insert(0, heads.pop())
    lines = [text(SEPARATOR.join(heads), sizes.title, weight="BOLD")]
    while parts and text(SEPARATOR.join(parts), sizes.label).width > widths[1]:
        parts.pop()
    if parts:
        lines.append(text(SEPARATOR.join(parts), sizes.label, colours.muted))
    group = Group(*lines).arrange(DOWN, aligned_edge=LEFT, buff=0.02)
    return group.to_corner(UP + LEFT, buff=MARGIN)


def fitted(
    words: str,
    width: float,
    size: int,
    color: str | None = None,
    weight: str = "NORMAL",
    separator: str = SEPARATOR,
) -> Label:
    """A line of ``words`` at most ``width`` wide: its last parts (between ``separator``s,
    ' · ' by default) dropped as needed (the first part always stays)."""
    parts = words.split(separator)
    while len(parts) > 1 and text(separator.join(parts), size, color, weight=weight).width > width:
        parts.pop()
    return text(separator.join(parts), size, color, weight=weight)


def caption(name: str, details: str, note: str | None = None, width: float | None = None) -> Group:
    """A panel caption: the name in bold, its details (shape, channels) muted, an optional
    note (what is shown of how much) in small type; at most ``width`` wide when given (the
    last ' · ' parts of the details and the note are dropped as needed)."""
    colours, sizes = palette.current()
    name_line = text(name, sizes.heading, weight="BOLD")
    room = None if width is None else width - name_line.width - 0.25
    info = (
        text(details, sizes.body, colours.muted)
        if room is None
        else fitted(details, room, sizes.body, colours.muted)
    )
    head = Group(name_line, info).arrange(RIGHT, buff=0.25, aligned_edge=DOWN)
    lines = [head]
    if note:
        small = (
            text(note, sizes.small, colours.muted)
            if width is None
            else fitted(note, width, sizes.small, colours.muted)
        )
        lines.append(small)
    return Group(*lines).arrange(DOWN, aligned_edge=LEFT, buff=0.02)


def shape_text(shape: list[int] | tuple[int, ...]) -> str:
    """[64, 16, 16] → '64×16×16'."""
    return "×".join(str(int(s)) for s in shape)


def percent(p: float) -> str:
    """A fraction as a percentage, with enough digits that 99.96 % never reads as 100 %
    (nor 0.004 % as 0 %)."""
    share = 100 * float(p)
    if 0.05 <= share <= 99.95 or share in (0.0, 100.0):
        return f"{share:.1f}%"
    if share < 0.05:
        return f"{share:.2g}%"
    if share > 100:  # a relative change can pass 100 %
        return f"{share:,.0f}%"
    decimals = min(6, -math.floor(math.log10(100 - share)))
    return f"{share:.{decimals}f}%"
