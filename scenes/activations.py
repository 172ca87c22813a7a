"""Activations: seed 004's figure, animated — one real test image walked through a CNN layer by
layer, every channel of every conv (after its ReLU) and pool in one grid, darker green =
stronger; then the dense layers and the ten class probabilities, the top two named.

A small diagram of the network at the bottom lights the layer on screen; each grid grows out
of its layer in the diagram and shrinks back into it, and on every conv layer one channel is
picked out (zoomed in, the others dimmed). Each grid is one raster at the frame's own pixel size
(integer upscaling, so every map pixel is a crisp square); a pool keeps its conv's grid and
pixel size, so the maps visibly halve in place. Small or flat maps share one colour scale per
layer, its maximum on the legend. Maps that go below zero (no ReLU after them, e.g. a residual
branch before its add) are drawn on a diverging scale centred on zero, blue negative and red
positive. Channels that are zero everywhere on this image get a red frame.

    manim scenes/activations.py                          # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/activations.py
    NNREEL_SET="cmap=viridis norm=layer image=2" manim -ql scenes/activations.py

Options (``NNREEL_SET`` or ``python -m engine render activations --set KEY=VALUE``): see
``Activations.options``. Works on any CNN run: seed 004's network is
``python -m engine train vggcifar-cifar10 --download``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    FadeIn,
    Group,
    ImageMobject,
    Mobject,
    VMobject,
)

from engine.errors import RunError
from engine.scenekit import (
    KIND_WORDS,
    MAP_KINDS,
    Choice,
    ColorBar,
    Flag,
    Image,
    Number,
    Option,
    ProbabilityBars,
    RunScene,
    dataset_name,
    example_words,
    focus,
    model_name,
    output_words,
    pick_image,
    pixels_per_unit,
    raster_image,
    scale_ends,
    subject_words,
    theme,
    truth_words,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title, format_value
from engine.scenekit.label import Label
from engine.scenekit.layers import LIT_COLOURS, Diagram, layout
from engine.scenekit.pacing import BEAT, IDEA
from engine.store import LayerInfo, Run, schema
from engine.store.schema import BOX_KINDS, HIDDEN_VECTOR_KINDS, MERGE_KINDS

NORMS = ("channel", "layer")

# Layout in frame units (the frame is about 14.2 × 8).
PANEL = (-3.95, 6.75, -2.5, 1.9)
"""Left, right, bottom, top of the grid panel."""
SPLIT = 2.2
"""Where the probability bars begin in the last part."""
INPUT_X = -5.5
DIAGRAM = (-3.2, 0.95)
"""Centre line and height of the network diagram at the bottom."""
FOCUS_HEIGHT = 3.2
"""Height of a channel picked out (frame units)."""


@dataclass
class Grid:
    """One layer as drawn: its raster and the numbers its caption reports."""

    info: LayerInfo
    image: np.ndarray
    count: int
    shown: int
    rows: int
    cols: int
    scale: int
    silent: int
    scaled: rs.Scaled
    pad: int
    channels: np.ndarray
    """The channels shown, in grid order."""

    @property
    def scaling(self) -> str:
        return self.scaled.label


def walked_layers(run: Run) -> list[LayerInfo]:
    """Every recorded conv and pool layer with maps, then the recorded global-pool and dense
    layers after them, in network order (the logits end the walk as probabilities)."""
    shown = [
        info
        for info in run.layers
        if run.has(schema.acts(info.name))
        and (
            (info.kind in MAP_KINDS and len(info.output_shape) == 3)
            or info.kind in HIDDEN_VECTOR_KINDS
        )
    ]
    if not any(info.kind in MAP_KINDS for info in shown):
        raise RunError(
            f"Run {run.name!r} ({model_name(run)} on {dataset_name(run)}) recorded no feature "
            "maps: Activations needs a CNN run with the activations of its conv layers "
            "(streams acts/<layer>). Show a CNN run, e.g. NNREEL_RUN=smallcnn-synth, or train "
            "one: python -m engine train vgg16-synth"
        )
    return shown


def faces(part: Mobject) -> list[VMobject]:
    """The filled shapes of a diagram part (box faces, neurons), not its text."""
    return [m for m in part.family_members_with_points() if isinstance(m, VMobject)]


def top_two(probs: np.ndarray) -> tuple[int, int]:
    order = rs.ranked(probs)
    return int(order[0]), int(order[1])


def validation_words(run: Run) -> str | None:
    """'97.8% of the validation images right after epoch 2' from the run's last evaluation
    (None when it recorded none)."""
    if not run.has(schema.VAL_ACC) or not len(steps := run.steps(schema.VAL_ACC)):
        return None
    step, per_epoch = int(steps[-1]), run.manifest["progress"].get("steps_per_epoch") or 0
    when = (
        "untrained"
        if step == 0
        else f"after epoch {round(step / per_epoch)}"
        if per_epoch
        else f"after step {step:,}"
    )
    return f"{theme.percent(run.read(schema.VAL_ACC, -1))} of the validation images right {when}"


class Activations(RunScene):
    """One test image through every layer of a recorded CNN, ending with its prediction."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "image": Image(None, "a probe image index (0 = the first) or an image file"),
        "cmap": Choice(
            "greens",
            "colour map (seed 004's greens: darker = stronger)",
            choices=("greens", "viridis", "gray"),
        ),
        "norm": Choice(
            "auto",
            "one colour scale per layer where maps are small or flat (auto), every map its own "
            "max (channel), or always the layer's (layer)",
            choices=("auto", "channel", "layer"),
        ),
        "maps": Number(
            0, "show at most this many channels per layer (0: all)", at_least=0, whole=True
        ),
        "hold": Number(1.0, "seconds each whole layer stays on screen", above=0),
        "focus": Flag(True, "pick out one channel of each conv layer (zoom in, dim the rest)"),
    }

    def construct(self) -> None:
        s = self.settings
        self.layers = walked_layers(self.run)
        self.index = pick_image(self.run, s["image"])
        self.label = int(self.run.read(schema.PROBE_LABELS, 0)[self.index])
        self.add_frame()
        last = self.walk()
        self.prediction(last)

    # -- the fixed parts ----------------------------------------------------------------------
    def add_frame(self) -> None:
        step = int(self.run.steps(schema.acts(self.layers[0].name))[-1])
        head = fitted_title(
            f"Activations  ·  {model_name(self.run)}",
            [f"{subject_words(self.run)}, layer by layer", self.run.name],
            TITLE_WIDTH,
        )
        images = self.run.read(schema.PROBE_IMAGES, 0)
        picture = raster_image(rs.to_rgb(images[self.index]), height=2.0)
        picture.move_to([INPUT_X, 1.0, 0])
        above = theme.text("input", theme.HEADING, weight="BOLD").next_to(picture, UP, buff=0.2)
        below = Group(
            theme.text(theme.shape_text(images.shape[1:]), theme.LABEL, theme.MUTED),
            theme.text(truth_words(self.run, self.index), theme.LABEL, theme.GOOD),
        ).arrange(DOWN, buff=0.12)
        below.next_to(picture, DOWN, buff=0.2)
        self.below = below
        self.legend = self.color_bar()
        self.diagram = self.network()
        self.counter = self.step_counter(step)
        self.add(self.counter, picture, above, below, self.legend, self.diagram)
        self.caption(
            f"{example_words(self.run, self.index)} goes through the "
            f"{model_name(self.run)} layer by layer"
        )
        self.play(FadeIn(head), run_time=0.5)
        self.hold()

    def class_name(self, label: int) -> str:
        classes = self.run.classes
        return str(classes[label]) if label < len(classes) else str(label)

    def color_bar(self, grid: Grid | None = None) -> Group:
        """The legend under the input, saying how the layer on screen is scaled: to each map's
        own max, or to one value for the whole layer, written on the bar; from 0, or centred on
        zero (diverging) for maps that go below it."""
        layer = grid is not None and grid.scaled.shared
        centred = grid is not None and grid.scaled.centred
        top = format_value(float(grid.scaled.hi.max()), 3) if layer else "max"
        room = PANEL[0] - 0.2 - (theme.MARGIN - theme.frame_width() / 2)
        after = output_words(self.run, grid.info if grid is not None else self.layers[0])
        cmap, ends = "diverging" if centred else self.settings["cmap"], scale_ends(top, centred)
        for title in dict.fromkeys((f"activation {after}".strip(), "activation")):
            bar = ColorBar(cmap, title=title, length=min(2.3, room), **ends)
            if bar.width <= room:
                break
        reach = "±max" if centred else "max"
        scope = f"{reach}: one for the layer" if layer else f"{reach}: each map's own"
        note = theme.text(scope, theme.SMALL, theme.MUTED)
        legend = Group(bar, note.next_to(bar, DOWN, buff=0.08).align_to(bar, LEFT))
        legend.next_to(self.below, DOWN, buff=0.45).set_x(INPUT_X)
        overhang = theme.MARGIN - theme.frame_width() / 2 - legend.get_left()[0]
        return legend.shift(max(overhang, 0.0) * RIGHT)

    def network(self) -> Diagram:
        """The model's diagram, small, without labels: it only says where the walk is."""
        centre, height = DIAGRAM
        shape = self.run.model["input_shape"]
        slots = layout(self.run.layers, shape, width=13.2, height=height, class_names=False)
        diagram = Diagram(slots, y=centre)
        diagram.remove(diagram.labels, diagram.names)
        for part in diagram.parts:  # no ellipsis: too small to fit between the neurons here
            part.remove(*(m for m in part.submobjects if isinstance(m, Label)))
        diagram.shift((SPLIT - 0.4 - diagram.get_right()[0]) * RIGHT)  # clear of the verdict
        frame = diagram.parts[0]  # the input's slot: show the input itself in it
        image = rs.to_rgb(self.run.read(schema.PROBE_IMAGES, 0)[self.index])
        diagram.add(raster_image(image, height=frame.height).move_to(frame))
        self.rest_colours = {id(m): m.get_fill_color() for p in diagram.parts for m in faces(p)}
        return diagram

    def light(self, name: str | None) -> None:
        """Light the diagram's layer ``name`` (and dim the others), at once."""
        for slot, part in zip(self.diagram.slots, self.diagram.parts, strict=True):
            for k, face in enumerate(faces(part)):
                lit = LIT_COLOURS[min(k, 2)] if slot.kind in BOX_KINDS else theme.ACCENT
                face.set_fill(lit if slot.name == name else self.rest_colours[id(face)])

    # -- one grid per layer -------------------------------------------------------------------
    def grid(self, info: LayerInfo, previous: Grid | None) -> Grid:
        """All channels of a map layer (or all units of a vector layer, one tile each) as one
        raster sized for the frame. A pool reuses the grid and pixel size of its conv."""
        acts = self.activations(info.name)[self.index]
        vector = acts.ndim == 1
        maps = acts.reshape(-1, 1, 1) if vector else acts
        count = len(maps)
        limit = self.settings["maps"]
        channels = rs.top_k(maps, limit) if 0 < limit < count else np.arange(count)
        maps = maps[channels]
        if previous is not None and info.kind == "pool" and previous.count == count:
            rows, cols, scale = previous.rows, previous.cols, previous.scale
            pad = max(1, scale * maps.shape[1] // 16)
        else:
            width, height = PANEL[1] - PANEL[0], PANEL[3] - PANEL[2]
            if vector:
                width = SPLIT - PANEL[0] - 0.4
            h, w = maps.shape[1:]
            rows, cols = rs.grid_shape(len(maps), width / height, w / h)
            tile = min(width / cols, height / rows) * pixels_per_unit()
            scale, pad = rs.fit_scale(max(h, w), tile)
        pad = max(1, scale // 8) if vector else pad
        mode = rs.honest_mode(maps, "layer" if vector else self.settings["norm"])
        image, scaled = rs.feature_grid(
            maps,
            cmap=rs.mode_cmap(mode, self.settings["cmap"]),
            mode=mode,
            rows=rows,
            cols=cols,
            scale=scale,
            pad=pad,
            background=rs.hex_rgb(theme.GAP),
            mark_silent=None if vector else rs.hex_rgb(theme.BAD),
        )
        silent = 0 if vector else int(rs.silent(maps).sum())
        return Grid(info, image, count, len(maps), rows, cols, scale, silent, scaled, pad, channels)

    def place(self, grid: Grid) -> ImageMobject:
        """The raster at its own pixel size (crisp), centred in the panel; vector grids on
        the left, where they stay beside the probabilities."""
        image = raster_image(grid.image, height=grid.image.shape[0] / pixels_per_unit())
        right = SPLIT - 0.4 if grid.info.kind in HIDDEN_VECTOR_KINDS else PANEL[1]
        width, height = right - PANEL[0], PANEL[3] - PANEL[2]
        if image.width > width or image.height > height:  # never past the panel
            image.scale(min(width / image.width, height / image.height))
        return image.move_to([(PANEL[0] + right) / 2, (PANEL[2] + PANEL[3]) / 2, 0])

    def panel_caption(self, grid: Grid, previous: Grid | None) -> Group:
        info = grid.info
        kind = KIND_WORDS[info.kind]
        if info.kind in HIDDEN_VECTOR_KINDS:
            details = f"{kind}  ·  {grid.count:,} values"
            note = "each tile one unit, in network order  ·  one scale for the layer"
            if info.kind == "dense" and (after := output_words(self.run, info)):
                note += f"  ·  {after}"
        else:
            c, h, w = info.output_shape
            details = f"{kind}  ·  {c:,} channels of {h}×{w}"
            if info.kind == "pool" and previous is not None and len(previous.info.output_shape):
                ph, pw = previous.info.output_shape[1:]
                details += f"  (from {ph}×{pw})"
            shown = "all" if grid.shown == grid.count else f"{grid.shown} of {grid.count:,}"
            after = output_words(self.run, info)
            note = "  ·  ".join(filter(None, (f"{shown} channels", after, grid.scaling)))
            if grid.silent:
                note += f"  ·  {grid.silent} silent (red frame)"
        cap = theme.caption(info.name, details, note, width=PANEL[1] - PANEL[0])
        return cap.move_to([PANEL[0], PANEL[3] + 0.5, 0], aligned_edge=LEFT)

    def subtitle(self, grid: Grid, previous: Grid | None) -> str:
        """One sentence on the layer shown, with the numbers of its on-screen caption."""
        info, some = grid.info, ""
        if grid.shown < grid.count:
            some = f" (the {grid.shown} strongest shown)"
        if info.kind == "gap":
            return (
                f"{info.name}: global average pooling turns each of the {grid.count:,} maps "
                "into one number"
            )
        if info.kind == "dense":
            after = output_words(self.run, info)
            return f"{info.name}: a fully connected layer of {grid.count:,} neurons{some}" + (
                f", {after}" if after else ""
            )
        c, h, w = info.output_shape
        if info.kind in MERGE_KINDS:
            return f"{info.name}: {' + '.join(info.inputs)} merged, {c:,} maps of {h}×{w}"
        if info.kind == "pool":
            before = ""
            if previous is not None and len(previous.info.output_shape) == 3:
                ph, pw = previous.info.output_shape[1:]
                before = f"{ph}×{pw} → "
            return f"{info.name}: max pooling shrinks each of the {c:,} maps, {before}{h}×{w}"
        words = f"{info.name}: {c:,} filters, each giving one {h}×{w} map of where it fires{some}"
        if grid.silent:
            words += f"; {grid.silent} silent (red frame)"
        return words

    def walk(self) -> tuple[Grid, ImageMobject, Group]:
        """Layer after layer: each grid grows out of its layer in the diagram and goes back
        into it (a pool morphs its conv's grid to half the size); on a conv layer one channel
        is picked out."""
        hold = self.settings["hold"]
        grid, shown, cap = None, None, None
        for info in self.layers:
            new = self.grid(info, grid)
            image, new_cap = self.place(new), self.panel_caption(new, grid)
            self.hold()  # the last layer's caption read
            self.light(info.name)
            self.remove(*(m for m in (cap, self.legend) if m is not None))
            self.legend = self.color_bar(new)
            self.add(new_cap, self.legend)
            self.caption(self.subtitle(new, grid))
            here = self.diagram.parts[self.index_of(info)]
            if shown is not None and info.kind == "pool" and grid.rows == new.rows:
                focus.morph(self, shown, image)
            else:
                if shown is not None:
                    focus.shrink_into(self, shown, self.diagram.parts[self.index_of(grid.info)])
                focus.grow_from(self, image, here)
            self.wait(hold)
            self.key_moment(info.name)
            if self.settings["focus"] and info.kind == "conv":
                self.pick_out(new, image)
            grid, shown, cap = new, image, new_cap
        return grid, shown, cap

    def index_of(self, info: LayerInfo) -> int:
        """The diagram slot of a layer."""
        return next(i for i, slot in enumerate(self.diagram.slots) if slot.name == info.name)

    def pick_out(self, grid: Grid, image: ImageMobject) -> None:
        """Zoom into the layer's most active channel over its grid, the others dimmed."""
        h, w = grid.info.output_shape[1:]
        position = int(rs.top_k(self.activations(grid.info.name)[self.index][grid.channels], 1)[0])
        box = rs.tile_box(
            position, cols=grid.cols, size=(h, w), scale=grid.scale, pad=grid.pad,
            border=grid.pad,
        )  # fmt: skip
        channel = int(grid.channels[position])
        top = float(self.activations(grid.info.name)[self.index][channel].max())
        label = theme.text(
            f"{grid.info.name}  ·  channel {channel}  ·  max {format_value(top, 3)}",
            theme.LABEL,
            theme.ACCENT,
        )
        height = min(FOCUS_HEIGHT, PANEL[3] - PANEL[2] - 0.5)
        centre = np.array([(PANEL[0] + PANEL[1]) / 2, (PANEL[2] + PANEL[3]) / 2 - 0.2, 0])
        focus.pick_out(self, image, grid.image, box, label, (centre, height))

    # -- the prediction -----------------------------------------------------------------------
    def prediction(self, last: tuple[Grid, ImageMobject, Group]) -> None:
        grid, shown, cap = last
        probs = self.run.read(schema.PROBE_PROBS, -1)[self.index]
        logits = [i.name for i in self.run.layers if i.kind == "logits"]
        first, second = top_two(probs)
        verdict = Group(
            theme.text(
                f"1st: {self.class_name(first)}  {theme.percent(probs[first])}",
                theme.BODY,
                theme.ACCENT,
            ),
            theme.text(
                f"2nd: {self.class_name(second)}  {theme.percent(probs[second])}", theme.BODY
            ),
        ).arrange(RIGHT, buff=0.5)
        if verdict.width > PANEL[1] - SPLIT - 0.1:
            verdict.arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        room = SPLIT - 0.3 - PANEL[0]  # the caption stays over the grid, the bars beside it
        for into in (
            " → ".join([f"{grid.info.name} (left)", *logits[-1:], "softmax"]),
            " → ".join([*logits[-1:], "softmax"]),
        ):
            new_cap = theme.caption("prediction", into, "the network's output on this image")
            if new_cap.width <= room:
                break
        new_cap.move_to([PANEL[0], PANEL[3] + 0.5, 0], aligned_edge=LEFT)
        top = min(PANEL[3] + 0.8, self.counter.get_bottom()[1] - 0.15)
        bottom = theme.MARGIN - theme.frame_height() / 2
        bars = ProbabilityBars(
            self.run.classes,
            probs,
            true_label=self.label,
            width=PANEL[1] - SPLIT - 0.15,
            row_height=0.34,
            size=theme.BODY,
            heading="class probabilities  ·  softmax",
            height=top - bottom - verdict.height - 0.35,
        )
        bars.bars[second].set_fill(theme.RUNNER_UP)
        runner = theme.text(theme.percent(probs[second]), theme.BODY, theme.MUTED)
        runner.next_to(bars.bars[second], RIGHT, buff=0.1)
        panel = Group(bars, runner)
        panel.move_to([SPLIT + 0.1, (PANEL[2] + PANEL[3]) / 2 + 0.2, 0], aligned_edge=LEFT)
        verdict.next_to(panel, DOWN, buff=0.35).align_to(panel, LEFT)
        lift = bottom - verdict.get_bottom()[1]  # large type: up, clear of the bottom edge
        if lift > 0:
            Group(panel, verdict).shift(lift * UP)
        self.hold()
        self.light(logits[-1] if logits else None)
        self.remove(cap)
        self.add(new_cap)
        head = f"{logits[-1]} → softmax" if logits else "softmax"
        self.caption(f"{head}: the network's {len(probs)} class probabilities for this image")
        if grid.info.kind not in HIDDEN_VECTOR_KINDS:
            room = SPLIT - 0.4 - PANEL[0]
            factor = min(1.0, room / shown.width)
            centre = [(PANEL[0] + SPLIT - 0.4) / 2, (PANEL[2] + PANEL[3]) / 2, 0]
            self.play(shown.animate.scale(factor).move_to(centre), run_time=0.5)
        self.play(FadeIn(panel), FadeIn(verdict), run_time=0.5)
        self.hold(BEAT)
        said = (
            f"It says “{self.class_name(first)}” ({theme.percent(probs[first])}), "
            f"next “{self.class_name(second)}” ({theme.percent(probs[second])})"
        )
        overall = validation_words(self.run)
        self.caption(f"{said}; overall {overall}" if overall else said)
        self.hold(IDEA)
        self.key_moment("prediction")
