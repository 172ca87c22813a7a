"""Gradients: the mean |gradient| of every weighted layer as bars on a log scale, step by step
through training, beside a heat map of the whole history, so a layer that learns far more
slowly than the others (vanishing gradients in early layers) stands out.

The numbers are the run's own ``stats/grad_abs_mean`` (the mean absolute gradient of each
layer's conv or linear weight, taken right after the backward pass), recorded during the very
run whose curves the Training scene shows; seed 000 took them from a second run.

    manim scenes/gradients.py                                # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/gradients.py
    NNREEL_SET="seconds=5" manim -ql scenes/gradients.py

Options (``NNREEL_SET`` or ``python -m engine render gradients --set KEY=VALUE``): see
``Gradients.options``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, FadeIn, Group, Line, ValueTracker, VGroup, linear

from engine.errors import RunError
from engine.scenekit import ColorBar, Number, Option, RunScene, model_name, theme
from engine.scenekit.charts import (
    TITLE_WIDTH,
    Chart,
    HBars,
    HeatMap,
    Scale,
    fitted_title,
    format_tick,
    format_value,
)
from engine.scenekit.pacing import IDEA
from engine.store import Run, schema

BARS_BOX = (-4.55, 0.75)
"""Left and right edge of the bar chart."""
MAP_BOX = (1.75, 6.45)
TOP, BOTTOM = 1.75, -2.35
COUNTER_UPDATES_PER_SECOND = 10


def gradient_history(run: Run) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(steps, values [snapshots, layers], layer names), or a message saying how to record
    them."""
    stream = schema.GRAD_ABS_MEAN
    if not run.has(stream):
        raise RunError(
            f"Run {run.name!r} was recorded without gradient statistics ({stream}), which "
            "Gradients shows. Train it again with them on (they are by default), e.g. "
            "`python -m engine train vgg16-synth --stats-cadence auto`."
        )
    values = run.read(stream).astype(np.float64)
    return run.steps(stream), values, list(run.meta(stream)["layers"])


def spread_note(values: np.ndarray, layers: list[str]) -> str:
    """The first layer, the one with the least gradient and the last, as medians over the
    run: how much less the early layers learn from each step, in numbers."""
    medians = np.median(values, axis=0)
    least = int(np.argmin(medians))
    shown = dict.fromkeys([0, least, len(layers) - 1])
    parts = [
        f"{'least: ' if i == least else ''}{layers[i]} {format_value(float(medians[i]), 2)}"
        for i in shown
    ]
    return "median over training:  " + "  ·  ".join(parts)


def spread_words(values: np.ndarray, layers: list[str]) -> str:
    """The caption of the ending: how many times smaller the quietest layer's gradient is
    than the last layer's, as medians over training."""
    medians = np.median(values, axis=0)
    least = int(np.argmin(medians))
    words = f"Median over training: {layers[0]} {format_value(float(medians[0]), 2)}"
    if least not in (0, len(layers) - 1):
        words += f", {layers[least]} {format_value(float(medians[least]), 2)} (the least)"
    words += f", {layers[-1]} {format_value(float(medians[-1]), 2)}"
    if medians[least] > 0 and least != len(layers) - 1:
        words += (
            f"; {layers[least]} gets {medians[-1] / medians[least]:.2g}× less than {layers[-1]}"
        )
    return words + "."


def first_words(step: int) -> str:
    """The first recorded gradients: the first update's, or (statistics taken every few
    steps) the earliest there are."""
    return "at step 1 (first update)" if step == 1 else f"at step {step} (first recorded)"


class Gradients(RunScene):
    """Per-layer gradient bars moving through training, and their history as a heat map."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "seconds": Number(10.0, "how many seconds the training takes to unfold", at_least=0),
    }

    def construct(self) -> None:
        self.steps, self.values, self.layers = gradient_history(self.run)
        positive = self.values[self.values > 0]
        if not positive.size:
            raise RunError(f"Every recorded gradient of run {self.run.name!r} is zero.")
        self.scale = Scale.fit_log(positive)
        per_epoch = int(self.run.manifest["progress"].get("steps_per_epoch") or 1)
        self.add_header()
        self.top, self.bottom = self.plot_span()
        bars = self.bar_chart()
        heat = self.heat_map(per_epoch)
        first, last = int(self.steps[0]), int(self.steps[-1])
        self.caption(
            f"Mean |∂loss/∂w| of each of the {len(self.layers)} weight layers, step {first:,} "
            f"to {last:,}, on a log scale."
        )
        self.unfold(bars, heat)
        self.key_moment("over training")
        self.caption(spread_words(self.values, self.layers))
        note = theme.fitted(
            spread_note(self.values, self.layers),
            theme.content_width(),
            theme.BODY,
            theme.TEXT,
        )
        self.play(FadeIn(note.to_edge(DOWN, buff=theme.MARGIN)), run_time=0.5)
        self.hold(IDEA)
        self.key_moment("the spread")

    def add_header(self) -> None:
        head = fitted_title(
            f"Gradients  ·  {model_name(self.run)}",
            [
                "mean |∂loss/∂w| per layer, log scale",
                "the run of the training curves",
                f"run {self.run.name}",
            ],
            TITLE_WIDTH,
        )
        self.counter = self.step_counter(int(self.steps[0]))
        self.head = head
        self.add(head, self.counter)

    def plot_span(self) -> tuple[float, float]:
        """Top and bottom of both plots: under the title and the legend over the heat map,
        above the axis labels and the closing note (so taller type leaves shorter plots)."""
        line = theme.text("0", theme.SMALL).height
        legend = 2 * line + 0.2 + 0.2  # title, bar, end labels
        top = min(TOP, self.head.get_bottom()[1] - 0.2 - legend - 0.12)
        note = theme.text("0", theme.BODY).height
        axis = 2 * line + 0.3  # tick labels and the axis name
        bottom = max(BOTTOM, -theme.frame_height() / 2 + theme.MARGIN + note + 0.15 + axis)
        return top, bottom

    def bar_chart(self) -> HBars:
        rows = len(self.layers)
        chart = Chart(
            self.scale,
            Scale(0, rows),
            width=BARS_BOX[1] - BARS_BOX[0],
            height=self.top - self.bottom,
            x_label="mean |gradient| at this step",
            y_ticks=[],
        )
        chart.shift(np.array([BARS_BOX[0], self.bottom, 0]) - chart.box.get_corner(DOWN + LEFT))
        names = Group()
        pitch = (self.top - self.bottom) / rows
        every = math.ceil((theme.text("conv", theme.SMALL).height * 0.8) / pitch)
        for row, name in enumerate(self.layers):
            if (rows - 1 - row) % every:
                continue  # rows too close for every name: every other one, the last kept
            label = theme.text(name, theme.SMALL, theme.MUTED)
            y = chart.coord(self.scale.lo, rows - row - 0.5)
            names.add(label.next_to(y, LEFT, buff=0.15))
        bars = HBars(chart, [theme.BAR] * rows)
        first = VGroup(
            *(
                Line(UP * 0.13, DOWN * 0.13, stroke_width=2.5, color=theme.ACCENT).move_to(
                    chart.coord(v, rows - row - 0.5)
                )
                for row, v in enumerate(self.values[0])
            )
        )
        key = Group(
            Line(UP * 0.1, DOWN * 0.1, stroke_width=2.5, color=theme.ACCENT),
            theme.text(first_words(int(self.steps[0])), theme.SMALL, theme.MUTED),
        ).arrange(RIGHT, buff=0.1)
        key.next_to(chart.box, UP, buff=0.12).align_to(chart.box, RIGHT)
        self.add(chart, names, bars, first, key)
        return bars

    def heat_map(self, per_epoch: int) -> HeatMap:
        rows = len(self.layers)
        last = float(self.steps[-1])
        epochs = last / per_epoch
        step = 0.5 if epochs <= 2 else max(1, math.ceil(epochs / 6))
        ticks = [(float(e), format_tick(float(e))) for e in np.arange(0, epochs + 1e-9, step)]
        chart = Chart(
            Scale(0, max(epochs, 1e-9)),
            Scale(0, rows),
            width=MAP_BOX[1] - MAP_BOX[0],
            height=self.top - self.bottom,
            x_label="epoch",
            x_ticks=ticks,
            y_ticks=[],
            grid=False,
        )
        chart.shift(np.array([MAP_BOX[0], self.bottom, 0]) - chart.box.get_corner(DOWN + LEFT))
        # One column per recorded snapshot; uneven cadences are resampled onto even steps.
        columns = min(len(self.steps), 400)
        at = np.linspace(self.steps[0], last, columns)
        index = np.clip(np.searchsorted(self.steps, at, side="right") - 1, 0, len(self.steps) - 1)
        heat = HeatMap(chart, self.values[index].T, self.scale)
        self.heat_steps = at
        legend = ColorBar(
            "viridis",
            low=format_tick(self.scale.lo),
            high=format_tick(self.scale.hi),
            title="history (colour = mean |gradient|)",
            length=2.6,
        )
        legend.next_to(chart.box, UP, buff=0.12).align_to(chart.box, LEFT)
        overhang = legend.get_right()[0] - (theme.frame_width() / 2 - theme.MARGIN)
        legend.shift(max(overhang, 0.0) * LEFT)
        self.add(chart, heat.image, heat.cover, legend)
        return heat

    def unfold(self, bars: HBars, heat: HeatMap) -> None:
        seconds = max(self.settings["seconds"], 0.5)
        tracker = ValueTracker(0.0)
        n = len(self.steps)
        last = int(self.steps[-1])
        quantum = max(1, math.ceil(last / (seconds * COUNTER_UPDATES_PER_SECOND)))

        def index() -> int:
            return round(tracker.get_value() * (n - 1))

        def count(counter) -> None:
            step = int(self.steps[index()])
            counter.set_step(
                step if step >= last else max(int(self.steps[0]), step - step % quantum)
            )

        bars.add_updater(lambda b: b.set_values(self.values[index()]))
        # The heat-map column each snapshot reaches, worked out once.
        reach = np.searchsorted(self.heat_steps, self.steps, side="right") - 1
        heat.cover.add_updater(lambda _: heat.show_until(int(reach[index()])))
        self.counter.add_updater(count)
        # Manim redraws every frame all mobjects from the first moving one on: keep the
        # moving ones last, so the axes and labels are drawn once into the background.
        self.bring_to_front(bars, heat.cover, self.counter)
        self.play(tracker.animate.set_value(1.0), run_time=seconds, rate_func=linear)
        for mobject in (bars, heat.cover, self.counter):
            mobject.clear_updaters()
        self.counter.set_step(last)
