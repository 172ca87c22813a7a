"""Weights: which weights carry an MLP's decision — seed 002's weight figure done right.

Start at the output neuron: each of its input neurons' recorded maps times its weight (sign
kept, so a negative weight shows the map colour-inverted) is what that input really adds to
it; with the bias they sum to the neuron's recorded pre-activation, shown at the end of the
row. Follow the input that contributes most (the largest mean |w·a| over the plane, as seed
002 did; the screen says so) back, layer by layer, down to the input plane (x and y). Beside
it, the whole network as a graph whose edges' width and colour are the weights;
then training replays and every row, the traced path and the edges change with it.
Captions (an ``.srt`` beside the video) name each traced input and, over the replay, the
output's strongest one.

    manim scenes/weights.py                                  # the default run (mlp-ring)
    NNREEL_RUN=spiral manim -ql scenes/weights.py
    NNREEL_SET="dwell=4 seconds=20" manim -ql scenes/weights.py

Options (``NNREEL_SET`` or ``python -m engine render weights --set KEY=VALUE``): see
``OPTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Group, ImageMobject, Rectangle

from engine.analysis.contributions import (
    Hop,
    contributions,
    input_maps,
    path,
    recorded_weights,
    trace,
)
from engine.scenekit import (
    ColorBar,
    Number,
    RunScene,
    plane,
    raster_image,
    replay,
    set_pixels,
    textlayer,
    theme,
)
from engine.scenekit.charts import TITLE_WIDTH, fitted_title
from engine.scenekit.label import pixels_per_unit, render
from engine.scenekit.network import NetworkGraph
from engine.scenekit.options import REPLAY, Option
from engine.store import Run, schema

OPTIONS: dict[str, Option] = {
    **REPLAY,
    "dwell": Number(3.0, "seconds on each layer while the path is traced", at_least=0),
    "inputs": Number(
        9,
        "show at most this many inputs per neuron (those contributing most)",
        at_least=1,
        whole=True,
    ),
}
GRAPH_CENTRE, GRAPH_SIZE = (-4.95, 0.35, 0.0), (2.95, 3.2)
ROWS_LEFT, ROWS_RIGHT, ROWS_TOP, ROWS_BOTTOM = -2.9, 6.45, 2.45, -2.8
TEXT_OVERHANG = 0.3
TILE_PIXELS = 120
INTRO = 0.5
"""Seconds on the network alone, its output neuron lit, before the first row appears."""


@dataclass
class Row:
    """One neuron on the path: its inputs' contributions, and its recorded pre-activation."""

    grid: plane.MapGrid
    total: plane.MapGrid
    image: ImageMobject
    sum_image: ImageMobject
    text: textlayer.TextLayer
    """Its heading, the weight under each tile, '+ b =' and the bias: one raster."""
    frame: Rectangle
    top: float
    left: float = ROWS_LEFT
    visible: bool = True

    def words(self, heading: str, weights: list[str], bias: str) -> list[textlayer.Words]:
        """The row's texts, placed: heading above, weights under the tiles, bias under the
        sum, '+ b =' between."""
        line = theme.text("Ag", theme.LABEL).height
        heading = theme.fitted(
            heading, ROWS_RIGHT - self.left, theme.LABEL, separator="   ·   "
        ).text
        texts = [
            textlayer.Words(heading, (self.left, self.top - line / 2), theme.LABEL, theme.TEXT, -1)
        ]
        for i, words in enumerate(weights):
            texts.append(textlayer.Words(words, under(self.grid, self.image, i)))
        texts.append(textlayer.Words(bias, under(self.total, self.sum_image, 0)))
        middle = (self.image.get_right() + self.sum_image.get_left()) / 2
        texts.append(textlayer.Words("+ b =", (middle[0], middle[1]), theme.BODY))
        return texts


class Tracer:
    """Everything the rows need at any (fractional) step: weights, biases, every layer's
    recorded output maps and pre-activations, read once."""

    def __init__(self, run: Run):
        self.recorded = recorded_weights(run)
        self.weights, self.biases = replay.weight_series(self.recorded)
        meta = run.meta(schema.PLANE_PROB)
        self.mesh = int(meta["mesh"])
        self.plane = input_maps(meta["extent"], self.mesh)
        layers = self.recorded.names[1:]
        self.outputs = [replay.Series.load(run, schema.plane(name)) for name in layers[:-1]]
        self.pre = [replay.Series.load(run, schema.plane_pre(name)) for name in layers[:-1]]
        self.pre.append(replay.Series.load(run, schema.plane(layers[-1])))  # the output's logit

    def hops(self, snapshot: int) -> list[Hop]:
        """The path of the strongest contributions (mean |w·a| over the plane) through the
        weights and maps recorded at one snapshot."""
        recorded = self.recorded
        step = float(recorded.steps[snapshot])
        return trace(
            [w[snapshot] for w in recorded.weights],
            [b[snapshot] for b in recorded.biases],
            inputs=[self.inputs(column, step) for column in range(1, len(recorded.weights) + 1)],
        )

    def inputs(self, column: int, step: float) -> np.ndarray:
        """The maps that feed a neuron of ``column``: the previous layer's recorded outputs,
        or x and y for the first layer."""
        return self.plane if column == 1 else self.outputs[column - 2].at(step)

    def row(self, hop: Hop, step: float, shown: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the inputs shown: the ``shown`` contributing most, in unit order; their
        contributions at ``step``; the neuron's recorded pre-activation there) of one hop."""
        chosen = np.sort(hop.order[:shown])
        w = self.weights[hop.column - 1].at(step)[hop.unit]
        parts = contributions(self.inputs(hop.column, step)[chosen], w[chosen])
        return chosen, parts, self.pre[hop.column - 1].at(step)[hop.unit]


def inputs_words(chosen: np.ndarray, width: int) -> str:
    """Which inputs a row shows: 'n0 … n8', or the chosen few of a wider layer."""
    if len(chosen) == width:
        return f"n0 … n{width - 1}"
    return f"its {len(chosen)} strongest of {width}"


def unit_name(names: list[str], column: int, unit: int, width: int) -> str:
    if column == 0:
        return "xy"[unit] if width == 2 else f"input {unit}"
    return names[column] if width == 1 else f"{names[column]} neuron {unit}"


def weights_part(scene: RunScene) -> None:
    """Trace the contributions from the output back, then replay training (also part of ``mlp``)."""
    run, s = scene.run, scene.settings
    plane.check_plane_run(run)
    tracer = Tracer(run)
    widths, names = tracer.recorded.widths, tracer.recorded.names
    clock = replay.ReplayClock.paced(replay.Series.load(run, schema.PLANE_PROB))
    final = float(clock.steps[-1])
    head = fitted_title(
        "Which weights carry the decision",
        [plane.describe_mlp(run), "followed back by the largest mean |w·a|", f"run {run.name}"],
        TITLE_WIDTH,
    )
    top = head.get_bottom()[1] - 0.1
    graph = NetworkGraph.placed(run, GRAPH_SIZE, GRAPH_CENTRE, top, legend_length=2.0)
    edges = graph.legend(length=2.0).to_corner(DOWN + LEFT, buff=theme.MARGIN)
    room = theme.frame_width() / 2 - theme.MARGIN - edges.get_right()[0] - 0.3
    legends = Group(edges, contribution_legend(room).to_corner(DOWN + RIGHT, buff=theme.MARGIN))
    shown = [min(s["inputs"], widths[c - 1]) for c in range(len(widths) - 1, 0, -1)]
    decimals = 2 if theme.text("+0.00", theme.SMALL).width < 0.75 else 1
    span = (min(ROWS_TOP, top), max(ROWS_BOTTOM, legends[1].get_top()[1] + 0.15))
    left = max(ROWS_LEFT, graph.get_right()[0] + 0.25)
    rows, shown = build_rows(tracer.mesh, shown, span, f"+{0:.{decimals}f}", left)
    counter = scene.step_counter(0)
    limits = tracer.recorded.limits()

    def snapshot(i: int) -> list[Hop]:
        """The path traced through the weights recorded at snapshot ``i``, and the recorded
        numbers: each row's weights, bias and scales, and the step."""
        step = float(tracer.recorded.steps[i])
        hops = tracer.hops(i)
        for hop, row, count in zip(hops, rows, shown, strict=True):
            chosen, parts, pre = tracer.row(hop, step, count)
            width = widths[hop.column - 1]
            source = names[hop.column - 1] if hop.column > 1 else "the input plane"
            inputs = "x, y" if hop.column == 1 and width == 2 else inputs_words(chosen, width)
            heading = (
                f"{unit_name(names, hop.column, hop.unit, widths[hop.column])} ← {source} "
                f"{inputs}   ·   tiles ± {np.abs(parts).max():.3g}, sum ± {np.abs(pre).max():.3g}"
            )
            numbers = [f"{hop.weights[unit]:+.{decimals}f}" for unit in chosen]
            row.text.set(row.words(heading, numbers, f"b {hop.bias:+.2f}"))
            strongest = int(np.flatnonzero(chosen == hop.strongest)[0])
            row.frame.move_to(row.grid.locate(row.image, strongest)[0])
        counter.set_step(int(step))
        return hops

    traced = replay.OnSnapshot(tracer.weights[0], snapshot)

    def strongest(hop: Hop) -> tuple[str, str, str]:
        """The input that contributes most to ``hop``'s neuron, its weight as its tile's label
        writes it, and its mean |w·a|."""
        source = unit_name(names, hop.column - 1, hop.strongest, widths[hop.column - 1])
        share = float(hop.scores[hop.strongest]) if hop.scores is not None else 0.0
        return source, f"{hop.weights[hop.strongest]:+.2f}", f"{share:.3g}"

    def row_caption(k: int) -> str:
        """Row ``k`` of the path, as traced at the step on screen."""
        hop = traced.result[k]
        target = unit_name(names, hop.column, hop.unit, widths[hop.column])
        source, w, share = strongest(hop)
        count = widths[hop.column - 1]
        if k == 0:
            return (
                f"{target} = its {count} inputs' maps × their weights, + bias; "
                f"contributing most: {source} (mean |w·a| {share}, w = {w})"
            )
        return (
            f"Back one layer: {target} ← {source}, the most of its {count} inputs "
            f"(mean |w·a| {share}, w = {w})"
        )

    def progress(lead: str = "") -> str:
        source, _, share = strongest(traced.result[0])
        when = replay.when(counter, int(tracer.recorded.steps[traced.shown]))
        return f"{lead}{when}: contributing most to the output: {source} (mean |w·a| {share})"

    @replay.changed_only
    def draw(step: float, visible: int) -> None:
        hops = traced(step)
        graph.set_weights([w.at(step) for w in tracer.weights], limits)
        graph.highlight_path(path(hops)[: visible + 1] if visible < len(rows) else path(hops))
        for hop, row, count in zip(hops[:visible], rows, shown, strict=False):
            _, parts, pre = tracer.row(hop, step, count)
            set_pixels(row.image, row.grid.image(parts, np.abs(parts).max()))
            set_pixels(row.sum_image, row.total.image(pre[None], np.abs(pre).max()))
        for k, row in enumerate(rows):
            show(row, k < visible)

    dwell, seconds = s["dwell"], s["seconds"]
    draw(final, 0)
    moving = Group(graph.edges, graph.neurons, counter, *(row_group(row) for row in rows))
    if dwell > 0:  # the first row's caption, from the start: the intro is short
        scene.caption(row_caption(0))
    else:
        count = sum(w.shape[1] * w.shape[2] for w in tracer.recorded.weights)
        scene.caption(
            f"Each edge is one of the {count} weights: red above 0, blue below, wider when larger"
        )
    replay.fade_in(scene, Group(head, legends, graph.labels, graph.dots), moving)
    scene.wait(INTRO)
    if dwell > 0:
        for visible in range(1, len(rows) + 1):  # the path, traced one layer at a time
            draw(final, visible)
            if visible > 1:
                scene.caption(row_caption(visible - 1))
            scene.hold(dwell)  # nothing moves: Manim repeats one frame
            scene.key_moment(f"weights into {names[len(names) - visible]}")
    first, *marks = replay.replay_marks(0.0, seconds)
    cues = replay.Cues(
        scene,
        [
            (first, lambda: progress("Replayed from ")),
            *((t, progress) for t in marks),
            (seconds, lambda: progress(f"{replay.finished(run).capitalize()}, ")),
        ],
    )

    def frame(t: float) -> None:
        draw(clock.replay(t, 0.0, seconds), len(rows))
        cues(t)

    replay.animate(scene, moving, seconds + replay.END, frame)
    cues.finish()
    scene.hold()
    scene.key_moment("weights after training")


def show(row: Row, visible: bool) -> None:
    """Show or hide a row (the rows appear one by one while the path is traced)."""
    if row.visible != visible:
        for part in (row.image, row.sum_image, row.text):
            part.set_opacity(1.0 if visible else 0.0)
        row.frame.set_stroke(opacity=1.0 if visible else 0.0)
        row.visible = visible


def row_group(row: Row) -> Group:
    return Group(row.image, row.sum_image, row.text, row.frame)


def build_rows(
    mesh: int, shown: list[int], span: tuple[float, float], label: str, left: float = ROWS_LEFT
) -> tuple[list[Row], list[int]]:
    """One row per layer, from the output down, between ``span``'s top and bottom: a
    heading, the contribution tiles with each input's weight under it, then '+ b =' and the
    recorded pre-activation. Tiles are as large as the rows allow; with large type fewer of
    them fit side by side (each at least as wide as its ``label``), and the rows show only
    the inputs contributing most (the counts shown are returned)."""
    top, bottom = span
    pitch = (top - bottom) / len(shown)
    heading = theme.text("Ag", theme.LABEL).height + 0.08
    under = theme.text(label, theme.SMALL)
    gap = render("+ b =", theme.BODY).shape[1] / pixels_per_unit() + 0.3
    total = plane.MapGrid(mesh, 1, cols=1, tile=TILE_PIXELS)
    cell = total.shape[1] - 2 * total.pad  # one tile and its border, in the grid's pixels
    per_pixel = (pitch - heading - under.height - 0.15) / total.shape[0]
    per_pixel = max(per_pixel, 0.1 / cell)
    # Labels side by side need their tiles at least their width apart (wider gaps with large
    # type); the row's end holds '+ b =', the sum and its label (maybe wider than its tile).
    across = max(total.pad, round((under.width + 0.12) / per_pixel - cell))
    end = gap + max(total.shape[1] * per_pixel, under.width)
    room = (ROWS_RIGHT - left - end - total.pad * per_pixel) / per_pixel
    fit = max(1, int(room / (cell + across)))
    shown = [min(count, fit) for count in shown]
    grids = [
        plane.MapGrid(mesh, count, cols=count, tile=TILE_PIXELS, across=across) for count in shown
    ]
    widest = max(grid.shape[1] for grid in grids) + total.shape[1]
    per_pixel = min(per_pixel, (ROWS_RIGHT - left - gap) / widest)
    grids = [grid.at_output(per_pixel) for grid in grids]
    total = total.at_output(per_pixel)
    rows = []
    for k, grid in enumerate(grids):
        top_k = top - k * pitch
        image = blank(grid).move_to([left, top_k - heading, 0], aligned_edge=UP + LEFT)
        sum_image = blank(total).next_to(image, RIGHT, buff=gap)
        # The labels under the sum tile may stand out past the rows' right edge.
        text = textlayer.TextLayer(ROWS_LEFT, top_k, ROWS_RIGHT - ROWS_LEFT + TEXT_OVERHANG, pitch)
        centre, side = grid.locate(image, 0)
        frame = Rectangle(
            width=side + 0.08, height=side + 0.08, stroke_color=theme.ACCENT, stroke_width=4
        ).move_to(centre)
        rows.append(Row(grid, total, image, sum_image, text, frame, top_k, left))
    return rows, shown


def under(grid: plane.MapGrid, image: ImageMobject, index: int) -> tuple[float, float]:
    """Where a label under one tile goes: its middle a line's half-height below the tile."""
    centre, side = grid.locate(image, index)
    half = theme.text("0", theme.SMALL).height / 2
    return float(centre[0]), float(centre[1] - side / 2 - half - 0.06)


def blank(grid: plane.MapGrid) -> ImageMobject:
    """An empty raster the size of ``grid``, one pixel per screen pixel."""
    height, width = grid.shape
    return raster_image(np.zeros((height, width, 3), np.uint8), width=width / pixels_per_unit())


def contribution_legend(room: float) -> Group:
    """The tiles' colour bar, and what the rows mean, in the words that fit ``room``."""
    wordings = [
        (
            "input's map × its weight",
            f"{theme.ZERO_WORD} = 0 · its weight w under each tile",
            f"{theme.ACCENT_WORD} frame: the largest mean |w·a|, followed down",
            "red frame: an input that is 0 everywhere",
            "last tile: the neuron's recorded pre-activation",
        ),
        (
            "map × weight",
            f"{theme.ZERO_WORD} = 0 · w under each tile",
            f"{theme.ACCENT_WORD} frame: largest mean |w·a|",
            "red frame: 0 everywhere",
            "last tile: pre-activation",
        ),
    ]
    for title, *lines in wordings:
        bar = ColorBar("diverging", low="− max", high="+ max", title=title, length=2.2)
        notes = Group(*(theme.text(words, theme.SMALL, theme.MUTED) for words in lines))
        notes.arrange(DOWN, aligned_edge=LEFT, buff=0.06)
        legend = Group(bar, notes.next_to(bar, RIGHT, buff=0.3).align_to(bar, DOWN))
        if legend.width <= room:
            break
    return legend


class Weights(RunScene):
    """Contributions traced from the output neuron back to the input plane, over training."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = OPTIONS

    def construct(self) -> None:
        weights_part(self)
