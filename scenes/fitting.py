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
``Fitting.options`` or ``nnreel scenes fitting``. What the MLP scenes share (reading a 2-D
run, blending snapshots, replaying training frame by frame) is in the scene kit's ``plane``
and ``replay``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Circle, Dot, Group, Line
from PIL import Image, ImageDraw

from engine.data.planes import true_field
from engine.scenekit import RunScene, raster_image, set_pixels, theme
from engine.scenekit import raster as rs
from engine.scenekit.label import Label, pixels_per_unit
from engine.scenekit.options import REPLAY, Option
from engine.scenekit.plane import (
    PANEL_PIXELS,
    PlaneCanvas,
    check_plane_run,
    describe_mlp,
    draw_line,
    true_boundary,
)
from engine.scenekit.replay import (
    END,
    HOLD,
    Cues,
    OnSnapshot,
    ReplayClock,
    Series,
    animate,
    changed_only,
    fade_in,
    finished,
    replay_marks,
    when,
)
from engine.store import Run, schema

CLASS_FILL = np.array([rs.hex_rgb("92c5de"), rs.hex_rgb("f4a582")], dtype=np.uint8)
"""Decision regions: light blue for class 0, light red for class 1 (the ends of the soft map)."""
CLASS_INK = np.array([rs.hex_rgb("2166ac"), rs.hex_rgb("b2182b")], dtype=np.uint8)
"""Points of class 0 and class 1."""


# -- the panels -------------------------------------------------------------------------------
class FitPanels:
    """The three rasters of the fitting scene (RGBA), drawn from one recorded or blended
    probability surface P(class 1) at the canvas's resolution (``canvas.smooth(p1)``, once
    per frame), and the held-out marks of one recorded snapshot (``marks``, once per
    snapshot)."""

    def __init__(self, run: Run, pixels: int = PANEL_PIXELS):
        meta = run.meta(schema.PLANE_PROB)
        self.canvas = PlaneCanvas(meta["extent"], int(meta["mesh"]), pixels)
        train_x, self.train_y = (
            run.read(name("train"), 0) for name in (schema.data_x, schema.data_y)
        )
        val_x, self.val_y = (run.read(name("val"), 0) for name in (schema.data_x, schema.data_y))
        self.val_x, self.params = val_x, run.dataset.get("params") or run.dataset
        scale = self.canvas.size / PANEL_PIXELS
        pixels, owner = self.canvas.stamp(train_x, 1.6 * scale)
        self.train = pixels, rs.packed(rs.rgba(CLASS_INK)[self.train_y[owner]])
        self.marker = self.canvas.stamp(val_x, 5.5 * scale)
        self.rim = self.canvas.stamp(val_x, 8.0 * scale, 5.5 * scale)
        background = np.array(rs.hex_rgb(theme.PANEL))
        self.fill = rs.rgba(CLASS_FILL)
        self.dim = rs.rgba((0.3 * CLASS_FILL + 0.7 * background).astype(np.uint8))
        self.truth = true_boundary(run, self.canvas.size)
        """The true boundary, dashed over every panel (None when the data has none)."""

    def hard(self, surface: np.ndarray) -> np.ndarray:
        """Decision regions (P ≥ 0.5 is class 1) under the training points."""
        image = np.take(self.fill, (surface >= 0.5).view(np.uint8), axis=0)
        rs.scatter(image, *self.train)
        return draw_line(image, self.truth)

    def soft(self, surface: np.ndarray) -> np.ndarray:
        return draw_line(rs.diverging_rgba(surface), self.truth)

    def marks(self, val_p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The held-out points' pixels and colours: each in its true class's colour, ringed
        in the accent colour when the model gets it wrong (dark when right)."""
        wrong = (val_p1 >= 0.5).astype(int) != self.val_y
        rims = rs.rgba([rs.hex_rgb(theme.BACKGROUND), rs.hex_rgb(theme.ACCENT)])
        rim_pixels, rim_owner = self.rim
        dot_pixels, dot_owner = self.marker
        colours = np.concatenate(
            [rims[wrong[rim_owner].astype(int)], rs.rgba(CLASS_INK)[self.val_y[dot_owner]]]
        )
        return np.concatenate([rim_pixels, dot_pixels]), rs.packed(colours)

    def held_out(self, surface: np.ndarray, marks: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Dimmed regions under the held-out points' ``marks``."""
        image = np.take(self.dim, (surface >= 0.5).view(np.uint8), axis=0)
        draw_line(image, self.truth)
        rs.scatter(image, *marks)
        return image

    def right(self, val_p1: np.ndarray) -> int:
        """How many held-out points the model classifies correctly."""
        return int(((val_p1 >= 0.5).astype(int) == self.val_y).sum())

    def true_right(self) -> int:
        """How many held-out points the true boundary classifies correctly: the best any
        model can do on them."""
        field = true_field(self.params, self.val_x)
        return int(((field > 0).astype(int) == self.val_y).sum())


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
        self.total = int(progress.get("total_steps") or run.steps(schema.TRAIN_LOSS)[-1])
        self.origin, self.size = np.asarray(origin, dtype=float), (width, height)
        self.train = log_bins(run.steps(schema.TRAIN_LOSS), run.read(schema.TRAIN_LOSS), self.total)
        self.val = (
            run.steps(schema.VAL_LOSS).astype(float),
            run.read(schema.VAL_LOSS).astype(float),
        )
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
        below = 0.15 + theme.text("0", theme.SMALL).height  # under the tick labels
        axes.add(name.move_to(o + width / 2 * RIGHT, aligned_edge=UP).shift(below * DOWN))
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
PANEL = 3.1
PANEL_XS = (-4.45, 0.0, 4.45)
CHART_ORIGIN = np.array([-5.6, -3.05, 0.0])
CHART_SIZE = (7.6, 0.85)
READOUT_X = (2.75, 4.55)


def fitting_part(scene: RunScene) -> None:
    """Play the fitting: the three panels and the loss over training (also part of ``mlp``).

    The surface morphs on every frame; the held-out marks, the numbers and the step counter
    are those of the last recorded snapshot, so every number on screen was recorded."""
    run = scene.run
    check_plane_run(run)
    prob, val = Series.load(run, schema.PLANE_PROB), Series.load(run, schema.PLANE_VAL_PROB)
    clock = ReplayClock.paced(prob)
    trained, held_out = (len(run.read(schema.data_y(split), 0)) for split in ("train", "val"))
    head = theme.title(
        "An MLP learning a shape",
        f"{describe_mlp(run)}  ·  {trained:,} training points, "
        f"{held_out} held out  ·  run {run.name}",
    )
    truth = has_truth(run)
    keys_height = max(k.height for k in fit_keys(run, None, truth_words(truth, 0, held_out)))
    side, middle, origin, chart_height = geometry(head, keys_height)
    panels = FitPanels(run, max(32, round(side * pixels_per_unit())))
    images = [
        raster_image(np.zeros((2, 2, 3), np.uint8), height=side)
        .stretch_to_fit_width(side * panels.canvas.aspect)
        .move_to([x, middle, 0])
        for x in PANEL_XS
    ]
    names = ("decision regions", f"P({run.classes[1]})", "held-out points")
    captions = Group(
        *(
            theme.text(name, theme.HEADING, weight="BOLD").next_to(image, UP, buff=0.15)
            for name, image in zip(names, images, strict=True)
        )
    )
    chart = LossChart(run, origin, CHART_SIZE[0], chart_height)
    chart_keys = Group(
        theme.fitted("training loss  ·  mean of nearby steps", 4.2, theme.SMALL, theme.BAR),
        theme.fitted("held-out loss  ·  each epoch", 3.2, theme.SMALL, theme.GOOD),
    ).arrange(RIGHT, buff=0.4)
    chart_keys.move_to(origin + (chart_height + 0.25) * UP, aligned_edge=LEFT)
    chart_keys.shift(0.15 * RIGHT)
    labels, loss, accuracy, right = readouts(held_out, origin[1] + chart_height + 0.3)
    counter = scene.step_counter(0)
    # What a perfect model would get on the held-out points, beside the dashed line's key.
    words = truth_words(truth, panels.true_right() if truth else 0, held_out)
    fixed = Group(head, captions, fit_keys(run, images, words), chart.axes, chart_keys, labels)
    moving = Group(*images, chart.curves, loss, accuracy, right, counter)
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
            f"{theme.percent(shown['correct'] / held_out)}, loss {shown['loss']}"
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
    scene.key_moment("fit at the start")
    animate(scene, moving, HOLD + seconds + END, frame)
    cues.finish()
    scene.hold()
    scene.key_moment("fit after training")


def has_truth(run: Run) -> bool:
    """Whether the run's data has a known true boundary (drawn dashed on every panel)."""
    params = run.dataset.get("params") or run.dataset
    return true_field(params, np.zeros((1, 2))) is not None


def truth_words(truth: bool, right: int, held_out: int) -> str | None:
    """The dashed line's key: what it is, and how many held-out points it gets right."""
    if not truth:
        return None
    return f"dashed: true boundary  ·  {right} of {held_out} right there"


def geometry(head: Group, keys_height: float) -> tuple[float, float, np.ndarray, float]:
    """(panel side, panels' centre y, the chart's origin, its height): the panels between
    their headings under the title and the keys under them; the chart under those, above
    its axis labels and the bottom edge. Large type leaves smaller panels."""
    small = theme.text("0", theme.SMALL).height
    top = head.get_bottom()[1] - 0.1 - theme.text("P", theme.HEADING, weight="BOLD").height - 0.15
    origin = theme.MARGIN - theme.frame_height() / 2 + 2 * small + 0.2
    origin = max(CHART_ORIGIN[1], origin)
    chart_height = CHART_SIZE[1] if small < 0.3 else 0.6
    bottom = origin + chart_height + 0.25 + small + 0.15 + keys_height + 0.18
    side = min(PANEL, top - bottom)
    return side, top - side / 2, np.array([CHART_ORIGIN[0], origin, 0.0]), chart_height


def readouts(held_out: int, top: float) -> tuple[Group, Label, Label, Label]:
    """The live numbers beside the loss chart, under their (fixed) labels: two columns, or
    with large type one column, each label beside its number."""
    labels = Group(
        theme.text("training loss", theme.LABEL, theme.MUTED),
        theme.text("held-out accuracy", theme.LABEL, theme.MUTED),
    )
    right = theme.text(f"{held_out} of {held_out} right", theme.SMALL, theme.MUTED)
    columns = labels[0].width <= READOUT_X[1] - READOUT_X[0] - 0.15 and (
        READOUT_X[1] + labels[1].width <= theme.frame_width() / 2 - theme.MARGIN
    )
    if columns:
        numbers = (
            theme.text("0.000", theme.TITLE, theme.BAR, weight="BOLD"),
            theme.text("00.0%", theme.TITLE, theme.ACCENT, weight="BOLD"),
        )
        for label, number, x in zip(labels, numbers, READOUT_X, strict=True):
            label.move_to([x, top, 0], aligned_edge=UP + LEFT)
            number.next_to(label, DOWN, buff=0.1, aligned_edge=LEFT)
    else:
        numbers = (
            theme.text("0.000", theme.HEADING, theme.BAR, weight="BOLD"),
            theme.text("100.0%", theme.HEADING, theme.ACCENT, weight="BOLD"),  # the widest
        )
        y = top
        widest = max(n.width + 0.15 + w.width for n, w in zip(numbers, labels, strict=True))
        x = min(READOUT_X[0], theme.frame_width() / 2 - theme.MARGIN - widest)
        for label, number in zip(labels, numbers, strict=True):
            number.move_to([x, y, 0], aligned_edge=UP + LEFT)
            label.next_to(number, RIGHT, buff=0.15).align_to(number, DOWN)
            y = number.get_bottom()[1] - 0.08
        right.next_to(labels[1], DOWN, buff=0.1, aligned_edge=LEFT)  # clear of the chart's axis
        return labels, *numbers, right
    right.next_to(numbers[1], DOWN, buff=0.1, aligned_edge=LEFT)
    return labels, *numbers, right


def fit_keys(run: Run, images: list | None, truth: str | None) -> Group:
    """What each panel's colours and marks mean, under it (``images``; None: only measured);
    ``truth``: what the dashed line (the true boundary) is, when there is one. A key wider
    than a panel's room takes two lines."""
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
    room = PANEL_XS[1] - PANEL_XS[0] - 0.2
    if truth:
        line = theme.fitted(truth, room, theme.SMALL, theme.MUTED)
        soft = Group(soft, line).arrange(DOWN, buff=0.08)
    # The rim says right or wrong; the fill is the true class, so the key's dots are neutral.
    marks = Group(
        marker(theme.MUTED, theme.BACKGROUND, "right", theme.TEXT),
        marker(theme.MUTED, theme.ACCENT, "wrong", theme.ACCENT),
        theme.text("fill: true class", theme.SMALL, theme.MUTED),
    ).arrange(RIGHT, buff=0.3)
    for key in (regions, marks):
        if key.width > room:  # the words under the swatches
            Group(*key[:2]).arrange(RIGHT, buff=0.3)
            Group(Group(*key[:2]), key[2]).arrange(DOWN, buff=0.08)
    keys = Group(regions, soft, marks)
    for key, image in zip(keys, images or [], strict=False):
        key.next_to(image, DOWN, buff=0.18)
    return keys


def marker(fill: str, rim: str, words: str, color: str) -> Group:
    dot = Dot(radius=0.08, color=fill)
    dot.add(Circle(0.1, color=rim, stroke_width=3))
    return Group(dot, theme.text(words, theme.SMALL, color)).arrange(RIGHT, buff=0.1)


class Fitting(RunScene):
    """Decision regions, probability surface and held-out points over training, with the loss."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = {**REPLAY}

    def construct(self) -> None:
        fitting_part(self)
