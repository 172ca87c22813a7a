"""A window sliding over a map and writing another map pixel by pixel — a convolution's kernel,
a max-pool's window — shown with the real numbers under it.

``SlidingWrite`` (numpy) is the map being written: each output position's value is computed
when the window reaches it, a few positions slowly, then the rest in raster order; what is not
written yet shows blank. ``NumberGrid`` is a small table of numbers (the window's inputs, the
kernel's weights) that changes in place. ``cell_box`` puts a frame around pixels of a raster
on screen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from manim import DOWN, RIGHT, Group, ImageMobject, Rectangle

from engine.scenekit import theme
from engine.scenekit.focus import pixel_place
from engine.scenekit.label import Label


class SlidingWrite:
    """A map of ``shape`` written one position at a time with ``compute(row, col)``."""

    def __init__(self, shape: tuple[int, int], compute: Callable[[int, int], float]):
        self.compute = compute
        self.values = np.full(shape, np.nan)
        self.order = [(r, c) for r in range(shape[0]) for c in range(shape[1])]

    @property
    def done(self) -> int:
        return int(np.isfinite(self.values).sum())

    def write(self, row: int, col: int) -> float:
        """Compute and write position (row, col); returns its value."""
        self.values[row, col] = self.compute(row, col)
        return float(self.values[row, col])

    def write_until(self, count: int) -> tuple[int, int] | None:
        """Write positions in raster order (skipping those already written) until ``count``
        are written; returns the last position written (None if none was)."""
        last = None
        for row, col in self.order:
            if self.done >= count:
                break
            if not np.isfinite(self.values[row, col]):
                self.write(row, col)
                last = (row, col)
        return last

    def pixels(self, colours: Callable[[np.ndarray], np.ndarray], blank: np.ndarray) -> np.ndarray:
        """[H, W, 3] uint8: written values through ``colours`` (values → RGB), the rest
        ``blank``."""
        written = np.isfinite(self.values)
        rgb = colours(np.where(written, self.values, 0.0))
        rgb[~written] = blank
        return rgb


def cell_box(
    image: ImageMobject,
    shape: tuple[int, int],
    row: int,
    col: int,
    size: tuple[int, int] = (1, 1),
    color: str | None = None,
    width: float = 4,
) -> Rectangle:
    """A frame around ``size`` pixels from (row, col) of the raster ``image`` shows (``shape``:
    the raster's (height, width) in pixels), in the accent colour unless ``color`` says."""
    centre, (w, h) = pixel_place(image, shape, (col, row, size[1], size[0]))
    stroke = theme.ACCENT if color is None else color
    return Rectangle(width=w, height=h, stroke_width=width, stroke_color=stroke).move_to(centre)


class NumberGrid(Group):
    """A rows × cols table of numbers in one size, each cell ``pitch`` apart (frame units);
    ``show`` writes new values in place, ``mark`` colours some cells."""

    def __init__(self, rows: int, cols: int, pitch: float, size: int | None = None):
        super().__init__()
        self.rows, self.cols, self.pitch = rows, cols, pitch
        size = theme.LABEL if size is None else size
        self.cells = [Label("+0.00", size, theme.TEXT, mono=True) for _ in range(rows * cols)]
        across = max(pitch, self.cells[0].width * 1.2)  # numbers apart however large the type
        for k, cell in enumerate(self.cells):
            r, c = divmod(k, cols)
            cell.move_to(RIGHT * c * across + DOWN * r * pitch * 0.6)
        self.add(*self.cells)

    def show(self, values: np.ndarray, digits: int = 2) -> None:
        for cell, value in zip(self.cells, np.asarray(values).ravel(), strict=True):
            cell.set_text(f"{value:+.{digits}f}", keep=np.array([0.0, 0.0, 0.0]))

    def mark(self, marked: set[int], color: str | None = None) -> None:
        """Colour the ``marked`` cells (the accent unless ``color`` says), the rest as text."""
        color = theme.ACCENT if color is None else color
        for k, cell in enumerate(self.cells):
            cell.set_color(color if k in marked else theme.TEXT)
