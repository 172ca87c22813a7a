"""FeatureMaps: one real validation image going through every conv layer of a recorded CNN.

For each conv and pool layer, in order, the run's recorded activations on that image are
shown as one grid of maps (the most active channels when there are too many to read); maps that
go below zero (no ReLU after them, e.g. a residual branch before its add) on a diverging scale
centred on zero, blue negative and red positive, the others from 0 up. A grid grows out of its
layer's mark in the strip of the network and shrinks back into it, pooling visibly shrinks
the grid to half, and on each layer one channel is picked out — zoomed in, the others dimmed —
before the walk moves on. Small or flat maps share one colour scale per layer, its maximum
written on the legend. Then the dense layers and the class probabilities with the prediction
marked, and finally the same maps and probabilities at every recorded training step, then their
change since initialisation, so the viewer sees the features emerge.

    manim scenes/featuremaps.py                              # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/featuremaps.py
    NNREEL_SET="image=5 layers=conv1_1,pool1,conv2_1" manim -ql scenes/featuremaps.py

Options (``NNREEL_SET`` or ``python -m engine render featuremaps --set KEY=VALUE``): see
``FeatureMaps.options``.
"""

from __future__ import annotations

import itertools
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
    Rectangle,
    VGroup,
)

from engine.scenekit import (
    Choice,
    ColorBar,
    Flag,
    Image,
    Names,
    Number,
    Option,
    ProbabilityBars,
    RunScene,
    example_words,
    focus,
    map_layers,
    model_name,
    output_words,
    pick_image,
    raster_image,
    scale_ends,
    set_pixels,
    subject_words,
    theme,
    trained_words,
    truth_words,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import format_value
from engine.scenekit.pacing import BEAT, IDEA
from engine.store import LayerInfo, Run, schema
from engine.store.schema import HIDDEN_VECTOR_KINDS

ON_LAYER = 0.8
"""Seconds on a layer's whole grid before one of its channels is picked out."""
FOCUS_HEIGHT = 3.3
"""Height of the zoomed channel (frame units)."""

# Layout, in frame units (the frame is about 14.2 × 8).
BOX = (-3.9, 6.76, -2.35, 1.95)
"""Left, right, bottom, top of the main panel."""
SPLIT = 3.3
"""Where the probability bars begin when they share the panel."""
INPUT_X = -5.55
STRIP_BOTTOM = -3.3
STRIP_HEIGHT = 0.8
REPLAY_SECONDS = 8.0
"""Seconds each replay of training takes (the maps, then their change)."""
DELTA_PERCENTILE = 99.0
"""The change scale of a row over training ends at this percentile of its |change|."""
EVOLVE_STEPS = 16
"""At most this many training snapshots in the last part (evenly chosen among those recorded,
which are log-spaced: dense early, when features change fastest)."""


def vector_layers(run: Run, after: LayerInfo) -> list[LayerInfo]:
    """Dense layers after the last map layer whose activations were recorded (at most 3)."""
    names_ = [info.name for info in run.layers]
    tail = run.layers[names_.index(after.name) + 1 :]
    found = [i for i in tail if i.kind in HIDDEN_VECTOR_KINDS and run.has(schema.acts(i.name))]
    return found[-3:]


def evolving_layers(run: Run, layers: list[LayerInfo], requested: list[str] | None) -> list[str]:
    """Layers shown changing over training: as requested, else the last conv or merge (a
    residual block's add) before each of the first three pools whose maps are still at least
    8 pixels wide."""
    if requested is not None:
        shown = {info.name for info in map_layers(run, "FeatureMaps", requested)}
        return [name for name in requested if name in shown]
    chosen = []
    for previous, info in itertools.pairwise(layers):
        shown = previous.kind in (schema.CONV, *schema.MERGE_KINDS)
        if info.kind == schema.POOL and shown and previous.output_shape[1] >= 8:
            chosen.append(previous.name)
    return chosen[:3]


@dataclass
class Stage:
    """One map layer as drawn: its grid raster and what the caption says."""

    info: LayerInfo
    count: int
    """Channels the layer has."""
    channels: np.ndarray
    """The channels shown, in grid order."""
    rows: int
    cols: int
    scale: int
    pad: int
    image: np.ndarray
    silent: int
    scaling: rs.Scaled
    ranking: str
    """How the channels shown were chosen, in words (``raster.most_active``)."""
    focus: int
    """The grid position of the channel picked out: the most active one, or for a pool the
    one its conv picked."""


def centred_words(centred: dict[str, bool]) -> str:
    """A caption's words for rows each on its own scale, some of which go below zero
    (``centred``: each row's name, and whether it does): those are centred on 0."""
    signed = [name for name, below in centred.items() if below]
    if not signed:
        return ""
    return "  ·  " + ("" if len(signed) == len(centred) else f"{', '.join(signed)}: ") + "0 centred"


def apart(labels: Group, gap: float = 0.1) -> Group:
    """The labels, left to right, without those that would touch the one before (large type
    on narrow bars)."""
    kept = Group()
    for label in labels:
        if not kept or label.get_left()[0] >= kept[-1].get_right()[0] + gap:
            kept.add(label)
    return kept


class FeatureMaps(RunScene):
    """A real image through every conv layer of a recorded CNN, then its prediction, then the
    same maps over training."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "image": Image(None, "a probe image index (0 = the first) or an image file"),
        "layers": Names(None, "comma-separated conv/pool layers, e.g. conv1_1,pool1"),
        "evolve": Names(None, "layers shown over training; empty to skip that part"),
        "maps": Number(
            32, "show at most this many maps per layer (the most active)", at_least=1, whole=True
        ),
        "cmap": Choice("viridis", "colour map of the maps", choices=("viridis", "greens", "gray")),
        "norm": Choice(
            "auto",
            "one colour scale per layer where maps are small or flat (auto), every map its own "
            "max (channel), or always the layer's (layer)",
            choices=("auto", "channel", "layer"),
        ),
        "focus": Flag(True, "pick out one channel of each layer (zoom in, dim the rest)"),
        "evolve_maps": Number(8, "maps per layer in the training part", at_least=1, whole=True),
        "delta": Flag(True, "after the maps over training, their change since initialisation"),
    }

    def construct(self) -> None:
        s = self.settings
        self.layers = map_layers(self.run, "FeatureMaps", s["layers"])
        self.index = pick_image(self.run, s["image"])
        first = schema.acts(self.layers[0].name)
        self.step = int(self.run.steps(first)[-1])
        self.label = int(self.run.read(schema.PROBE_LABELS, 0)[self.index])

        self.add_frame()
        self.forward_pass()
        self.prediction()
        evolve = evolving_layers(self.run, self.layers, s["evolve"])
        if evolve and len(self.run.steps(first)) > 1:
            self.over_training(evolve)
        self.hold(1.5)

    # -- the fixed parts ------------------------------------------------------------------
    def add_frame(self) -> None:
        convs = sum(info.kind == "conv" for info in self.layers)
        head = theme.title(
            f"Feature maps  ·  {model_name(self.run)}",
            f"{subject_words(self.run)} through {convs} conv layers  ·  run {self.run.name}",
        )
        self.counter = self.step_counter(self.step)
        image = rs.to_rgb(self.run.read(schema.PROBE_IMAGES, 0)[self.index])
        shape = theme.shape_text(self.run.read(schema.PROBE_IMAGES, 0).shape[1:])
        picture = raster_image(image, height=2.1).move_to([INPUT_X, 0.35, 0])
        above = theme.text("input", theme.HEADING, weight="BOLD").next_to(picture, UP, buff=0.2)
        below = Group(
            theme.text(shape, theme.LABEL, theme.MUTED),
            theme.text(truth_words(self.run, self.index), theme.LABEL, theme.GOOD),
        ).arrange(DOWN, buff=0.05)
        below.next_to(picture, DOWN, buff=0.2)
        self.legend = self.color_bar("map")
        self.strip = self.network_strip()
        self.add(self.counter, picture, above, below, self.strip, self.legend)
        self.caption(
            f"{example_words(self.run, self.index)} through the {model_name(self.run)}, "
            f"{trained_words(self.run)}."
        )
        self.play(FadeIn(head), run_time=0.6)

    def color_bar(
        self, unit: str, top: float | None = None, centred: bool = False, of: str = ""
    ) -> ColorBar:
        """The legend, bottom right: activations from 0 to ``top`` (the value the whole layer
        is scaled to), or to each ``unit``'s own max when ``top`` is None; ``centred``, for maps
        that go below zero, on the diverging map from −top through 0 to +top; ``of``: the
        layers it stands for, where another legend stands for the others."""
        if top is None:
            high = "max" if centred else f"each {unit}'s max"
            title = f"{of}: scaled per {unit}" if of else f"activation (scaled per {unit})"
        else:
            # No longer than the title above: the bar keeps its place beside the strip.
            high, title = format_value(top, 3), "activation (layer's scale)"
        cmap = "diverging" if centred else self.settings["cmap"]
        bar = ColorBar(cmap, title=title, **scale_ends(high, centred))
        corner = np.array([BOX[1], STRIP_BOTTOM + 0.25, 0])
        return bar.shift(corner - bar[0].get_corner(DOWN + RIGHT))

    def rows_legend(self, unit: str, centred: dict[str, bool]) -> Group:
        """The legend of rows each on its own scale (``centred``: each row's name, and whether
        it goes below zero): from 0, or centred on zero; both, side by side and each naming its
        rows, when the rows differ."""
        kinds = list(dict.fromkeys(centred.values()))
        if len(kinds) == 1:
            return self.color_bar(unit, None, kinds[0])
        bars = Group(
            *(
                self.color_bar(
                    unit, None, kind, ", ".join(n for n, c in centred.items() if c == kind)
                )
                for kind in kinds
            )
        ).arrange(RIGHT, buff=0.5, aligned_edge=UP)
        corner = np.array([BOX[1], STRIP_BOTTOM + 0.25, 0])
        return bars.shift(corner - bars[-1][0].get_corner(DOWN + RIGHT))

    def stage_bar(self, stage: Stage) -> ColorBar:
        scaled = stage.scaling
        top = float(scaled.hi.max()) if scaled.shared else None
        return self.color_bar("map", top, scaled.centred)

    def network_strip(self) -> Group:
        """One bar per map layer, its height the map size: pooling shows as a step down. The
        bars get narrower when the legend beside them needs the room."""
        biggest = max(info.output_shape[1] for info in self.layers)
        chips, labels = VGroup(), Group()
        x = BOX[0]
        pools = sum(info.kind == "pool" for info in self.layers[:-1])
        room = self.legend.get_left()[0] - 0.3 - BOX[0] - 0.14 * pools
        pitch = min(0.36, room / len(self.layers))
        previous = None
        for info in self.layers:
            size = info.output_shape[1]
            if previous is not None and previous.kind == "pool":
                x += 0.14
            height = max(STRIP_HEIGHT * size / biggest, 0.03)
            chip = Rectangle(width=pitch - 0.06, height=height, stroke_width=0, fill_opacity=1.0)
            chip.set_fill(theme.BAR if info.kind == "conv" else theme.MUTED, opacity=0.45)
            chip.move_to([x + (pitch - 0.06) / 2, STRIP_BOTTOM + height / 2, 0])
            chips.add(chip)
            if info.kind == "conv" and (previous is None or previous.kind == "pool"):
                label = theme.text(f"{size}×{info.output_shape[2]}", theme.SMALL, theme.MUTED)
                labels.add(label.next_to(chip, DOWN, buff=0.1, aligned_edge=LEFT))
            x += pitch
            previous = info
        labels = apart(labels)
        for words in ("map size per layer:", "map size:"):
            key = theme.text(words, theme.SMALL, theme.MUTED)
            key.next_to(chips, LEFT, buff=0.3).align_to(chips, DOWN)
            if key.get_left()[0] >= theme.MARGIN - theme.frame_width() / 2:
                break
        self.chips = chips
        return Group(key, chips, labels)

    def highlight(self, names_: set[str]) -> None:
        """Mark the strip's bars of the layers on screen (at once: no animation to build)."""
        for chip, info in zip(self.chips, self.layers, strict=True):
            if info.name in names_:
                chip.set_fill(theme.ACCENT, opacity=1.0)
            else:
                chip.set_fill(theme.BAR if info.kind == "conv" else theme.MUTED, opacity=0.45)

    def swap(self, old, new):
        """Replace one caption or legend by another at once (fading text costs a deep copy of
        every glyph per animation); returns the new one."""
        if old is not None:
            self.remove(old)
        self.add(new)
        return new

    # -- part 1: layer by layer -----------------------------------------------------------
    def stage(self, info: LayerInfo, previous: Stage | None) -> Stage:
        """The grid of one layer. A pool keeps the channels, layout and pixel size of the conv
        before it, so each map visibly shrinks in place."""
        acts = self.activations(info.name)[self.index]
        s = self.settings
        if info.kind == "pool" and previous is not None and previous.count == acts.shape[0]:
            channels, rows, cols = previous.channels, previous.rows, previous.cols
            scale, pad, focus = previous.scale, previous.pad, previous.focus
            ranking = previous.ranking
        else:
            channels = np.arange(len(acts)) if len(acts) <= s["maps"] else rs.top_k(acts, s["maps"])
            width, height = BOX[1] - BOX[0], BOX[3] - BOX[2]
            rows, cols = rs.grid_shape(len(channels), width / height, acts.shape[2] / acts.shape[1])
            scale, pad = rs.tile_scale(acts.shape[1])
            focus = int(rs.top_k(acts[channels], 1)[0])
            ranking = rs.most_active(acts)
        maps = acts[channels]
        mode = rs.honest_mode(maps, s["norm"])
        image, scaling = rs.feature_grid(
            maps,
            cmap=rs.mode_cmap(mode, s["cmap"]),
            mode=mode,
            rows=rows,
            cols=cols,
            scale=scale,
            pad=pad,
            background=rs.hex_rgb(theme.PANEL),
            mark_silent=rs.hex_rgb(theme.BAD),
        )
        silent = int(rs.silent(maps).sum())
        return Stage(
            info,
            len(acts),
            channels,
            rows,
            cols,
            scale,
            pad,
            image,
            silent,
            scaling,
            ranking,
            focus,
        )

    def fit(self, stage: Stage, previous: tuple[Stage, ImageMobject] | None) -> ImageMobject:
        """The grid as a raster centred in the main panel: fitted to it, or for a pool at its
        conv's size per pixel, so the grid shows at half the size."""
        h, w = stage.image.shape[:2]
        if stage.info.kind == "pool" and previous is not None:
            before, shown = previous
            image = raster_image(stage.image, height=h * shown.height / before.image.shape[0])
        else:
            width, height = BOX[1] - BOX[0], BOX[3] - BOX[2]
            image = raster_image(stage.image, height=min(height, width * h / w))
        return image.move_to([(BOX[0] + BOX[1]) / 2, (BOX[2] + BOX[3]) / 2, 0])

    def stage_caption(self, stage: Stage, before: Stage | None) -> Group:
        c, h, w = stage.info.output_shape
        shown = len(stage.channels)
        if stage.info.kind == "pool" and before is not None:
            bh, bw = before.info.output_shape[1:]
            halves = " halves each map" if (bh, bw) == (2 * h, 2 * w) else ""
            details = f"pooling{halves}: {bh}×{bw} → {h}×{w}"
        else:
            details = f"{c} channels of {h}×{w}"
            if after := output_words(self.run, stage.info, "post-"):
                details += f"  ·  {after}"
        if shown < c:
            note = f"the {shown} {stage.ranking} of {c} channels"
            if not stage.scaling.centred:  # else the scale's words go first, so they still fit
                note += ", most active first"
        else:
            note = f"all {c} channels"
        note += "  ·  " + stage.scaling.label
        if stage.silent:
            note += f"  ·  {stage.silent} silent (red frame)"
        cap = theme.caption(stage.info.name, details, note, width=BOX[1] - BOX[0])
        return cap.move_to([BOX[0], BOX[3] + 0.45, 0], aligned_edge=LEFT)

    def block_words(self, first: int) -> str:
        """The caption of one block: the convs from ``first`` up to the next pool, their real
        shape, how many maps the grid shows, and the size the pool leaves."""
        block = []
        for info in self.layers[first:]:
            if block and info.kind == "conv" and block[-1].kind == "pool":
                break
            block.append(info)
        convs = [info for info in block if info.kind == "conv"]
        c, h, w = block[0].output_shape
        names_ = convs[0].name if len(convs) == 1 else f"{convs[0].name}–{convs[-1].name}"
        words = f"{names_}: {c} channels of {h}×{w}"
        said = {output_words(self.run, info) for info in convs}
        if len(said) == 1 and (after := said.pop()):  # what every conv of the block is
            words += f" {after}"
        if c > self.settings["maps"]:
            ranking = rs.most_active(*(self.activations(i.name)[self.index] for i in convs))
            words += f", the {self.settings['maps']} {ranking} shown"
        if block[-1].kind == "pool":
            words += (
                f"; {block[-1].name} pools them to {'×'.join(map(str, block[-1].output_shape[1:]))}"
            )
        return words + "."

    def forward_pass(self) -> None:
        """Layer after layer: each grid grows out of its layer's mark in the strip (a pool
        morphs its conv's grid to half the size), one channel is picked out, and the grid goes
        back into its mark before the next one comes."""
        stage, shown, caption = None, None, None
        for k, info in enumerate(self.layers):
            new = self.stage(info, stage)
            image = self.fit(new, (stage, shown) if stage else None)
            cap = self.stage_caption(new, stage)
            if stage is None or (info.kind == "conv" and stage.info.kind == "pool"):
                self.hold()  # the caption before is read
                self.caption(self.block_words(k))
            self.highlight({info.name})
            self.swap(caption, cap)
            self.legend = self.swap(self.legend, self.stage_bar(new))
            if stage is None:
                focus.grow_from(self, image, self.chips[k])
            elif info.kind == "pool" and new.channels is stage.channels:
                focus.morph(self, shown, image)
            else:
                focus.shrink_into(self, shown, self.chips[k - 1])
                focus.grow_from(self, image, self.chips[k])
            # A pool shows what its conv's channels became: the morph said it.
            picked = self.settings["focus"] and info.kind == "conv"
            self.wait(ON_LAYER if picked else IDEA - BEAT)
            self.key_moment(info.name)
            if picked:
                self.pick_out(new, image)
            stage, shown, caption = new, image, cap
        self.last_map = (stage, shown, caption)

    def pick_out(self, stage: Stage, image: ImageMobject) -> None:
        """Zoom into the stage's focus channel over its grid, the others dimmed; hold; back."""
        h, w = stage.info.output_shape[1:]
        box = rs.tile_box(
            stage.focus, cols=stage.cols, size=(h, w), scale=stage.scale, pad=stage.pad,
            border=stage.pad,
        )  # fmt: skip
        channel = int(stage.channels[stage.focus])
        values = self.activations(stage.info.name)[self.index][channel]
        reach = f"max {format_value(float(values.max()), 3)}"
        if stage.scaling.centred:
            reach = f"min {format_value(float(values.min()), 3)}  ·  {reach}"
        label = theme.text(
            f"{stage.info.name}  ·  channel {channel}  ·  {reach}",
            theme.LABEL,
            theme.ACCENT,
        )
        centre = np.array([(BOX[0] + BOX[1]) / 2, (BOX[2] + BOX[3]) / 2 - 0.15, 0])
        focus.pick_out(self, image, stage.image, box, label, (centre, FOCUS_HEIGHT))

    # -- part 2: the prediction -----------------------------------------------------------
    def prediction(self) -> None:
        stage, shown, caption = self.last_map
        probs = self.run.read(schema.PROBE_PROBS, -1)[self.index]
        dense = vector_layers(self.run, stage.info)
        centred = {v.name: rs.below_zero(self.activations(v.name)[self.index]) for v in dense}
        vectors = self.vector_rows(dense) if dense else self.beside(shown)
        legend = self.rows_legend("row", centred) if dense else self.stage_bar(stage)
        bars = self.probability_bars(probs, legend)
        if self.legend_under_rows:
            legend.next_to(vectors, DOWN, buff=0.35).align_to(vectors, LEFT)
        tail = " → ".join([*(v.name for v in dense), "softmax"])
        note = "from these maps"
        if dense:
            note = f"dense activations, each row scaled to its own max{centred_words(centred)}"
        cap = theme.caption("prediction", tail, note, width=BOX[1] - BOX[0])
        cap.move_to([BOX[0], BOX[3] + 0.45, 0], aligned_edge=LEFT)
        self.highlight(set())
        self.hold()
        self.caption(
            f"{tail} predicts '{self.class_name(int(np.argmax(probs)))}', "
            f"p = {theme.percent(probs.max())}; {truth_words(self.run, self.index)}."
        )
        self.swap(caption, cap)
        self.swap(self.legend, legend)
        focus.shrink_into(self, shown, self.chips[len(self.layers) - 1])
        self.add(vectors, bars)
        self.legend = legend
        self.hold(IDEA)
        self.key_moment("prediction")
        self.bars, self.tail = bars, (vectors, cap)

    def probability_bars(self, probs: np.ndarray, legend: ColorBar) -> ProbabilityBars:
        """The class probabilities right of the panel, between its top and the legend; when
        they cannot fit there (large type), down to the panel's bottom, and the legend goes
        under the rows on the left instead (``legend_under_rows``)."""
        room = (BOX[3] - 0.1) - max(BOX[2], legend.get_top()[1] + 0.15)
        kwargs = {"true_label": self.label, "width": BOX[1] - SPLIT - 0.2}
        bars = ProbabilityBars(self.run.classes, probs, height=room, **kwargs)
        self.legend_under_rows = bars.height > room
        if not self.legend_under_rows:
            return bars.move_to([SPLIT + 0.2, (BOX[2] + BOX[3]) / 2, 0], aligned_edge=LEFT)
        bars = ProbabilityBars(self.run.classes, probs, height=BOX[3] - 0.1 - BOX[2], **kwargs)
        return bars.move_to([SPLIT + 0.2, BOX[3] - 0.1, 0], aligned_edge=LEFT + UP)

    def class_name(self, index: int) -> str:
        classes = self.run.classes
        return classes[index] if index < len(classes) else str(index)

    def beside(self, shown: ImageMobject) -> ImageMobject:
        """The last maps, shrunk beside the probabilities (for a network with no dense layer)."""
        maps = shown.copy().scale(min(1.0, (SPLIT - 0.3 - BOX[0]) / shown.width))
        return maps.move_to([(BOX[0] + SPLIT - 0.3) / 2, (BOX[2] + BOX[3]) / 2, 0])

    def vector_rows(self, layers: list[LayerInfo]) -> Group:
        """One strip per dense layer, each on its own scale: from 0, or centred on zero on the
        diverging map where it goes below zero."""
        rows, left, right = Group(), BOX[0], SPLIT - 0.3
        for info in layers:
            values = self.activations(info.name)[self.index].reshape(1, -1)
            mode = rs.honest_mode(values, "channel")
            cmap = rs.mode_cmap(mode, self.settings["cmap"])
            rgb = rs.apply_colormap(rs.normalise(values, mode).unit, cmap)
            strip = raster_image(rgb, height=0.32)
            strip.stretch_to_fit_width(right - left)
            label = theme.text(f"{info.name}  ·  {values.shape[1]} units", theme.LABEL, theme.MUTED)
            rows.add(Group(label, strip).arrange(DOWN, aligned_edge=LEFT, buff=0.12))
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.35)
        return rows.move_to([left, (BOX[2] + BOX[3]) / 2, 0], aligned_edge=LEFT)

    # -- part 3: over training ------------------------------------------------------------
    def over_training(self, evolve: list[str]) -> None:
        """The same maps at every recorded step (each scaled to its own max at every step, so
        a map's shape shows even while it is faint; centred on zero in a row that goes below
        it), then — so that change shows where values barely move — their difference from
        initialisation on one diverging scale per layer."""
        steps = self.run.steps(schema.acts(evolve[0]))
        snapshots = np.unique(np.linspace(0, len(steps) - 1, EVOLVE_STEPS).round().astype(int))
        width = SPLIT - 0.3 - BOX[0]
        self.evolving = [self.evolving_row(name) for name in evolve]
        centred = {evolving.name: evolving.centred for evolving in self.evolving}
        legend = self.rows_legend("map", centred)
        room = BOX[3] - BOX[2] - (legend.height + 0.35 if self.legend_under_rows else 0.0)
        tallest = (room - 0.7 * len(evolve)) / len(evolve)
        rows, rasters, labels = Group(), [], []
        for evolving in self.evolving:
            image = raster_image(self.evolution_row(evolving, len(steps) - 1), width=width)
            if image.height > tallest:
                image.height = tallest
            label = theme.text(evolving.words, theme.LABEL, theme.MUTED)
            rasters.append(image)
            labels.append(label)
            rows.add(Group(label, image).arrange(DOWN, aligned_edge=LEFT, buff=0.1))
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.3)
        if self.legend_under_rows:
            rows.move_to([BOX[0], BOX[3], 0], aligned_edge=LEFT + UP)
        else:
            rows.move_to([BOX[0], (BOX[2] + BOX[3]) / 2, 0], aligned_edge=LEFT)
        self.rows = rows
        scaled = "each scaled to its own max at every step"
        if any(centred.values()):  # said shorter, so that the red frame's key still fits
            scaled = "each on its own scale at every step" + centred_words(centred)
        cap = self.training_caption(
            f"maps most active at the end  ·  {scaled}  ·  red frame: silent"
        )
        vectors, old_cap = self.tail
        self.hold()  # the prediction read
        self.highlight(set(evolve))
        self.swap(old_cap, cap)
        self.legend = self.swap(self.legend, self.under_rows(legend))
        self.remove(vectors)
        self.add(rows)
        self.replay(evolve, rasters, snapshots, delta=False)
        self.key_moment("over training")
        if self.settings["delta"]:
            self.hold()
            self.swap(cap, self.training_caption("blue: weaker than at step 0  ·  red: stronger"))
            for evolving, label in zip(self.evolving, labels, strict=True):
                label.set_text(
                    f"{evolving.name}  ·  change since step 0, ±{format_value(evolving.limit, 2)}"
                )
            self.legend = self.swap(self.legend, self.under_rows(self.delta_bar()))
            self.caption("Now each map minus itself at step 0: how training changed it.")
            self.replay(evolve, rasters, snapshots, delta=True)
            self.key_moment("change over training")

    def under_rows(self, legend: ColorBar) -> ColorBar:
        """A legend of the training part: under the rows where the probabilities need the room
        beside them (``legend_under_rows``), else where it was."""
        if self.legend_under_rows:
            legend.next_to(self.rows, DOWN, buff=0.35).align_to(self.rows, LEFT)
        return legend

    def training_caption(self, note: str) -> Group:
        cap = theme.caption(
            "during training", "the same image at every recorded step", note, width=BOX[1] - BOX[0]
        )
        return cap.move_to([BOX[0], BOX[3] + 0.45, 0], aligned_edge=LEFT)

    def delta_bar(self) -> ColorBar:
        bar = ColorBar("diverging", low="− row's ±", high="+ row's ±", title="change since step 0")
        corner = np.array([BOX[1], STRIP_BOTTOM + 0.25, 0])
        return bar.shift(corner - bar[0].get_corner(DOWN + RIGHT))

    def replay(self, evolve: list[str], rasters: list, snapshots: np.ndarray, delta: bool) -> None:
        """Every chosen snapshot in turn, the rows, bars and counter at its step; captions at
        the start, the middle and the end."""
        steps = self.run.steps(schema.acts(evolve[0]))
        probs = self.run.read(schema.PROBE_PROBS)
        prob_steps = self.run.steps(schema.PROBE_PROBS)
        pause = REPLAY_SECONDS / len(snapshots)
        for i in snapshots:
            for evolving, image in zip(self.evolving, rasters, strict=True):
                set_pixels(image, self.evolution_row(evolving, i, delta))
            j = max(0, int(np.searchsorted(prob_steps, steps[i], side="right")) - 1)
            self.bars.set_probs(probs[j][self.index])
            self.counter.set_step(int(steps[i]))
            marked = i in (snapshots[0], snapshots[len(snapshots) // 2])
            if not delta and marked and self.caption_read():
                self.caption(self.training_words(evolve, int(steps[i]), probs[j][self.index]))
            self.wait(1.0 if i in (0, len(steps) - 1) else pause)
        if not delta:
            self.hold()
            self.caption(self.training_words(evolve, int(steps[-1]), probs[-1][self.index]))
        self.hold()

    def training_words(self, evolve: list[str], step: int, probs: np.ndarray) -> str:
        """The caption of the training part at one recorded step: when, and how sure."""
        when = " · ".join(filter(None, self.counter.describe(step)))
        sure = theme.percent(probs[self.label])
        return f"{when[0].upper()}{when[1:]}: p('{self.class_name(self.label)}') = {sure}."

    def evolving_row(self, name: str) -> Evolving:
        """A layer's row over training: its channels most active at the end, whether their
        recorded maps go below zero at any step (then the row is centred on zero throughout),
        and how far they move from initialisation (a high percentile, so a few extreme pixels
        do not wash the rest out: one diverging scale of change, the same at every step)."""
        final = self.activations(name)[self.index]
        chosen = rs.top_k(final, self.settings["evolve_maps"])
        series = self.run.read(schema.acts(name))[:, self.index][:, chosen].astype(np.float32)
        limit = float(np.percentile(np.abs(series - series[0]), DELTA_PERCENTILE)) or 1.0
        centred = rs.below_zero(series)
        words = f"{name}  ·  {len(chosen)} {rs.most_active(final)} of {final.shape[0]}"
        return Evolving(name, chosen, limit, centred, words)

    def evolution_row(self, evolving: Evolving, snapshot: int, delta: bool = False) -> np.ndarray:
        """One row of maps at a snapshot: each on its own scale (centred on zero where the row
        goes below it), or their change since step 0 on the layer's diverging scale (same
        geometry, so the raster is swapped in place)."""
        maps = self.activations(evolving.name, snapshot)[self.index][evolving.channels]
        grid = {
            "rows": 1,
            "background": rs.hex_rgb(theme.PANEL),
            "scale": rs.tile_scale(maps.shape[1], 32)[0],
            "pad": rs.tile_scale(maps.shape[1], 32)[1],
        }
        if delta:
            start = self.activations(evolving.name, 0)[self.index][evolving.channels]
            unit = np.clip(0.5 + (maps - start) / (2 * evolving.limit), 0.0, 1.0)
            none = np.full((len(maps), 3), -1, dtype=np.int16)
            return rs.tile(
                rs.apply_colormap(unit, "diverging"), **grid, borders=none, border=grid["pad"]
            )
        mode = rs.CENTRED["channel"] if evolving.centred else "channel"
        image, _ = rs.feature_grid(
            maps, cmap=rs.mode_cmap(mode, self.settings["cmap"]), mode=mode, **grid,
            mark_silent=rs.hex_rgb(theme.BAD),
        )  # fmt: skip
        return image


@dataclass(frozen=True)
class Evolving:
    """A layer shown over training: the channels in its row, its scale of change, whether its
    maps go below zero (drawn centred on zero), and its label."""

    name: str
    channels: np.ndarray
    limit: float
    centred: bool
    words: str
