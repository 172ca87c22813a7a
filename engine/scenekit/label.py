"""``Label``: text drawn once by FreeType into a raster at the output resolution.

A Manim ``Text`` goes through Pango, an SVG file and an SVG parser, and becomes one vector
path per glyph that Cairo fills again on every frame: tens of milliseconds to build and
milliseconds per frame to draw, which dominated our scenes' render time. A ``Label`` takes
about 2 ms to build and is one small image to composite. It is pixel-exact at the size it is
made for, so do not scale it afterwards (make a new one); for text that morphs or is written
stroke by stroke, use Manim's ``Text`` (``theme.vector_text``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from manim import LEFT, RESAMPLING_ALGORITHMS, ImageMobject, ManimColor, config
from PIL import Image, ImageDraw, ImageFont

FONT_FILES = {
    (False, False): "DejaVuSans.ttf",
    (False, True): "DejaVuSans-Bold.ttf",
    (True, False): "DejaVuSansMono.ttf",
    (True, True): "DejaVuSansMono-Bold.ttf",
}
POINTS_PER_UNIT = 72
"""Manim's ``font_size`` is in points, 72 to a frame unit (a 48 pt em is 2/3 of a unit)."""


def pixels_per_unit() -> float:
    return config.pixel_height / config.frame_height


@lru_cache(maxsize=64)
def font(pixels: int, bold: bool = False, mono: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu at ``pixels`` per em (FreeType finds it in the system font folders); the
    bundled default font where DejaVu is not installed."""
    try:
        return ImageFont.truetype(FONT_FILES[(mono, bold)], pixels)
    except OSError:
        return ImageFont.load_default(pixels)


def render(text: str, size: float, bold: bool = False, mono: bool = False) -> np.ndarray:
    """Glyph coverage ([H, W] uint8) of one line of ``text`` at ``size`` points for the
    current output resolution. Every line of a size has the same height (ascent + descent),
    so labels side by side share a baseline when aligned by their bottoms."""
    face = font(max(1, round(size * pixels_per_unit() / POINTS_PER_UNIT)), bold, mono)
    ascent, descent = face.getmetrics()
    left, _, right, _ = face.getbbox(text or " ", anchor="ls")
    width = max(1, right - left)
    canvas = Image.new("L", (width, ascent + descent))
    ImageDraw.Draw(canvas).text((-left, ascent), text, font=face, fill=255, anchor="ls")
    return np.asarray(canvas)


class Label(ImageMobject):
    """One line of text as a raster, crisp at the resolution being rendered.

    ``set_color`` recolours the glyphs; ``set_text`` changes the words in place (cheap),
    keeping the edge given by ``keep`` where it was.
    """

    def __init__(
        self,
        text: str,
        size: float = 20,
        color: str = "#ffffff",
        *,
        bold: bool = False,
        mono: bool = False,
    ):
        self.text, self.size, self.bold, self.mono = text, size, bold, mono
        self.rgb = np.array(ManimColor(color).to_int_rgb(), dtype=np.uint8)
        super().__init__(self._pixels(text))
        self.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
        self.height = self.pixel_array.shape[0] / pixels_per_unit()

    def _pixels(self, text: str) -> np.ndarray:
        coverage = render(text, self.size, self.bold, self.mono)
        rgba = np.empty((*coverage.shape, 4), dtype=np.uint8)
        rgba[..., :3] = self.rgb
        rgba[..., 3] = coverage
        return rgba

    def set_color(self, color=None, alpha=None, family: bool = True) -> Label:
        if color is not None:
            self.rgb = np.array(ManimColor(color).to_int_rgb(), dtype=np.uint8)
            self.pixel_array[..., :3] = self.rgb
        self.color = ManimColor(color) if color is not None else self.color
        return self

    def set_text(self, text: str, keep: np.ndarray = LEFT) -> Label:
        if text == self.text:
            return self
        anchor = self.get_edge_center(keep)
        self.text = text
        self.pixel_array = self._pixels(text)
        self.orig_alpha_pixel_array = self.pixel_array[:, :, 3].copy()
        self.stretch_to_fit_width(self.pixel_array.shape[1] / pixels_per_unit())
        return self.shift(anchor - self.get_edge_center(keep))
