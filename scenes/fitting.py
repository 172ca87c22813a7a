"""Fitting: an MLP learning a 2-D shape, batch by batch, from one recorded run.

Three panels side by side, all from the model's own recorded outputs: the hard decision
regions under the training points, the soft probability surface, and the held-out points on
the regions (right and wrong marked); under them the loss curve grows with a step counter. The
surface morphs smoothly between recorded snapshots (blended in numpy when they are sparse).

    manim scenes/fitting.py                                  # the default run (mlp-ring)
    python -m engine train mlp-ring --dataset spiral --run spiral
    NNREEL_RUN=spiral manim -ql scenes/fitting.py
    NNREEL_SET="seconds=8" manim -ql scenes/fitting.py

Options (``NNREEL_SET`` or ``python -m engine render fitting --set KEY=VALUE``): see
``OPTIONS``. This file also holds what the MLP scenes share (``neurons``, ``weights``, ``mlp``
import it): reading a 2-D run, blending snapshots, and replaying training frame by frame.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Circle,
    Dot,
    FadeIn,
    Group,
    Line,
    Mobject,
    Scene,
    Text,
    ValueTracker,
    VectorizedPoint,
    VGroup,
    VMobject,
    config,
    linear,
)

from engine.analysis.contributions import MlpWeights
from engine.errors import RunError
from engine.scenekit import Option, RunScene, raster_image, set_pixels, theme
from engine.scenekit import raster as rs
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
PIXELS = 480
"""Panel rasters are about this many pixels wide: 1:1 with a 3.6-unit panel at 1080p."""


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

    def at(self, step: float) -> np.ndarray:
        i = int(
            np.clip(np.searchsorted(self.steps, step, side="right") - 1, 0, len(self.steps) - 1)
        )
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


def replay(
    scene: Scene, parts: Mobject, clock: Clock, seconds: float, draw: Callable[[float], None]
) -> None:
    """Play training from the first snapshot to the last over ``seconds``, calling
    ``draw(step)`` every frame. ``parts`` must hold every mobject ``draw`` changes; it is
    put last in the scene, after the fixed mobjects, because Manim redraws every frame from
    the first mobject with an updater on and paints what comes before it only once."""
    fraction = ValueTracker(0.0)

    def update(_: Mobject) -> None:
        draw(clock.step(fraction.get_value()))

    scene.remove(*parts.submobjects)
    scene.add(parts)
    parts.add_updater(update)
    scene.play(fraction.animate.set_value(1.0), run_time=seconds, rate_func=linear)
    parts.remove_updater(update)
    draw(float(clock.steps[-1]))


ATLAS_LINE = 12
"""Characters per line of the glyph atlas (short enough for a 320-pixel-wide video)."""
ALPHABET = (
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;%()+-–−/×·=|'±<>…≥≤←→"
)


@functools.cache
def glyphs(size: int, weight: str, frame: float) -> dict[str, tuple[np.ndarray, float]]:
    """Each character's outline (Bézier points, relative to its start on the baseline) and
    advance, in the theme's font, laid out by Pango once per style (and frame size, as
    ``theme.text`` caches): the alphabet between zeros, where the distance between two zeros
    is the advance of what lies between them. Short lines, because Manim's Text draws on a
    canvas of the video's pixel size and drops what falls outside it at low resolutions."""
    lines = [ALPHABET[k : k + ATLAS_LINE] for k in range(0, len(ALPHABET), ATLAS_LINE)]
    atlas = "\n".join("00" + "".join(c + "0" for c in line) for line in lines)
    marks = iter(Text(atlas, font=theme.FONT, font_size=size, weight=weight).submobjects)
    table: dict[str, tuple[np.ndarray, float]] = {}
    for line in lines:
        before, after = next(marks), next(marks)
        zero = float(after.get_center()[0] - before.get_center()[0])
        baseline = float(before.get_bottom()[1])
        origin = float(before.get_center()[0]) - zero / 2
        table["0"] = (before.points - [origin, baseline, 0.0], zero)
        for c in line:
            before = after
            glyph = None if c == " " else next(marks)
            after = next(marks)
            start = float(before.get_center()[0]) + zero / 2
            advance = float(after.get_center()[0] - before.get_center()[0]) - zero
            points = np.zeros((0, 3)) if glyph is None else glyph.points - [start, baseline, 0.0]
            table[c] = (points, advance)
    return table


class LiveText(VGroup):
    """A line of text that can change every frame at almost no cost: the characters are
    drawn from outlines made once per style (``glyphs``), so ``set`` only rewrites one point
    array. (A ``Text`` costs 30–100 ms to build; per frame, that is most of a render.)

    It stays anchored where it is placed, on the baseline: at its left end, its centre or its
    right end (``align``)."""

    def __init__(
        self,
        words: str,
        size: int = theme.BODY,
        color: str = theme.TEXT,
        *,
        weight: str = "NORMAL",
        align: str = "left",
    ):
        super().__init__()
        self.table = glyphs(size, weight, float(config.frame_width))
        self.shift_by = {"left": 0.0, "centre": 0.5, "right": 1.0}[align]
        self.anchor = VectorizedPoint()
        self.ink = VMobject().set_fill(color, 1.0).set_stroke(width=0)
        self.add(self.anchor, self.ink)
        self.words = ""
        self.set(words)

    def set(self, words: str) -> LiveText:
        if words == self.words:
            return self
        missing = sorted(set(words) - set(self.table))
        if missing:
            raise ValueError(f"LiveText cannot draw {''.join(missing)!r}")
        pieces, x = [np.zeros((0, 3))], 0.0
        for c in words:
            points, advance = self.table[c]
            pieces.append(points + x * RIGHT)
            x += advance
        start = self.anchor.get_center() - self.shift_by * x * RIGHT
        self.ink.points = np.concatenate(pieces) + start
        self.words = words
        return self


class LiveCounter(VGroup):
    """The step counter of the MLP scenes: the kit's ``StepCounter`` wording ('step 120 of
    4,720' over 'epoch 2 of 40' or 'untrained'), drawn with ``LiveText`` so that it can
    change on every frame."""

    def __init__(self, progress: dict, step: int = 0):
        super().__init__()
        self.progress = progress
        self.total = int(progress.get("total_steps") or progress.get("step") or 0)
        self.lines = [
            LiveText("step", theme.BODY, weight="BOLD", align="right"),
            LiveText("epoch", theme.LABEL, theme.MUTED, align="right"),
        ]
        corner = np.array([config.frame_width / 2, config.frame_height / 2, 0]) - theme.MARGIN
        for line, drop in zip(self.lines, (0.25, 0.62), strict=True):
            line.shift(corner + drop * DOWN - line.anchor.get_center())
        self.add(*self.lines)
        self.set_step(step)

    def set_step(self, step: int) -> LiveCounter:
        per_epoch = self.progress.get("steps_per_epoch") or 0
        epochs = self.progress.get("epochs")
        second = ""
        if step == 0:
            second = "untrained"
        elif per_epoch and epochs:
            second = f"epoch {min(epochs, 1 + (step - 1) // per_epoch)} of {epochs}"
        self.lines[0].set(f"step {step:,} of {self.total:,}")
        self.lines[1].set(second)
        return self


# -- the plane as pixels --------------------------------------------------------------------
def resampler(mesh: int, size: int) -> np.ndarray:
    """[size, mesh] weights of linear interpolation from the recorder's mesh (samples at both
    ends of the extent) to ``size`` pixel centres."""
    position = (np.arange(size) + 0.5) / size * (mesh - 1)
    low = np.clip(np.floor(position).astype(int), 0, mesh - 2)
    a = (position - low).astype(np.float32)
    weights = np.zeros((size, mesh), dtype=np.float32)
    weights[np.arange(size), low] = 1 - a
    weights[np.arange(size), low + 1] += a
    return weights


class Canvas:
    """Pixel geometry of a plane panel: the recorded mesh interpolated (bilinearly, by two
    small matrix products) to ``pixels`` × ``pixels``, and where data points fall on it. A
    non-square extent keeps square pixels in the array and is stretched on screen."""

    def __init__(self, extent: list[float], mesh: int, pixels: int = PIXELS):
        if mesh < 2:
            raise RunError(f"A plane mesh of {mesh} cannot be drawn; train with --mesh 32 or more.")
        self.extent = [float(v) for v in extent]
        self.size = pixels
        self.weights = resampler(mesh, pixels)

    @property
    def aspect(self) -> float:
        xmin, xmax, ymin, ymax = self.extent
        return (xmax - xmin) / (ymax - ymin)

    def smooth(self, grid: np.ndarray) -> np.ndarray:
        """A [mesh, mesh] recorded grid at the canvas's resolution."""
        return self.weights @ grid.astype(np.float32) @ self.weights.T

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
        keep = (r <= outer) & (r > inner)
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
        self.weights = resampler(mesh, tile)
        self.count, self.cols, self.tile, self.pad = count, cols, tile, pad
        self.rows = -(-count // cols)
        self.border = max(2, tile // 40)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the raster, in pixels."""
        pitch = self.tile + 2 * self.border + self.pad
        return self.rows * pitch + self.pad, self.cols * pitch + self.pad

    def image(self, maps: np.ndarray, limits: np.ndarray | float, centre: float = 0.0):
        """Maps [count, mesh, mesh] → RGB, each scaled so that ``centre ± limit`` reaches the
        ends of the colour map (``limits`` per map, or one for all)."""
        maps = np.asarray(maps, dtype=np.float32)
        limits = np.broadcast_to(np.asarray(limits, dtype=np.float32), (len(maps),))
        safe = np.where(limits > 0, limits, 1.0)[:, None, None]
        smooth = self.weights @ maps @ self.weights.T
        rgb = rs.apply_colormap(np.clip(0.5 + 0.5 * (smooth - centre) / safe, 0, 1), "diverging")
        borders = np.full((len(maps), 3), -1, dtype=np.int16)
        borders[~np.any(maps.reshape(len(maps), -1) != 0, axis=1)] = rs.hex_rgb(theme.BAD)
        return rs.tile(
            rgb,
            cols=self.cols,
            rows=self.rows,
            pad=self.pad,
            background=rs.hex_rgb(theme.PANEL),
            borders=borders,
            border=self.border,
        )

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
    """The three rasters of the fitting scene, drawn from one recorded (or blended)
    probability surface P(class 1) — at the canvas's resolution: ``canvas.smooth(p1)`` once
    per frame — and the held-out points' P(class 1)."""

    def __init__(self, run: Run):
        meta = run.meta("plane/prob")
        self.canvas = Canvas(meta["extent"], int(meta["mesh"]))
        train_x, self.train_y = run.read("data/train_x", 0), run.read("data/train_y", 0)
        val_x, self.val_y = run.read("data/val_x", 0), run.read("data/val_y", 0)
        scale = self.canvas.size / PIXELS
        self.train = self.canvas.stamp(train_x, 1.6 * scale)
        self.marker = self.canvas.stamp(val_x, 5.5 * scale)
        self.rim = self.canvas.stamp(val_x, 8.0 * scale, 5.5 * scale)
        background = np.array(rs.hex_rgb(theme.PANEL))
        self.dim = (0.3 * CLASS_FILL + 0.7 * background).astype(np.uint8)

    def hard(self, surface: np.ndarray) -> np.ndarray:
        """Decision regions (P ≥ 0.5 is class 1) under the training points."""
        image = CLASS_FILL[(surface >= 0.5).astype(np.uint8)]
        pixels, owner = self.train
        image.reshape(-1, 3)[pixels] = CLASS_INK[self.train_y[owner]]
        return image

    def soft(self, surface: np.ndarray) -> np.ndarray:
        return rs.apply_colormap(surface, "diverging")

    def held_out(self, surface: np.ndarray, val_p1: np.ndarray) -> np.ndarray:
        """Dimmed regions; each held-out point in its true class's colour, ringed in the
        accent colour when the model gets it wrong."""
        image = self.dim[(surface >= 0.5).astype(np.uint8)]
        wrong = (val_p1 >= 0.5).astype(int) != self.val_y
        flat = image.reshape(-1, 3)
        pixels, owner = self.rim
        rims = np.array([rs.hex_rgb(theme.BACKGROUND), rs.hex_rgb(theme.ACCENT)], dtype=np.uint8)
        flat[pixels] = rims[wrong[owner].astype(int)]
        pixels, owner = self.marker
        flat[pixels] = CLASS_INK[self.val_y[owner]]
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


class LossChart(VGroup):
    """Training loss (mean over log-spaced bins of steps) and held-out loss per epoch against
    the step on a log axis; ``show_until`` draws both up to the current step. Built with its
    origin (step 0, loss 0) at ``origin``."""

    def __init__(self, run: Run, origin: np.ndarray, width: float, height: float):
        super().__init__()
        progress = run.manifest["progress"]
        self.total = int(progress.get("total_steps") or run.steps("train/loss")[-1])
        self.origin, self.size = np.asarray(origin, dtype=float), (width, height)
        self.train = log_bins(run.steps("train/loss"), run.read("train/loss"), self.total)
        self.val = (run.steps("val/loss").astype(float), run.read("val/loss").astype(float))
        top = max(self.train[1].max(), self.val[1].max(initial=0.0))
        self.top = float(np.ceil(top * 10) / 10)
        self.add(self._axes())
        self.val_line = VMobject().set_stroke(theme.GOOD, 3.0).set_fill(opacity=0)
        self.train_line = VMobject().set_stroke(theme.BAR, 3.0).set_fill(opacity=0)
        self.head = Dot(radius=0.07, color=theme.BAR)
        self.add(self.val_line, self.train_line, self.head)

    def point(self, step: np.ndarray, value: np.ndarray) -> np.ndarray:
        x = np.log1p(step) / np.log1p(self.total) * self.size[0]
        y = np.asarray(value, dtype=float) / self.top * self.size[1]
        return self.origin + np.stack([x, y, np.zeros_like(x)], 1)

    def _axes(self) -> VGroup:
        width, height = self.size
        o = self.origin
        axes = VGroup(
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
        shown = self.train[0] <= step
        points = self.point(self.train[0][shown], self.train[1][shown])
        polyline(self.train_line, points)
        if len(points):
            self.head.move_to(points[-1])
        self.head.set_opacity(1.0 if len(points) else 0.0)
        seen = self.val[0] <= step
        polyline(self.val_line, self.point(self.val[0][seen], self.val[1][seen]))
        return float(self.train[1][shown][-1]) if len(points) else None


def polyline(line: VMobject, points: np.ndarray) -> None:
    if len(points) >= 2:
        line.set_points_as_corners(points)
    else:
        line.clear_points()


# -- the scene ------------------------------------------------------------------------------
PANEL = 3.3
PANEL_Y = 0.55
PANEL_XS = (-4.45, 0.0, 4.45)
CHART_ORIGIN = np.array([-5.6, -3.25, 0.0])
CHART_SIZE = (7.6, 1.0)
READOUT_X = (2.9, 4.75)


def fitting_part(scene: RunScene) -> None:
    """Play the fitting: the three panels and the loss over training (used by ``mlp`` too)."""
    run = scene.run
    check_plane_run(run)
    prob, val = Series.load(run, "plane/prob"), Series.load(run, "plane/val_prob")
    clock = Clock.paced(prob)
    panels = FitPanels(run)
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
    captions = VGroup(
        *(
            theme.text(name, theme.HEADING, weight="BOLD").next_to(image, UP, buff=0.15)
            for name, image in zip(names, images, strict=True)
        )
    )
    chart = LossChart(run, CHART_ORIGIN, *CHART_SIZE)
    chart_keys = VGroup(
        theme.text("training loss (mean of nearby steps)", theme.SMALL, theme.BAR),
        theme.text("held-out loss (each epoch)", theme.SMALL, theme.GOOD),
    ).arrange(RIGHT, buff=0.4)
    chart_keys.move_to(CHART_ORIGIN + (CHART_SIZE[1] + 0.25) * UP, aligned_edge=LEFT)
    chart_keys.shift(0.15 * RIGHT)
    labels, loss, accuracy, right = readouts(len(panels.val_y))
    counter = LiveCounter(run.manifest["progress"])
    fixed = Group(head, captions, fit_keys(run, images), chart_keys, labels)
    moving = Group(*images, chart, loss, accuracy, right, counter)

    def draw(step: float) -> None:
        surface, val_p1 = panels.canvas.smooth(prob.at(step)[1]), val.at(step)[:, 1]
        set_pixels(images[0], panels.hard(surface))
        set_pixels(images[1], panels.soft(surface))
        set_pixels(images[2], panels.held_out(surface, val_p1))
        latest = chart.show_until(step)
        loss.set("–" if latest is None else f"{latest:.3f}")
        correct = panels.right(val_p1)
        accuracy.set(f"{100 * correct / len(panels.val_y):.1f}%")
        right.set(f"{correct} of {len(panels.val_y)} right")
        counter.set_step(round(step))

    draw(0.0)
    scene.play(FadeIn(fixed), FadeIn(moving), run_time=0.8)
    scene.wait(1.0)
    replay(scene, moving, clock, scene.settings["seconds"], draw)
    scene.wait(2.0)


def readouts(held_out: int) -> tuple[VGroup, LiveText, LiveText, LiveText]:
    """The live numbers beside the loss chart, under their (fixed) labels."""
    top = CHART_ORIGIN[1] + CHART_SIZE[1] + 0.3
    labels = VGroup(
        theme.text("training loss", theme.LABEL, theme.MUTED),
        theme.text("held-out accuracy", theme.LABEL, theme.MUTED),
    )
    for label, x in zip(labels, READOUT_X, strict=True):
        label.move_to([x, top, 0], aligned_edge=UP + LEFT)
    numbers = (
        LiveText("0.000", theme.TITLE, theme.BAR, weight="BOLD"),
        LiveText("00.0%", theme.TITLE, theme.ACCENT, weight="BOLD"),
    )
    for number, x in zip(numbers, READOUT_X, strict=True):
        number.shift([x, top - 0.75, 0] - number.anchor.get_center())
    right = LiveText(f"{held_out} of {held_out} right", theme.SMALL, theme.MUTED)
    right.shift([READOUT_X[1], top - 1.15, 0] - right.anchor.get_center())
    return labels, *numbers, right


def fit_keys(run: Run, images: list) -> Group:
    """What each panel's colours and marks mean, under it."""
    first, second = run.classes
    regions = VGroup(
        *(
            VGroup(
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
    marks = VGroup(
        marker(CLASS_INK[0], theme.BACKGROUND, "right", theme.TEXT),
        marker(CLASS_INK[1], theme.ACCENT, "wrong", theme.ACCENT),
        theme.text("fill: true class", theme.SMALL, theme.MUTED),
    ).arrange(RIGHT, buff=0.3)
    keys = Group(regions, soft, marks)
    for key, image in zip(keys, images, strict=True):
        key.next_to(image, DOWN, buff=0.18)
    return keys


def marker(fill: np.ndarray, rim: str, words: str, color: str) -> VGroup:
    dot = Dot(radius=0.08, color=rs.rgb_hex(fill))
    dot.add(Circle(0.1, color=rim, stroke_width=3))
    return VGroup(dot, theme.text(words, theme.SMALL, color)).arrange(RIGHT, buff=0.1)


class Fitting(RunScene):
    """Decision regions, probability surface and held-out points over training, with the loss."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = OPTIONS

    def construct(self) -> None:
        fitting_part(self)
