"""Painting into numpy canvases at the output resolution: text stamped from the label renderer's
glyphs, filled rectangles, blank panels, and the small spacing step layouts are measured in.

A scene that redraws a panel many times (a grid of tiles with numbers that change, a clock)
composites it here into one raster and shows it with ``set_pixels``: one image per frame
instead of one mobject per label.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.label import pixels_per_unit, render


def unit() -> int:
    """A small spacing step in pixels (about 4 px at 1080p)."""
    return max(1, round(0.03 * pixels_per_unit()))


@lru_cache(maxsize=8192)
def _coverage(text: str, size: int, bold: bool, ppu: float) -> np.ndarray:
    del ppu  # part of the key only: the glyphs depend on the output resolution
    return render(text, size, bold)


def coverage(text: str, size: int, bold: bool = False) -> np.ndarray:
    """Glyph coverage (uint8 alpha) of one line at the output resolution (cached: values
    repeat from frame to frame)."""
    return _coverage(text, size, bold, pixels_per_unit())


def text_width(text: str, size: int, bold: bool = False) -> int:
    return coverage(text, size, bold).shape[1]


def stamp(
    canvas: np.ndarray,
    text: str,
    x: int,
    y: int,
    size: int,
    color: str,
    *,
    bold: bool = False,
    align: str = "left",
) -> None:
    """Draw one line of text into an RGB(A) canvas, its box's top at ``y`` and its left edge,
    right edge or centre (``align``) at ``x``; clipped to the canvas."""
    alpha = coverage(text, size, bold)
    h, w = alpha.shape
    x0 = {"left": x, "right": x - w, "centre": x - w // 2}[align]
    top, left = max(y, 0), max(x0, 0)
    bottom, right = min(y + h, canvas.shape[0]), min(x0 + w, canvas.shape[1])
    if top >= bottom or left >= right:
        return
    a = alpha[top - y : bottom - y, left - x0 : right - x0, None].astype(np.float32) / 255
    region = canvas[top:bottom, left:right, :3]
    rgb = np.array(rs.hex_rgb(color), dtype=np.float32)
    region[:] = (region * (1 - a) + rgb * a + 0.5).astype(np.uint8)


def fill(canvas: np.ndarray, y0: int, y1: int, x0: int, x1: int, color: str) -> None:
    """Paint a rectangle (rows y0:y1, columns x0:x1), clipped at the top and left."""
    canvas[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0), :3] = rs.hex_rgb(color)


def blank(height: int, width: int) -> np.ndarray:
    """An opaque RGBA canvas in the background colour."""
    canvas = np.empty((height, width, 4), dtype=np.uint8)
    canvas[:] = (*rs.hex_rgb(theme.BACKGROUND), 255)
    return canvas
