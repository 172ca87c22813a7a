"""Manim building blocks shared by scenes: raster panels, a step counter, probability bars, a
colour-bar legend and a clock on a log scale. Each is a handful of mobjects however much data
it shows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RESAMPLING_ALGORITHMS,
    RIGHT,
    UP,
    Group,
    ImageMobject,
    Rectangle,
    VGroup,
)
from manim.utils.images import change_to_rgba_array

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.label import pixels_per_unit
from engine.scenekit.paint import blank, coverage, fill, stamp, text_width, unit


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return change_to_rgba_array(np.ascontiguousarray(rgb, dtype=np.uint8), "uint8")


def raster_image(
    rgb: np.ndarray, *, height: float | None = None, width: float | None = None
) -> ImageMobject:
    """An ``ImageMobject`` showing a uint8 RGB array with crisp (nearest-neighbour) pixels,
    sized by ``height`` or ``width`` in frame units (whichever is given; height wins)."""
    image = ImageMobject(_rgba(rgb))
    image.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
    if height is not None:
        image.height = height
    elif width is not None:
        image.width = width
    return image


def set_pixels(image: ImageMobject, rgb: np.ndarray) -> ImageMobject:
    """Replace what a raster shows, keeping its place and size (cheap: one array copy), e.g. in
    an updater that steps through training snapshots. The new array should have the old one's
    aspect ratio, or it is stretched to the old size."""
    image.pixel_array = _rgba(rgb)
    image.orig_alpha_pixel_array = image.pixel_array[:, :, 3].copy()
    return image


def framed(mobject, color: str | None = None, buff: float = 0.06, width: float = 3.0) -> Rectangle:
    """A rectangle around ``mobject`` (in the accent colour unless told): to point at a panel
    or a tile."""
    color = theme.ACCENT if color is None else color
    return Rectangle(
        width=mobject.width + 2 * buff,
        height=mobject.height + 2 * buff,
        stroke_color=color,
        stroke_width=width,
    ).move_to(mobject)


class StepCounter(Group):
    """Where in training the numbers on screen come from: 'step 120 of 375' over
    'epoch 1 of 2' (the epoch that step belongs to) or 'untrained', right-aligned.

    Build it from a run's progress (``run.manifest['progress']``), place it, then call
    ``set_step`` as time passes: it redraws its two labels in place.
    """

    def __init__(self, progress: dict, step: int):
        super().__init__()
        self.progress = progress
        self.total = int(progress.get("total_steps") or progress.get("step") or 0)
        self.words = self.describe(int(step))
        self.add(
            theme.text(self.words[0], theme.BODY, weight="BOLD"),
            theme.text(self.words[1], theme.LABEL, theme.MUTED),
        )
        self.arrange(DOWN, aligned_edge=RIGHT, buff=0.02)

    def describe(self, step: int) -> tuple[str, str]:
        per_epoch = self.progress.get("steps_per_epoch") or 0
        epochs = self.progress.get("epochs")
        second = ""
        if step == 0:
            second = "untrained"
        elif per_epoch and epochs:
            second = f"epoch {min(epochs, 1 + (step - 1) // per_epoch)} of {epochs}"
        return f"step {step:,} of {self.total:,}", second

    def set_step(self, step: int) -> StepCounter:
        self.words = self.describe(int(step))
        for line, words in zip(self, self.words, strict=True):
            line.set_text(words, keep=RIGHT)
        return self


class ProbabilityBars(Group):
    """Class probabilities as horizontal bars under a heading: the predicted class's bar in
    the accent colour with its percentage, the true class's name in green, and a key saying so.

    ``set_probs`` moves the bars and the percentage in place, so stepping through dozens of
    training snapshots stays cheap.
    """

    def __init__(
        self,
        classes: Sequence[str],
        probs: np.ndarray,
        *,
        true_label: int | None = None,
        width: float = 3.3,
        row_height: float = 0.3,
        size: int | None = None,
        heading: str = "class probabilities",
        height: float | None = None,
        key: bool = True,
    ):
        """``height``: the most the whole widget may take; rows get closer to fit it (never
        closer than their names' height). ``key``: with the colour key under the bars (a
        scene showing several may show ``colour_key`` once instead)."""
        super().__init__()
        size = theme.LABEL if size is None else size
        names = Group(
            *(
                theme.text(
                    str(name),
                    size,
                    theme.GOOD if i == true_label else theme.MUTED,
                    weight="BOLD" if i == true_label else "NORMAL",
                )
                for i, name in enumerate(classes)
            )
        )
        name_width = max(n.width for n in names)
        self.value = theme.text("100%", size, theme.ACCENT)
        self.bar_length = max(width - name_width - self.value.width - 0.3, 0.4)
        head = theme.fitted(heading, width, size, theme.TEXT)
        key = colour_key() if key else Group()
        if height is not None:
            room = height - head.height - key.height - 0.4 - names[0].height
            tightest = 0.85 * names[0].height
            row_height = max(tightest, min(row_height, room / max(len(names) - 1, 1)))
        self.bars = VGroup()
        for i, name in enumerate(names):
            y = -i * row_height
            name.move_to([name_width - name.width / 2, y, 0])
            bar = Rectangle(width=1.0, height=row_height * 0.62, stroke_width=0, fill_opacity=1)
            self.bars.add(bar.move_to([name_width + 0.65, y, 0]))
        head.next_to(names, UP, buff=0.2)
        self.add(names, self.bars, self.value, head.align_to(names, LEFT))
        if len(key):
            self.add(key.next_to(names, DOWN, buff=0.2).align_to(names, LEFT))
        self.set_probs(probs)

    def set_probs(self, probs: np.ndarray) -> ProbabilityBars:
        probs = np.asarray(probs, dtype=np.float64)
        self.predicted = int(np.argmax(probs))
        left = self.bars.get_left()[0]
        for i, (bar, p) in enumerate(zip(self.bars, probs, strict=True)):
            bar.stretch_to_fit_width(max(float(p) * self.bar_length, 0.02))
            bar.align_to([left, 0, 0], LEFT)
            bar.set_fill(theme.ACCENT if i == self.predicted else theme.BAR)
        self.value.set_text(theme.percent(probs[self.predicted]))
        self.value.next_to(self.bars[self.predicted], RIGHT, buff=0.1)
        return self


def colour_key() -> Group:
    """What ``ProbabilityBars``' colours mean: the accent bar is the prediction, the green
    name the true class."""
    return Group(
        theme.text(f"{theme.ACCENT_WORD}: predicted", theme.SMALL, theme.ACCENT),
        theme.text("green: true class", theme.SMALL, theme.GOOD),
    ).arrange(DOWN, aligned_edge=LEFT, buff=0.02)


class ColorBar(Group):
    """A colour-bar legend: a title (what is shown and how it was normalised), the colour map,
    and what its two ends mean — and its middle, for a diverging map centred on zero.
    Horizontal (labels under the bar) or vertical."""

    def __init__(
        self,
        cmap: str,
        *,
        low: str,
        high: str,
        title: str,
        middle: str | None = None,
        length: float = 2.4,
        vertical: bool = False,
        size: int | None = None,
    ):
        super().__init__()
        size = theme.SMALL if size is None else size
        head = theme.text(title, size, theme.TEXT)
        bar = raster_image(rs.gradient_bar(cmap, 128, vertical=vertical))
        lo = theme.text(low, size, theme.MUTED)
        hi = theme.text(high, size, theme.MUTED)
        mid = theme.text(middle, size, theme.MUTED) if middle is not None else None
        if vertical:
            bar.stretch_to_fit_height(length).stretch_to_fit_width(0.24)
        else:  # at least as long as its title, which sits on it, and its labels side by side
            ends = 2 * max(lo.width, hi.width) + mid.width + 0.4 if mid else lo.width + hi.width
            longest = max(length, head.width, ends + 0.2)
            bar.stretch_to_fit_width(longest).stretch_to_fit_height(0.2)
        if vertical:
            hi.next_to(bar, RIGHT, buff=0.1).align_to(bar, UP)
            lo.next_to(bar, RIGHT, buff=0.1).align_to(bar, DOWN)
        else:
            lo.next_to(bar, DOWN, buff=0.1).align_to(bar, LEFT)
            hi.next_to(bar, DOWN, buff=0.1).align_to(bar, RIGHT)
        self.add(bar, lo, hi, head.next_to(bar, UP, buff=0.1, aligned_edge=LEFT))
        if mid is not None:  # at the centre of the bar's side, where the labels are
            self.add(mid.next_to(bar, RIGHT if vertical else DOWN, buff=0.1))


def scale_ends(top: str, centred: bool) -> dict[str, str | None]:
    """A ``ColorBar``'s labels for maps scaled up to ``top``: from 0, or from −top through 0 to
    +top for maps centred on zero (``raster.honest_mode``: values below zero)."""
    if centred:
        return {"low": f"−{top}", "middle": "0", "high": f"+{top}"}
    return {"low": "0", "middle": None, "high": top}


class LogClock:
    """A step on a log(1 + step) axis across the frame, its bottom edge at ``bottom``: a mark
    for every step shown (dense early, as log-spaced recordings are), labelled ticks, and the
    part already run in the accent colour with a dot at now (``show``). One raster."""

    TITLE = "step (log scale)"

    def __init__(self, steps: np.ndarray, bottom: float):
        ppu = pixels_per_unit()
        left = -theme.frame_width() / 2 + theme.MARGIN
        self.width = round((theme.content_width()) * ppu)
        self.steps, self.total = steps, int(steps[-1])
        self.u = u = unit()
        self.label_h = coverage("0", theme.SMALL).shape[0]
        self.axis = 3 * u + 1
        self.height = self.axis + 3 * u + self.label_h + u
        self.x0 = text_width(self.TITLE, theme.SMALL) + 4 * u + text_width("0", theme.SMALL)
        self.x1 = self.width - text_width(str(self.total), theme.SMALL) // 2 - u
        self.base = self.draw_base()
        self.raster = raster_image(self.base, height=self.height / ppu)
        self.raster.move_to([left, bottom, 0], aligned_edge=LEFT + DOWN)

    def x(self, step: float) -> int:
        share = math.log1p(step) / math.log1p(max(1, self.total))
        return round(self.x0 + share * (self.x1 - self.x0))

    def labelled(self) -> list[int]:
        """0, the powers of ten and the total, minus those that would crowd the total's label."""
        marks = [0] + [10**i for i in range(int(math.log10(max(1, self.total))) + 1)]
        room = text_width(str(self.total), theme.SMALL) + 3 * self.u
        kept = [m for m in marks if m < self.total and self.x(self.total) - self.x(m) >= room]
        return [*kept, self.total]

    def draw_base(self) -> np.ndarray:
        canvas, u, y = blank(self.height, self.width), self.u, self.axis
        stamp(canvas, self.TITLE, 0, y + u // 2 - self.label_h // 2, theme.SMALL, theme.MUTED)
        fill(canvas, y, y + u, self.x0, self.x1 + 1, theme.PANEL)
        thin = max(1, u // 2)
        for step in self.steps:
            x = self.x(step)
            fill(canvas, y - 3 * u, y - u, x, x + thin, theme.MUTED)
        for step in self.labelled():
            x = self.x(step)
            fill(canvas, y + u, y + 3 * u, x, x + thin, theme.MUTED)
            stamp(canvas, str(step), x, y + 3 * u, theme.SMALL, theme.MUTED, align="centre")
        return canvas

    def show(self, step: int) -> None:
        canvas, u, y = self.base.copy(), self.u, self.axis
        x = self.x(step)
        fill(canvas, y, y + u, self.x0, x + 1, theme.ACCENT)
        r = 2 * u
        yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
        disc = yy**2 + xx**2 <= r * r
        top, left = y + u // 2 - r, x - r
        region = canvas[max(top, 0) : top + 2 * r + 1, max(left, 0) : left + 2 * r + 1, :3]
        region[disc[: region.shape[0], : region.shape[1]]] = rs.hex_rgb(theme.ACCENT)
        set_pixels(self.raster, canvas)
