"""The layer-kind drawing registry: how each kind of layer draws itself, lights up in a
forward pass, and joins its neighbour — so an architecture diagram is generated from a
model's layer table, never hand-placed.

ManimML's idea, done over: each layer kind has a ``Drawer`` (``measure`` its size from the
layer's real output shape, ``build`` its mobject, ``forward`` to show the layer's real
activation on it, ``rest`` to dim it again, ``focus`` to outline it); what goes between two
layers (nothing inside a block, an arrow between blocks, a fan for a flatten, weighted edges
between dense layers) is a ``Glue`` looked up by the pair of kinds, and it also sets the gap
between them.

    drawing = graph_layout(run.layers, run.model["input_shape"], width=13.4, height=3.2)
    diagram = Diagram(drawing, weights=final_weights, classes=run.classes)
    for stage in diagram.stages(): ...                      # build it left to right
    diagram.forward(i, activation); marker.become(diagram.focus(i))

A model with skip connections (its recorded graph's ``skips``) keeps its main path on the line;
merges draw as ⊕ (add) or ‖ (concatenation) marks, each skip edge is an ``Arc`` over the
diagram, and a layer that lies only on a skip connection (a downsampling 1×1 conv) sits on
its arc. ``layout`` gives the slots alone.

Sizes follow PlotNeuralNet: a conv or pool layer is a box whose height (and receding depth)
track its spatial size and whose thickness along the flow tracks its channel count; dense
layers are columns of neurons (3Blue1Brown: at most 16 drawn, an ellipsis for the rest).
Both mappings are logarithmic, so VGG-16's 512 channels and 32→1 pixels stay on screen
next to a 2-channel input. ``layout`` is plain numbers (testable without rendering);
``Diagram`` turns it into mobjects.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Circle,
    Dot,
    Group,
    Mobject,
    Polygon,
    SurroundingRectangle,
    VGroup,
    VMobject,
)

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.widgets import raster_image
from engine.store import LayerInfo
from engine.store.schema import (
    ADD,
    BOX_KINDS,
    CAT,
    DENSE_KINDS,
    HIDDEN_KINDS,
    INPUT,
    MERGE_KINDS,
    Graph,
)

OBLIQUE = np.array([0.55, 0.34, 0.0])
"""Screen direction of one unit of receding depth (PlotNeuralNet's view from the left)."""
BOX_HEIGHT = (0.42, 2.3)
"""Front-face heights of the smallest and the largest spatial size."""
DEPTH_RATIO = 0.62
"""Receding depth per unit of height: a square map looks square in the oblique view."""
BOX_THICKNESS = (0.09, 0.38)
"""Thickness along the flow of the fewest and the most channels."""
POOL_THINNING = 0.45
"""A pool box is this much thinner than a conv box of the same channels."""
NEURON_RADIUS = 0.07
NEURON_SPACING = 0.22
OUTPUT_SPACING = 0.3
"""Output neurons sit further apart: each has its class name beside it."""
MAX_NEURONS = 16
EDGE_LEVELS = 5
"""Weights are drawn at this many strengths per sign, each level one mobject."""

FACE_COLOURS = {
    # front, top, side
    "conv": ("#4a78c8", "#7098de", "#2f528f"),
    "pool": ("#c8504a", "#de7a72", "#8f3430"),
    "gap": ("#8a63c8", "#a788de", "#5d3f8f"),
}
LIT_COLOURS = ("#ffc857", "#ffdb8f", "#c79a35")
SIGN_COLOURS = {"positive": "#f28e2b", "negative": "#e377c2"}
"""Weight sign on the head's edges: orange and pink, colours no box, map or mark uses."""
MERGE_RADIUS = 0.13
"""A merge (⊕ add, ‖ concatenation) is a small circle on the line."""
BRANCH_HEIGHT = 0.34
"""A node on a skip connection (a 1×1 downsampling conv) is drawn at most this tall."""
ARC_CLEARANCE = 0.22
"""How far a skip connection's run passes above what it spans."""
ARC_STEP = 0.32
"""How much higher an arc runs than the arcs nested inside it."""


# -- sizes from shapes ------------------------------------------------------------------------
def _log_map(value: float, lo: float, hi: float, out: tuple[float, float]) -> float:
    """``value`` in [lo, hi] → [out0, out1] on a log scale (out1 when lo == hi)."""
    if hi <= lo:
        return out[1]
    t = (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return out[0] + (out[1] - out[0]) * min(max(t, 0.0), 1.0)


@dataclass(frozen=True)
class Sizing:
    """The monotone mappings from a model's real shapes to drawn sizes: spatial sides and
    channel counts between the smallest and the largest the model has."""

    sides: tuple[int, int]
    channels: tuple[int, int]

    @classmethod
    def of(cls, shapes: Sequence[Sequence[int]]) -> Sizing:
        """From the [C, H, W] shapes of the input and every map layer."""
        maps = [s for s in shapes if len(s) == 3]
        if not maps:
            return cls((1, 1), (1, 1))
        sides = [max(s[1], s[2]) for s in maps]
        channels = [s[0] for s in maps]
        return cls((min(sides), max(sides)), (min(channels), max(channels)))

    def height(self, side: int) -> float:
        return _log_map(side, *self.sides, BOX_HEIGHT)

    def thickness(self, channels: int) -> float:
        return _log_map(channels, *self.channels, BOX_THICKNESS)


# -- the layout (numbers only) ----------------------------------------------------------------
@dataclass
class Slot:
    """Where one layer (or the input) is drawn, in frame units, before centring: ``x`` is
    the left edge of its front face, the front face is ``thickness`` × ``height`` and the
    box recedes ``depth`` along ``OBLIQUE``. ``block`` counts conv blocks from 1 (0: input,
    -1: the dense head)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    thickness: float = 0.0
    height: float = 0.0
    depth: float = 0.0
    x: float = 0.0
    block: int = 0
    fork: bool = False
    """A skip connection leaves this layer (from the line after it)."""
    branch: bool = False
    """The layer lies on a skip connection: drawn on its arc, ``rise`` above the line."""
    rise: float = 0.0

    @property
    def centre(self) -> float:
        """The middle of the front face, along the flow."""
        return self.x + self.thickness / 2

    @property
    def right(self) -> float:
        """Right edge of everything drawn (the receding side included)."""
        return self.x + self.thickness + self.depth * OBLIQUE[0]

    @property
    def top(self) -> float:
        """Top of everything drawn, relative to the diagram's centre line."""
        return self.height / 2 + self.depth * OBLIQUE[1]

    @property
    def units(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 0


def drawn_layers(layers: Sequence[LayerInfo]) -> list[LayerInfo]:
    return [info for info in layers if info.kind not in HIDDEN_KINDS]


def input_slot(input_shape: Sequence[int]) -> Slot:
    """The input: an image ([C, H, W]) or a vector of features."""
    shape = tuple(int(s) for s in input_shape)
    return Slot("input", "image" if len(shape) == 3 else "vector", shape)


@dataclass(frozen=True)
class Arc:
    """One skip-connection edge as drawn: from ``source`` to ``target`` over the diagram.
    Points are (x, y) with y relative to the diagram's centre line. From a layer on the line
    the arc rises from ``start`` (on the line just after the layer); into a merge it comes
    down onto the merge's top at ``end``; between them (and to and from a node on the
    connection, which sits on the run) it runs level at ``top``."""

    source: str
    target: str
    start: tuple[float, float]
    end: tuple[float, float]
    top: float


@dataclass
class Layout:
    """A model's drawing in numbers: every slot in the model's order (the input first; the
    layers on skip connections among them, ``branch``) and one ``Arc`` per skip edge."""

    slots: list[Slot]
    arcs: list[Arc]

    def slot(self, name: str) -> Slot:
        return next(s for s in self.slots if s.name == name)


def _opens_block(previous: Slot | None, slot: Slot) -> bool:
    """A conv block is a run of boxes standing front to front: a conv after anything but a
    conv opens one, and so does what follows a fork or a merge (a skip connection's ends)
    and a global average pool."""
    if slot.kind not in BOX_KINDS:
        return False
    if slot.kind == "gap" or previous is None or previous.kind not in BOX_KINDS:
        return True
    if previous.fork or previous.kind in MERGE_KINDS:
        return True
    return slot.kind == "conv" and previous.kind != "conv"


def join(previous: Slot, slot: Slot) -> Glue:
    """The glue between two neighbours on the line: by their kinds, with room for the arc
    that rises after a fork."""
    found = glue(previous.kind, slot.kind)
    if previous.fork:
        return Glue("arrow", max(found.gap, FORK_GAP), _arrow)
    return found


def _branches(layers: Sequence[LayerInfo]) -> tuple[Graph, set[str]]:
    """The model's graph and the drawn layers that lie only on skip connections (every edge
    in and out of them is a skip, as a downsampling shortcut's 1×1 conv)."""
    graph = Graph.from_layers(list(layers))
    on_skip: dict[str, list[bool]] = {}
    for edge in graph.edges:
        on_skip.setdefault(edge.source, []).append(edge.skip)
        on_skip.setdefault(edge.target, []).append(edge.skip)
    drawn = {info.name for info in drawn_layers(layers)}
    return graph, {name for name, skips in on_skip.items() if name in drawn and all(skips)}


def layout(
    layers: Sequence[LayerInfo],
    input_shape: Sequence[int],
    *,
    width: float,
    height: float,
    class_names: bool = True,
) -> list[Slot]:
    """The slots of ``graph_layout`` (for a chain of layers, all there is)."""
    return graph_layout(
        layers, input_shape, width=width, height=height, class_names=class_names
    ).slots


def graph_layout(
    layers: Sequence[LayerInfo],
    input_shape: Sequence[int],
    *,
    width: float,
    height: float,
    headroom: float = 0.0,
    overhang: float | None = None,
    class_names: bool = True,
) -> Layout:
    """The input and every drawn layer of the main path, measured by its kind's drawer from
    its real output shape, placed left to right with the gap its glue asks for, then scaled
    down (all sizes alike, so proportions hold) to fit ``width`` × ``height`` and centred on
    x = 0; then each skip connection as arcs over it, running ``headroom`` (room the scene
    keeps above each box, for thumbnails) above what it spans, and the layers on a skip
    connection placed on their arc. ``overhang`` is what is drawn right of the output
    (class names), by default the output drawer's guess; with ``class_names`` the output keeps
    its height, room for a class name by each neuron (a small diagram without them scales it
    like the rest)."""
    graph, branch_names = _branches(layers)
    infos = drawn_layers(layers)
    forks = {edge.source for edge in graph.skips}
    slots = [input_slot(input_shape)]
    slots += [Slot(i.name, i.kind, tuple(i.output_shape)) for i in infos]
    for slot in slots:
        slot.fork = slot.name in forks or (slot.name == "input" and INPUT in forks)
        slot.branch = slot.name in branch_names
    main = [s for s in slots if not s.branch]
    sizing = Sizing.of([s.shape for s in slots if s.kind in (*BOX_KINDS, "image")])
    block, x = 0, 0.0
    for previous, slot in itertools.pairwise([None, *main]):
        drawer(slot.kind).measure(slot, sizing)
        if previous is not None:
            link = join(previous, slot)
            if link.name == "touch":  # PlotNeuralNet: a block's boxes stand front to front
                x = previous.x + previous.thickness + link.gap
            else:
                x = previous.right + link.gap
        if _opens_block(previous, slot):
            block += 1
        slot.block = block if slot.kind in BOX_KINDS else (0 if slot.name == "input" else -1)
        slot.x = x
    last = main[-1]
    extra = drawer(last.kind).overhang(last) if overhang is None else overhang
    span = max(s.right for s in main) - main[0].x  # the overhang is text: it does not scale
    tall = max(s.top for s in main) + max(s.height / 2 for s in main)
    scale = min(1.0, (width - extra) / span, height / tall)
    left, origin = -(span * scale + extra) / 2, main[0].x
    for slot in main:
        slot.x = left + (slot.x - origin) * scale
        if slot.kind != "logits" or not class_names:
            slot.height *= scale
        slot.thickness, slot.depth = slot.thickness * scale, slot.depth * scale
    for slot in slots:
        if slot.branch:
            drawer(slot.kind).measure(slot, sizing)
            shrink = min(scale, BRANCH_HEIGHT / max(slot.height, 1e-9))
            slot.thickness *= scale
            slot.height, slot.depth = slot.height * shrink, slot.depth * shrink
    return Layout(slots, _arcs(graph, slots, main, headroom))


def _chains(graph: Graph, main_names: set[str]) -> list[list[str]]:
    """Each skip connection as the nodes it passes: a layer on the line, the layers on the
    connection (if any), and the merge on the line it ends in."""
    after: dict[str, list[str]] = {}
    for edge in graph.skips:
        after.setdefault(edge.source, []).append(edge.target)
    chains = []
    for source in [s for s in after if s in main_names]:
        for first in after[source]:
            chain = [source, first]
            while chain[-1] not in main_names and after.get(chain[-1]):
                chain.append(after[chain[-1]][0])
            chains.append(chain)
    return chains


def _arcs(graph: Graph, slots: list[Slot], main: list[Slot], headroom: float) -> list[Arc]:
    """The arcs of every skip connection: each runs above the tallest layer it spans (and
    the ``headroom`` over it), above any connection nested in it; the layers on it are
    spread evenly along its run."""
    by_name = {s.name: s for s in slots}
    by_name.setdefault(INPUT, main[0])
    index = {s.name: k for k, s in enumerate(main)}
    chains = [c for c in _chains(graph, set(index) | {INPUT}) if c[-1] in index]
    spans = []
    for chain in chains:
        source = by_name[chain[0]]
        following = main[index[source.name] + 1] if source.name in index else main[1]
        fork = source.right + 0.4 * (following.x - source.right)
        spans.append(((fork, by_name[chain[-1]].centre), chain))
    spans.sort(key=lambda span: span[0][1] - span[0][0])  # inner arcs first
    placed: list[tuple[float, float, float]] = []
    arcs = []
    for (a, b), chain in spans:
        spanned = [s.top for s in main if s.x < b and s.right > a and s.name != chain[-1]]
        top = max(spanned or [0.0]) + headroom + ARC_CLEARANCE
        top = max([top, *(t + ARC_STEP for c, d, t in placed if a <= c and d <= b)])
        placed.append((a, b, top))
        middle = chain[1:-1]
        for k, name in enumerate(middle, start=1):
            slot = by_name[name]
            slot.x = a + k / (len(middle) + 1) * (b - a) - slot.thickness / 2
            slot.rise, slot.block = top, by_name[chain[-1]].block
        for source, target in itertools.pairwise(chain):
            start = _arc_start(by_name[source], a, top)
            arcs.append(Arc(source, target, start, _arc_end(by_name[target], b, top), top))
    return arcs


def _arc_start(source: Slot, fork: float, top: float) -> tuple[float, float]:
    """From a layer on the line: the fork on the line after it (level with the arrow that
    leaves its receding side); from a layer on the connection: its right side."""
    if source.branch:
        return (source.right, top)
    return (fork, source.depth * OBLIQUE[1] / 2)


def _arc_end(target: Slot, merge: float, top: float) -> tuple[float, float]:
    """Into a merge on the line: its top; into a layer on the connection: its left side."""
    if target.branch:
        return (target.x, top)
    return (merge, target.height / 2)


def blocks(slots: Sequence[Slot]) -> list[list[Slot]]:
    """The map slots grouped by conv block (each a run of convs and the pooling after)."""
    out: dict[int, list[Slot]] = {}
    for slot in slots:
        if slot.block > 0:
            out.setdefault(slot.block, []).append(slot)
    return list(out.values())


# -- drawers ----------------------------------------------------------------------------------
class Drawer:
    """How one kind of layer is sized, drawn, lit by a forward pass and dimmed again."""

    def measure(self, slot: Slot, sizing: Sizing) -> None:
        raise NotImplementedError

    def overhang(self, slot: Slot) -> float:
        """What is drawn to the right of ``slot.right`` (class names beside an output)."""
        return 0.0

    def build(self, slot: Slot, y: float) -> Group:
        raise NotImplementedError

    def forward(self, drawn: Group, values: np.ndarray | None) -> None:
        """Show ``values`` (the layer's real output for one input) on the drawing, at once:
        the scene moves the eye (``focus``), so that only one small mobject animates and the
        rest of the diagram is drawn once per step, not once per frame."""

    def rest(self, drawn: Group) -> None:
        """Undo what ``forward`` marks only while the pass is at this layer."""

    def focus(self, drawn: Group) -> VMobject:
        """An outline around the layer, for a marker that travels from layer to layer."""
        return SurroundingRectangle(drawn[0], buff=0.06, color=theme.ACCENT, stroke_width=3)

    def anchor(self, drawn: Group, side: np.ndarray) -> np.ndarray:
        """Where glue attaches on the left (``LEFT``) or right (``RIGHT``) side."""
        return drawn.get_critical_point(side)


class BoxDrawer(Drawer):
    """Conv, pool and global-average-pool layers: a PlotNeuralNet box (front, top and side
    faces) sized by spatial size and channels."""

    def __init__(self, kind: str, thinning: float = 1.0):
        self.kind = kind
        self.thinning = thinning

    def measure(self, slot: Slot, sizing: Sizing) -> None:
        channels, h, w = (*slot.shape, 1, 1)[:3] if len(slot.shape) == 1 else slot.shape
        slot.thickness = sizing.thickness(channels) * self.thinning
        slot.height = sizing.height(h)
        slot.depth = sizing.height(w) * DEPTH_RATIO

    def build(self, slot: Slot, y: float) -> Group:
        x0, x1 = slot.x, slot.x + slot.thickness
        lo, hi = y - slot.height / 2, y + slot.height / 2
        back = OBLIQUE * slot.depth
        corners = {
            "front": [[x0, lo, 0], [x1, lo, 0], [x1, hi, 0], [x0, hi, 0]],
            "top": [[x0, hi, 0], [x1, hi, 0], np.add([x1, hi, 0], back), np.add([x0, hi, 0], back)],
            "side": [
                [x1, lo, 0],
                np.add([x1, lo, 0], back),
                np.add([x1, hi, 0], back),
                [x1, hi, 0],
            ],
        }
        faces = VGroup(
            *(
                Polygon(*points, stroke_color=theme.BACKGROUND, stroke_width=1.2).set_fill(
                    colour, opacity=1.0
                )
                for points, colour in zip(corners.values(), FACE_COLOURS[self.kind], strict=True)
            )
        )
        faces.slot = slot
        return faces

    def forward(self, drawn: Group, values: np.ndarray | None) -> None:
        for face, colour in zip(drawn, LIT_COLOURS, strict=True):
            face.set_fill(colour)

    def rest(self, drawn: Group) -> None:
        for face, colour in zip(drawn, FACE_COLOURS[self.kind], strict=True):
            face.set_fill(colour)

    def focus(self, drawn: Group) -> VMobject:
        return SurroundingRectangle(drawn, buff=0.05, color=theme.ACCENT, stroke_width=3)

    def anchor(self, drawn: Group, side: np.ndarray) -> np.ndarray:
        front = drawn[0]
        point = front.get_critical_point(side)
        if side[0] > 0:  # the middle of the receding side face
            point = point + OBLIQUE * drawn.slot.depth / 2
        return point


class ImageDrawer(Drawer):
    """The input image: a flat panel of the input's size (the probe image is laid on it)."""

    def measure(self, slot: Slot, sizing: Sizing) -> None:
        slot.height = sizing.height(max(slot.shape[1:]))
        slot.thickness = slot.height * slot.shape[2] / slot.shape[1]

    def build(self, slot: Slot, y: float) -> Group:
        from manim import Rectangle

        frame = Rectangle(width=slot.thickness, height=slot.height, stroke_width=1.5)
        frame.set_stroke(theme.MUTED).set_fill(theme.PANEL, 1.0)
        group = Group(frame.move_to([slot.x + slot.thickness / 2, y, 0]))
        group.slot = slot
        return group


class ColumnDrawer(Drawer):
    """Dense layers, the logits and a vector input: a column of neurons, at most
    ``MAX_NEURONS`` drawn (the first and last halves, an ellipsis between). ``forward``
    fills each neuron by its real value (brighter = larger, scaled to the layer's largest)."""

    def __init__(self, output: bool = False, spacing: float = NEURON_SPACING):
        self.output = output
        self.spacing = spacing

    def measure(self, slot: Slot, sizing: Sizing) -> None:
        shown = len(shown_units(slot.units))
        rows = shown + (shown < slot.units)
        slot.thickness = 2 * NEURON_RADIUS
        slot.height = (rows - 1) * self.spacing + 2 * NEURON_RADIUS

    def overhang(self, slot: Slot) -> float:
        return 0.6 if self.output else 0.0

    def build(self, slot: Slot, y: float) -> Group:
        units = shown_units(slot.units)
        radius = slot.thickness / 2
        rows_drawn = len(units) + (len(units) < slot.units)
        spacing = (slot.height - slot.thickness) / max(rows_drawn - 1, 1)
        x = slot.x + radius
        rows = np.arange(len(units), dtype=float)
        if len(units) < slot.units:
            rows[(len(units) + 1) // 2 :] += 1
        rows -= rows[-1] / 2 if len(rows) else 0
        neurons = VGroup(
            *(
                Circle(radius, stroke_color=theme.MUTED, stroke_width=1.5)
                .set_fill(theme.PANEL, 1.0)
                .move_to([x, y - r * spacing, 0])
                for r in rows
            )
        )
        group = Group(neurons)
        if len(units) < slot.units:  # the units not drawn: three dots in the gap they leave
            middle = y - (rows[(len(units) + 1) // 2 - 1] + 1) * spacing
            free = 2 * spacing - 2 * radius
            dots = (Dot([x, middle + k * free / 4, 0], free / 16) for k in (-1, 0, 1))
            group.add(VGroup(*dots).set_color(theme.MUTED))
        group.slot, group.units = slot, units
        return group

    def forward(self, drawn: Group, values: np.ndarray | None) -> None:
        if values is not None:  # an output shows probabilities: on their own 0-1 scale
            light_neurons(drawn[0], drawn.units, values, 1.0 if self.output else None)

    def anchor(self, drawn: Group, side: np.ndarray) -> np.ndarray:
        return drawn[0].get_critical_point(side)


class MergeDrawer(Drawer):
    """Where branches meet: a small circle on the line marked + (a residual add) or ‖ (a
    concatenation); it lights up when the forward pass reaches it."""

    def __init__(self, kind: str):
        self.kind = kind

    def measure(self, slot: Slot, sizing: Sizing) -> None:
        slot.thickness = slot.height = 2 * MERGE_RADIUS

    def build(self, slot: Slot, y: float) -> Group:
        radius = slot.thickness / 2
        centre = np.array([slot.x + radius, y, 0.0])
        ring = Circle(radius, stroke_color=theme.TEXT, stroke_width=2).set_fill(theme.PANEL, 1.0)
        mark = VMobject(stroke_color=theme.TEXT, stroke_width=2)
        arm = 0.55 * radius
        if self.kind == ADD:
            strokes = [(LEFT, RIGHT), (DOWN, UP)]
        else:
            strokes = [
                (0.35 * LEFT + DOWN, 0.35 * LEFT + UP),
                (0.35 * RIGHT + DOWN, 0.35 * RIGHT + UP),
            ]
        for a, b in strokes:
            mark.start_new_path(centre + arm * a)
            mark.add_line_to(centre + arm * b)
        group = Group(VGroup(ring.move_to(centre), mark))
        group.slot = slot
        return group

    def forward(self, drawn: Group, values: np.ndarray | None) -> None:
        drawn[0][0].set_fill(LIT_COLOURS[0], 1.0)

    def rest(self, drawn: Group) -> None:
        drawn[0][0].set_fill(theme.PANEL, 1.0)


def neuron_colours(units: np.ndarray, values: np.ndarray, top: float | None = None) -> np.ndarray:
    """The colours ([n, 3] uint8) of the drawn ``units`` by their real values, all on one
    scale: viridis from 0 to ``top`` (1 for probabilities), by default to the largest value
    drawn; where any drawn value is below zero (no ReLU after the layer, or input
    coordinates), the diverging map either side of 0 out to the largest |value|, so a
    negative unit never passes for a positive one."""
    shown = np.asarray(values, dtype=np.float64).reshape(-1)[units]
    if top is not None:
        return rs.apply_colormap(np.clip(shown / top, 0.0, 1.0), "viridis")
    mode = rs.honest_mode(shown[None], "layer")
    unit = rs.normalise(shown[None], mode).unit[0]
    return rs.apply_colormap(unit, rs.mode_cmap(mode, "viridis"))


def light_neurons(
    neurons: VGroup, units: np.ndarray, values: np.ndarray, top: float | None = None
) -> None:
    """Fill each drawn neuron (a circle) by its unit's real value (``neuron_colours``)."""
    for neuron, colour in zip(neurons, neuron_colours(units, values, top), strict=True):
        neuron.set_fill(rs.rgb_hex(colour), 1.0)


def shown_units(units: int) -> np.ndarray:
    """The neurons drawn of a layer of ``units``: all, or the first and last halves of
    ``MAX_NEURONS``."""
    if units <= MAX_NEURONS:
        return np.arange(units)
    head = MAX_NEURONS // 2
    return np.concatenate([np.arange(head), np.arange(units - (MAX_NEURONS - head), units)])


DRAWERS: dict[str, Drawer] = {
    "image": ImageDrawer(),
    "vector": ColumnDrawer(),
    "conv": BoxDrawer("conv"),
    "pool": BoxDrawer("pool", thinning=POOL_THINNING),
    "gap": BoxDrawer("gap", thinning=POOL_THINNING),
    "dense": ColumnDrawer(),
    "logits": ColumnDrawer(output=True, spacing=OUTPUT_SPACING),
    ADD: MergeDrawer(ADD),
    CAT: MergeDrawer(CAT),
}


def drawer(kind: str) -> Drawer:
    """The drawer of a layer kind; an unknown kind is drawn as a neuron column."""
    return DRAWERS.get(kind, DRAWERS["dense"])


# -- glue between two kinds -------------------------------------------------------------------
BLOCK_GAP = 0.6
TOUCH_GAP = 0.035
"""Between the front faces of a block's boxes: a sliver, so each layer reads as one slab."""
COLUMN_GAP = 0.95
HEAD_GAP = 0.9
MERGE_GAP = 0.3
FORK_GAP = 0.55
"""After a layer a skip connection leaves: room for the arc to rise between two layers."""


@dataclass(frozen=True)
class Glue:
    """What joins two neighbouring layers, and the horizontal gap it needs."""

    name: str
    gap: float
    draw: Callable[[Group, Group, np.ndarray | None], VMobject | None] = field(repr=False)


def _nothing(left: Group, right: Group, weights: np.ndarray | None) -> None:
    return None


def _arrow(left: Group, right: Group, weights: np.ndarray | None) -> VMobject:
    start = drawer(left.slot.kind).anchor(left, RIGHT)
    end = drawer(right.slot.kind).anchor(right, LEFT)
    end = np.array([end[0], start[1], 0.0]) if abs(end[1] - start[1]) < 1.0 else end
    return Arrow(
        start,
        end,
        buff=0.06,
        stroke_width=2.5,
        color=theme.MUTED,
        tip_length=0.12,
        max_tip_length_to_length_ratio=0.5,
    )


def _fan(left: Group, right: Group, weights: np.ndarray | None) -> VMobject:
    """Flatten: faint lines from the box's side to every drawn neuron of the next layer."""
    start = drawer(left.slot.kind).anchor(left, RIGHT)
    lines = VMobject(stroke_color=theme.MUTED, stroke_width=1.0, stroke_opacity=0.45)
    for neuron in right[0]:
        lines.start_new_path(start)
        lines.add_line_to(neuron.get_left())
    return lines


def _edges(left: Group, right: Group, weights: np.ndarray | None) -> VGroup:
    """Every drawn pair of neurons joined; with the layer's real weights ([out, in]), each
    edge is coloured by sign (``SIGN_COLOURS``) and made wider and more opaque with |w| (one
    mobject per strength level, so hundreds of edges cost a handful of paths)."""
    sources, targets = left[0], right[0]
    bundle = VGroup()
    if weights is None:
        lines = VMobject(stroke_color=theme.MUTED, stroke_width=1.0, stroke_opacity=0.5)
        for a, b in itertools.product(sources, targets):
            lines.start_new_path(a.get_right())
            lines.add_line_to(b.get_left())
        return bundle.add(lines)
    w = np.asarray(weights, dtype=np.float64)[np.ix_(right.units, left.units)]
    limit = float(np.abs(w).max()) or 1.0
    levels = np.clip(np.round(w / limit * EDGE_LEVELS), -EDGE_LEVELS, EDGE_LEVELS).astype(int)
    for level in sorted(set(levels.ravel().tolist()) - {0}, key=abs):
        strength = abs(level) / EDGE_LEVELS
        lines = VMobject(
            stroke_color=SIGN_COLOURS["positive" if level > 0 else "negative"],
            stroke_width=0.5 + 2.0 * strength,
            stroke_opacity=0.2 + 0.8 * strength,
        )
        for j, i in zip(*np.nonzero(levels == level), strict=True):
            lines.start_new_path(sources[i].get_right())
            lines.add_line_to(targets[j].get_left())
        bundle.add(lines)
    return bundle


ARROW = Glue("arrow", BLOCK_GAP, _arrow)
GLUE: dict[tuple[str, str], Glue] = {
    ("image", "conv"): Glue("arrow", 0.5, _arrow),
    ("conv", "conv"): Glue("touch", TOUCH_GAP, _nothing),
    ("conv", "pool"): Glue("touch", TOUCH_GAP, _nothing),
    ("pool", "pool"): Glue("touch", TOUCH_GAP, _nothing),
    ("pool", "conv"): ARROW,
    ("conv", "gap"): ARROW,
    ("pool", "gap"): ARROW,
    **{(a, b): Glue("arrow", MERGE_GAP, _arrow) for a in BOX_KINDS for b in MERGE_KINDS},
    **{(a, b): Glue("fan", HEAD_GAP, _fan) for a in BOX_KINDS for b in DENSE_KINDS},
    **{
        (a, b): Glue("edges", COLUMN_GAP, _edges)
        for a in (*DENSE_KINDS, "vector")
        for b in DENSE_KINDS
    },
}


def glue(left: str, right: str) -> Glue:
    """The glue between two kinds (an arrow for any pair not in ``GLUE``)."""
    return GLUE.get((left, right), ARROW)


def spread(
    centres: Sequence[float], widths: Sequence[float], lo: float, hi: float, gap: float
) -> list[float]:
    """Left edges for things of the given widths (in order), as near their centres as
    possible, at least ``gap`` apart and inside [lo, hi]: labels or thumbnail groups that
    would overlap are pushed apart."""
    lefts = [c - w / 2 for c, w in zip(centres, widths, strict=True)]
    for i in range(len(lefts)):
        floor = lo if i == 0 else lefts[i - 1] + widths[i - 1] + gap
        lefts[i] = max(lefts[i], floor)
    for i in reversed(range(len(lefts))):
        ceiling = hi if i == len(lefts) - 1 else lefts[i + 1] - gap
        lefts[i] = min(lefts[i], ceiling - widths[i])
    return lefts


LIMIT = 6.75
"""Half the frame width less the margin: nothing is placed beyond ±LIMIT."""
LABEL_GAP = 0.2


# -- a whole model ----------------------------------------------------------------------------
def block_words(block: Sequence[Slot]) -> tuple[str, str]:
    """A conv block's label: what it holds, and how it changes the map size (a block that
    ends in a merge is a residual or concatenating block; its shortcut's layers aside)."""
    block = [s for s in block if not s.branch]
    convs = [s for s in block if s.kind == "conv"]
    first, last = block[0].shape, block[-1].shape
    if convs:
        channels = sorted({s.shape[0] for s in convs}, key=[s.shape[0] for s in convs].index)
        count = f"{len(convs)} × " if len(convs) > 1 else ""
        what = f"{count}conv {', '.join(map(str, channels))}"
    else:
        what = {"gap": "global avg", "pool": "max-pool"}.get(block[0].kind, block[0].kind)
    size = f"{first[1]}×{first[2]}" if len(first) == 3 else f"{first[0]}"
    if len(last) == 3 and last[1:] != first[1:]:
        size += f" → {last[1]}×{last[2]}"
    elif len(last) == 1 and len(first) == 1:
        size = f"{last[0]} values"
    if block[-1].kind in MERGE_KINDS and convs:
        merged = "res block" if block[-1].kind == ADD else "concat block"
        return merged, f"conv {convs[-1].shape[0]} · {size}"
    return what, size


def shortcut_words(info: LayerInfo, source_shape: Sequence[int]) -> str:
    """'1×1 conv, stride 2' for a conv on a shortcut, from its real MACs and shapes."""
    if info.kind != "conv" or len(info.output_shape) != 3 or len(source_shape) != 3:
        return info.kind
    c, h, w = info.output_shape
    per_tap = info.macs / max(c * h * w * source_shape[0], 1)
    k = round(math.sqrt(per_tap))
    words = f"{k}×{k} conv" if k >= 1 and abs(per_tap - k * k) < 0.5 else "conv"
    stride = source_shape[1] // h if h else 1
    return words + (f", stride {stride}" if stride > 1 else "")


class Diagram(Group):
    """A model drawn from its ``layout``: each slot built by its kind's drawer around the
    line ``y`` (a layer on a skip connection on its arc), the glue between neighbours on the
    line (``weights(name)`` gives a dense layer's real [out, in] weights, or None), each skip
    connection as an arc, labels under each block and column (identical neighbouring blocks
    share one: '2 × residual block'), and ``classes`` naming the output neurons.
    ``shortcuts`` names what lies on a skip connection ('1×1 conv, stride 2').

    ``stages`` are the pieces in build order (a block with its arcs, or a column with the
    glue into it); ``forward(i, values)``, ``rest(i)`` and ``focus(i)`` are slot i's
    drawer's.
    """

    def __init__(
        self,
        slots: Sequence[Slot] | Layout,
        *,
        y: float = 0.0,
        weights: Callable[[str], np.ndarray | None] = lambda name: None,
        classes: Sequence[str] = (),
        shortcuts: dict[str, str] | None = None,
    ):
        super().__init__()
        drawn = slots if isinstance(slots, Layout) else Layout(list(slots), [])
        self.slots, self.arc_layout, self.y = drawn.slots, drawn.arcs, y
        self.parts = [drawer(s.kind).build(s, y + s.rise) for s in self.slots]
        self.joins: list[VMobject | None] = [None] * len(self.slots)
        line = [i for i, s in enumerate(self.slots) if not s.branch]
        self.signed = False  # whether any edges show their weights' signs
        for a, b in itertools.pairwise(line):
            left, right = self.parts[a], self.parts[b]
            link, known = join(left.slot, right.slot), weights(right.slot.name)
            self.joins[b] = link.draw(left, right, known)
            self.signed |= link.name == "edges" and known is not None
        self.arcs = [arc_path(arc, y) for arc in self.arc_layout]
        floor = y - max(s.height / 2 for s in self.slots if not s.branch) - 0.22
        self.labels = self._labels(floor)
        self.shortcut_labels = self._shortcut_labels(shortcuts or {})
        self.names = self._class_names(classes)
        self.add(*(j for j in self.joins if j is not None), *self.arcs, *self.parts)
        self.add(self.labels, self.shortcut_labels, self.names)

    def _labels(self, floor: float) -> Group:
        labels = Group()
        self.label_of: dict[int, Group] = {}
        groups = blocks(self.slots)
        runs = itertools.groupby(groups, key=block_words)
        for (what, size), same in runs:
            same = list(same)
            if len(same) > 1:
                what = f"{len(same)} × {what}"
            members = [self.slots.index(s) for block in same for s in block]
            boxes = [self.parts[i][0] for i in members if not self.slots[i].branch]
            labels.add(self._label(what, size, Group(*boxes).get_center()[0], floor))
            for i in members:
                self.label_of[i] = labels[-1]
        for i, slot in enumerate(self.slots):
            if slot.block <= 0 and not slot.branch:
                if slot.kind == "image":
                    words = ("input", theme.shape_text(slot.shape))
                else:
                    words = (slot.name, f"{slot.units:,}")
                centre = self.parts[i].get_center()[0]
                labels.add(self._label(*words, centre, floor))
                self.label_of[i] = labels[-1]
        self._spread_labels(labels)
        return labels

    def _shortcut_labels(self, shortcuts: dict[str, str]) -> Group:
        """Each layer on a skip connection named just above it."""
        labels = Group()
        for slot, part in zip(self.slots, self.parts, strict=True):
            if slot.branch:
                words = shortcuts.get(slot.name, slot.kind)
                labels.add(theme.text(words, theme.SMALL, theme.MUTED).next_to(part, UP, 0.08))
        return labels

    def _spread_labels(self, labels: Group) -> None:
        """Move labels apart where two would overlap, keeping each near its layer. Where they
        cannot all stand side by side (large type), each keeps its first line only (the boxes'
        heights show the sizes) and every other one drops to a second row."""
        order = sorted(range(len(labels)), key=lambda i: labels[i].get_x())
        rows = [order]
        if sum(labels[i].width for i in order) + LABEL_GAP * (len(order) - 1) > 2 * LIMIT:
            top = labels.get_top()[1]
            for i in order:
                labels[i].remove(labels[i][1])
            rows = [order[0::2], order[1::2]]
            for k, row in enumerate(rows):
                for i in row:
                    y = top - k * (labels[i].height + LABEL_GAP / 2)
                    labels[i].move_to([labels[i].get_x(), y, 0], aligned_edge=UP)
        for row in rows:
            widths = [labels[i].width for i in row]
            lefts = spread([labels[i].get_x() for i in row], widths, -LIMIT, LIMIT, LABEL_GAP)
            for i, left in zip(row, lefts, strict=True):
                labels[i].set_x(left + labels[i].width / 2)

    @staticmethod
    def _label(what: str, size: str, x: float, y: float) -> Group:
        group = Group(
            theme.text(what, theme.SMALL, theme.TEXT, weight="BOLD"),
            theme.text(size, theme.SMALL, theme.MUTED),
        ).arrange(DOWN, buff=0.07)
        return group.move_to([x, y, 0], aligned_edge=UP)

    def _class_names(self, classes: Sequence[str]) -> Group:
        names = Group()
        last = self.parts[max(i for i, s in enumerate(self.slots) if not s.branch)]
        slot = last.slot
        if slot.kind != "logits" or not classes:
            return names
        if slot.units == 1 and len(classes) == 2:  # one logit read by a sigmoid
            words = [f"p({classes[1]})"]
        else:
            words = [str(classes[u]) if u < len(classes) else str(u) for u in last.units]
        for neuron, word in zip(last[0], words, strict=True):
            names.add(theme.text(word, theme.SMALL, theme.MUTED).next_to(neuron, RIGHT, 0.1))
        return names

    def arcs_into(self, names: set[str]) -> list[VMobject]:
        return [m for arc, m in zip(self.arc_layout, self.arcs, strict=True) if arc.target in names]

    def stages(self) -> list[Group]:
        """Build order: the input, then each block (with the glue into it, the skip
        connections that end in it and its label), then each column of the head (with its
        glue and label); the class names last."""
        stages: list[Group] = []
        seen: set[int] = set()
        for i, slot in enumerate(self.slots):
            if i in seen or slot.branch:
                continue
            members = [
                j for j, s in enumerate(self.slots) if slot.block > 0 and s.block == slot.block
            ]
            members = members or [i]
            seen.update(members)
            group = Group()
            for j in members:
                if self.joins[j] is not None:
                    group.add(self.joins[j])
                group.add(self.parts[j])
            group.add(*self.arcs_into({self.slots[j].name for j in members}))
            group.add(self.label_of[i])
            branches = [self.slots.index(s) for s in self.slots if s.branch]
            for j in branches:
                if j in members:
                    k = branches.index(j)
                    group.add(self.shortcut_labels[k])
            stages.append(group)
        if len(self.names):
            stages[-1].add(self.names)
        return stages

    def forward(self, index: int, values: np.ndarray | None) -> None:
        drawer(self.slots[index].kind).forward(self.parts[index], values)

    def rest(self, index: int) -> None:
        drawer(self.slots[index].kind).rest(self.parts[index])

    def focus(self, index: int) -> VMobject:
        return drawer(self.slots[index].kind).focus(self.parts[index])

    def overlaps(self) -> list[tuple[int, int]]:
        """Pairs of labels whose boxes overlap (for tests: there should be none)."""
        boxes = [(m.get_left()[0], m.get_right()[0]) for m in self.labels]
        return [
            (a, b)
            for a, b in itertools.combinations(range(len(boxes)), 2)
            if boxes[a][0] < boxes[b][1] and boxes[b][0] < boxes[a][1]
        ]


ARC_WIDTH = 2.0
ARC_CORNER = 0.12
TIP = 0.1


def arc_path(arc: Arc, y: float) -> VGroup:
    """A skip connection as drawn: up from its start, level at its top, down to its end
    (corners rounded), with an arrow tip where it arrives."""
    (x0, y0), (x1, y1), top = arc.start, arc.end, arc.top
    points = [np.array([x0, y + y0, 0.0])]
    if y0 < top - 1e-6:
        points.append(np.array([x0, y + top, 0.0]))
    if y1 < top - 1e-6:
        points.append(np.array([x1, y + top, 0.0]))
    points.append(np.array([x1, y + y1, 0.0]))
    points[-1] = points[-1] + (TIP * 0.9) * _unit(points[-2] - points[-1])
    line = VMobject(stroke_color=theme.MUTED, stroke_width=ARC_WIDTH)
    line.start_new_path(points[0])
    for before, corner, after in zip(points, points[1:], points[2:], strict=False):
        radius = min(
            ARC_CORNER, np.linalg.norm(corner - before) / 2, np.linalg.norm(after - corner) / 2
        )
        line.add_line_to(corner + radius * _unit(before - corner))
        line.add_quadratic_bezier_curve_to(corner, corner + radius * _unit(after - corner))
    line.add_line_to(points[-1])
    direction = _unit(points[-1] - points[-2])
    tip_end = points[-1] + TIP * 0.9 * direction
    side = np.array([-direction[1], direction[0], 0.0]) * TIP * 0.45
    tip = Polygon(tip_end, points[-1] + side, points[-1] - side, stroke_width=0)
    tip.set_fill(theme.MUTED, 1.0)
    return VGroup(line, tip)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def key(entries: Sequence[tuple[Mobject, str]], width: float = 2 * LIMIT) -> Group:
    """A legend: each swatch followed by what it means, on as few centred lines of at most
    ``width`` as it takes."""
    items = [
        Group(swatch, theme.text(words, theme.SMALL, theme.MUTED)).arrange(RIGHT, buff=0.08)
        for swatch, words in entries
    ]
    lines, line = Group(), Group()
    for item in items:
        if len(line) and line.width + KEY_GAP + item.width > width:
            lines.add(line)
            line = Group()
        line.add(item)
        line.arrange(RIGHT, buff=KEY_GAP)
    lines.add(line)
    return lines.arrange(DOWN, buff=0.1)


KEY_GAP = 0.32


def box_swatch(kind: str) -> VMobject:
    from manim import Square

    return Square(0.16, stroke_width=0).set_fill(FACE_COLOURS[kind][0], 1.0)


def bar_swatch(cmap: str) -> Mobject:
    """A colour map as a key's short swatch."""
    pixels = rs.gradient_bar(cmap, 64, vertical=False)[:1].repeat(8, 0)
    return raster_image(pixels, width=0.5)


def line_swatch(colour: str, width: float = 2.5) -> VMobject:
    line = VMobject(stroke_color=colour, stroke_width=width)
    line.start_new_path(np.array([0.0, 0.0, 0.0]))
    line.add_line_to(np.array([0.3, 0.0, 0.0]))
    return line


def diagram_key(diagram: Diagram) -> list[tuple[Mobject, str]]:
    """The legend entries for what ``diagram`` draws: box kinds, merges, skip connections,
    and the sign colours of weighted edges."""
    kinds = {s.kind for s in diagram.slots}
    words = {"conv": "conv", "pool": "max-pool", "gap": "global avg"}
    entries: list[tuple[Mobject, str]] = [
        (box_swatch(k), w) for k, w in words.items() if k in kinds
    ]
    for kind, word in ((ADD, "add (merge)"), (CAT, "concat")):
        if kind in kinds:
            swatch = MergeDrawer(kind).build(Slot("", kind, (), 0.16, 0.16), 0.0)
            entries.append((swatch, word))
    if diagram.arcs:
        entries.append((line_swatch(theme.MUTED, ARC_WIDTH), "skip connection"))
    if diagram.signed:
        entries.append((line_swatch(SIGN_COLOURS["positive"]), "weight > 0"))
        entries.append((line_swatch(SIGN_COLOURS["negative"]), "weight < 0"))
    return entries
