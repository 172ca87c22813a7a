"""Fitting: an MLP learning a 2-D shape, batch by batch, from one recorded run.

Three panels side by side, all from the model's own recorded outputs: the hard decision
regions under the training points, the soft probability surface, and the held-out points on
the regions (right and wrong marked); under them the loss curve grows with a step counter. The
surface morphs smoothly between recorded snapshots (blended in numpy when they are sparse).
Captions (``Fitting.srt`` beside the video) say what is shown, with the step, held-out
accuracy and loss on screen every few seconds.

    manim scenes/fitting.py                                  # the default run (mlp-ring)
    python -m engine train mlp-ring --dataset spiral --run spiral
    NNREEL_RUN=spiral manim -ql scenes/fitting.py
    NNREEL_SET="seconds=8" manim -ql scenes/fitting.py

Options (``NNREEL_SET`` or ``python -m engine render fitting --set KEY=VALUE``): see
``OPTIONS``. This file also holds what the MLP scenes share (``neurons``, ``weights``, ``mlp``
import it): reading a 2-D run, blending snapshots, and replaying training frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RESAMPLING_ALGORITHMS,
    RIGHT,
    UP,
    Circle,
    Dot,
    FadeOut,
    Group,
    ImageMobject,
    Line,
    Mobject,
    Rectangle,
    Scene,
    ValueTracker,
    config,
    linear,
)
from PIL import Image, ImageDraw

from engine.analysis.contributions import MlpWeights
from engine.errors import RunError
from engine.scenekit import Option, RunScene, StepCounter, raster_image, set_pixels, theme
from engine.scenekit import raster as rs
from engine.scenekit.label import Label, pixels_per_unit, render
from engine.store import Run


def seconds(text: str) -> float:
    """Option parser for a duration: a positive number of seconds."""
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def pause(text: str) -> float:
    """Option parser for a pause: zero or more seconds."""
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    """Option parser for one of a few words."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text

    return parse


OPTIONS: dict[str, Option] = {
    "seconds": Option(16.0, seconds, "seconds for each replay of training (a positive number)"),
}

CLASS_FILL = np.array([rs.hex_rgb("92c5de"), rs.hex_rgb("f4a582")], dtype=np.uint8)
"""Decision regions: light blue for class 0, light red for class 1 (the ends of the soft map)."""
CLASS_INK = np.array([rs.hex_rgb("2166ac"), rs.hex_rgb("b2182b")], dtype=np.uint8)
"""Points of class 0 and class 1."""
PIXELS = 446
"""A panel's width in pixels at 1080p; the marks on it are sized for that, and panels are
drawn at the output's own resolution, one raster pixel per screen pixel."""


def rgba(colours: np.ndarray) -> np.ndarray:
    """Opaque RGBA ([..., 4] uint8) from RGB: rasters made as RGBA skip Manim's conversion."""
    colours = np.asarray(colours, dtype=np.uint8)
    alpha = np.full((*colours.shape[:-1], 1), 255, dtype=np.uint8)
    return np.concatenate([colours, alpha], axis=-1)


DIVERGING = rgba(rs.colormap("diverging").lut)
PANEL_RGBA = rgba(rs.hex_rgb(theme.PANEL))
BAD_RGBA = rgba(rs.hex_rgb(theme.BAD))
"""The kit's diverging map (blue < 0 < red, white in the middle) as an RGBA lookup table."""


def diverging(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → RGBA through ``DIVERGING`` (``np.take``: several times faster than
    fancy indexing, and these rasters are redrawn on every frame)."""
    index = (np.clip(unit, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return np.take(DIVERGING, index, axis=0)


def scatter(image: np.ndarray, pixels: np.ndarray, colours: np.ndarray) -> None:
    """Paint RGBA ``colours`` ([n] uint32 views) at flat ``pixels`` of an RGBA image."""
    image.view(np.uint32).reshape(-1)[pixels] = colours


def packed(colours: np.ndarray) -> np.ndarray:
    """RGBA colours [n, 4] uint8 → [n] uint32, the form ``scatter`` writes."""
    return np.ascontiguousarray(colours, dtype=np.uint8).view(np.uint32).reshape(-1)


# -- reading a 2-D run --------------------------------------------------------------------------
def check_plane_run(run: Run) -> None:
    """Refuse, with what to do, a run that recorded no fitted plane or is not two-class."""
    if not run.has("plane/prob"):
        raise RunError(
            f"Run {run.name!r} ({run.model.get('arch')} on {run.dataset.get('name')}) recorded "
            "no fitted plane: the MLP scenes need an MLP trained on a 2-D dataset. Train one "
            "with `python -m engine train mlp-ring` (any plane: add --dataset moons|spiral|xor|"
            "checkerboard and --run NAME) and show it with NNREEL_RUN=NAME."
        )
    if len(run.classes) != 2:
        raise RunError(f"Run {run.name!r} has {len(run.classes)} classes; these scenes show two.")


def describe(run: Run) -> str:
    """'(9, 9) ReLU MLP on ring vs disc' from the run's manifest."""
    config = run.model.get("config", {})
    hidden = ", ".join(str(h) for h in config.get("hidden", []))
    activation = str(config.get("activation", "")).replace("relu", "ReLU")
    first, second = run.classes
    return f"({hidden}) {activation} MLP on {second} vs {first}"


@dataclass(frozen=True)
class Series:
    """A recorded stream loaded once as float32, readable at any (fractional) training step:
    between two snapshots it is their linear blend, so sparse recordings still morph smoothly.
    At a recorded step it is exactly what was recorded."""

    steps: np.ndarray
    values: np.ndarray

    @classmethod
    def load(cls, run: Run, name: str) -> Series:
        return cls(run.steps(name).astype(np.float64), run.read(name).astype(np.float32))

    def index(self, step: float) -> int:
        """The last snapshot at or before ``step`` (the first, before it)."""
        found = np.searchsorted(self.steps, step, side="right") - 1
        return int(np.clip(found, 0, len(self.steps) - 1))

    def at(self, step: float) -> np.ndarray:
        i = self.index(step)
        if i + 1 >= len(self.steps) or step <= self.steps[i]:
            return self.values[i]
        a = float((step - self.steps[i]) / (self.steps[i + 1] - self.steps[i]))
        return (1 - a) * self.values[i] + a * self.values[i + 1]


def weight_series(recorded: MlpWeights) -> tuple[list[Series], list[Series]]:
    """Each layer's recorded weights and biases, readable at any step."""
    steps = recorded.steps.astype(np.float64)
    return (
        [Series(steps, w) for w in recorded.weights],
        [Series(steps, b) for b in recorded.biases],
    )


@dataclass(frozen=True)
class Clock:
    """Video time → training step. The screen time between two snapshots follows how much
    the fitted surface changes between them, plus a floor so that quiet stretches still move:
    learning plays at an even pace whatever the recording cadence (log-spaced snapshots
    would otherwise spend half the video on the first few flat steps)."""

    steps: np.ndarray
    marks: np.ndarray
    """Where each snapshot falls in the replay, 0 … 1."""

    @classmethod
    def paced(cls, series: Series, floor: float = 0.5) -> Clock:
        values = series.values.reshape(len(series.steps), -1)
        change = np.abs(np.diff(values, axis=0)).mean(axis=1)
        weight = change + floor * (change.mean() if len(change) else 0.0)
        if not weight.sum() > 0:
            weight = np.ones_like(weight)
        marks = np.concatenate([[0.0], np.cumsum(weight)]) / max(weight.sum(), 1e-12)
        return cls(series.steps, marks)

    def step(self, fraction: float) -> float:
        return float(np.interp(fraction, self.marks, self.steps))

    def replay(self, t: float, start: float, seconds: float) -> float:
        """The step on screen ``t`` seconds into an animation whose replay of training
        begins at ``start`` and lasts ``seconds`` (held at either end outside it)."""
        return self.step(float(np.clip((t - start) / seconds, 0.0, 1.0)))


def changed_only(draw: Callable[..., None]) -> Callable[..., None]:
    """``draw``, skipping calls that repeat the previous arguments (the frames that hold the
    first or the last step of a replay)."""
    last: list[tuple] = []

    def wrapper(*args) -> None:
        if last != [args]:
            draw(*args)
            last[:] = [args]

    return wrapper


def animate(scene: Scene, parts: Mobject, seconds: float, draw: Callable[[float], None]) -> None:
    """One animation of ``seconds`` that calls ``draw(t)`` every frame (``t``: seconds since
    it began). ``parts`` must hold every mobject ``draw`` changes; it is put last in the
    scene, because Manim repaints every frame from the first mobject with an updater on and
    paints what comes before it once.

    Each play or wait is a partial movie file that costs about half a second to close, so a
    scene is a few long animations whose ``draw`` holds, replays and tours, not many waits.
    """
    clock = ValueTracker(0.0)

    def update(_: Mobject) -> None:
        draw(clock.get_value())

    scene.remove(*parts.submobjects)
    scene.add(parts)
    parts.add_updater(update)
    scene.play(clock.animate.set_value(seconds), run_time=seconds, rate_func=linear)
    parts.remove_updater(update)


def cover() -> Rectangle:
    """A rectangle of the background colour over the whole frame."""
    return Rectangle(
        width=config.frame_width + 0.2, height=config.frame_height + 0.2, stroke_width=0
    ).set_fill(theme.BACKGROUND, 1.0)


def fade_in(scene: Scene, *mobjects: Mobject, seconds: float = 0.8) -> None:
    """Show ``mobjects`` by fading away a cover over them: only the cover changes, so the
    frames cost one fill each (``FadeIn`` would interpolate every pixel of every raster)."""
    curtain = cover()
    scene.add(*mobjects, curtain)
    scene.play(FadeOut(curtain), run_time=seconds)


# -- captions -------------------------------------------------------------------------------------
EVERY = 4.0
"""About how long each caption stays while training replays: long enough to read one line."""


def when(counter: StepCounter, step: int) -> str:
    """Where in training, as the step counter says it, for a caption: 'step 1,200 (epoch 3 of
    10)', 'step 0 (untrained)'."""
    epoch = counter.describe(int(step))[1]
    return f"step {int(step):,}" + (f" ({epoch})" if epoch else "")


def finished(run: Run) -> str:
    """How a caption names the last recorded step: the end of training, or only the latest
    (a run still training, or stopped)."""
    return "after training" if run.status == "finished" else "as last recorded"


def replay_marks(start: float, seconds: float, every: float = EVERY) -> list[float]:
    """When captions begin over a replay of training that starts ``start`` seconds into an
    animation and lasts ``seconds``: at its start, then evenly about every ``every`` seconds
    (the caption for the end, with the final numbers, is the caller's)."""
    count = max(1, round(seconds / every))
    return [start + seconds * i / count for i in range(count)]


class Cues:
    """Captions inside one long animation (``animate``), which cannot stop to call
    ``scene.caption``: call it with the animation's time ``t`` on every frame, after drawing
    the frame, and each cue ``(time, say)`` starts its caption at the first frame at or after
    ``time`` with ``say()``'s words, so its numbers are the ones on screen then."""

    def __init__(self, scene: RunScene, cues: list[tuple[float, Callable[[], str]]]):
        self.scene = scene
        self.pending = sorted(cues, key=lambda cue: cue[0])

    def __call__(self, t: float) -> None:
        while self.pending and t >= self.pending[0][0] - 1e-6:
            self.scene.caption(self.pending.pop(0)[1]())


# -- text ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Words:
    """One text of a ``TextLayer``: where (frame x, y) and which of its points sits there
    horizontally (``anchor``: −1 its left end, 0 its centre, 1 its right end)."""

    text: str
    at: tuple[float, float]
    size: int = theme.SMALL
    color: str = theme.MUTED
    anchor: float = 0.0


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


# -- the plane as pixels --------------------------------------------------------------------
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


class Canvas:
    """Pixel geometry of a plane panel: ``smooth`` interpolates the recorded mesh bilinearly
    to ``pixels`` × ``pixels``; ``pixel`` and ``stamp`` say where data points fall on it. A
    non-square extent keeps square pixels in the array and is stretched on screen."""

    def __init__(self, extent: list[float], mesh: int, pixels: int = PIXELS):
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
    interpolated to ``tile`` pixels, coloured diverging around a centre (white), tiled in
    ``cols`` columns, with a red frame around maps that are zero everywhere (a dead ReLU);
    and the geometry to point at one tile on screen."""

    def __init__(self, mesh: int, count: int, cols: int, tile: int = 160, pad: int = 8):
        self.smooth = Resampler.between(mesh, tile)
        self.mesh, self.count, self.cols, self.tile, self.pad = mesh, count, cols, tile, pad
        self.rows = -(-count // cols)
        self.border = max(2, tile // 40)
        self.background = np.empty((*self.shape, 4), dtype=np.uint8)
        self.background[:] = PANEL_RGBA

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
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the raster, in pixels."""
        pitch = self.tile + 2 * self.border + self.pad
        return self.rows * pitch + self.pad, self.cols * pitch + self.pad

    def image(self, maps: np.ndarray, limits: np.ndarray | float, centre: float = 0.0):
        """Maps [count, mesh, mesh] → RGBA, each scaled so that ``centre ± limit`` reaches
        the ends of the colour map (``limits`` per map, or one for all)."""
        maps = np.asarray(maps, dtype=np.float32)
        limits = np.broadcast_to(np.asarray(limits, dtype=np.float32), (len(maps),))
        safe = np.where(limits > 0, limits, 1.0)[:, None, None]
        tiles = diverging(0.5 + 0.5 * (self.smooth(maps) - centre) / safe)
        dead = ~np.any(maps.reshape(len(maps), -1) != 0, axis=1)
        canvas = self.background.copy()
        cell, t, b = self.tile + 2 * self.border, self.tile, self.border
        for i, tile in enumerate(tiles):
            row, col = divmod(i, self.cols)
            y, x = self.pad + row * (cell + self.pad), self.pad + col * (cell + self.pad)
            if dead[i]:
                canvas[y : y + cell, x : x + cell] = BAD_RGBA
            canvas[y + b : y + b + t, x + b : x + b + t] = tile
        return canvas

    def locate(self, image: Mobject, index: int) -> tuple[np.ndarray, float]:
        """Centre (frame point) and side (frame units) of tile ``index`` of ``image``, the
        mobject showing this grid."""
        per_pixel = image.width / self.shape[1]
        cell = self.tile + 2 * self.border
        row, col = divmod(index, self.cols)
        x = self.pad + col * (cell + self.pad) + cell / 2
        y = self.pad + row * (cell + self.pad) + cell / 2
        corner = image.get_corner(UP + LEFT)
        return corner + per_pixel * np.array([x, -y, 0.0]), self.tile * per_pixel


class FitPanels:
    """The three rasters of the fitting scene (RGBA), drawn from one recorded or blended
    probability surface P(class 1) at the canvas's resolution (``canvas.smooth(p1)``, once
    per frame), and the held-out marks of one recorded snapshot (``marks``, once per
    snapshot)."""

    def __init__(self, run: Run, pixels: int = PIXELS):
        meta = run.meta("plane/prob")
        self.canvas = Canvas(meta["extent"], int(meta["mesh"]), pixels)
        train_x, self.train_y = run.read("data/train_x", 0), run.read("data/train_y", 0)
        val_x, self.val_y = run.read("data/val_x", 0), run.read("data/val_y", 0)
        scale = self.canvas.size / PIXELS
        pixels, owner = self.canvas.stamp(train_x, 1.6 * scale)
        self.train = pixels, packed(rgba(CLASS_INK)[self.train_y[owner]])
        self.marker = self.canvas.stamp(val_x, 5.5 * scale)
        self.rim = self.canvas.stamp(val_x, 8.0 * scale, 5.5 * scale)
        background = np.array(rs.hex_rgb(theme.PANEL))
        self.fill = rgba(CLASS_FILL)
        self.dim = rgba((0.3 * CLASS_FILL + 0.7 * background).astype(np.uint8))

    def hard(self, surface: np.ndarray) -> np.ndarray:
        """Decision regions (P ≥ 0.5 is class 1) under the training points."""
        image = np.take(self.fill, (surface >= 0.5).view(np.uint8), axis=0)
        scatter(image, *self.train)
        return image

    def soft(self, surface: np.ndarray) -> np.ndarray:
        return diverging(surface)

    def marks(self, val_p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The held-out points' pixels and colours: each in its true class's colour, ringed
        in the accent colour when the model gets it wrong (dark when right)."""
        wrong = (val_p1 >= 0.5).astype(int) != self.val_y
        rims = rgba([rs.hex_rgb(theme.BACKGROUND), rs.hex_rgb(theme.ACCENT)])
        rim_pixels, rim_owner = self.rim
        dot_pixels, dot_owner = self.marker
        colours = np.concatenate(
            [rims[wrong[rim_owner].astype(int)], rgba(CLASS_INK)[self.val_y[dot_owner]]]
        )
        return np.concatenate([rim_pixels, dot_pixels]), packed(colours)

    def held_out(self, surface: np.ndarray, marks: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Dimmed regions under the held-out points' ``marks``."""
        image = np.take(self.dim, (surface >= 0.5).view(np.uint8), axis=0)
        scatter(image, *marks)
        return image

    def right(self, val_p1: np.ndarray) -> int:
        """How many held-out points the model classifies correctly."""
        return int(((val_p1 >= 0.5).astype(int) == self.val_y).sum())


# -- the loss chart -------------------------------------------------------------------------
def log_bins(
    steps: np.ndarray, values: np.ndarray, total: int, count: int = 160
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over log-spaced bins of steps: single steps early on, wide averages
    late, where a log axis puts many steps on one pixel. Returns (last step of each bin,
    mean)."""
    edges = np.unique(np.round(np.expm1(np.linspace(0, np.log1p(total), count + 1))))
    which = np.searchsorted(edges, steps, side="left")
    bins = np.unique(which)
    ends = np.array([steps[which == b].max() for b in bins], dtype=np.float64)
    means = np.array([values[which == b].mean() for b in bins], dtype=np.float64)
    return ends, means


HEAD_RADIUS = 0.07
"""The dot at the head of the training-loss curve; the curves' raster has this much room
around the chart."""


class LossChart(Group):
    """Training loss (mean over log-spaced bins of steps) and held-out loss per epoch against
    the step on a log axis, with its origin (step 0, loss 0) at ``origin``. ``axes`` never
    change; ``curves`` are drawn up to the current step by ``show_until``."""

    def __init__(self, run: Run, origin: np.ndarray, width: float, height: float):
        super().__init__()
        progress = run.manifest["progress"]
        self.total = int(progress.get("total_steps") or run.steps("train/loss")[-1])
        self.origin, self.size = np.asarray(origin, dtype=float), (width, height)
        self.train = log_bins(run.steps("train/loss"), run.read("train/loss"), self.total)
        self.val = (run.steps("val/loss").astype(float), run.read("val/loss").astype(float))
        top = max(self.train[1].max(), self.val[1].max(initial=0.0))
        self.top = float(np.ceil(top * 10) / 10)
        self.axes = self._axes()
        self.curves = raster_image(np.zeros((2, 2, 4), np.uint8))
        self.curves.stretch_to_fit_width(width + 2 * HEAD_RADIUS)
        self.curves.stretch_to_fit_height(height + 2 * HEAD_RADIUS)
        self.curves.move_to(self.origin + np.array([width / 2, height / 2, 0.0]))
        self.shown: tuple[int, int] | None = None
        self.add(self.axes, self.curves)

    def point(self, step: np.ndarray, value: np.ndarray) -> np.ndarray:
        x = np.log1p(step) / np.log1p(self.total) * self.size[0]
        y = np.asarray(value, dtype=float) / self.top * self.size[1]
        return self.origin + np.stack([x, y, np.zeros_like(x)], 1)

    def _axes(self) -> Group:
        width, height = self.size
        o = self.origin
        axes = Group(
            Line(o, o + width * RIGHT, stroke_width=2, color=theme.MUTED),
            Line(o, o + height * UP, stroke_width=2, color=theme.MUTED),
        )
        powers = [10**k for k in range(int(np.log10(max(self.total, 1))) + 1)]
        right = self.point(np.array([self.total]), np.zeros(1))[0]
        for step in [*powers, self.total]:
            x = self.point(np.array([step]), np.zeros(1))[0]
            if step != self.total and right[0] - x[0] < 0.7:
                continue  # too close to the last tick's label
            label = theme.text(f"{step:,}", theme.SMALL, theme.MUTED).next_to(x, DOWN, buff=0.1)
            axes.add(Line(x, x + 0.08 * UP, stroke_width=2, color=theme.MUTED), label)
        for value in (0.0, self.top / 2, self.top):
            y = self.point(np.zeros(1), np.array([value]))[0]
            axes.add(theme.text(f"{value:.2g}", theme.SMALL, theme.MUTED).next_to(y, LEFT, 0.1))
        name = theme.text("training step (log scale)", theme.SMALL, theme.MUTED)
        axes.add(name.move_to(o + width / 2 * RIGHT + 0.52 * DOWN))
        return axes

    def show_until(self, step: float) -> float | None:
        """Draw both curves up to ``step``; returns the training loss at its head."""
        bins = int(np.searchsorted(self.train[0], step, side="right"))
        epochs = int(np.searchsorted(self.val[0], step, side="right"))
        if (bins, epochs) != self.shown:
            self._draw(bins, epochs)
            self.shown = (bins, epochs)
        return float(self.train[1][bins - 1]) if bins else None

    def _draw(self, bins: int, epochs: int) -> None:
        """The curves as one anti-aliased raster (drawn at twice the output resolution and
        halved), redrawn only when a point is added: a vector polyline would be stroked
        again by Cairo on every frame."""
        scale = pixels_per_unit() * 2
        box = self.curves
        corner = box.get_corner(UP + LEFT)
        canvas = Image.new("RGBA", (round(box.width * scale), round(box.height * scale)))
        draw = ImageDraw.Draw(canvas)

        def pixels(steps: np.ndarray, values: np.ndarray) -> list[tuple[float, float]]:
            xy = (self.point(steps, values) - corner)[:, :2] * [scale, -scale]
            return [tuple(p) for p in xy.tolist()]

        for (steps, values), count, colour in (
            (self.val, epochs, theme.GOOD),
            (self.train, bins, theme.BAR),
        ):
            if count >= 2:
                line = pixels(steps[:count], values[:count])
                draw.line(line, fill=colour, width=round(0.03 * scale), joint="curve")
        if bins:
            ((x, y),) = pixels(self.train[0][bins - 1 : bins], self.train[1][bins - 1 : bins])
            r = HEAD_RADIUS * scale
            draw.ellipse([x - r, y - r, x + r, y + r], fill=theme.BAR)
        set_pixels(box, np.array(canvas.reduce(2)))


# -- the scene ------------------------------------------------------------------------------
HOLD, END = 1.0, 2.0
"""Seconds on the untrained network before training replays, and on the result after."""
PANEL = 3.3
PANEL_Y = 0.55
PANEL_XS = (-4.45, 0.0, 4.45)
CHART_ORIGIN = np.array([-5.6, -3.25, 0.0])
CHART_SIZE = (7.6, 1.0)
READOUT_X = (2.75, 4.55)


def fitting_part(scene: RunScene) -> None:
    """Play the fitting: the three panels and the loss over training (used by ``mlp`` too).

    The surface morphs on every frame; the held-out marks, the numbers and the step counter
    are those of the last recorded snapshot, so every number on screen was recorded."""
    run = scene.run
    check_plane_run(run)
    prob, val = Series.load(run, "plane/prob"), Series.load(run, "plane/val_prob")
    clock = Clock.paced(prob)
    panels = FitPanels(run, max(32, round(PANEL * pixels_per_unit())))
    head = theme.title(
        "An MLP learning a shape",
        f"{describe(run)}  ·  {len(panels.train_y):,} training points, "
        f"{len(panels.val_y)} held out  ·  run {run.name}",
    )
    images = [
        raster_image(np.zeros((2, 2, 3), np.uint8), height=PANEL)
        .stretch_to_fit_width(PANEL * panels.canvas.aspect)
        .move_to([x, PANEL_Y, 0])
        for x in PANEL_XS
    ]
    names = ("decision regions", f"P({run.classes[1]})", "held-out points")
    captions = Group(
        *(
            theme.text(name, theme.HEADING, weight="BOLD").next_to(image, UP, buff=0.15)
            for name, image in zip(names, images, strict=True)
        )
    )
    chart = LossChart(run, CHART_ORIGIN, *CHART_SIZE)
    chart_keys = Group(
        theme.text("training loss (mean of nearby steps)", theme.SMALL, theme.BAR),
        theme.text("held-out loss (each epoch)", theme.SMALL, theme.GOOD),
    ).arrange(RIGHT, buff=0.4)
    chart_keys.move_to(CHART_ORIGIN + (CHART_SIZE[1] + 0.25) * UP, aligned_edge=LEFT)
    chart_keys.shift(0.15 * RIGHT)
    labels, loss, accuracy, right = readouts(len(panels.val_y))
    counter = scene.step_counter(0)
    fixed = Group(head, captions, fit_keys(run, images), chart.axes, chart_keys, labels)
    moving = Group(*images, chart.curves, loss, accuracy, right, counter)
    held_out = len(panels.val_y)
    shown = {"step": 0, "correct": 0, "loss": "–"}  # the numbers on screen, for the captions

    def snapshot(i: int) -> tuple[np.ndarray, np.ndarray]:
        """What changes once per recorded snapshot: the held-out marks (returned), the
        numbers and the counter."""
        val_p1 = val.values[i][:, 1]
        correct = panels.right(val_p1)
        accuracy.set_text(theme.percent(correct / held_out))
        right.set_text(f"{correct} of {held_out} right")
        counter.set_step(int(val.steps[i]))
        shown.update(step=int(val.steps[i]), correct=correct)
        return panels.marks(val_p1)

    marks = OnSnapshot(val, snapshot)

    @changed_only
    def draw(step: float) -> None:
        surface = panels.canvas.smooth(prob.at(step)[1])
        set_pixels(images[0], panels.hard(surface))
        set_pixels(images[1], panels.soft(surface))
        set_pixels(images[2], panels.held_out(surface, marks(step)))
        latest = chart.show_until(step)
        shown["loss"] = "–" if latest is None else f"{latest:.3f}"
        loss.set_text(shown["loss"])

    def progress() -> str:
        return (
            f"{when(counter, shown['step'])}: held-out accuracy "
            f"{theme.percent(shown['correct'] / held_out)}, training loss {shown['loss']}"
        )

    def result() -> str:
        return (
            f"{finished(run).capitalize()}, {when(counter, shown['step'])}: {shown['correct']} of "
            f"{held_out} held-out points right ({theme.percent(shown['correct'] / held_out)})"
        )

    seconds = scene.settings["seconds"]
    first, second = run.classes
    cues = Cues(
        scene,
        [(t, progress) for t in replay_marks(HOLD, seconds)[1:]] + [(HOLD + seconds, result)],
    )

    def frame(t: float) -> None:
        draw(clock.replay(t, HOLD, seconds))
        cues(t)

    draw(0.0)
    scene.caption(
        f"An MLP learns {second} vs {first}: its decision regions, P({second}) over the plane, "
        f"and {held_out} held-out points"
    )
    fade_in(scene, fixed, moving)
    animate(scene, moving, HOLD + seconds + END, frame)


class OnSnapshot:
    """Calls ``update(index)`` when the recorded snapshot on screen changes, and returns its
    last result: numbers and labels are redrawn once per snapshot, not on every frame."""

    def __init__(self, series: Series, update: Callable[[int], object]):
        self.series, self.update = series, update
        self.shown, self.result = -1, None

    def __call__(self, step: float):
        i = self.series.index(step)
        if i != self.shown:
            self.result, self.shown = self.update(i), i
        return self.result


def readouts(held_out: int) -> tuple[Group, Label, Label, Label]:
    """The live numbers beside the loss chart, under their (fixed) labels."""
    top = CHART_ORIGIN[1] + CHART_SIZE[1] + 0.3
    labels = Group(
        theme.text("training loss", theme.LABEL, theme.MUTED),
        theme.text("held-out accuracy", theme.LABEL, theme.MUTED),
    )
    numbers = (
        theme.text("0.000", theme.TITLE, theme.BAR, weight="BOLD"),
        theme.text("00.0%", theme.TITLE, theme.ACCENT, weight="BOLD"),
    )
    for label, number, x in zip(labels, numbers, READOUT_X, strict=True):
        label.move_to([x, top, 0], aligned_edge=UP + LEFT)
        number.next_to(label, DOWN, buff=0.1, aligned_edge=LEFT)
    right = theme.text(f"{held_out} of {held_out} right", theme.SMALL, theme.MUTED)
    right.next_to(numbers[1], DOWN, buff=0.1, aligned_edge=LEFT)
    return labels, *numbers, right


def fit_keys(run: Run, images: list) -> Group:
    """What each panel's colours and marks mean, under it."""
    first, second = run.classes
    regions = Group(
        *(
            Group(
                Dot(radius=0.09, color=rs.rgb_hex(colour)), theme.text(name, theme.SMALL)
            ).arrange(RIGHT, buff=0.1)
            for name, colour in ((first, CLASS_FILL[0]), (second, CLASS_FILL[1]))
        ),
        theme.text("dots: training points", theme.SMALL, theme.MUTED),
    ).arrange(RIGHT, buff=0.3)
    bar = raster_image(rs.gradient_bar("diverging", 128, vertical=False))
    bar.stretch_to_fit_width(1.5).stretch_to_fit_height(0.18)
    soft = Group(
        theme.text(f"0 {first}", theme.SMALL), bar, theme.text(f"{second} 1", theme.SMALL)
    ).arrange(RIGHT, buff=0.12)
    marks = Group(
        marker(CLASS_INK[0], theme.BACKGROUND, "right", theme.TEXT),
        marker(CLASS_INK[1], theme.ACCENT, "wrong", theme.ACCENT),
        theme.text("fill: true class", theme.SMALL, theme.MUTED),
    ).arrange(RIGHT, buff=0.3)
    keys = Group(regions, soft, marks)
    for key, image in zip(keys, images, strict=True):
        key.next_to(image, DOWN, buff=0.18)
    return keys


def marker(fill: np.ndarray, rim: str, words: str, color: str) -> Group:
    dot = Dot(radius=0.08, color=rs.rgb_hex(fill))
    dot.add(Circle(0.1, color=rim, stroke_width=3))
    return Group(dot, theme.text(words, theme.SMALL, color)).arrange(RIGHT, buff=0.1)


class Fitting(RunScene):
    """Decision regions, probability surface and held-out points over training, with the loss."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = OPTIONS

    def construct(self) -> None:
        fitting_part(self)
