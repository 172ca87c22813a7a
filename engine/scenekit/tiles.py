"""Grids of labelled tiles in one raster: where each tile's image, label row and bar go.

``Grid.plan`` arranges N tiles of an image size in a box of pixels so their images are as
large as possible while each label row stays readable; ``TileStyle`` says what a cell holds
besides its image. A scene composites its tiles with numpy (``paint``) at these positions and
shows the whole grid as one ``ImageMobject``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import NnreelError
from engine.scenekit import theme
from engine.scenekit.label import pixels_per_unit
from engine.scenekit.paint import coverage, unit

CELL_GAP = 0.12
"""Horizontal room between the cells of a grid (frame units)."""
CRISP = 0.8
"""Tiles are enlarged by a whole factor (crisp, even pixels) unless that wastes more than
a fifth of the room; then by the exact fraction that fills it."""


def scale_factor(room: int, size: int) -> float:
    """How much to enlarge an image ``size`` pixels across to fill ``room`` (see CRISP)."""
    exact = room / size
    whole = math.floor(exact)
    return float(whole) if whole >= 1 and whole / exact >= CRISP else exact


@dataclass(frozen=True)
class TileStyle:
    """What a grid's cells hold besides the image: a label row above (static left, changing
    right), a bar under it, and an optional line under the bar."""

    head: int | None = None
    """The label row's size (the theme's small size unless given)."""
    foot: int | None = None
    name_color: str | None = None
    """The label row's static text (the unit or class); the theme's muted colour unless given."""
    name_bold: bool = False
    value_color: str | None = None
    """The label row's changing text (the activation or probability); the theme's text colour
    unless given."""
    centred: bool = False
    """Name and value side by side over the tile's centre, else at the row's two ends."""

    def __post_init__(self) -> None:
        defaults = {"head": theme.SMALL, "name_color": theme.MUTED, "value_color": theme.TEXT}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Grid:
    """Where the tiles of one panel raster go, in pixels of that raster."""

    rows: int
    cols: int
    width: int
    height: int
    factor: float
    """Image enlargement."""
    side: int
    """Tile side."""
    style: TileStyle
    need: int
    """The width of the widest label row."""

    @classmethod
    def plan(
        cls,
        count: int,
        width: int,
        height: int,
        image: int,
        style: TileStyle,
        need: int,
        fewer: str = "show fewer tiles",
    ) -> Grid:
        """The arrangement of ``count`` tiles of ``image`` pixels in ``width`` × ``height``
        with the largest images whose label rows (``need`` pixels wide) fit; refused, with the
        advice ``fewer``, when none is readable."""
        gap = round(CELL_GAP * pixels_per_unit())
        best: Grid | None = None
        for cols in range(1, count + 1):
            rows = -(-count // cols)
            cell_w, cell_h = width // cols, height // rows
            room = min(cell_w - gap, cell_h - cls.fixed_height(style))
            if cell_w - gap < need or room < 4:
                continue
            factor = scale_factor(room, image)
            grid = cls(rows, cols, width, height, factor, round(image * factor), style, need)
            if best is None or grid.side > best.side:
                best = grid
        if best is None:
            raise NnreelError(f"{count} tiles per panel do not fit at a readable size: {fewer}.")
        return best

    @staticmethod
    def fixed_height(style: TileStyle) -> int:
        """Pixels of a cell that are not image: label rows, bar, gaps."""
        head = coverage("0", style.head).shape[0]
        foot = coverage("0", style.foot).shape[0] + unit() if style.foot else 0
        return head + foot + 8 * unit()

    def cell(self, k: int) -> tuple[int, int, int, int]:
        """Cell k's (x, y, width, height); the grid is centred in the raster."""
        gap = round(CELL_GAP * pixels_per_unit())
        cell_w = min(self.width // self.cols, self.side + gap + self.extra_width())
        cell_h = self.side + self.fixed_height(self.style)
        left = (self.width - cell_w * self.cols) // 2
        top = (self.height - cell_h * self.rows) // 2
        r, c = divmod(k, self.cols)
        return left + c * cell_w, top + r * cell_h, cell_w, cell_h

    def extra_width(self) -> int:
        """Cells wider than their image when the label row needs it."""
        return max(0, self.need - self.side)

    def image_box(self, k: int) -> tuple[int, int]:
        """(x, y) of tile k's image."""
        x, y, w, _ = self.cell(k)
        head = coverage("0", self.style.head).shape[0]
        return x + (w - self.side) // 2, y + head + unit()

    def label_span(self, k: int) -> tuple[int, int]:
        """Left and right ends of tile k's label row: the image's, or wider when it is small."""
        x, _, w, _ = self.cell(k)
        gap = round(CELL_GAP * pixels_per_unit())
        span = max(self.side, min(w - gap, self.need))
        return x + (w - span) // 2, x + (w + span) // 2

    def bar_box(self, k: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of tile k's bar, under its image."""
        x, y = self.image_box(k)
        top = y + self.side + unit() * 2
        return x, top, x + self.side, top + 2 * unit()
