"""Many short texts in one raster: a ``TextLayer`` draws ``Words`` with the label renderer into
one transparent image over a box, redrawn only when a text changes, so the camera composites
one image per frame instead of one per text (numbers beside many tiles, labels of a graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from manim import LEFT, RESAMPLING_ALGORITHMS, UP, ImageMobject

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.label import pixels_per_unit, render
from engine.scenekit.widgets import set_pixels


@dataclass(frozen=True)
class Words:
    """One text of a ``TextLayer``: where (frame x, y) and which of its points sits there
    horizontally (``anchor``: −1 its left end, 0 its centre, 1 its right end)."""

    text: str
    at: tuple[float, float]
    size: int | None = None
    """The theme's small size unless given."""
    color: str | None = None
    """The theme's muted colour unless given."""
    anchor: float = 0.0

    def __post_init__(self) -> None:
        if self.size is None:
            object.__setattr__(self, "size", theme.SMALL)
        if self.color is None:
            object.__setattr__(self, "color", theme.MUTED)


class TextLayer(ImageMobject):
    """Many short texts drawn by the kit's label renderer into one transparent raster over a
    box, redrawn only when a text changes: the camera composites one image per frame instead
    of one per text. Texts are vertically centred on their point."""

    def __init__(self, left: float, top: float, width: float, height: float):
        self.scale_ = pixels_per_unit()
        size = (max(1, round(height * self.scale_)), max(1, round(width * self.scale_)))
        super().__init__(np.zeros((*size, 4), dtype=np.uint8))
        self.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
        self.stretch_to_fit_width(width).stretch_to_fit_height(height)
        self.move_to([left + width / 2, top - height / 2, 0])
        self.words: tuple[Words, ...] = ()

    def set(self, words: list[Words]) -> TextLayer:
        if tuple(words) == self.words:
            return self
        canvas = np.zeros_like(self.pixel_array)
        height, width = canvas.shape[:2]
        left_top = self.get_corner(UP + LEFT)
        for item in words:
            cover = render(item.text, item.size)
            h, w = cover.shape
            x = (item.at[0] - left_top[0]) * self.scale_
            y = (left_top[1] - item.at[1]) * self.scale_
            x0, y0 = round(x - w * (1 + item.anchor) / 2), round(y - h / 2)
            top, left = max(y0, 0), max(x0, 0)
            bottom, right = min(y0 + h, height), min(x0 + w, width)
            if top >= bottom or left >= right:
                continue
            region = canvas[top:bottom, left:right]
            # Texts do not overlap: the box takes the text's colour, its alpha the glyphs.
            region[..., :3] = rs.hex_rgb(item.color)
            region[..., 3] = cover[top - y0 : bottom - y0, left - x0 : right - x0]
        set_pixels(self, canvas)
        self.words = tuple(words)
        return self

    def boxes(self) -> list[tuple[Words, np.ndarray, np.ndarray]]:
        """Each text, its box (left, bottom, right, top, frame units) where it is drawn now,
        and its glyphs' coverage: what the layout check reads."""
        per_unit = self.width / self.pixel_array.shape[1]
        left, top = self.get_corner(UP + LEFT)[:2]
        found = []
        for item in self.words:
            cover = render(item.text, item.size)
            h, w = cover.shape
            x = item.at[0] - left
            x0 = round(x * self.scale_ - w * (1 + item.anchor) / 2) * per_unit + left
            y0 = top - round((top - item.at[1]) * self.scale_ - h / 2) * per_unit
            box = np.array([x0, y0 - h * per_unit, x0 + w * per_unit, y0])
            found.append((item, box, cover))
        return found
