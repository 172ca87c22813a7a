"""Kernels: every kernel of the first conv of each block, from initialisation to the end of
training, as tiles on a diverging colour map centred on zero (blue negative, white zero, red
positive), one strip per layer; then the first layer up close, before and after.

Each kernel has one 2-D slice per input channel. A first layer that sees RGB shows all three
at once as colour (grey = zero). Deeper layers show one slice per kernel: by default each
kernel's strongest input channel (largest norm at the end of training, so a tile never
switches channel), or their mean, or one chosen channel — the label says which. Seed 000
showed input channel 0 only and never animated.

    manim scenes/kernels.py                                  # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/kernels.py
    NNREEL_SET="channel=mean seconds=4" manim -ql scenes/kernels.py

Options (``NNREEL_SET`` or ``python -m engine render kernels --set KEY=VALUE``): see
``Kernels.options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Group

from engine.errors import NnreelError, RunError
from engine.scenekit import (
    Choice,
    ColorBar,
    Names,
    Number,
    Option,
    RunScene,
    model_name,
    raster_image,
    set_pixels,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title, format_value
from engine.scenekit.pacing import BEAT, IDEA
from engine.store import Run, schema

SHEET = (-4.3, 6.75, -2.85, 2.45)
"""Left, right, bottom, top of the strips (frame units)."""
PIXELS_PER_UNIT = 135
"""The strips' raster resolution: about 1080p's, so tiles stay crisp when shown."""
STRIP_GAP = 0.14
CLIP_PERCENTILE = 99.5
"""Each layer's colour scale ends at this percentile of |w| over all snapshots (a few
outlying weights would otherwise wash every other tile out to white)."""
MAX_SNAPSHOTS = 40
MAX_STRIPS = 12
"""Strips one sheet holds with labels a person reads, a line each, at 1080p and in a 640 px
GIF: a deeper network shows this many of its layers, evenly spread. The ``layers`` option's
help writes the number out: options are read without running the scene."""


def conv_weight_layers(run: Run, requested: list[str] | None) -> list[str]:
    """Conv layers whose weights were recorded, in network order (or as requested)."""
    recorded = [
        info.name
        for info in run.layers
        if info.kind == "conv" and run.has(schema.weights(info.name))
    ]
    if requested:
        for name in requested:
            run.layer(name)  # an unknown name lists the run's layers
            if name not in recorded:
                raise NnreelError(
                    f"Layer {name!r} of run {run.name!r} has no recorded conv weights. Layers "
                    f"Kernels can show: {', '.join(recorded) or 'none'}."
                )
        if len(requested) > MAX_STRIPS:
            raise NnreelError(
                f"layers= names {len(requested)} layers; Kernels shows at most {MAX_STRIPS} at "
                "once. Name fewer, or leave layers= out for an even spread of them."
            )
        return list(requested)
    if not recorded:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)}) recorded no conv weights (streams "
            "weights/<conv layer>): Kernels needs a CNN run with its weights recorded, e.g. "
            "`python -m engine train vgg16-synth` (the first conv of each block is recorded by "
            "default), or NNREEL_RUN=smallcnn-synth."
        )
    return recorded


def spread(names: list[str], count: int) -> list[str]:
    """At most ``count`` of ``names``, evenly spread, the first and the last among them."""
    if len(names) <= count:
        return names
    return [names[i] for i in np.linspace(0, len(names) - 1, count).round().astype(int)]


@dataclass
class LayerKernels:
    """One layer's kernels as shown: a [snapshots, out, kh, kw(, 3)] array of values to colour,
    the scale (±limit) they are coloured on, and the words saying what a tile is."""

    name: str
    shown: np.ndarray
    steps: np.ndarray
    """The training step of each snapshot in ``shown``."""
    limit: float
    rgb: bool
    what: str
    shape: tuple[int, ...]
    moved: float
    """How far training moved the whole layer: ‖W_end − W_start‖ / ‖W_start‖."""
    delta_limit: float
    """The scale (±) of the change from initialisation, W(t) − W(0), over all snapshots."""

    def tiles(self, snapshot: int, delta: bool = False) -> np.ndarray:
        """[out, kh, kw, 3] uint8 tiles of the weights, or (``delta``) of their change since
        initialisation on its own scale: diverging colours, or RGB with grey at zero."""
        values = self.shown[snapshot] - self.shown[0] if delta else self.shown[snapshot]
        limit = self.delta_limit if delta else self.limit
        unit = np.clip(0.5 + values / (2 * limit), 0.0, 1.0)
        if self.rgb:
            return (unit * 255 + 0.5).astype(np.uint8)
        return rs.apply_colormap(unit, "diverging")

    def scale_words(self, delta: bool) -> str:
        """The strip's scale as its label writes it: '±0.41', 'Δ ±0.032'."""
        return (
            f"Δ ±{format_value(self.delta_limit, 2)}"
            if delta
            else f"±{format_value(self.limit, 2)}"
        )


def select(run: Run, name: str, channel: str | int, first: bool) -> LayerKernels:
    """Read a layer's kernels at every snapshot and reduce each to what one tile shows."""
    stream = schema.weights(name)
    count = run.count(stream)
    picks = np.unique(np.linspace(0, count - 1, min(count, MAX_SNAPSHOTS)).round().astype(int))
    final = run.read(stream, -1).astype(np.float32)
    out, inputs = final.shape[:2]
    rgb = first and inputs == 3
    if isinstance(channel, int) and not 0 <= channel < inputs:
        raise NnreelError(
            f"channel={channel}: {name} has {inputs} input channels (0 … {inputs - 1})."
        )
    if rgb:
        what = "RGB: input channels as colours (grey = 0)"
    elif inputs == 1:
        what = "its single input channel"
    elif channel == "strongest":
        what = "each kernel's strongest input channel"
    elif channel == "mean":
        what = f"mean over its {inputs} input channels"
    else:
        what = f"input channel {channel} of {inputs}"
    strongest = np.linalg.norm(final.reshape(out, inputs, -1), axis=2).argmax(axis=1)

    def reduce(w: np.ndarray) -> np.ndarray:
        if rgb:
            return np.moveaxis(w, 1, -1)  # [out, kh, kw, 3]
        if inputs == 1 or channel == "strongest":
            return w[np.arange(out), strongest if inputs > 1 else 0]
        if channel == "mean":
            return w.mean(axis=1)
        return w[:, channel]

    shown = np.stack([reduce(run.read(stream, int(i)).astype(np.float32)) for i in picks])
    limit = float(np.percentile(np.abs(shown), CLIP_PERCENTILE)) or 1.0
    steps = run.steps(stream)[picks]
    start = run.read(stream, 0).astype(np.float32)
    moved = float(np.linalg.norm(final - start) / (np.linalg.norm(start) or 1.0))
    change = float(np.percentile(np.abs(shown - shown[0]), CLIP_PERCENTILE)) or limit
    return LayerKernels(name, shown, steps, limit, rgb, what, tuple(final.shape), moved, change)


def scale_room(kernels: LayerKernels) -> float:
    """The width of the longer scale a strip's label writes (the weights', or their change's)."""
    return max(
        theme.text(kernels.scale_words(delta), theme.SMALL, theme.MUTED).width
        for delta in (False, True)
    )


def kernel_shape(kernels: LayerKernels) -> str:
    """'64 kernels of 3×3×32', as the strip labels say it."""
    out, inputs, kh, kw = kernels.shape
    return f"{out} kernels of {kh}×{kw}×{inputs}"


def tile_pad(scale: int) -> int:
    """Pixels between tiles: half a kernel pixel, so tiles read as separate."""
    return max(1, scale // 2)


def strip_layout(count: int, kh: int, kw: int, width: int, height: int) -> tuple[int, int, int]:
    """(rows, cols, scale): the largest whole-pixel kernel scale at which ``count`` tiles of
    kh×kw, ``tile_pad`` apart, fit a width × height pixel strip (fewest empty cells on ties)."""
    best = (1, count, 1)
    for rows in range(1, count + 1):
        cols = -(-count // rows)
        scale = 1
        for s in range(max(width, height), 0, -1):
            pad = tile_pad(s)
            if cols * (kw * s + pad) + pad <= width and rows * (kh * s + pad) + pad <= height:
                scale = s
                break
        if scale > best[2] or (scale == best[2] and rows * cols < best[0] * best[1]):
            best = (rows, cols, scale)
    return best


class Kernels(RunScene):
    """The first conv of every block, kernel by kernel, over training; then the first layer up
    close."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "layers": Names(
            None,
            "comma-separated conv layers, at most 12 (default: those recorded, 12 of them "
            "evenly spread when there are more)",
        ),
        "channel": Choice(
            "strongest",
            "which input channel of each kernel: the strongest, the mean, or an index (e.g. 0)",
            choices=("strongest", "mean"),
            or_index=True,
        ),
        "seconds": Number(6.0, "how many seconds training takes to unfold", at_least=0),
        "view": Choice(
            "both",
            "the weights over training, their change from initialisation (delta), or both",
            choices=("both", "weights", "delta"),
        ),
    }

    def construct(self) -> None:
        s = self.settings
        recorded = conv_weight_layers(self.run, s["layers"])
        layers = spread(recorded, MAX_STRIPS)
        first = next((i.name for i in self.run.layers if i.kind == "conv"), None)
        self.kernels = [select(self.run, n, s["channel"], n == first) for n in layers]
        self.steps = self.kernels[0].steps
        self.add_header()
        first_k, last_k = self.kernels[0], self.kernels[-1]
        span = f"{first_k.name} ({kernel_shape(first_k)})"
        if len(self.kernels) > 1:
            of = f" of the {len(recorded)} recorded" if len(recorded) > len(layers) else ""
            span = f"{len(self.kernels)}{of} conv layers, {first_k.name} to {last_k.name}"
        self.caption(f"Every kernel of {span}; blue < 0 < red.")
        delta = s["view"] == "delta"
        sheet, labels = self.strips(delta)
        if s["view"] != "delta":
            self.caption("The same kernels over training, each layer on its own ± scale.")
            self.evolve(sheet, delta=False)
            self.key_moment("after training")
        if s["view"] != "weights":
            if not delta:
                self.show_change(sheet, labels)
            self.evolve(sheet, delta=True)
            self.caption(self.moved_words())
            self.hold(IDEA)
            self.key_moment("change from initialisation")
        self.caption(
            f"{first_k.name} up close: {kernel_shape(first_k)}, before and after training, "
            "and the change."
        )
        self.close_up(sheet, labels)
        self.hold(IDEA)
        self.key_moment(f"{first_k.name} up close")

    def moved_words(self) -> str:
        """How far training moved each layer, relative to its start."""
        if len(self.kernels) == 1:
            only = self.kernels[0]
            return f"{only.name} moved {theme.percent(only.moved)} from its start."
        moved = [f"{k.name} {theme.percent(k.moved)}" for k in self.kernels]
        if len(moved) > 3:
            moved = [moved[0], f"… {moved[-1]}"]
        return f"Each layer moved from its start by {', '.join(moved)}."

    def show_change(self, sheet, labels: Group) -> None:
        """From the weights to their change since initialisation: the same tiles, each layer
        on the scale of its own change, starting from zero."""
        self.caption("Now the change from initialisation, W − W₀, each layer on its own scale.")
        self.set_scales(labels, delta=True)
        set_pixels(sheet, self.sheet_pixels(0, delta=True))
        self.counter.set_step(int(self.steps[0]))
        self.hold(BEAT)

    # -- the strips -----------------------------------------------------------------------
    def add_header(self) -> None:
        head = fitted_title(
            f"Kernels  ·  {model_name(self.run)}",
            [
                "first conv of each block, every kernel",
                "initialisation → end of training",
                f"run {self.run.name}",
            ],
            TITLE_WIDTH,
        )
        self.counter = self.step_counter(int(self.steps[0]))
        legend = ColorBar(
            "diverging",
            low="−",
            high="+",
            title=f"weight: blue < 0 < red ({theme.ZERO_WORD} = 0), ± as labelled",
            length=3.2,
        )
        legend.to_corner(DOWN + RIGHT, buff=theme.MARGIN)
        self.legend, self.head = legend, head
        self.add(head, self.counter, legend)

    def geometry(self) -> list[tuple[float, float, int, int, int]]:
        """Per strip: (top y, height, rows, cols, scale) in frame units / pixels."""
        n = len(self.kernels)
        bottom = self.band_top + 0.1
        height = (SHEET[3] - bottom - STRIP_GAP * (n - 1)) / n
        width_px = int((SHEET[1] - self.sheet_left) * PIXELS_PER_UNIT)
        out = []
        for i, k in enumerate(self.kernels):
            kh, kw = k.shape[2:4]
            rows, cols, scale = strip_layout(
                k.shape[0], kh, kw, width_px, int(height * PIXELS_PER_UNIT)
            )
            out.append((SHEET[3] - i * (height + STRIP_GAP), height, rows, cols, scale))
        return out

    def sheet_pixels(self, snapshot: int, delta: bool = False) -> np.ndarray:
        """Every strip at one snapshot (its weights, or their change) in one raster."""
        geometry = self.geometry_cache
        width_px = int((SHEET[1] - self.sheet_left) * PIXELS_PER_UNIT)
        height_px = int((SHEET[3] - geometry[-1][0] + geometry[-1][1]) * PIXELS_PER_UNIT)
        sheet = np.empty((height_px, width_px, 3), dtype=np.uint8)
        sheet[:] = rs.hex_rgb(theme.BACKGROUND)
        for k, (top, _, rows, cols, scale) in zip(self.kernels, geometry, strict=True):
            grid = rs.tile(
                k.tiles(snapshot, delta),
                rows=rows,
                cols=cols,
                scale=scale,
                pad=scale // 2 + 1,
                background=rs.hex_rgb(theme.PANEL),
            )
            y = int((SHEET[3] - top) * PIXELS_PER_UNIT)
            h, w = min(grid.shape[0], height_px - y), min(grid.shape[1], width_px)
            sheet[y : y + h, :w] = grid[:h, :w]
        return sheet

    def strips(self, delta: bool) -> tuple[object, Group]:
        notes = Group(
            *(theme.text(f"{who}: {what}", theme.SMALL, theme.MUTED) for who, what in self._notes())
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.06)
        notes.to_corner(DOWN + LEFT, buff=theme.MARGIN)
        # The strips end above the notes and the legend (stacked, the legend over the notes,
        # when they would meet side by side), and start right of their labels.
        if notes.get_right()[0] > self.legend.get_left()[0] - 0.3:
            self.legend.next_to(notes, UP, buff=0.1).to_edge(RIGHT, buff=theme.MARGIN)
        self.band_top = max(self.legend.get_top()[1], notes.get_top()[1])
        pitch = (SHEET[3] - self.band_top - 0.1 + STRIP_GAP) / len(self.kernels)
        labels = Group(*(self.strip_label(k, delta) for k in self.kernels))
        if labels[0].height > pitch - STRIP_GAP:  # many strips: a line each, shapes in a column
            labels = Group(*(self.strip_label(k, delta, one_line=True) for k in self.kernels))
            column = max(label[1].get_left()[0] - label.get_left()[0] for label in labels)
            for label in labels:
                label[1].shift((column - label[1].get_left()[0] + label.get_left()[0]) * RIGHT)
        pairs = zip(self.kernels, labels, strict=True)
        widest = max(self.label_width(k, label) for k, label in pairs)
        self.sheet_left = max(SHEET[0], -6.75 + widest + 0.15)
        self.geometry_cache = self.geometry()
        pixels = self.sheet_pixels(0, delta)
        sheet = raster_image(pixels, width=SHEET[1] - self.sheet_left)
        sheet.move_to([self.sheet_left, SHEET[3], 0], aligned_edge=UP + LEFT)
        for label, (top, *_) in zip(labels, self.geometry_cache, strict=True):
            label.move_to([-6.75, top, 0], aligned_edge=UP + LEFT)
        # Cuts, not fades: a fading raster this large is re-blended on every frame.
        self.add(sheet, labels, notes)
        self.notes = notes
        self.hold(IDEA)
        self.key_moment("at initialisation")
        return sheet, labels

    @staticmethod
    def strip_label(k: LayerKernels, delta: bool, one_line: bool = False) -> Group:
        """The layer's name and scale (``[0][1]``, rewritten by ``set_scales``), then its
        shape: below them, or after them on one line, past the longer scale's room."""
        out, inputs, kh, kw = k.shape
        scale = theme.text(k.scale_words(delta), theme.SMALL, theme.MUTED)
        head = Group(theme.text(k.name, theme.LABEL, weight="BOLD"), scale)
        head.arrange(RIGHT, buff=0.15, aligned_edge=DOWN)
        shape = theme.text(f"{out} × {kh}×{kw}×{inputs}", theme.SMALL, theme.MUTED)
        if not one_line:
            return Group(head, shape).arrange(DOWN, aligned_edge=LEFT, buff=0.02)
        shape.next_to(scale, RIGHT, buff=0.25).align_to(scale, DOWN)
        shape.shift((scale_room(k) - scale.width) * RIGHT)
        return Group(head, shape)

    @staticmethod
    def label_width(k: LayerKernels, label: Group) -> float:
        """How wide a strip's label gets with either of its scales written."""
        scale = label[0][1]
        reach = max(label.get_right()[0], scale.get_left()[0] + scale_room(k))
        return reach - label.get_left()[0]

    def set_scales(self, labels: Group, delta: bool) -> None:
        """Each strip's label writes the scale its tiles are on."""
        for k, label in zip(self.kernels, labels, strict=True):
            label[0][1].set_text(k.scale_words(delta))

    def _notes(self) -> list[tuple[str, str]]:
        """What a tile shows, once per run of layers that show the same thing."""
        runs: list[tuple[list[str], str]] = []
        for k in self.kernels:
            if runs and runs[-1][1] == k.what:
                runs[-1][0].append(k.name)
            else:
                runs.append(([k.name], k.what))
        return [(f"{n[0]} … {n[-1]}" if len(n) > 1 else n[0], what) for n, what in runs]

    # -- over training --------------------------------------------------------------------
    def evolve(self, sheet, delta: bool) -> None:
        """Step through the snapshots (log-spaced: early training, where kernels change most,
        gets most of the time), one still frame each: the large sheet is composited once per
        snapshot, not once per video frame (measured faster than one long animation)."""
        pause = max(self.settings["seconds"], 0.5) / len(self.steps)
        for i, step in enumerate(self.steps):
            set_pixels(sheet, self.sheet_pixels(i, delta))
            self.counter.set_step(int(step))
            self.wait(1.0 if i == len(self.steps) - 1 else pause)

    # -- the first layer up close ---------------------------------------------------------
    def close_up(self, *strips) -> None:
        """The first layer's kernels at initialisation and at the end on the layer's scale,
        and the change between them on its own, larger-looking scale."""
        k = self.kernels[0]
        out, inputs, kh, kw = k.shape
        head = theme.caption(
            k.name,
            f"{out} kernels of {kh}×{kw}×{inputs}",
            f"{k.what}{theme.SEPARATOR}weights ±{format_value(k.limit, 2)}",
            width=theme.content_width(),
        )
        # Between the title (and this caption) and the legend: taller type, smaller panels.
        top = min(1.75, self.head.get_bottom()[1] - 0.3 - head.height - 0.3)
        panels = Group()
        for index, when, delta in (
            (0, "initialisation", False),
            (-1, "end of training", False),
            (-1, "change, end − start", True),
        ):
            tiles = k.tiles(index, delta)
            grid = rs.tile(tiles, aspect=1.0, scale=12, pad=4, background=rs.hex_rgb(theme.PANEL))
            step = int(k.steps[index])
            caption = Group(  # two short lines: three panels stand side by side in any type
                theme.text(when, theme.LABEL, weight="BOLD"),
                theme.text(
                    k.scale_words(delta) if delta else f"step {step:,}", theme.SMALL, theme.MUTED
                ),
            ).arrange(DOWN, aligned_edge=LEFT, buff=0.04)
            room = top - caption.height - 0.15 - (self.legend.get_top()[1] + 0.15)
            image = raster_image(grid, height=min(3.2, room))
            if image.width > 3.9:
                image.width = 3.9
            panels.add(Group(caption, image).arrange(DOWN, aligned_edge=LEFT, buff=0.15))
        panels.arrange(RIGHT, buff=0.5, aligned_edge=UP)
        panels.move_to([0, top, 0], aligned_edge=UP)
        head.next_to(panels, UP, buff=0.3).align_to(panels, LEFT)
        self.remove(*strips, self.notes)
        if k.rgb:  # its tiles are colours of the input channels, not the blue–red scale
            self.remove(self.legend)
        self.add(panels, head)
