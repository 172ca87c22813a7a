"""The plane of a 2-D run as pixels: refusing runs without one, interpolating the recorder's
mesh to screen pixels, placing data points on a panel, and many neurons' maps in one raster.

An MLP trained on a 2-D dataset records its fitted function and every neuron's response on a
mesh over the plane (``plane/...`` streams); scenes of such runs draw them with these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from manim import LEFT, UP, Mobject

from engine.errors import RunError
from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.label import pixels_per_unit
from engine.store import Run, schema

PANEL_PIXELS = 446
"""A plane panel's width in pixels at 1080p: marks on it are sized for that, and panels are
drawn at the output's own resolution, one raster pixel per screen pixel."""


def check_plane_run(run: Run) -> None:
    """Refuse, with what to do, a run that recorded no fitted plane or is not two-class."""
    if not run.has(schema.PLANE_PROB):
        raise RunError(
            f"Run {run.name!r} ({run.model.get('arch')} on {run.dataset.get('name')}) recorded "
            "no fitted plane: the MLP scenes need an MLP trained on a 2-D dataset. Train one "
            "with `python -m engine train mlp-ring` (any plane: add --dataset moons|spiral|xor|"
            "checkerboard and --run NAME) and show it with NNREEL_RUN=NAME."
        )
    if len(run.classes) != 2:
        raise RunError(f"Run {run.name!r} has {len(run.classes)} classes; these scenes show two.")


def true_boundary(run: Run, size: int) -> np.ndarray | None:
    """The true boundary of the run's dataset (``planes.true_field``) as a dashed line on a
    ``size`` × ``size`` panel of the recorded plane: a bool mask, or None when the dataset has
    no known boundary. About 2 px wide at 1080p, thinner on small tiles."""
    from engine.data.planes import true_field

    xmin, xmax, ymin, ymax = (float(v) for v in run.meta(schema.PLANE_PROB)["extent"])
    centres = (np.arange(size) + 0.5) / size
    ys, xs = ymax - centres * (ymax - ymin), xmin + centres * (xmax - xmin)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    points = np.stack([grid_x.ravel(), grid_y.ravel()], 1)
    field = true_field(run.dataset.get("params") or run.dataset, points)
    if field is None:
        return None
    side = field.reshape(size, size) > 0
    edge = np.zeros_like(side)
    edge[:, 1:] |= side[:, 1:] != side[:, :-1]
    edge[1:, :] |= side[1:, :] != side[:-1, :]
    width = max(1, round(size / 220))
    for _ in range(width - 1):  # thicken by one pixel each way per step
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:, 1:] |= edge[:, :-1]
        edge = grown
    rows, cols = np.indices(edge.shape)
    dash = 4 * width + 2
    return edge & (((rows + cols) // dash) % 2 == 0)


def draw_line(image: np.ndarray, line: np.ndarray | None) -> np.ndarray:
    """Paint ``line`` (a bool mask the size of ``image``, RGBA) in near-black or near-white,
    whichever stands out more from what it crosses; in place, and returned."""
    if line is None or not line.any():
        return image
    under = image[line][:, :3].astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722])
    ink = (17, 17, 17, 255) if float(under.mean()) > 110 else (245, 245, 245, 255)
    image[line] = ink
    return image


def describe_mlp(run: Run) -> str:
    """'(9, 9) ReLU MLP on ring vs disc' from the run's layer table (any MLP recorded, not
    only nnreel's, whose settings say nothing of its layers)."""
    hidden = [info for info in run.layers if info.kind == schema.DENSE]
    sizes = ", ".join(str(info.output_shape[0]) for info in hidden)
    activations = {info.activation for info in hidden}
    activation = activations.pop() if len(activations) == 1 else None
    if activation is None:  # recorded before layers named theirs, or mixed
        activation = str(run.model.get("config", {}).get("activation", "")).replace("relu", "ReLU")
    first, second = run.classes
    mlp = " ".join(filter(None, [f"({sizes})" if sizes else "", activation, "MLP"]))
    return f"{mlp} on {second} vs {first}"


@dataclass(frozen=True)
class Resampler:
    """Linear interpolation from the recorder's mesh (samples at both ends of the extent) to
    ``size`` pixel centres, along the last two axes: two taps per pixel, gathered, so a
    96² mesh becomes 480² pixels in about a millisecond."""

    low: np.ndarray
    frac: np.ndarray

    @classmethod
    def between(cls, mesh: int, size: int) -> Resampler:
        position = (np.arange(size) + 0.5) / size * (mesh - 1)
        low = np.clip(np.floor(position).astype(int), 0, mesh - 2)
        return cls(low, (position - low).astype(np.float32))

    def __call__(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid, dtype=np.float32)
        a = self.frac[:, None]
        low, high = np.take(grid, self.low, axis=-2), np.take(grid, self.low + 1, axis=-2)
        rows = low + (high - low) * a
        low, high = np.take(rows, self.low, axis=-1), np.take(rows, self.low + 1, axis=-1)
        return low + (high - low) * self.frac


class PlaneCanvas:
    """Pixel geometry of a plane panel: ``smooth`` interpolates the recorded mesh bilinearly
    to ``pixels`` × ``pixels``; ``pixel`` and ``stamp`` say where data points fall on it. A
    non-square extent keeps square pixels in the array and is stretched on screen."""

    def __init__(self, extent: list[float], mesh: int, pixels: int = PANEL_PIXELS):
        if mesh < 2:
            raise RunError(f"A plane mesh of {mesh} cannot be drawn; train with --mesh 32 or more.")
        self.extent = [float(v) for v in extent]
        self.size = pixels
        self.smooth = Resampler.between(mesh, pixels)

    @property
    def aspect(self) -> float:
        xmin, xmax, ymin, ymax = self.extent
        return (xmax - xmin) / (ymax - ymin)

    def pixel(self, xy: np.ndarray) -> np.ndarray:
        """Data coordinates [N, 2] → (row, col) pixels [N, 2] (row 0 at the top, y = ymax)."""
        xmin, xmax, ymin, ymax = self.extent
        col = (xy[:, 0] - xmin) / (xmax - xmin) * self.size
        row = (ymax - xy[:, 1]) / (ymax - ymin) * self.size
        return np.stack([row, col], 1)

    def stamp(self, xy: np.ndarray, outer: float, inner: float = 0.0) -> tuple[np.ndarray, ...]:
        """Pixels of a ring inner < r ≤ outer around each point (a disc when ``inner`` is 0):
        (flat pixel indices, index of the point each belongs to), inside the panel only."""
        reach = int(np.ceil(outer))
        dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
        r = np.hypot(dy, dx)
        keep = r <= max(outer, 0.5)  # at least the centre pixel
        if inner > 0:
            keep &= r > inner
        centre = np.floor(self.pixel(xy)).astype(int)
        rows = centre[:, :1] + dy[keep][None]
        cols = centre[:, 1:] + dx[keep][None]
        inside = (rows >= 0) & (rows < self.size) & (cols >= 0) & (cols < self.size)
        owner = np.broadcast_to(np.arange(len(xy))[:, None], rows.shape)
        return (rows * self.size + cols)[inside], owner[inside]


class MapGrid:
    """Many neurons' response maps as one raster (never one mobject per map): each map
    interpolated to ``tile`` pixels, coloured diverging around a centre (the palette's zero),
    tiled in ``cols`` columns on the gap colour, with a red frame around maps that are zero
    everywhere (a dead ReLU); and the geometry to point at one tile on screen."""

    def __init__(
        self,
        mesh: int,
        count: int,
        cols: int,
        tile: int = 160,
        pad: int = 8,
        across: int | None = None,
    ):
        """``pad``: pixels around and between the tiles; ``across``: between them side by
        side, when labels under the tiles need more than ``pad``."""
        self.smooth = Resampler.between(mesh, tile)
        self.mesh, self.count, self.cols, self.tile, self.pad = mesh, count, cols, tile, pad
        self.across = pad if across is None else across
        self.rows = -(-count // cols)
        self.border = max(2, tile // 40)
        self.background = np.empty((*self.shape, 4), dtype=np.uint8)
        self.background[:] = rs.rgba(rs.hex_rgb(theme.GAP))

    def at_output(self, units_per_pixel: float) -> MapGrid:
        """The same grid drawn at the output's resolution when each of its pixels now would
        span ``units_per_pixel`` frame units: one raster pixel per screen pixel, so the
        camera copies it without resizing. Show it ``shape[1] / pixels_per_unit()`` wide."""
        factor = units_per_pixel * pixels_per_unit()
        return MapGrid(
            self.mesh,
            self.count,
            self.cols,
            max(8, round(self.tile * factor)),
            max(1, round(self.pad * factor)),
            max(1, round(self.across * factor)),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the raster, in pixels."""
        cell = self.tile + 2 * self.border
        return self.rows * (cell + self.pad) + self.pad, self.cols * (cell + self.across) + self.pad

    def image(
        self,
        maps: np.ndarray,
        limits: np.ndarray | float,
        centre: float = 0.0,
        line: np.ndarray | None = None,
    ):
        """Maps [count, mesh, mesh] → RGBA, each scaled so that ``centre ± limit`` reaches
        the ends of the colour map (``limits`` per map, or one for all); ``line`` (a bool
        [tile, tile] mask, e.g. ``true_boundary``) is drawn over every tile."""
        maps = np.asarray(maps, dtype=np.float32)
        limits = np.broadcast_to(np.asarray(limits, dtype=np.float32), (len(maps),))
        safe = np.where(limits > 0, limits, 1.0)[:, None, None]
        tiles = rs.diverging_rgba(0.5 + 0.5 * (self.smooth(maps) - centre) / safe)
        dead = ~np.any(maps.reshape(len(maps), -1) != 0, axis=1)
        canvas = self.background.copy()
        bad = rs.rgba(rs.hex_rgb(theme.BAD))
        cell, t, b = self.tile + 2 * self.border, self.tile, self.border
        for i, tile in enumerate(tiles):
            row, col = divmod(i, self.cols)
            y, x = self.pad + row * (cell + self.pad), self.pad + col * (cell + self.across)
            if dead[i]:
                canvas[y : y + cell, x : x + cell] = bad
            canvas[y + b : y + b + t, x + b : x + b + t] = draw_line(tile, line)
        return canvas

    def locate(self, image: Mobject, index: int) -> tuple[np.ndarray, float]:
        """Centre (frame point) and side (frame units) of tile ``index`` of ``image``, the
        mobject showing this grid."""
        per_pixel = image.width / self.shape[1]
        cell = self.tile + 2 * self.border
        row, col = divmod(index, self.cols)
        x = self.pad + col * (cell + self.across) + cell / 2
        y = self.pad + row * (cell + self.pad) + cell / 2
        corner = image.get_corner(UP + LEFT)
        return corner + per_pixel * np.array([x, -y, 0.0]), self.tile * per_pixel
