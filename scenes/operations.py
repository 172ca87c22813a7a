"""Operations: what a CNN's first layers do, once, with the run's real numbers — a 3×3 kernel
of the first conv sliding over a real probe image and writing its map pixel by pixel, the ReLU
clipping the negatives, and the first max-pool keeping the largest value of each 2×2 window.

The kernel, bias and input are the trained network's own (``engine.analysis.operations``: read
from the model's graph, its BatchNorm folded into the kernel, so Σ weight · input + bias is the
network's real pre-ReLU value), for nnreel's networks, torchvision's and a user's own alike; a
few positions are worked through number by number, then the kernel sweeps the rest fast. The
finished map after the ReLU is compared with the activation the run recorded, and the pooled
map with the recorded pool output. A run whose first pool is no max-pool over separate windows
(or that has none) ends after the ReLU.

    manim scenes/operations.py                               # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/operations.py
    NNREEL_SET="image=5 channel=3" manim -ql scenes/operations.py

Options (``NNREEL_SET`` or ``python -m engine render operations --set KEY=VALUE``): see
``Operations.options``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, FadeIn, Group, ImageMobject

from engine.analysis.operations import Convolution, Pooling, first_conv, first_pool
from engine.scenekit import (
    ColorBar,
    Number,
    Option,
    RunScene,
    dataset_name,
    layout,
    model_name,
    pick_image,
    raster_image,
    set_pixels,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title, format_value
from engine.scenekit.pacing import BEAT, IDEA
from engine.scenekit.replay import animate
from engine.scenekit.sliding import NumberGrid, SlidingWrite, cell_box
from engine.store import schema

LEFT_X, RIGHT_X, MIDDLE_X = -4.55, 4.55, 0.0
"""Centres of the input, the output and the numbers between them (frame units)."""
MAP_HEIGHT = 3.9
MAP_Y = -0.25
STEP = 2.6
"""Seconds on each position worked through by hand."""
SWEEP = 5.0
"""Seconds the kernel takes over every other position."""


def conv_writer(conv: Convolution) -> SlidingWrite:
    """The convolution's map as the animation writes it: Σ w·x + b at each position."""
    return SlidingWrite(conv.shape, conv.value_at)


def under(key: ColorBar, image: ImageMobject) -> ColorBar:
    """A colour key under its picture, moved in from the frame's margin if its end labels
    (wider in large type) would reach it."""
    key.next_to(image, DOWN, buff=0.3)
    limit = theme.frame_width() / 2 - theme.MARGIN
    return key.shift(
        RIGHT * (max(0.0, -limit - key.get_left()[0]) - max(0.0, key.get_right()[0] - limit))
    )


def pool_writer(pooling: Pooling) -> SlidingWrite:
    """The pooled map as the animation writes it: the largest value of each window."""
    return SlidingWrite(pooling.recorded.shape, lambda r, c: float(pooling.window(r, c).max()))


class Operations(RunScene):
    """The first conv's kernel sliding over a real image, the ReLU, and max-pooling, with real
    numbers."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "image": Number(None, "a probe image index (0 = the first)", at_least=0, whole=True),
        "channel": Number(
            None,
            "the first conv's output channel (default: the one the ReLU clips most visibly)",
            at_least=0,
            whole=True,
        ),
        "pool_channel": Number(
            None, "the pooled channel (default: its input's most active)", at_least=0, whole=True
        ),
    }

    def construct(self) -> None:
        s = self.settings
        self.index = pick_image(self.run, s["image"])
        self.conv = first_conv(self.run, self.index, s["channel"])
        pooling = first_pool(self.run, self.index, s["pool_channel"])
        self.add_header("Convolution, ReLU, max pooling" if pooling else "Convolution and ReLU")
        self.convolve()
        self.relu(clear=pooling is not None)
        if pooling is not None:
            self.pool(pooling)

    # -- the fixed parts ----------------------------------------------------------------------
    def add_header(self, title: str) -> None:
        conv = self.conv
        head = fitted_title(
            title,
            [
                model_name(self.run),
                f"the real numbers of {conv.layer}, channel {conv.channel}",
                f"probe image {self.index} ({dataset_name(self.run)})",
                f"run {self.run.name}",
            ],
            TITLE_WIDTH,
        )
        self.add(head, self.step_counter(int(self.run.steps(schema.acts(conv.layer))[-1])))
        self.caption(
            f"How {conv.layer} computes channel {conv.channel} of its output from one real image."
        )
        self.play(FadeIn(head), run_time=0.5)

    def class_name(self) -> str:
        label = int(self.run.read(schema.PROBE_LABELS, 0)[self.index])
        return str(self.run.classes[label]) if label < len(self.run.classes) else str(label)

    # -- the convolution ----------------------------------------------------------------------
    def convolve(self) -> None:
        conv = self.conv
        self.input_reach = float(np.abs(conv.padded).max()) or 1.0
        self.z_reach = float(np.abs(conv.pre).max()) or 1.0
        picture = raster_image(self.input_pixels(), height=MAP_HEIGHT)
        picture.move_to([LEFT_X, MAP_Y, 0])
        written = conv_writer(conv)
        self.written = written
        out = raster_image(self.output_pixels(), height=MAP_HEIGHT * self.output_share())
        out.move_to([RIGHT_X, MAP_Y, 0])
        kh, kw = conv.kernel.shape[1:]
        window = cell_box(picture, conv.padded.shape[1:], 0, 0, (kh, kw))
        pixel = cell_box(out, conv.shape, 0, 0)
        labels = Group(
            self.map_label(picture, "input", f"{conv.input_words}, padding {conv.padding}"),
            self.map_label(out, f"{conv.layer}, channel {conv.channel}", "Σ w·x + b, before ReLU"),
        )
        keys = Group(under(self.input_key(), picture), under(self.pre_key(), out))
        self.add(picture, out, labels, keys)
        self.hold(BEAT)
        table = self.arithmetic(kh, kw)
        self.caption(self.kernel_words())
        self.add(table, window, pixel)
        self.hold(IDEA)
        self.key_moment("the kernel")
        for row, col in conv.slow_positions():
            self.work_through(picture, out, window, pixel, row, col)
        self.caption(f"The kernel slides over all {conv.pre.size:,} positions the same way.")
        self.sweep(picture, out, window, pixel)
        self.remove(window, pixel)
        self.hold(BEAT)
        self.key_moment("convolution")
        self.stage = (picture, out, labels, keys, table)

    def output_share(self) -> float:
        """The output map's height relative to the padded input's (same size per pixel)."""
        return self.conv.shape[0] / self.conv.padded.shape[1]

    def input_pixels(self) -> np.ndarray:
        """The padded input in grey, −reach black to +reach white (the padding's 0 mid-grey),
        or 0 black to +reach white when nothing goes below 0 (raw pixels); a multi-channel
        input as its channel mean."""
        x = self.conv.padded.mean(axis=0)
        unit = 0.5 + x / (2 * self.input_reach) if self.input_signed else x / self.input_reach
        return rs.apply_colormap(np.clip(unit, 0.0, 1.0), "gray")

    @property
    def input_signed(self) -> bool:
        return bool((self.conv.padded < 0).any())

    def output_pixels(self, post: bool = False) -> np.ndarray:
        """The written map: pre-ReLU values on a diverging scale centred on zero (±the map's
        largest |z|), unwritten pixels blank."""
        reach = self.z_reach

        def colours(values: np.ndarray) -> np.ndarray:
            shown = np.maximum(values, 0.0) if post else values
            return rs.apply_colormap(np.clip(0.5 + shown / (2 * reach), 0.0, 1.0), "diverging")

        return self.written.pixels(colours, rs.hex_rgb(theme.PANEL))

    def map_label(self, image: ImageMobject, name: str, details: str) -> Group:
        label = Group(
            theme.text(name, theme.BODY, weight="BOLD"),
            theme.text(details, theme.SMALL, theme.MUTED),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.04)
        label.next_to(image, UP, buff=0.15, aligned_edge=LEFT)
        over = label.get_right()[0] - (theme.frame_width() / 2 - theme.MARGIN)
        return layout.names(label.shift(LEFT * max(0.0, over)), image)

    def input_key(self) -> ColorBar:
        reach = format_value(self.input_reach, 2)
        low = f"−{reach}" if self.input_signed else "0"
        return ColorBar("gray", low=low, high=f"+{reach}", title="input x", length=2.0)

    def pre_key(self) -> ColorBar:
        reach = format_value(self.z_reach, 3)
        return ColorBar("diverging", low=f"−{reach}", high=f"+{reach}", title="z", length=2.0)

    def kernel_words(self) -> str:
        conv = self.conv
        kh, kw = conv.kernel.shape[1:]
        folded = " with its BatchNorm folded in" if conv.batchnorm else ""
        return f"Its {kh}×{kw} kernel{folded}, and bias b = {conv.bias:+.2f}."

    def arithmetic(self, kh: int, kw: int) -> Group:
        """The middle column: the window's inputs, the kernel's weights, and their sum."""
        conv = self.conv
        self.inputs = NumberGrid(kh, kw, 0.95, theme.LABEL)
        self.weights = NumberGrid(kh, kw, 0.95, theme.LABEL)
        self.weights.show(conv.kernel[0])
        channels = conv.kernel.shape[0]
        which = f", channel 0 of {channels}" if channels > 1 else ""
        heads = (
            theme.text(f"x: the window{which}", theme.SMALL, theme.MUTED),
            theme.text("w: the kernel", theme.SMALL, theme.MUTED),
        )
        self.total = theme.text("Σ w·x + b = +0.00", theme.BODY, theme.ACCENT, mono=True)
        self.where = theme.text("row 0, column 0", theme.SMALL, theme.MUTED)
        column = Group(
            heads[0], self.inputs, theme.text("×", theme.BODY), heads[1], self.weights,
            self.total, self.where,
        ).arrange(DOWN, buff=0.16)  # fmt: skip
        return column.move_to([MIDDLE_X, MAP_Y + 0.1, 0])

    def show_position(self, row: int, col: int, value: float | None) -> None:
        self.inputs.show(self.conv.window(row, col)[0])
        self.where.set_text(f"output row {row}, column {col}", keep=np.zeros(3))
        shown = "+?" if value is None else f"{value:+.2f}"
        self.total.set_text(f"Σ w·x + b = {shown}", keep=np.zeros(3))

    def move_marks(self, picture, out, window, pixel, row: int, col: int) -> list:
        kh, kw = self.conv.kernel.shape[1:]
        target = cell_box(picture, self.conv.padded.shape[1:], row, col, (kh, kw))
        spot = cell_box(out, self.conv.shape, row, col)
        return [window.animate.move_to(target), pixel.animate.move_to(spot)]

    def work_through(self, picture, out, window, pixel, row: int, col: int) -> None:
        """One position by hand: the window moves there, its numbers show, then the sum, and
        the output pixel is written."""
        self.play(*self.move_marks(picture, out, window, pixel, row, col), run_time=BEAT)
        self.show_position(row, col, None)
        self.wait(BEAT)
        value = self.written.write(row, col)
        self.show_position(row, col, value)
        set_pixels(out, self.output_pixels())
        self.caption(
            f"At row {row}, column {col}: 9 products summed, plus b, give {value:+.2f}."
            if self.conv.kernel.size == 9
            else f"At row {row}, column {col}: {self.conv.kernel.size} products, plus b: "
            f"{value:+.2f}."
        )
        self.hold(STEP - BEAT)

    def sweep(self, picture, out, window, pixel) -> None:
        """Every other position in raster order, fast: the window and the written pixels
        follow the count of positions done."""
        total = self.conv.pre.size
        start = self.written.done
        moving = Group(out, window, pixel, self.inputs, self.total, self.where)

        def frame(t: float) -> None:
            count = start + round((total - start) * min(1.0, t / SWEEP))
            last = self.written.write_until(count)
            if last is None:
                return
            set_pixels(out, self.output_pixels())
            row, col = last
            kh, kw = self.conv.kernel.shape[1:]
            window.move_to(cell_box(picture, self.conv.padded.shape[1:], row, col, (kh, kw)))
            pixel.move_to(cell_box(out, self.conv.shape, row, col))
            self.show_position(row, col, float(self.written.values[row, col]))

        animate(self, moving, SWEEP, frame)

    # -- the ReLU -----------------------------------------------------------------------------
    def relu(self, clear: bool) -> None:
        """The ReLU on the finished map; ``clear`` the stage after it for what follows."""
        conv = self.conv
        picture, out, labels, keys, table = self.stage
        clipped = int((conv.pre < 0).sum())
        self.remove(*table.submobjects)  # the sweep regrouped some of them
        rule = Group(
            theme.text("ReLU", theme.HEADING, weight="BOLD"),
            theme.text("max(0, z)", theme.BODY, theme.ACCENT, mono=True),
            theme.text(f"{clipped:,} of {conv.pre.size:,} values < 0", theme.SMALL, theme.MUTED),
        ).arrange(DOWN, buff=0.15)
        self.add(rule.move_to([MIDDLE_X, MAP_Y, 0]))
        self.caption(f"The ReLU sets the {clipped:,} negative values to 0; the rest pass.")
        self.hold(BEAT)
        before, after = self.output_pixels(), self.output_pixels(post=True)

        def fade(t: float) -> None:
            share = min(1.0, t / BEAT)
            set_pixels(out, (before * (1 - share) + after * share).round().astype(np.uint8))

        animate(self, Group(out), BEAT, fade)
        self.hold(IDEA - BEAT)
        top = float(conv.post.max())
        viridis = rs.apply_colormap(np.clip(conv.post / (top or 1.0), 0.0, 1.0), "viridis")
        set_pixels(out, viridis)
        gap = float(np.abs(conv.post - conv.recorded).max())
        self.remove(keys[1], labels[1])
        key = ColorBar(
            "viridis", low="0", high=format_value(top, 3), title="after ReLU", length=2.0
        )
        name = self.map_label(out, f"{conv.layer}, channel {conv.channel}", "after the ReLU")
        self.add(under(key, out), name)
        self.caption(
            f"This is the recorded {conv.layer} map: they differ by at most {gap:.1g} (fp16)."
        )
        self.hold(IDEA)
        self.key_moment("ReLU")
        if clear:
            self.remove(picture, out, name, keys[0], key, labels[0], rule)

    # -- max pooling --------------------------------------------------------------------------
    def pool(self, pooling: Pooling) -> None:
        size, before = pooling.size, pooling.before
        top = float(before.max()) or 1.0

        def colours(values: np.ndarray) -> np.ndarray:
            return rs.apply_colormap(np.clip(values / top, 0.0, 1.0), "viridis")

        source = raster_image(colours(before), height=MAP_HEIGHT).move_to([LEFT_X, MAP_Y, 0])
        written = pool_writer(pooling)
        share = pooling.recorded.shape[0] / before.shape[0]
        blank = rs.hex_rgb(theme.PANEL)
        out = raster_image(written.pixels(colours, blank), height=MAP_HEIGHT * share)
        out.move_to([RIGHT_X, MAP_Y, 0])
        labels = Group(
            self.map_label(source, f"{pooling.source}, channel {pooling.channel}", "as recorded"),
            self.map_label(out, pooling.layer, f"max of each {size}×{size} window"),
        )
        key = ColorBar(
            "viridis", low="0", high=format_value(top, 3), title="activation", length=2.0
        )
        under(key, source)
        self.inputs = NumberGrid(size, size, 1.1, theme.BODY)
        self.total = theme.text("max = +0.00", theme.BODY, theme.ACCENT, mono=True)
        self.where = theme.text("output row 0, column 0", theme.SMALL, theme.MUTED)
        column = Group(
            theme.text(f"the {size}×{size} window", theme.SMALL, theme.MUTED),
            self.inputs,
            self.total,
            self.where,
        ).arrange(DOWN, buff=0.2)
        column.move_to([MIDDLE_X, MAP_Y, 0])
        window = cell_box(source, before.shape, 0, 0, (size, size))
        pixel = cell_box(out, pooling.recorded.shape, 0, 0)
        self.caption(
            f"{pooling.layer} keeps the largest value of each {size}×{size} window of "
            f"{pooling.source}."
        )
        self.show_window(pooling, 0, 0, None)  # the first window's real values, max unknown
        self.add(source, out, labels, key, column, window, pixel)
        self.hold(BEAT)
        h, w = pooling.recorded.shape
        picks = sorted({(0, 0), np.unravel_index(int(np.argmax(pooling.recorded)), (h, w))})
        for row, col in [(int(r), int(c)) for r, c in picks]:
            self.play(
                window.animate.move_to(cell_box(source, before.shape, row * size, col * size,
                                                (size, size))),
                pixel.animate.move_to(cell_box(out, (h, w), row, col)),
                run_time=BEAT,
            )  # fmt: skip
            self.show_window(pooling, row, col, None)
            self.wait(BEAT)
            value = written.write(row, col)
            self.show_window(pooling, row, col, value)
            set_pixels(out, written.pixels(colours, blank))
            self.caption(f"Row {row}, column {col}: the largest of the 4 is {value:.2f}.")
            self.hold(STEP - BEAT)

        def frame(t: float) -> None:
            last = written.write_until(round(h * w * min(1.0, t / SWEEP)))
            if last is None:
                return
            set_pixels(out, written.pixels(colours, blank))
            row, col = last
            window.move_to(cell_box(source, before.shape, row * size, col * size, (size, size)))
            pixel.move_to(cell_box(out, (h, w), row, col))
            self.show_window(pooling, row, col, float(written.values[row, col]))

        self.caption(f"Every window the same way: {before.shape[0]}×{before.shape[1]} → {h}×{w}.")
        animate(self, Group(out, window, pixel, column), SWEEP, frame)
        self.remove(window, pixel)
        same = np.array_equal(written.values, pooling.recorded)
        self.hold()
        self.caption(
            f"The same values as the recorded {pooling.layer} map."
            if same
            else f"The recorded {pooling.layer} map differs by "
            f"{np.abs(written.values - pooling.recorded).max():.2g}."
        )
        self.hold(IDEA)
        self.key_moment("max pooling")

    def show_window(self, pooling: Pooling, row: int, col: int, value: float | None) -> None:
        window = pooling.window(row, col)
        self.inputs.show(window)
        winner = pooling.winner(row, col)
        local = (winner[0] - row * pooling.size) * pooling.size + winner[1] - col * pooling.size
        self.inputs.mark(set() if value is None else {local})
        self.where.set_text(f"output row {row}, column {col}", keep=np.zeros(3))
        self.total.set_text("max = ?" if value is None else f"max = {value:+.2f}", keep=np.zeros(3))
