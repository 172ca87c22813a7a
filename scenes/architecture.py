"""Architecture: a recorded model drawn from its own layer table — conv blocks as boxes whose
height tracks the map size and whose thickness tracks the channels (PlotNeuralNet), pools
and the dense head drawn distinctly, every block labelled — built left to right; then a
forward pass carries one real probe image through it, each layer's real activation appearing
as a thumbnail above its box and the dense layers' neurons lighting up with their real values,
ending at the run's real class probabilities.

Drawn from the recorded graph: a residual network (torchvision's ResNet-18, your own block)
shows each merge as ⊕ and each skip connection as an arc over the diagram, a downsampling
shortcut's 1×1 conv on its arc; thumbnails sit in a small grid over their own block, and a
key names every colour (boxes, merges, arcs, activations, weight signs).

Works for any recorded run: VGG-16, the CIFAR VGG, the small CNN, ResNets, and MLPs (neurons and
real-weight edges, more than 16 neurons drawn as a sample with an ellipsis; the pass follows
one held-out point, its activations read from the recorded fit at the nearest mesh point).

    manim scenes/architecture.py                             # the default run (vgg16-synth)
    NNREEL_RUN=mlp-ring manim -ql scenes/architecture.py
    NNREEL_SET="image=5 pace=brisk" manim -ql scenes/architecture.py

Options (``NNREEL_SET`` or ``python -m engine render architecture --set KEY=VALUE``): see
``Architecture.options``.
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
    Create,
    FadeIn,
    Group,
    Square,
    SurroundingRectangle,
    Transform,
    VMobject,
    config,
)

from engine.console import console
from engine.errors import RunError
from engine.scenekit import (
    Choice,
    Number,
    Option,
    RunScene,
    model_name,
    output_words,
    pick_image,
    raster_image,
    set_pixels,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title
from engine.scenekit.layers import (
    LIMIT,
    Diagram,
    Layout,
    Slot,
    bar_swatch,
    blocks,
    diagram_key,
    drawn_layers,
    graph_layout,
    key,
    neuron_colours,
    shortcut_words,
)
from engine.scenekit.network import NetworkGraph
from engine.scenekit.pacing import IDEA
from engine.store import Run, schema
from engine.store.schema import BOX_KINDS, MERGE_KINDS

DIAGRAM_Y = -0.45
"""The centre line of an MLP's neuron graph."""
GLIDE = 0.9
"""Seconds the forward pass spends on each layer (a block, two to four layers, gets its own
caption and at least the time to read it)."""
WIDTH = 13.3
BOX_ROOM = 3.4
"""Height the boxes may take; thumbnails and skip connections go over them."""
SHORTCUT_LABEL = 0.45
"""Over a skip connection's run: a shortcut layer and its label."""
LABELS_BELOW = 0.8
KEY_HEIGHT = 0.75
"""The colour key over the bottom line: two lines at most."""
KEY_GAP = 0.12
"""Between the diagram's labels and the key."""
TILE = 0.54
"""Side of an activation thumbnail (frame units)."""
TILE_GAP = 0.05
TILE_LIFT = 0.12
"""Between a block's top and its thumbnails."""
LEG_ROOM = 0.12
"""Between a skip connection's vertical leg and a thumbnail."""
PIXELS_PER_UNIT = 120
SIGN_WORDS = "blue below 0, red above"
"""Said wherever neurons are drawn on the diverging map (values below zero)."""


class Pass:
    """The real numbers a forward pass shows for one example: per drawn layer its output
    (None when not recorded), the input as pixels or features, and the class probabilities."""

    def __init__(self, run: Run, layers: list[str], index: int):
        self.run, self.index = run, index
        self.plane = run.dataset.get("kind") == "plane"
        self.values: list[np.ndarray] = []
        if self.plane:
            self._plane(layers)
        else:
            self._images(layers)

    def _images(self, layers: list[str]) -> None:
        run, i = self.run, self.index
        missing = [name for name in layers if not run.has(schema.acts(name))]
        if missing or not run.has(schema.PROBE_IMAGES):
            raise RunError(
                f"Run {run.name!r} recorded no activations for {', '.join(missing) or 'its probe'} "
                "(streams acts/<layer>, probe/images): the forward pass needs them. Train with "
                "snapshots on, e.g. `python -m engine train vgg16-synth --snapshots log:60`."
            )
        self.image = rs.to_rgb(run.read(schema.PROBE_IMAGES, 0)[i])
        self.label = int(run.read(schema.PROBE_LABELS, 0)[i])
        self.values = [self.image] + [
            run.read(schema.acts(name), -1)[i].astype(np.float32) for name in layers
        ]
        self.probs = run.read(schema.PROBE_PROBS, -1)[i].astype(np.float64)
        self.step = int(run.steps(schema.PROBE_PROBS)[-1])

    def _plane(self, layers: list[str]) -> None:
        run, i = self.run, self.index
        needed = [schema.data_x("val"), schema.PLANE_PROB, *(schema.plane(name) for name in layers)]
        missing = [n for n in needed if not run.has(n)]
        if missing:
            raise RunError(
                f"Run {run.name!r} recorded no {', '.join(missing)}: the forward pass of an MLP "
                "reads each neuron's recorded response over the plane. Train with snapshots on, "
                "e.g. `python -m engine train mlp-ring`."
            )
        point = run.read(schema.data_x("val"), 0)[i].astype(np.float64)
        self.label = int(run.read(schema.data_y("val"), 0)[i])
        meta = run.meta(schema.PLANE_PROB)
        xmin, xmax, ymin, ymax = meta["extent"]
        r = int(meta["mesh"])
        col = round((point[0] - xmin) / (xmax - xmin) * (r - 1))
        row = round((ymax - point[1]) / (ymax - ymin) * (r - 1))
        col, row = min(max(col, 0), r - 1), min(max(row, 0), r - 1)
        self.point = point
        self.values = [point] + [
            run.read(schema.plane(name), -1)[:, row, col].astype(np.float32) for name in layers
        ]
        self.probs = run.read(schema.PLANE_PROB, -1)[:, row, col].astype(np.float64)
        self.step = int(run.steps(schema.PLANE_PROB)[-1])

    def output_values(self) -> np.ndarray:
        """What the output neurons show: the probabilities (class 1's for a single logit)."""
        return self.probs[1:] if len(self.values[-1]) == 1 else self.probs

    def at(self, column: int) -> np.ndarray:
        """The values column ``column`` (0: the input) shows."""
        return self.output_values() if column == len(self.values) - 1 else self.values[column]


def block_words(slots: list[Slot], first: int, forward: Pass) -> str:
    """The caption of one block of the diagram (the slots from ``first`` that share its
    block): its layers, their real output shapes and largest values on the example."""
    block = [i for i in range(first, len(slots)) if slots[i].block == slots[first].block]
    names = slots[block[0]].name
    if len(block) > 1:
        names += f"–{slots[block[-1]].name}"
    if slots[first].kind not in BOX_KINDS:
        sizes = " → ".join(str(slots[i].shape[0]) for i in block)
        layers = "dense layers" if len(block) > 1 else "a dense layer"
        return f"The head, {names}: {layers} of {sizes} units, then the class probabilities."
    convs = [i for i in block if slots[i].kind == "conv" and not slots[i].branch]
    largest = max(float(np.max(forward.at(i))) for i in block)
    pooled = slots[block[-1]].kind == "pool"
    if convs:
        c, h, w = slots[convs[-1]].shape
        words = f"{names}: {len(convs)} conv{'s' * (len(convs) != 1)} of {c} channels at {h}×{w}"
        if pooled:
            words += f", pooled to {'×'.join(map(str, slots[block[-1]].shape[1:]))}"
    else:  # a pool (or a merge) of its own: what it gives
        c, h, w = slots[block[-1]].shape
        words = f"{names}: {'pooled to ' if pooled else ''}{c} channels at {h}×{w}"
    if slots[block[-1]].kind in MERGE_KINDS:
        through = " via a conv" if any(slots[i].branch for i in block) else ""
        words += f", plus its skip{through}"
    return words + f"; largest value {largest:.3g}."


def thumbnail(maps: np.ndarray, mode: str, size: int) -> np.ndarray:
    """A [C, H, W] activation as one size×size RGB tile: its most active channel, or the mean
    over channels, scaled to its own max, or either side of 0 when it goes below zero
    (nearest-neighbour, so pixels stay square)."""
    x = maps if maps.ndim == 3 else maps[:, None, None]
    picture = x[rs.top_k(x, 1)[0]] if mode == "top" else x.mean(axis=0)
    scale = rs.honest_mode(picture[None], "channel")
    unit = rs.normalise(picture[None], scale).unit[0]
    cmap = rs.mode_cmap(scale, "viridis")
    return rs.apply_colormap(rs.resize_nearest(unit, (size, size)), cmap)


@dataclass
class Grid:
    """One block's thumbnails: its slot indices in reading order, as ``rows`` × ``cols``
    tiles whose bottom-left corner is (``left``, ``bottom``), y relative to the centre line."""

    slots: list[int]
    left: float
    bottom: float
    rows: int
    cols: int


@dataclass
class TilePlan:
    """Where each map layer's thumbnail goes: in a small grid right over its own block, so
    no leader line is needed. ``headroom`` is the height the grids take over the boxes
    (skip connections run above it)."""

    size: float
    grids: list[Grid]
    headroom: float

    def tile(self, index: int) -> tuple[float, float]:
        """Slot ``index``'s tile: its (left, bottom)."""
        for grid in self.grids:
            if index in grid.slots:
                row, col = divmod(grid.slots.index(index), grid.cols)
                step = self.size + TILE_GAP
                return grid.left + col * step, grid.bottom + (grid.rows - 1 - row) * step
        raise KeyError(index)


def tile_plan(drawing: Layout, tile: float = TILE, gap: float = TILE_GAP) -> TilePlan:
    """Each block's tiles as a grid of one or two rows over the block, at the largest size
    (at most ``tile``) that fits every block between its neighbours and the vertical legs of
    the skip connections; each grid centred over its boxes as far as that room allows."""
    slots = drawing.slots
    line = [s for s in slots if not s.branch]
    legs = [a.start[0] for a in drawing.arcs if not drawing.slot(a.source).branch]
    legs += [a.end[0] for a in drawing.arcs if not drawing.slot(a.target).branch]
    rooms = []
    for block in blocks(line):
        boxes = [s for s in block if s.kind not in MERGE_KINDS] or block
        lo_box, hi_box = boxes[0].x, max(s.right for s in boxes)
        first, last = line.index(block[0]), line.index(block[-1])
        lo = (line[first - 1].right + block[0].x) / 2 if first else -LIMIT
        hi = (block[-1].right + line[last + 1].x) / 2 if last + 1 < len(line) else LIMIT
        lo = max([lo, *(x + LEG_ROOM for x in legs if x <= lo_box)])
        hi = min([hi, *(x - LEG_ROOM for x in legs if x >= hi_box)])
        rooms.append((block, lo, hi, (lo_box + hi_box) / 2))

    def fit(count: int, width: float, rows: int) -> float:
        cols = -(-count // rows)
        return (width - (cols - 1) * gap) / cols

    size = min([tile, *(max(fit(len(b), hi - lo, r) for r in (1, 2)) for b, lo, hi, _ in rooms)])
    grids, tallest = [], 1
    for block, lo, hi, centre in rooms:
        rows = 1 if fit(len(block), hi - lo, 1) >= size - 1e-9 else 2
        cols = -(-len(block) // rows)
        tallest = max(tallest, rows)
        width = cols * size + (cols - 1) * gap
        left = min(max(centre - width / 2, lo), hi - width)
        bottom = max(s.top for s in block) + TILE_LIFT
        grids.append(Grid([slots.index(s) for s in block], left, bottom, rows, cols))
    return TilePlan(size, grids, TILE_LIFT + tallest * size + (tallest - 1) * gap)


class Strip:
    """The activation thumbnails of every map layer, one raster per block's grid (tiles not
    reached yet show as empty panels)."""

    def __init__(self, plan: TilePlan, y: float):
        self.plan = plan
        self.size = max(round(plan.size * PIXELS_PER_UNIT), 4)
        step = round((plan.size + TILE_GAP) * PIXELS_PER_UNIT)
        self.images = Group()
        self.pixels: list[np.ndarray] = []
        self.where: dict[int, tuple[int, int, int]] = {}  # slot -> (grid, x, y) in pixels
        for g, grid in enumerate(plan.grids):
            pixels = np.empty(
                ((grid.rows - 1) * step + self.size, (grid.cols - 1) * step + self.size, 3),
                np.uint8,
            )
            pixels[:] = rs.hex_rgb(theme.BACKGROUND)
            for k, index in enumerate(grid.slots):
                row, col = divmod(k, grid.cols)
                self.where[index] = (g, col * step, row * step)
                pixels[row * step : row * step + self.size, col * step : col * step + self.size] = (
                    rs.hex_rgb(theme.PANEL)
                )
            width = pixels.shape[1] / PIXELS_PER_UNIT
            image = raster_image(pixels, width=width)
            self.images.add(
                image.move_to([grid.left, y + grid.bottom, 0], aligned_edge=DOWN + LEFT)
            )
            self.pixels.append(pixels)

    @property
    def tiles(self) -> dict[int, tuple[int, int, int]]:
        return self.where

    def show(self, index: int, tile: np.ndarray) -> None:
        g, x, y = self.where[index]
        self.pixels[g][y : y + self.size, x : x + self.size] = tile
        set_pixels(self.images[g], self.pixels[g])


class Architecture(RunScene):
    """The model's diagram built from its layer table, then one real forward pass."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "image": Number(
            None,
            "the example carried through (a probe image or held-out point)",
            at_least=0,
            whole=True,
        ),
        "thumb": Choice(
            "top",
            "top (each layer's most active channel) or mean (channel mean)",
            choices=("top", "mean"),
        ),
    }

    def construct(self) -> None:
        layers = self.run.layers
        if not layers:
            raise RunError(
                f"Run {self.run.name!r} has no layer table in its manifest; train it again."
            )
        self.maps = any(info.kind in BOX_KINDS for info in layers)
        names = [info.name for info in drawn_layers(layers)]
        try:
            forward: Pass | None = Pass(
                self.run, names, pick_image(self.run, self.settings["image"])
            )
        except RunError as exc:
            console.print(f"[yellow]{exc}[/] Showing the diagram without a forward pass.")
            forward = None
        self.add_header()
        if self.maps:
            self.build_diagram(forward)
        else:
            self.build_graph(forward)
        if forward is None:
            self.swap_caption(
                theme.text("no activations recorded: no forward pass", theme.LABEL, theme.BAD)
            )
            self.hold(IDEA)
            return
        self.forward_pass(forward)
        self.hold(IDEA)
        self.key_moment("prediction")

    def final_weights(self, name: str) -> np.ndarray | None:
        stream = schema.weights(name)
        return self.run.read(stream, -1).astype(np.float32) if self.run.has(stream) else None

    # -- building -------------------------------------------------------------------------
    def add_header(self) -> None:
        kinds = [info.kind for info in self.run.layers]
        words = {
            "conv": "conv",
            "pool": "max-pool",
            "add": "add",
            "cat": "concat",
            "gap": "global avg pool",
            "dense": "dense",
        }
        counts = [f"{kinds.count(k)} {w}" for k, w in words.items() if kinds.count(k)]
        params = sum(info.params for info in self.run.layers)
        self.head = fitted_title(
            f"Architecture  ·  {model_name(self.run)}",
            [f"{params:,} parameters", ", ".join(counts), f"run {self.run.name}"],
            TITLE_WIDTH,
        )
        self.counter = self.step_counter(int(self.run.manifest["progress"].get("step", 0)))
        self.footer = theme.text(
            "box height: map size  ·  thickness: channels (log scales)"
            if self.maps
            else "edges: the network's final weights",
            theme.LABEL,
            theme.MUTED,
        ).to_edge(DOWN, buff=theme.MARGIN)
        self.add(self.head, self.counter, self.footer)
        listed = " and ".join([", ".join(counts[:-1]), counts[-1]] if len(counts) > 1 else counts)
        self.caption(
            f"The {model_name(self.run)}: {params:,} parameters in {listed} layers plus the output."
        )

    def drawing(self, overhang: float, room: float = BOX_ROOM) -> tuple[Layout, TilePlan]:
        """The diagram's layout and its thumbnails' plan: laid out once to find the room
        over each block, then again with the arcs raised over the thumbnails."""
        layers, shape = self.run.layers, self.run.model["input_shape"]
        sized = {"width": WIDTH, "height": room, "overhang": overhang}
        plan = tile_plan(graph_layout(layers, shape, **sized))
        drawing = graph_layout(layers, shape, headroom=plan.headroom, **sized)
        return drawing, tile_plan(drawing)

    def overhang(self, forward: Pass | None) -> float:
        """Room right of the output for the widest class name and the prediction's mark."""
        names = [theme.text(str(c), theme.SMALL).width for c in self.run.classes] or [0.0]
        mark = theme.text(self.mark_words(forward), theme.SMALL).width if forward else 0.0
        return 0.1 + max(names) + 0.1 + mark + 0.05

    def build_diagram(self, forward: Pass | None) -> None:
        """A CNN from its recorded graph, stage by stage, left to right; its skip
        connections as arcs; a key to the colours."""
        overhang = self.overhang(forward)
        taller = 0.0  # how much more room the labels take than kept for them (large type)
        for _ in range(3):
            drawing, self.plan = self.drawing(overhang, BOX_ROOM - taller)
            shortcuts = {
                s.name: shortcut_words(self.run.layer(s.name), self.source_shape(s.name))
                for s in drawing.slots
                if s.branch
            }
            self.diagram = Diagram(
                drawing,
                y=self.centre_line(drawing, taller),
                weights=self.final_weights,
                classes=self.run.classes,
                shortcuts=shortcuts,
            )
            if not taller:
                thumbs = [i for grid in self.plan.grids for i in grid.slots]
                neurons = [i for i, slot in enumerate(drawing.slots) if slot.kind == "vector"]
                signed = forward is not None and any(
                    rs.below_zero(forward.at(i)) for i in thumbs + neurons
                )
                entries = self.activation_key(signed, "activation 0 → max (thumbnails, neurons)")
                self.legend = key([*diagram_key(self.diagram), *entries])
                self.legend.next_to(self.footer, UP, buff=0.15).set_x(0)
            clash = self.legend.get_top()[1] + KEY_GAP - self.diagram.get_bottom()[1]
            if clash <= 0:
                break
            taller += clash
        self.add(self.legend)
        for stage in self.diagram.stages():
            self.play(FadeIn(stage, shift=0.15 * RIGHT), run_time=0.35)
        self.columns = [
            (part[0], part.units) for part in self.diagram.parts if hasattr(part, "units")
        ]
        self.hold(0.5)
        self.key_moment("the network")

    def source_shape(self, name: str) -> list[int]:
        inputs = self.run.layer(name).inputs
        if not inputs or inputs[0] == "input":
            return list(self.run.model["input_shape"])
        return self.run.layer(inputs[0]).output_shape

    def centre_line(self, drawing: Layout, taller: float = 0.0) -> float:
        """The diagram's centre line: what it draws above (thumbnails, arcs, shortcut
        labels) and below (its labels) between the title and the key."""
        line = [s for s in drawing.slots if not s.branch]
        above = max(
            [s.top + self.plan.headroom for s in line]
            + [a.top + SHORTCUT_LABEL for a in drawing.arcs]
        )
        below = max(s.height / 2 for s in line) + LABELS_BELOW + taller
        ceiling = self.head.get_bottom()[1] - 0.15
        floor = self.footer.get_top()[1] + 0.15 + KEY_HEIGHT
        return (ceiling - above + floor + below) / 2

    @staticmethod
    def activation_key(signed: bool, words: str) -> list[tuple]:
        """The activations' colours (``words`` for those from 0); ``signed``: some go below
        zero (no ReLU after their layer, or input coordinates), drawn either side of 0."""
        entries = [(bar_swatch("viridis"), words)]
        if signed:
            entries.append((bar_swatch("diverging"), "−max → 0 → +max (below 0)"))
        return entries

    def build_graph(self, forward: Pass | None) -> None:
        """An MLP as the kit's neuron graph (3Blue1Brown's look, as in the MLP scenes) with its
        final weights, column by column; a key to the colours of its edges and neurons."""
        graph = NetworkGraph.from_run(self.run, width=10.5, height=3.9)
        graph.move_to([0, DIAGRAM_Y + 0.45, 0])
        weights = [self.final_weights(n) for n in graph.names[1:]]
        if all(w is not None for w in weights):
            graph.set_weights(weights)
            entries = [
                (bar_swatch("diverging"), "weight: blue < 0 < red, wider = larger |w| (per layer)")
            ]
            if forward is not None:
                signed = any(rs.below_zero(forward.at(i)) for i in range(len(graph.neurons)))
                entries += self.activation_key(signed, "neuron 0 → its layer's max")
            self.legend = key(entries).next_to(self.footer, UP, buff=0.15).set_x(0)
            self.add(self.legend)
        for circles, label in zip(graph.neurons, graph.labels, strict=True):
            self.play(FadeIn(circles, label, shift=0.15 * RIGHT), run_time=0.35)
        self.play(FadeIn(graph.edges), FadeIn(graph.dots), run_time=0.5)
        self.bring_to_front(graph.neurons)  # the circles over the edges
        self.graph = graph
        self.columns = list(zip(graph.neurons, graph.shown, strict=True))
        self.hold(0.5)
        self.key_moment("the network")

    def swap_caption(self, caption) -> None:
        """Replace the line of text at the bottom (the subtitles are ``self.caption``)."""
        self.remove(self.footer)
        self.footer = caption.to_edge(DOWN, buff=theme.MARGIN)
        self.add(self.footer)

    # -- the forward pass -----------------------------------------------------------------
    def forward_pass(self, forward: Pass) -> None:
        """Layer by layer: the layer shows its real values at once (boxes light up, neurons
        take their activation's colour, the thumbnail appears) and a marker glides to it.
        Only the marker moves, so the diagram is drawn once per layer, not once per frame."""
        pace = GLIDE
        marker = self.show_input(forward)
        if self.maps:
            self.diagram_pass(forward, marker, pace)
        else:
            for column, (circles, units) in enumerate(self.columns[1:], start=1):
                last = column == len(self.columns) - 1  # probabilities: on a 0-1 scale
                colours = neuron_colours(units, forward.at(column), 1.0 if last else None)
                self.graph.fill_neurons(column, colours)
                name = self.graph.names[column]
                self.swap_caption(self.vector_caption(name, forward.at(column), column))
                self.glide(marker, self.around(circles), pace)
                self.hold(IDEA - pace)
                self.key_moment(name)
        self.remove(marker)
        self.prediction(forward)

    def diagram_pass(self, forward: Pass, marker: VMobject, pace: float) -> None:
        diagram = self.diagram
        strip, lit = self.strip, None
        frame = Square(self.plan.size + 0.05, stroke_color=theme.ACCENT, stroke_width=2)
        for i, slot in enumerate(diagram.slots[1:], start=1):
            values = forward.at(i)
            diagram.forward(i, values)
            if lit is not None:
                diagram.rest(lit)
            lit = i if slot.kind in BOX_KINDS else None
            self.remove(frame)
            if i in strip.tiles:  # the layer's thumbnail appears, outlined while it is current
                strip.show(i, thumbnail(values, self.settings["thumb"], strip.size))
                left, bottom = self.plan.tile(i)
                half = self.plan.size / 2
                self.add(frame.move_to([left + half, diagram.y + bottom + half, 0]))
            if slot.block != diagram.slots[i - 1].block:
                self.hold()  # the last block's caption read
                self.caption(block_words(diagram.slots, i, forward))
            self.swap_caption(self.layer_caption(slot, values))
            self.glide(marker, diagram.focus(i), pace)
            self.key_moment(slot.name)
        self.hold()
        if lit is not None:
            diagram.rest(lit)
        self.remove(frame)

    def glide(self, marker: VMobject, target: VMobject, pace: float) -> None:
        self.bring_to_front(marker)
        self.play(Transform(marker, target.set_stroke(theme.ACCENT, 3)), run_time=pace)

    def show_input(self, forward: Pass) -> VMobject:
        """Put the example on the input and return the marker that travels the layers."""
        if not self.maps:
            x, y = forward.point
            cls = self.run.classes[forward.label]
            words = f"input: the held-out point ({x:.2f}, {y:.2f}), true class {cls}"
            if rs.below_zero(forward.point):
                words += f"  ·  {SIGN_WORDS}"
            self.swap_caption(theme.text(words, theme.LABEL, theme.TEXT))
            sizes = " → ".join(str(len(units)) for _, units in self.columns[1:])
            self.caption(
                f"The held-out point ({x:.2f}, {y:.2f}), a {cls}, through {sizes} neurons "
                "coloured by their real activations."
            )
            circles, units = self.columns[0]
            self.graph.fill_neurons(0, neuron_colours(units, forward.point))
            marker = self.around(circles).set_stroke(theme.ACCENT, 3)
            self.play(Create(marker), run_time=0.5)
            return marker
        panel = self.diagram.parts[0]
        marker = self.diagram.focus(0).set_stroke(theme.ACCENT, 3)
        self.strip = Strip(self.plan, self.diagram.y)
        picture = raster_image(forward.image, height=panel.height).move_to(panel)
        cls = self.run.classes[forward.label]
        top = self.settings["thumb"] == "top"
        shown = "most active channel" if top else "mean over channels"
        ranked = rs.most_active(*filter(lambda v: v is not None, forward.values))
        words = f"input: probe image {forward.index} (true class {cls})  ·  thumbnails: each "
        words += f"layer's {ranked} channel" if top else f"layer's {shown}"
        room = theme.content_width()  # too long: the subtitle keeps the rest
        self.swap_caption(theme.fitted(words, room, theme.LABEL, theme.TEXT))
        self.caption(
            f"Probe image {forward.index}, a '{cls}', through the trained network; "
            f"thumbnails: each layer's {shown}."
        )
        self.play(FadeIn(picture), FadeIn(self.strip.images), Create(marker), run_time=0.8)
        return marker

    def layer_caption(self, slot: Slot, values: np.ndarray) -> Group:
        words = {
            "pool": "max-pool",
            "gap": "global average pool",
            "add": "add: the branch plus the skip connection",
            "cat": "concatenation of the branches",
            "logits": "output: class probabilities",
        }.get(slot.kind, slot.kind)
        if slot.kind in ("conv", "dense"):  # "conv + ReLU", or what it is without one
            info = self.run.layer(slot.name)
            joint = " " if info.activation else ", "
            words = joint.join(filter(None, (slot.kind, output_words(self.run, info, "+ "))))
        if slot.branch:
            words = f"{slot.kind} on the skip connection"
        text = f"{slot.name}  ·  {words}  ·  output {theme.shape_text(slot.shape)}"
        if slot.kind != "logits":
            text += f"  ·  largest value {float(np.max(values)):.3g}"
        return theme.text(text, theme.LABEL, theme.TEXT)

    def around(self, circles: VMobject) -> SurroundingRectangle:
        """A box around a column of the graph, whose neurons are drawn in its raster around
        these points."""
        return SurroundingRectangle(circles, buff=self.graph.neuron_radius + 0.08)

    def vector_caption(self, name: str, values: np.ndarray, column: int) -> Group:
        if column == len(self.columns) - 1:
            return theme.text(f"{name}  ·  class probabilities", theme.LABEL, theme.TEXT)
        if rs.below_zero(values):  # no ReLU after it: nothing is silent, signs tell
            low, high = float(np.min(values)), float(np.max(values))
            text = f"{name}  ·  {len(values)} neurons, {low:.3g} to {high:.3g}  ·  {SIGN_WORDS}"
            return theme.text(text, theme.LABEL, theme.TEXT)
        silent = int((np.asarray(values) <= 0).sum())
        text = f"{name}  ·  {len(values)} neurons, largest {float(np.max(values)):.3g}"
        if silent:
            text += f"  ·  {silent} silent (ReLU at 0)"
        return theme.text(text, theme.LABEL, theme.TEXT)

    def mark_words(self, forward: Pass) -> str:
        """The prediction's mark beside the output: the probability as the captions say it."""
        probs = forward.probs
        if len(forward.values[-1]) == 1 and len(probs) == 2:  # one logit read by a sigmoid
            return f"p({self.run.classes[1]}) = {theme.percent(probs[1])}"
        return theme.percent(probs.max())

    def prediction(self, forward: Pass) -> None:
        """The predicted class (with its probability) marked at the output, and a caption
        with the true class; the same rounding everywhere (``theme.percent``)."""
        probs = forward.probs
        predicted = int(np.argmax(probs))
        classes = self.run.classes
        name = classes[predicted] if predicted < len(classes) else str(predicted)
        truth = classes[forward.label] if forward.label < len(classes) else str(forward.label)
        right = predicted == forward.label
        words = (
            f"prediction: {name} ({theme.percent(probs[predicted])})  ·  true class {truth}  ·  "
            f"{'right' if right else 'wrong'}  ·  the trained network at step {forward.step:,}"
        )
        circles, units = self.columns[-1]
        units = list(units)
        single = len(units) == 1 and len(probs) == 2  # one logit read by a sigmoid
        slot = 0 if single else (units.index(predicted) if predicted in units else None)
        marks = Group()
        if slot is not None:
            mark = theme.text(self.mark_words(forward), theme.SMALL, theme.ACCENT)
            if self.maps and len(self.diagram.names):  # beside the class name, now accented
                mark.next_to(self.diagram.names[slot].set_color(theme.ACCENT), RIGHT, buff=0.1)
            elif self.maps:
                mark.next_to(circles[slot], RIGHT, buff=0.1)
            else:  # the graph's neurons are drawn in its raster around these points
                clear = self.graph.neuron_radius + 0.1
                mark.next_to(circles[slot], RIGHT, buff=clear)
                if mark.get_right()[0] > config.frame_width / 2 - theme.MARGIN:
                    mark.next_to(circles[slot], UP, buff=clear)
            marks.add(mark)
        self.swap_caption(theme.text(words, theme.LABEL, theme.GOOD if right else theme.BAD))
        self.caption(
            f"The network says '{name}' with p = {theme.percent(probs[predicted])}; the true "
            f"class is '{truth}' ({'right' if right else 'wrong'}, at step {forward.step:,})."
        )
        self.marks = marks
        self.play(FadeIn(marks), run_time=0.4)
