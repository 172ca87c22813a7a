"""One look for every scene: colours, fonts, sizes, margins and the text helpers that use them.

Sizes are Manim ``font_size`` values (points, 72 to a frame unit) chosen to read at 1080p and
still in a 640 px wide GIF (where one frame unit is 45 px): ``SMALL`` has a cap height of
about 7 px there, the least that stays legible. Scenes use these helpers rather than raw
``Text`` so that captions, titles and counters look alike everywhere; ``text`` makes a fast
raster ``Label``, ``vector_text`` a Manim ``Text`` for typography that animates.
"""

from __future__ import annotations

import math

from manim import DOWN, LEFT, RIGHT, UP, Group, Text, config

from engine.scenekit.label import Label

# -- colours (hex, as Manim takes them) -------------------------------------------------------
BACKGROUND = "#101318"
PANEL = "#1b2029"
"""Padding between raster tiles and the fill of panels: a step above the background."""
TEXT = "#eceff4"
MUTED = "#9aa3af"
ACCENT = "#ffc857"
"""What the viewer should look at: the current layer, the predicted class."""
GOOD = "#7bd389"
"""Ground truth (the true class)."""
BAD = "#f25f5c"
"""Marks that mean something is wrong or absent (silent channels, a wrong prediction)."""
BAR = "#5b8def"

# -- type -------------------------------------------------------------------------------------
FONT = "DejaVu Sans"
TITLE = 30
HEADING = 24
BODY = 20
LABEL = 18
SMALL = 16

# -- layout (frame units; the frame is about 14.2 × 8) -----------------------------------------
MARGIN = 0.35


def frame_width() -> float:
    return float(config.frame_width)


def frame_height() -> float:
    return float(config.frame_height)


def text(
    content: str,
    size: int = BODY,
    color: str = TEXT,
    *,
    weight: str = "NORMAL",
    mono: bool = False,
) -> Label:
    """One line in the theme's font, as a ``Label``: a raster made at the output resolution
    (about 2 ms, against tens for a Manim ``Text``; see ``label``)."""
    return Label(content, size, color, bold=weight == "BOLD", mono=mono)


def vector_text(content: str, size: int = BODY, color: str = TEXT, weight: str = "NORMAL") -> Text:
    """Manim's vector ``Text`` in the theme's font, for text that is animated as shapes
    (``Write``, morphing). Slower to build and to draw than ``text``."""
    return Text(content, font=FONT, font_size=size, color=color, weight=weight)


def title(main: str, sub: str | None = None) -> Group:
    """The scene title, top left: a bold line and an optional muted line under it."""
    lines = [text(main, TITLE, weight="BOLD")]
    if sub:
        lines.append(text(sub, LABEL, MUTED))
    group = Group(*lines).arrange(DOWN, aligned_edge=LEFT, buff=0.02)
    return group.to_corner(UP + LEFT, buff=MARGIN)


def caption(name: str, details: str, note: str | None = None) -> Group:
    """A panel caption: the name in bold, its details (shape, channels) muted, an optional
    note (what is shown of how much) in small type."""
    head = Group(text(name, HEADING, weight="BOLD"), text(details, BODY, MUTED))
    head.arrange(RIGHT, buff=0.25, aligned_edge=DOWN)
    lines = [head]
    if note:
        lines.append(text(note, SMALL, MUTED))
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
