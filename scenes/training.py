"""Training: the loss per step and the validation accuracy per epoch of one recorded run,
drawn as the run unfolds, with a step/epoch counter and the final figures written out.

The loss axis is logarithmic when the loss falls by a factor of 4 or more (it usually does:
from ln 10 ≈ 2.3 to a few hundredths), so late progress stays visible. Validation numbers
are the run's own end-of-epoch evaluations in eval mode (seed 000 forgot ``model.eval()``).

    manim scenes/training.py                                 # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/training.py
    NNREEL_SET="seconds=4 log=no" manim -ql scenes/training.py

Options (``NNREEL_SET`` or ``python -m engine render training --set KEY=VALUE``): see
``Training.options``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    BackgroundRectangle,
    Dot,
    FadeIn,
    Group,
    Mobject,
    ValueTracker,
    linear,
)

from engine.errors import RunError
from engine.scenekit import (
    Choice,
    Number,
    Option,
    RunScene,
    batch_words,
    dataset_name,
    model_name,
    optimizer_words,
    theme,
)
from engine.scenekit.charts import (
    TITLE_WIDTH,
    Chart,
    Curve,
    Scale,
    fitted_title,
    format_tick,
    format_value,
    legend_row,
    smoothed,
    use_log,
)
from engine.scenekit.pacing import IDEA, readable_cues
from engine.store import Run, schema

NEEDED = (schema.TRAIN_LOSS, schema.TRAIN_ACC, schema.VAL_LOSS, schema.VAL_ACC)
CHART_WIDTH, CHART_HEIGHT = 5.3, 3.7
CHART_BOTTOM = -1.45
COUNTER_UPDATES_PER_SECOND = 10
Mark = tuple[float, list[tuple[Mobject, float]]]
"""A validation point: its epoch, and its pieces with the opacity each has once shown."""
"""The step counter changes at most this often (faster only flickers)."""


def check_streams(run: Run) -> None:
    """Say which curves a run lacks, and how to record them."""
    missing = [name for name in NEEDED if not run.has(name)]
    if missing:
        raise RunError(
            f"Run {run.name!r} has no {', '.join(missing)}: Training needs the per-step loss and "
            "accuracy and the end-of-epoch validation. This run was recorded without them "
            "(trained with --no-record, or stopped before its first epoch ended). Train it "
            "again with recording on, e.g. `python -m engine train vgg16-synth`."
        )


def epoch_ticks(epochs: int) -> list[tuple[float, str]]:
    """Whole epochs as x ticks (halves too for one or two epochs, at most ~10 labels)."""
    step = 0.5 if epochs <= 2 else max(1, math.ceil(epochs / 10))
    values = np.arange(0, epochs + 1e-9, step)
    return [(float(v), format_tick(float(v))) for v in values]


class Training(RunScene):
    """Loss and accuracy curves growing step by step, then the final numbers."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "seconds": Number(12.0, "how many seconds the training takes to unfold", at_least=0),
        "log": Choice(
            "auto",
            "loss axis on a log scale: auto (when the loss spans ×4), yes or no",
            choices=("auto", "yes", "no"),
        ),
    }

    def construct(self) -> None:
        check_streams(self.run)
        progress = self.run.manifest["progress"]
        self.per_epoch = int(progress.get("steps_per_epoch") or 1)
        self.steps = self.run.steps(schema.TRAIN_LOSS)
        self.epochs = self.steps / self.per_epoch
        self.last = int(self.steps[-1])
        self.add_header()
        loss_curves, loss_dots = self.loss_chart()
        acc_curves, acc_dots = self.accuracy_chart()
        self.caption_epochs(max(self.settings["seconds"], 0.5))
        self.unfold([*loss_curves, *acc_curves], [*loss_dots, *acc_dots])
        self.key_moment("training")
        main, detail = self.final_words()
        words = main.replace("  ·  ", ", ").replace(":  ", ": ").replace("validation loss", "loss")
        val_acc = self.accuracy_values[1]
        best = int(np.argmax(val_acc))
        if best != len(val_acc) - 1:
            words += f"; best {val_acc[best]:.1f}% at epoch {format_tick(self.val_epochs[best])}"
        self.caption(f"{words[0].upper()}{words[1:]}.")
        self.play(FadeIn(self.final_figures(main, detail)), run_time=0.6)
        self.hold(IDEA)
        self.key_moment("the result")

    # -- layout ---------------------------------------------------------------------------
    def add_header(self) -> None:
        progress = self.run.manifest["progress"]
        epochs = progress.get("epochs") or progress.get("epoch", 0)
        head = fitted_title(
            f"Training  ·  {model_name(self.run)}",
            [
                f"{dataset_name(self.run)}",
                f"{epochs} epochs × {self.per_epoch:,} steps",
                f"run {self.run.name}",
                batch_words(self.run),
                optimizer_words(self.run, ", "),
            ],
            TITLE_WIDTH,
        )
        self.counter = self.step_counter(0)
        self.head = head
        self.add(head, self.counter)

    def chart(self, y: Scale, y_label: str, center_x: float, y_ticks=None) -> Chart:
        """A chart as tall as the room between the title and what goes under it (its key
        row and the final figures), its labels included: taller text, shorter plot."""
        epochs = max(1, math.ceil(self.epochs[-1] - 1e-9))

        def make(height: float) -> Chart:
            return Chart(
                Scale(0, float(epochs)),
                y,
                width=CHART_WIDTH,
                height=height,
                x_label="epoch",
                y_label=y_label,
                x_ticks=epoch_ticks(epochs),
                y_ticks=y_ticks,
            )

        probe = make(1.0)
        above = probe.get_top()[1] - probe.box.get_top()[1]
        below = probe.box.get_bottom()[1] - probe.get_bottom()[1]
        top = self.head.get_bottom()[1] - 0.2 - above
        bottom = max(CHART_BOTTOM, self.floor() + below)
        chart = make(min(CHART_HEIGHT, top - bottom))
        chart.shift(np.array([center_x, bottom, 0]) - chart.box.get_bottom())
        self.add(chart)
        return chart

    @staticmethod
    def below(chart: Chart, key: Group) -> Group:
        """A chart's key row under it, from its left edge, kept inside the frame."""
        key.next_to(chart, DOWN, buff=0.25).align_to(chart.box, LEFT)
        overhang = key.get_right()[0] - (theme.frame_width() / 2 - theme.MARGIN)
        return key.shift(max(overhang, 0.0) * LEFT)

    def floor(self) -> float:
        """The lowest a chart's labels may go: above its key row and the final figures."""
        key = theme.text("per step", theme.SMALL).height + 0.25
        figures = theme.text("0", theme.BODY).height + theme.text("0", theme.LABEL).height + 0.1
        return -theme.frame_height() / 2 + theme.MARGIN + figures + 0.15 + key

    def loss_chart(self) -> tuple[list[Curve], list[Mark]]:
        loss = self.run.read(schema.TRAIN_LOSS).astype(np.float64)
        val_loss = self.run.read(schema.VAL_LOSS).astype(np.float64)
        val_epochs = self.run.steps(schema.VAL_LOSS) / self.per_epoch
        trend = smoothed(loss, max(5.0, self.per_epoch / 10))
        log = self.settings["log"] == "yes" or (
            self.settings["log"] == "auto" and use_log(np.concatenate([trend, val_loss]))
        )
        both = np.concatenate([loss, val_loss])
        y = Scale.fit_log(both) if log else Scale.fit(both, zero=True)
        chart = self.chart(y, "loss (cross-entropy, log scale)" if log else "loss", -3.35)
        raw = Curve(chart, self.epochs, loss, color=theme.BAR, width=1.5, opacity=0.35)
        trend_curve = Curve(chart, self.epochs, trend, color=theme.BAR, width=3.5)
        dots = [
            (float(e), [(Dot(chart.coord(e, v), radius=0.07, color=theme.ACCENT), 1.0)])
            for e, v in zip(val_epochs, val_loss, strict=True)
        ]
        key = legend_row(
            [
                (theme.BAR, "faint", "per step"),
                (theme.BAR, "line", "smoothed"),
                (theme.ACCENT, "dot", "validation"),
            ]
        )
        self.add(self.below(chart, key))
        self.loss_values = (trend[-1], val_loss[-1])
        return [raw, trend_curve], dots

    def accuracy_chart(self) -> tuple[list[Curve], list[Mark]]:
        acc = 100 * self.run.read(schema.TRAIN_ACC).astype(np.float64)
        val_acc = 100 * self.run.read(schema.VAL_ACC).astype(np.float64)
        val_epochs = self.run.steps(schema.VAL_ACC) / self.per_epoch
        self.val_epochs = val_epochs
        ticks = [(v, f"{v:.0f}%") for v in range(0, 101, 20)]
        chart = self.chart(Scale(0, 100), "accuracy", 3.65, ticks)
        trend = smoothed(acc, max(5.0, self.per_epoch / 10))
        raw = Curve(chart, self.epochs, acc, color=theme.GOOD, width=1.5, opacity=0.3)
        trend_curve = Curve(chart, self.epochs, trend, color=theme.GOOD, width=3.5)
        labelled = set(range(len(val_acc))) if len(val_acc) <= 6 else {len(val_acc) - 1}
        dots = []
        for i, (e, v) in enumerate(zip(val_epochs, val_acc, strict=True)):
            dot = Dot(chart.coord(e, v), radius=0.07, color=theme.ACCENT)
            label = []
            if i in labelled:
                text = theme.text(f"{v:.1f}%", theme.SMALL, theme.ACCENT)
                # Below the point, unless that would sit on the axis (the untrained network).
                side = DOWN if v > 25 else (UP + RIGHT if e == 0 else UP)
                text.next_to(dot, side, buff=0.12)
                # A backing, so the label stays readable where the faint batch curve crosses.
                backing = BackgroundRectangle(text, color=theme.BACKGROUND, fill_opacity=0.85)
                label = [(backing, 0.85), (text, 1.0)]
            dots.append((float(e), [(dot, 1.0), *label]))
        key = legend_row(
            [
                (theme.GOOD, "faint", "per batch"),
                (theme.GOOD, "line", "smoothed"),
                (theme.ACCENT, "dot", "validation"),
            ]
        )
        self.add(self.below(chart, key))
        self.accuracy_values = (trend[-1], val_acc)
        return [raw, trend_curve], dots

    def caption_epochs(self, seconds: float) -> None:
        """Captions for the unfolding: the set-up and the untrained network, then each epoch's
        validation as its point appears (those that leave the one before time to be read)."""
        acc = self.accuracy_values[1]
        loss = self.run.read(schema.VAL_LOSS).astype(np.float64)
        epochs = self.val_epochs
        intro = (
            f"Training on {dataset_name(self.run)}: "
            f"{format_tick(self.epochs[-1])} epoch{'s' if self.epochs[-1] != 1 else ''} of "
            f"{self.per_epoch:,} steps, {batch_words(self.run)}, {optimizer_words(self.run)}."
        )
        if len(epochs) and epochs[0] == 0:
            intro += f" Untrained: {acc[0]:.1f}% right."
        end = float(self.epochs[-1])
        cues = [(0.0, intro)] + [
            (
                seconds * float(epoch) / end,
                f"Epoch {format_tick(float(epoch))}: validation accuracy {value:.1f}%, "
                f"loss {format_value(float(loss[i]))}.",
            )
            for i, (epoch, value) in enumerate(zip(epochs, acc, strict=True))
            if epoch > 0 and seconds * float(epoch) / end < seconds - 0.1
        ]
        for at, words in readable_cues(cues):
            self.caption(words, delay=at)

    # -- time -----------------------------------------------------------------------------
    def unfold(self, curves: list[Curve], dots: list[Mark]) -> None:
        """Grow every curve from step 0 to the last; validation points appear as their epoch
        ends; the counter follows (at most ``COUNTER_UPDATES_PER_SECOND`` times a second)."""
        seconds = max(self.settings["seconds"], 0.5)
        tracker = ValueTracker(0.0)
        end = float(self.epochs[-1])
        quantum = max(1, math.ceil(self.last / (seconds * COUNTER_UPDATES_PER_SECOND)))
        for curve in curves:
            curve.grow_to(0.0)
            curve.add_updater(lambda c: c.grow_to(tracker.get_value() * end))
        shown: set[int] = set()

        def reveal(mark: Mobject, epoch: float, opacity: float) -> None:
            if id(mark) not in shown and tracker.get_value() * end >= epoch:
                mark.set_opacity(opacity)
                shown.add(id(mark))

        marks = []
        for epoch, pieces in dots:
            for mark, opacity in pieces:
                # Mobjects added during an animation are not drawn until the next one, so
                # every mark is there from the start, invisible until its epoch ends.
                mark.set_opacity(0.0)
                mark.add_updater(lambda m, e=epoch, o=opacity: reveal(m, e, o))
                marks.append(mark)

        def count(counter) -> None:
            step = int(tracker.get_value() * self.last)
            counter.set_step(self.last if step >= self.last else step - step % quantum)

        self.counter.add_updater(count)
        # Manim redraws every frame all mobjects from the first moving one on: keep the
        # moving ones last, so the charts are drawn once into the background.
        self.add(*curves, *marks)
        self.bring_to_front(self.counter)
        self.play(tracker.animate.set_value(1.0), run_time=seconds, rate_func=linear)
        for mobject in (*curves, *marks, self.counter):
            mobject.clear_updaters()
        self.counter.set_step(self.last)

    def final_words(self) -> tuple[str, str]:
        """The end of the run in numbers: a headline and a line of detail."""
        train_loss, val_loss = self.loss_values
        train_acc, val_acc = self.accuracy_values
        epochs = self.last / self.per_epoch
        best = int(np.argmax(val_acc))
        main = (
            f"after {format_tick(epochs)} epoch{'s' * (epochs != 1)} ({self.last:,} steps):  "
            f"validation accuracy {val_acc[-1]:.1f}%  ·  validation loss {format_value(val_loss)}"
        )
        detail = (
            f"training, smoothed: loss {format_value(train_loss)}  ·  accuracy {train_acc:.1f}%"
        )
        if best != len(val_acc) - 1:
            epoch = format_tick(self.val_epochs[best])
            detail += f"  ·  best validation accuracy {val_acc[best]:.1f}% (epoch {epoch})"
        return main, detail

    def final_figures(self, main: str, detail: str) -> Group:
        width = theme.content_width()
        lines = [
            theme.fitted(main, width, theme.BODY, weight="BOLD"),
            theme.fitted(detail, width, theme.LABEL, theme.MUTED),
        ]
        group = Group(*lines).arrange(DOWN, buff=0.1)
        return group.to_edge(DOWN, buff=theme.MARGIN)
