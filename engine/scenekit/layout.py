"""The layout check: what is on screen at a key moment, read from the mobjects, and what is wrong
with it — two texts overlapping, a text over a picture it does not name, something too near
the frame's edge.

The kit knows its text (``Label``; each word of a ``TextLayer``) and its pictures (every
other ``ImageMobject``: raster tiles, maps, images). Filled shapes (bars, boxes) count as
solid, so text must not cover them either; strokes (axes, frames, edges) do not. Scenes say
what is meant, on the mobjects themselves:

    layout.names(label, tile)       # a label of that tile: it may touch or overlap it
    layout.overlay(label)           # a text that sits on pictures on purpose
    layout.gaps(grid, theme.GAP)    # pixels of this colour are gaps between tiles, not tiles
    layout.backdrop(stripe)         # a filled shape text may sit on (a table's stripe)
    layout.call(image, "conv1_1")   # the name a problem gives (texts are named by their words)

``RunScene.key_moment`` runs ``problems`` when the check is on (``$NNREEL_CHECK_LAYOUT``: the
tests turn it on) and fails with the names of the two things that collide.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from manim import BackgroundRectangle, ImageMobject, Mobject, VMobject, config

from engine.errors import NnreelError
from engine.scenekit.label import Label, pixels_per_unit
from engine.scenekit.raster import hex_rgb
from engine.scenekit.textlayer import TextLayer

EDGE = 0.02
"""Everything stays at least this share of the frame width away from every edge."""
TOLERANCE_PIXELS = 0.5
"""Overlaps smaller than this many output pixels are rounding, not collisions."""


class LayoutError(NnreelError):
    """A frame whose layout fails the check: what collides with what, at which moment."""


# -- declarations -----------------------------------------------------------------------------
def names(label: Mobject, *tiles: Mobject) -> Mobject:
    """``label`` (a text, or a group of them) names ``tiles``: it may touch or overlap them."""
    for text in _texts_in(label):
        text.layout_names = getattr(text, "layout_names", set()) | {id(t) for t in tiles}
    return label


def overlay(label: Mobject) -> Mobject:
    """``label`` (a text, or a group of them) sits on pictures and shapes on purpose."""
    for text in _texts_in(label):
        text.layout_overlay = True
    return label


def gaps(image: ImageMobject, colour: str) -> ImageMobject:
    """Pixels of ``colour`` in ``image`` are the gaps between its tiles: text may sit there."""
    image.layout_gap = np.array([int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)])
    return image


def backdrop(shape: Mobject) -> Mobject:
    """A filled shape (a table's stripe, a panel) that text may sit on."""
    for part in shape.get_family():
        part.layout_backdrop = True
    return shape


def call(mobject: Mobject, name: str) -> Mobject:
    """The name problems give ``mobject`` (texts are named by their words)."""
    mobject.layout_name = name
    return mobject


def _texts_in(mobject: Mobject) -> list[Mobject]:
    return [m for m in mobject.get_family() if isinstance(m, Label | TextLayer)]


# -- what is on screen ------------------------------------------------------------------------
@dataclass
class Item:
    """One thing on screen: its name, kind (text, picture or shape) and box in frame units."""

    name: str
    kind: str
    box: np.ndarray
    """left, bottom, right, top."""
    mobject: Mobject = field(repr=False)
    source: Mobject | None = field(default=None, repr=False)
    """For a word of a ``TextLayer``: the layer (declarations are the layer's)."""
    colour: np.ndarray | None = None
    """A text's colour (RGB)."""
    size: float | None = None
    """A text's size in points."""

    @property
    def owner(self) -> Mobject:
        return self.source if self.source is not None else self.mobject


def box_of(mobject: Mobject) -> np.ndarray:
    (left, bottom, _), (right, top, _) = (
        mobject.get_corner(np.array([-1, -1, 0])),
        mobject.get_corner(np.array([1, 1, 0])),
    )
    return np.array([left, bottom, right, top], dtype=float)


def ink(box: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The part of ``box`` (a raster's, frame units) where ``alpha`` ([H, W]) has ink: a text's
    glyphs, without the empty line space above and below them."""
    rows, cols = np.flatnonzero(alpha.max(axis=1)), np.flatnonzero(alpha.max(axis=0))
    if not len(rows):
        return box
    h, w = alpha.shape
    left, bottom, right, top = box
    sx, sy = (right - left) / w, (top - bottom) / h
    return np.array(
        [
            left + cols[0] * sx,
            top - (rows[-1] + 1) * sy,
            left + (cols[-1] + 1) * sx,
            top - rows[0] * sy,
        ]
    )


def visible(mobject: Mobject) -> bool:
    if isinstance(mobject, ImageMobject):
        return bool(mobject.pixel_array.size) and int(mobject.pixel_array[..., 3].max()) > 0
    if isinstance(mobject, VMobject):
        if not mobject.has_points():
            return False
        filled = float(np.max(mobject.get_fill_opacities(), initial=0.0)) > 0
        stroked = mobject.get_stroke_width() > 0 and (
            float(np.max(mobject.get_stroke_opacities(), initial=0.0)) > 0
        )
        return filled or stroked
    return False


def solid(mobject: VMobject) -> bool:
    """A filled shape text must not cover (a bar, a box), unless it is a backdrop (declared,
    or Manim's ``BackgroundRectangle``)."""
    if getattr(mobject, "layout_backdrop", False) or isinstance(mobject, BackgroundRectangle):
        return False
    return float(np.max(mobject.get_fill_opacities(), initial=0.0)) >= 0.5


def described(mobject: Mobject, kind: str) -> str:
    given = getattr(mobject, "layout_name", None)
    if given:
        return given
    x, y = mobject.get_center()[:2]
    if isinstance(mobject, ImageMobject):
        h, w = mobject.pixel_array.shape[:2]
        return f"picture {w}×{h} px at ({x:.2f}, {y:.2f})"
    return f"{type(mobject).__name__.lower()} at ({x:.2f}, {y:.2f})"


def items(mobjects: list[Mobject]) -> list[Item]:
    """Every visible text, picture and shape among ``mobjects`` and their families."""
    found: list[Item] = []
    seen: set[int] = set()
    for mobject in itertools.chain.from_iterable(m.get_family() for m in mobjects):
        if id(mobject) in seen or not visible(mobject):
            continue
        seen.add(id(mobject))
        if isinstance(mobject, Label):
            box = ink(box_of(mobject), mobject.pixel_array[..., 3])
            text = Item(repr(mobject.text), "text", box, mobject, None, mobject.rgb, mobject.size)
            found.append(text)
        elif isinstance(mobject, TextLayer):
            found.extend(
                Item(
                    repr(word.text),
                    "text",
                    ink(box, cover),
                    mobject,
                    mobject,
                    np.array(hex_rgb(word.color)),
                    word.size,
                )
                for word, box, cover in mobject.boxes()
            )
        elif isinstance(mobject, ImageMobject):
            found.append(Item(described(mobject, "picture"), "picture", box_of(mobject), mobject))
        elif isinstance(mobject, VMobject):
            kind = "solid" if solid(mobject) else "shape"
            found.append(Item(described(mobject, kind), kind, box_of(mobject), mobject))
    return found


# -- what is wrong ----------------------------------------------------------------------------
def overlap(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    return bool(
        min(a[2], b[2]) - max(a[0], b[0]) > tolerance
        and min(a[3], b[3]) - max(a[1], b[1]) > tolerance
    )


def covers_tile(text: Item, picture: Item, tolerance: float) -> bool:
    """Whether ``text`` lies over a visible part of ``picture`` (not transparent) that is not
    one of its declared gaps."""
    if not overlap(text.box, picture.box, tolerance):
        return False
    image: ImageMobject = picture.mobject
    gap = getattr(image, "layout_gap", None)
    pixels = image.pixel_array
    h, w = pixels.shape[:2]
    left, bottom, right, top = picture.box
    inset = tolerance
    x0 = int(np.floor((max(text.box[0], left) + inset - left) / (right - left) * w))
    x1 = int(np.ceil((min(text.box[2], right) - inset - left) / (right - left) * w))
    y0 = int(np.floor((top - min(text.box[3], top) + inset) / (top - bottom) * h))
    y1 = int(np.ceil((top - max(text.box[1], bottom) - inset) / (top - bottom) * h))
    region = pixels[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if not region.size:
        return False
    seen = region[..., 3] > 0
    if gap is not None:
        seen &= np.abs(region[..., :3].astype(int) - gap).max(axis=-1) > 2
    return bool(np.any(seen))


def related(text: Item, other: Item) -> bool:
    """``text`` names ``other``, or sits on things on purpose."""
    source = text.owner
    if getattr(source, "layout_overlay", False):
        return True
    return id(other.owner) in getattr(source, "layout_names", set())


def problems(mobjects: list[Mobject]) -> list[str]:
    """What is wrong with the layout of ``mobjects`` as they are now, one line each."""
    found = items(mobjects)
    tolerance = TOLERANCE_PIXELS / pixels_per_unit()
    half_w, half_h = config.frame_width / 2, config.frame_height / 2
    edge = EDGE * config.frame_width
    lines = []
    for item in found:
        left, bottom, right, top = item.box
        room = min(left + half_w, half_w - right, bottom + half_h, half_h - top)
        if room < edge - tolerance:
            lines.append(
                f"{item.name} is {max(room, 0) / config.frame_width:.1%} of the frame width "
                f"from its edge (at least {EDGE:.0%})"
            )
    texts = [i for i in found if i.kind == "text"]
    for a, b in itertools.combinations(texts, 2):
        if overlap(a.box, b.box, tolerance) and not (related(a, b) or related(b, a)):
            lines.append(f"text {a.name} overlaps text {b.name}")
    for text in texts:
        for other in found:
            if other.kind not in ("picture", "solid") or related(text, other):
                continue
            if other.owner is text.owner:
                continue
            hit = (
                covers_tile(text, other, tolerance)
                if other.kind == "picture"
                else overlap(text.box, other.box, tolerance)
            )
            if hit:
                lines.append(f"text {text.name} overlaps {other.name}")
    return lines
