"""Neurons: every neuron of a recorded MLP over the input plane, layer by layer, over training.

Each small map is one neuron's real recorded response at every point of the plane, in a
diverging colour map centred on zero (white): by default its pre-activation (the weighted sum
plus bias, so the white line is where its ReLU switches on and the blue side is cut to 0), or
with ``value=output`` its output after the ReLU, and the output neuron through its sigmoid,
P(class). The maps evolve with training beside the network diagram, whose edges are the
weights at that step; then a tour points at each neuron, in the diagram and its map, in turn.
Captions (an ``.srt`` beside the video) follow with the recorded numbers.

    manim scenes/neurons.py                                  # the default run (mlp-ring)
    NNREEL_RUN=spiral manim -ql scenes/neurons.py
    NNREEL_SET="value=output norm=layer tour=0" manim -ql scenes/neurons.py

Options (``NNREEL_SET`` or ``python -m engine render neurons --set KEY=VALUE``): see
``OPTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Group, ImageMobject, Rectangle

from engine.analysis.contributions import recorded_weights
from engine.scenekit import (
    Choice,
    ColorBar,
    Number,
    RunScene,
    plane,
    raster_image,
    replay,
    set_pixels,
    theme,
)
from engine.scenekit.label import Label, pixels_per_unit
from engine.scenekit.network import NetworkGraph, sample_units
from engine.scenekit.options import REPLAY, Option
from engine.store import Run, schema

OPTIONS: dict[str, Option] = {
    **REPLAY,
    "tour": Number(0.8, "seconds on each neuron in the tour (0 skips it)", at_least=0),
    "value": Choice(
        "pre",
        "pre (before the activation: the weighted sum plus bias) or output (after it)",
        choices=("pre", "output"),
    ),
    "norm": Choice(
        "neuron",
        "neuron (each map scaled to its own largest |value|) or layer (one scale per layer)",
        choices=("neuron", "layer"),
    ),
}
ACTIVATIONS = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "gelu": "GELU", "elu": "ELU"}
MAX_MAPS = 16
"""Neurons shown per layer (the network diagram's sample when a layer is wider)."""
GRAPH_CENTRE, GRAPH_SIZE = (-4.85, 0.35, 0.0), (3.1, 3.5)
BLOCKS_LEFT, BLOCKS_RIGHT = -2.75, 6.76
BLOCKS_TOP, BLOCKS_BOTTOM = 1.8, -1.9


@dataclass
class Block:
    """One layer's maps: which units, the stream they come from, and their raster."""

    column: int
    name: str
    units: np.ndarray
    series: replay.Series
    grid: plane.MapGrid
    centre: float = 0.0
    """The value drawn as the colour map's zero: 0, or 0.5 for a probability."""
    line: np.ndarray | None = None
    """The true boundary, dashed over each map (None when the data has none)."""
    image: ImageMobject | None = None
    scale: Label | None = None

    def maps(self, step: float) -> np.ndarray:
        return self.series.at(step)[self.units]


def blocks(run: Run, value: str) -> list[Block]:
    """The hidden layers and the output, each with the recorded maps to show."""
    hidden = [info for info in run.layers if info.kind == "dense"]
    output = [info for info in run.layers if info.kind == "logits"][-1]
    mesh = int(run.meta(schema.PLANE_PROB)["mesh"])
    chosen = []
    for column, info in enumerate(hidden, start=1):
        name = schema.plane_pre(info.name) if value == "pre" else schema.plane(info.name)
        units = sample_units(int(info.output_shape[0]), MAX_MAPS)
        chosen.append((column, info.name, units, replay.Series.load(run, name), 0.0))
    if value == "pre":
        series = replay.Series.load(run, schema.plane(output.name))  # the logit: pre-sigmoid
        units, centre = np.arange(series.values.shape[1]), 0.0
    else:
        series = replay.Series.load(run, schema.PLANE_PROB)
        units, centre = np.array([1]), 0.5  # the sigmoid output: P(class 1)
    chosen.append((len(hidden) + 1, output.name, units, series, centre))
    return [
        Block(column, name, units, series, map_grid(mesh, len(units)), centre)
        for column, name, units, series, centre in chosen
    ]


def map_grid(mesh: int, count: int) -> plane.MapGrid:
    return plane.MapGrid(mesh, count, cols=int(np.ceil(np.sqrt(count))))


def limits(maps: np.ndarray, centre: float, norm: str) -> np.ndarray:
    """The colour scale: ± the largest |value − centre| of the layer, or of each map."""
    spread = np.abs(maps - centre).reshape(len(maps), -1).max(axis=1)
    if centre == 0.5:
        return np.full(len(maps), 0.5)  # a probability: 0 … 1 always
    return spread if norm == "neuron" else np.full(len(maps), spread.max())


def layout(
    items: list[Block],
    top: float = BLOCKS_TOP,
    bottom: float = BLOCKS_BOTTOM,
    left: float = BLOCKS_LEFT,
    captions: list[float] | None = None,
) -> float:
    """Frame units per raster pixel, the same for every block, so that all maps have one
    size and the blocks fill the space beside the diagram, from ``left`` and between ``top``
    and ``bottom``; a block is as wide as its caption (``captions``' widths) at least."""
    gaps = 0.5 * (len(items) - 1)
    width = sum(b.grid.shape[1] for b in items)
    height = max(b.grid.shape[0] for b in items)
    room = BLOCKS_RIGHT - left - gaps
    per_pixel = min(room / width, (top - bottom) / height)
    widths = [b.grid.shape[1] * per_pixel for b in items]
    total = sum(max(w, c) for w, c in zip(widths, captions or widths, strict=True))
    return per_pixel * min(1.0, room / total)


def captions_height() -> float:
    """A block's caption: its name over a line of detail."""
    return (
        Group(theme.text("hidden", theme.HEADING, weight="BOLD"), theme.text("9", theme.SMALL))
        .arrange(DOWN, buff=0.08)
        .height
    )


def caption(run: Run, block: Block, value: str, room: float | None = None) -> Group:
    """A block's name over what its maps are; the detail takes two lines when it is wider
    than ``room``."""
    count = len(block.units)
    width = int(run.layer(block.name).output_shape[0])
    shown = f"{count} of {width}" if count < width else f"{width} neuron{'s' * (width > 1)}"
    activation = str(run.model.get("config", {}).get("activation", "relu"))
    activation = ACTIVATIONS.get(activation, activation)
    if block.centre == 0.5:
        detail = f"P({run.classes[1]})"
    elif block.column == len(run.layers):
        detail = "logit"
    else:
        detail = f"{shown}, {'before' if value == 'pre' else 'after'} {activation}"
    lines = [theme.text(detail, theme.SMALL, theme.MUTED)]
    if room is not None and lines[0].width > room and ", " in detail:
        lines = [theme.text(part, theme.SMALL, theme.MUTED) for part in detail.split(", ")]
    return Group(theme.text(block.name, theme.HEADING, weight="BOLD"), *lines).arrange(
        DOWN, aligned_edge=LEFT, buff=0.08
    )


def red_share(block: Block, values: np.ndarray) -> float:
    """The share of the plane where a map is on the red side of white: above 0, or P ≥ 0.5
    for a probability. On the output, where the network says the second class."""
    return float((values >= 0.5).mean() if block.centre == 0.5 else (values > 0).mean())


def plane_share(share: float) -> str:
    return f"{100 * share:.0f}% of the plane"


def describe_unit(block: Block, unit: int, maps: np.ndarray) -> str:
    """What the tour says about one neuron, from its recorded map."""
    values = maps[list(block.units).index(unit)]
    if block.centre == 0.5:
        inside = plane_share(red_share(block, values))
        return f"{block.name} through its sigmoid: P ≥ 0.5 on {inside}"
    if not np.any(values != 0):
        return f"{block.name} · neuron {unit}: zero everywhere (a dead ReLU)"
    return (
        f"{block.name} · neuron {unit}: from {values.min():.2f} to {values.max():.2f}, "
        f"above 0 on {plane_share(red_share(block, values))}"
    )


def describe_output(run: Run, block: Block, maps: np.ndarray) -> str:
    """Where the output map says the second class, for a caption: 'red (ring) on 41% of
    the plane'."""
    return f"red ({run.classes[1]}) on {plane_share(red_share(block, maps[0]))}"


def describe_layer(block: Block, maps: np.ndarray, width: int, at: str) -> str:
    """What a hidden layer's recorded maps show, for the caption of its tour: 'hidden1 after
    training, neuron by neuron: 7 of its 9 are above 0 somewhere on the plane'."""
    count = len(block.units)
    on = int(np.any(maps.reshape(count, -1) > 0, axis=1).sum())
    if count == width:
        which = f"all {count}" if on == count else f"{on} of its {count}"
    else:
        which = f"{on} of the {count} shown"
    return f"{block.name} {at}, neuron by neuron: {which} are above 0 somewhere on the plane"


def neurons_part(scene: RunScene) -> None:
    """Play the neuron maps over training, then the tour (used by ``mlp`` too)."""
    run, s = scene.run, scene.settings
    plane.check_plane_run(run)
    items = blocks(run, s["value"])
    clock = replay.ReplayClock.paced(replay.Series.load(run, schema.PLANE_PROB))
    recorded = recorded_weights(run)
    weights, _ = replay.weight_series(recorded)
    head = theme.title(
        "Every neuron over the plane", f"{plane.describe_mlp(run)}  ·  run {run.name}"
    )
    top = head.get_bottom()[1] - 0.1
    truth = plane.true_boundary(run, 8) is not None
    legend = neuron_legend(s["norm"], truth).to_corner(DOWN + RIGHT, buff=theme.MARGIN)
    graph = NetworkGraph.placed(run, GRAPH_SIZE, GRAPH_CENTRE, top)
    edge_legend = graph.legend(length=2.2).to_corner(DOWN + LEFT, buff=theme.MARGIN)
    caption_height = captions_height()
    small = theme.text("0", theme.SMALL).height
    below = small + 0.12 + theme.text("0", theme.LABEL).height + 0.2  # scales, tour words
    span = (
        min(BLOCKS_TOP, top - caption_height - 0.15),
        max(BLOCKS_BOTTOM, legend.get_top()[1] + 0.15 + below),
    )
    left = max(BLOCKS_LEFT, graph.get_right()[0] + 0.3)
    room = BLOCKS_RIGHT - left - 0.5 * (len(items) - 1)
    titles = [caption(run, b, s["value"]) for b in items]
    if sum(t.width for t in titles) > 0.9 * room:  # large type: details on two lines
        titles = [caption(run, b, s["value"], 0.0) for b in items]
    caption_height = max(t.height for t in titles)
    span = (min(BLOCKS_TOP, top - caption_height - 0.15), span[1])
    per_pixel = layout(items, *span, left, [t.width for t in titles])
    captions, images, scales, columns = Group(), Group(), Group(), Group()
    lines = {}
    for block in items:
        block.grid = block.grid.at_output(per_pixel)
        if block.grid.tile not in lines:
            lines[block.grid.tile] = plane.true_boundary(run, block.grid.tile)
        block.line = lines[block.grid.tile]
        height, width = block.grid.shape
        blank = np.zeros((height, width, 3), np.uint8)
        block.image = raster_image(blank, width=width / pixels_per_unit())
        words = titles[items.index(block)]
        images.add(block.image)
        captions.add(words)
        columns.add(Group(words, block.image).arrange(DOWN, aligned_edge=LEFT, buff=0.15))
    columns.arrange(RIGHT, buff=0.45, aligned_edge=UP)
    columns.move_to([(left + BLOCKS_RIGHT) / 2, 0, 0])
    columns.align_to([0, span[0] + captions.height + 0.15, 0], UP)
    clear = graph.get_right()[0] + 0.3 - columns.get_left()[0]  # of the diagram's labels
    columns.shift(max(clear, 0.0) * RIGHT)
    for block in items:
        block.scale = theme.text("± 0.00", theme.SMALL, theme.MUTED)
        block.scale.next_to(block.image, DOWN, buff=0.12, aligned_edge=LEFT)
        scales.add(block.scale)
    words = theme.text(" ", theme.LABEL, theme.ACCENT)
    words.next_to(scales, DOWN, buff=0.2).align_to(columns, LEFT)
    counter = scene.step_counter(0)
    limits_ = recorded.limits()
    tour = Tour(graph, items, words)
    # The step on the counter and the output's map on screen, for the captions.
    shown: dict = {"step": 0, "output": items[-1].maps(0.0)}

    def snapshot(i: int) -> None:
        """The recorded numbers: each layer's scale and the step."""
        for block in items:
            maps = block.series.values[i][block.units]
            block.scale.set_text(scale_words(block, limits(maps, block.centre, s["norm"])))
        counter.set_step(int(items[0].series.steps[i]))
        shown["step"] = int(items[0].series.steps[i])

    numbers = replay.OnSnapshot(items[0].series, snapshot)

    @replay.changed_only
    def draw(step: float) -> None:
        graph.set_weights([w.at(step) for w in weights], limits_)
        for block in items:
            maps = block.maps(step)
            scale = limits(maps, block.centre, s["norm"])
            set_pixels(block.image, block.grid.image(maps, scale, block.centre, block.line))
            shown["output"] = maps  # the last block's, once the loop is done
        numbers(step)

    def progress() -> str:
        output = describe_output(run, items[-1], shown["output"])
        return f"{replay.when(counter, shown['step'])}: the output map is {output}"

    def result() -> str:
        output = describe_output(run, items[-1], shown["output"])
        when = replay.when(counter, shown["step"])
        return f"{replay.finished(run).capitalize()}, {when}: the output map is {output}"

    seconds, dwell = s["seconds"], s["tour"]
    end = replay.HOLD + seconds
    marks = replay.replay_marks(replay.HOLD, seconds)[1:]
    narrate = replay.Cues(scene, [*((t, progress) for t in marks), (end, result)])

    def frame(t: float) -> None:
        draw(clock.replay(t, replay.HOLD, seconds))
        narrate(t)

    draw(0.0)
    moving = Group(graph.edges, graph.neurons, images, scales, counter, words, tour.frame)
    fixed = Group(head, captions, legend, edge_legend, graph.labels, graph.dots)
    scene.caption(intro(run, items, s["value"]))
    replay.fade_in(scene, fixed, moving)
    replay.animate(scene, moving, end + 1.0, frame)
    narrate.finish()
    scene.hold()
    scene.key_moment("neurons over training")
    if dwell > 0:
        # Only the pointer changes now: the maps are painted once, not on every frame.
        pointer = Group(graph.edges, graph.neurons, words, tour.frame)
        last = len(tour.stops) - 1
        say = TourCaptions(scene, run, tour, per_neuron=dwell >= NEURON_CAPTIONS)

        def point(t: float) -> None:
            stop = min(last, int(t // dwell))
            tour.show(stop)
            say(stop)

        replay.animate(scene, pointer, len(tour.stops) * dwell, point)
        tour.show(None)
    scene.hold(1.5)
    scene.key_moment("neurons after training")


NEURON_CAPTIONS = 2.0
"""Seconds on each neuron from which the tour captions every neuron, not every layer."""


def intro(run: Run, items: list[Block], value: str) -> str:
    """The first caption: what each map is."""
    count = sum(len(block.units) for block in items)
    if value == "pre":
        what, colours = "weighted sum + bias", "blue below 0, red above"
    else:
        activation = str(run.model.get("config", {}).get("activation", "relu"))
        what = f"output after its {ACTIVATIONS.get(activation, activation)}"
        colours = f"{theme.ZERO_WORD} at 0, red above"
    return f"{count} maps: each is one neuron's {what} over the input plane, {colours}"


class TourCaptions:
    """The tour's captions, from the recorded maps at the end of training (those the tour
    shows): one per layer, or one per neuron when each is shown long enough to read one."""

    def __init__(self, scene: RunScene, run: Run, tour: Tour, per_neuron: bool):
        self.scene, self.run, self.tour, self.per_neuron = scene, run, tour, per_neuron
        self.said: object = None

    def __call__(self, stop: int) -> None:
        block, index = self.tour.stops[stop]
        key = stop if self.per_neuron else block.name
        if key == self.said:
            return
        maps = block.series.values[-1][block.units]
        at = replay.finished(self.run)
        if self.per_neuron:
            words = describe_unit(block, int(block.units[index]), maps)
        elif block is self.tour.stops[-1][0]:
            words = f"The output {at}: {describe_output(self.run, block, maps)}"
        else:
            width = int(self.run.layer(block.name).output_shape[0])
            words = describe_layer(block, maps, width, at)
        self.scene.caption(words)
        self.said = key


def scale_words(block: Block, scale: np.ndarray) -> str:
    """The colour scale under a block: '± 2.31' for the layer, or each map's own, in the
    words that fit under the block."""
    if block.centre == 0.5:
        return "0 … 1"
    if len(set(scale.tolist())) > 1:
        fits = theme.text("± each map's max", theme.SMALL).width <= block.image.width + 0.4
        return "± each map's max" if fits else "± own max"
    return f"± {scale[0]:.2f}"


class Tour:
    """Points at one neuron at a time, at the end of training: its map framed, its circle and
    incoming edges lit in the diagram, and what its recorded map says, in words."""

    def __init__(self, graph: NetworkGraph, items: list[Block], words: Label):
        self.graph, self.words = graph, words
        self.stops = [(block, index) for block in items for index in range(len(block.units))]
        self.frame = Rectangle(width=1, height=1, stroke_color=theme.ACCENT, stroke_width=5)
        self.frame.set_stroke(opacity=0.0)
        self.shown: int | None = None

    def show(self, stop: int | None) -> None:
        """Point at stop ``stop`` (an index into ``stops``), or at nothing."""
        if stop == self.shown:
            return
        self.shown = stop
        if stop is None:
            self.graph.highlight()
            self.frame.set_stroke(opacity=0.0)
            self.words.set_text(" ")
            return
        block, index = self.stops[stop]
        unit = int(block.units[index])
        centre, side = block.grid.locate(block.image, index)
        self.frame.stretch_to_fit_width(side + 0.08).stretch_to_fit_height(side + 0.08)
        self.frame.move_to(centre).set_stroke(opacity=1.0)
        neuron = 0 if block.centre == 0.5 else unit  # P(class 1) is the one output neuron
        inputs = self.graph.shown[block.column - 1]
        self.graph.highlight([(block.column, neuron)], [(block.column, neuron, i) for i in inputs])
        maps = block.series.values[-1][block.units]
        room = theme.frame_width() / 2 - theme.MARGIN - self.words.get_left()[0]
        words = describe_unit(block, unit, maps)
        self.words.set_text(theme.fitted(words, room, theme.LABEL, separator=", ").text)


def neuron_legend(norm: str, truth: bool) -> Group:
    """The maps' colour bar: what zero looks like; what ± max means (written under each
    layer); the dashed true boundary, when there is one."""
    scope = "each map" if norm == "neuron" else "each layer"
    bar = ColorBar("diverging", low="− max", high="+ max", title="neuron response", length=2.2)
    words = [f"{theme.ZERO_WORD} = 0", f"{scope} on its own scale", "red frame: 0 everywhere"]
    if truth:
        words.append("dashed: the true boundary")
    notes = Group(*(theme.text(line, theme.SMALL, theme.MUTED) for line in words)).arrange(
        DOWN, aligned_edge=LEFT, buff=0.06
    )
    return Group(bar, notes.next_to(bar, RIGHT, buff=0.3).align_to(bar, DOWN))


class Neurons(RunScene):
    """Every neuron's response over the input plane, layer by layer, over training."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = OPTIONS

    def construct(self) -> None:
        neurons_part(self)
