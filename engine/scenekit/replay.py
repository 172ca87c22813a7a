"""Replaying training on screen: recorded streams readable at any step, a clock from video
time to training step, long animations drawn frame by frame, and captions timed inside them.

A scene that replays a run plays a few long animations (``animate``) whose ``draw(t)`` reads
``Series.at(clock.replay(t, ...))`` and sets pixels and texts; ``OnSnapshot`` redraws what
changes once per recorded snapshot only, ``changed_only`` skips frames that repeat, and
``Cues`` starts captions at given times with the numbers on screen then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from manim import FadeOut, Mobject, Rectangle, Scene, ValueTracker, config, linear

from engine.analysis.contributions import MlpWeights
from engine.scenekit import theme
from engine.scenekit.base import RunScene
from engine.scenekit.widgets import StepCounter
from engine.store import Run

HOLD, END = 2.0, 2.0
"""Seconds on the untrained network before training replays, and on the result after (then
the scene holds it until its caption has been read)."""


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
class ReplayClock:
    """Video time → training step. The screen time between two snapshots follows how much
    the fitted surface changes between them, plus a floor so that quiet stretches still move:
    learning plays at an even pace whatever the recording cadence (log-spaced snapshots
    would otherwise spend half the video on the first few flat steps)."""

    steps: np.ndarray
    marks: np.ndarray
    """Where each snapshot falls in the replay, 0 … 1."""

    @classmethod
    def paced(cls, series: Series, floor: float = 0.5) -> ReplayClock:
        values = series.values.reshape(len(series.steps), -1)
        change = np.abs(np.diff(values, axis=0)).mean(axis=1, dtype=np.float64)
        weight = change + floor * (change.mean() if len(change) else 0.0)
        if not weight.sum() > 0:
            weight = np.ones_like(weight)
        marks = np.concatenate([[0.0], np.cumsum(weight)])
        if len(marks) > 1:  # the last exactly 1: the replay ends on the last snapshot, not
            marks /= marks[-1]  # a rounding error before it
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


# -- captions ---------------------------------------------------------------------------------
EVERY = 5.0
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
    ``time`` with ``say()``'s words, so its numbers are the ones on screen then — but never
    before the caption on screen has been read (``RunScene.caption_read``): a cue that comes
    too soon waits, and one overtaken by the next while waiting is dropped."""

    def __init__(self, scene: RunScene, cues: list[tuple[float, Callable[[], str]]]):
        self.scene = scene
        self.pending = sorted(cues, key=lambda cue: cue[0])

    def __call__(self, t: float) -> None:
        due = [cue for cue in self.pending if t >= cue[0] - 1e-6]
        if due and self.scene.caption_read():
            del self.pending[: len(due)]
            self.scene.caption(due[-1][1]())

    def finish(self) -> None:
        """After the animation: the last cue, if it is still waiting (its caption comes after
        the one before has been read; call ``scene.hold`` to give it its own time)."""
        if self.pending:
            self.scene.hold()
            self.scene.caption(self.pending[-1][1]())
            self.pending.clear()


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
