"""The layer-kind drawing registry: how each kind of layer draws itself, lights up in a
forward pass, and joins its neighbour — so an architecture diagram is generated from a
model's layer table, never hand-placed.

ManimML's idea, done over: each layer kind has a ``Drawer`` (``measure`` its size from the
layer's real output shape, ``build`` its mobject, ``forward`` to show the layer's real
activation on it, ``rest`` to dim it again, ``focus`` to outline it); what goes between two
layers (nothing inside a block, an arrow between blocks, a fan for a flatten, weighted edges
between dense layers) is a ``Glue`` looked up by the pair of kinds, and it also sets the gap
between them.

    slots = layout(run.layers, run.model["input_shape"], width=13.4, height=3.2)
    diagram = Diagram(slots, weights=final_weights, classes=run.classes)
    for stage in diagram.stages(): ...                      # build it left to right
    diagram.forward(i, activation); marker.become(diagram.focus(i))

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
from dataclasses import dataclass, field, replace

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Circle,
    Group,
    Polygon,
    SurroundingRectangle,
    VGroup,
    VMobject,
)

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.store import LayerInfo
from engine.store.schema import BOX_KINDS, DENSE_KINDS, HIDDEN_KINDS

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
ELLIPSIS = "⋮"
EDGE_LEVELS = 5
"""Weights are drawn at this many strengths per sign, each level one mobject."""

FACE_COLOURS = {
    # front, top, side
    "conv": ("#4a78c8", "#7098de", "#2f528f"),
    "pool": ("#c8504a", "#de7a72", "#8f3430"),
    "gap": ("#8a63c8", "#a788de", "#5d3f8f"),
}
LIT_COLOURS = ("#ffc857", "#ffdb8f", "#c79a35")


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


def layout(
    layers: Sequence[LayerInfo],
    input_shape: Sequence[int],
    *,
    width: float,
    height: float,
) -> list[Slot]:
    """The input and every drawn layer, measured by its kind's drawer from its real output
    shape, placed left to right with the gap its glue asks for, then scaled down (all sizes
    alike, so proportions hold) to fit ``width`` × ``height`` and centred on x = 0."""
    infos = drawn_layers(layers)
    slots = [input_slot(input_shape)]
    slots += [Slot(i.name, i.kind, tuple(i.output_shape)) for i in infos]
    sizing = Sizing.of([s.shape for s in slots if s.kind in (*BOX_KINDS, "image")])
    block, x = 0, 0.0
    for previous, slot in itertools.pairwise([None, *slots]):
        drawer(slot.kind).measure(slot, sizing)
        if previous is not None:
            join = glue(previous.kind, slot.kind)
            if join.name == "touch":  # PlotNeuralNet: a block's boxes stand front to front
                x = previous.x + previous.thickness + join.gap
            else:
                x = previous.right + join.gap
        opens = slot.kind == "conv" and (previous is None or previous.kind != "conv")
        if opens or slot.kind == "gap":
            block += 1
        slot.block = block if slot.kind in BOX_KINDS else (0 if slot.name == "input" else -1)
        slot.x = x
    span = max(s.right for s in slots) - slots[0].x + drawer(slots[-1].kind).overhang(slots[-1])
    tall = max(s.top for s in slots) + max(s.height / 2 for s in slots)
    scale = min(1.0, width / span, height / tall)
    left = -span * scale / 2
    return [
        replace(
            s,
            x=left + (s.x - slots[0].x) * scale,
            thickness=s.thickness * scale,
            height=s.height * scale,
            depth=s.depth * scale,
        )
        for s in slots
    ]


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
        return 0.9 if self.output else 0.0

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
        if len(units) < slot.units:
            middle = y - (rows[(len(units) + 1) // 2 - 1] + 1) * spacing
            group.add(theme.text(ELLIPSIS, theme.BODY, theme.MUTED).move_to([x, middle, 0]))
        group.slot, group.units = slot, units
        return group

    def forward(self, drawn: Group, values: np.ndarray | None) -> None:
        if values is not None:  # an output shows probabilities: on their own 0-1 scale
            light_neurons(drawn[0], drawn.units, values, 1.0 if self.output else None)

    def anchor(self, drawn: Group, side: np.ndarray) -> np.ndarray:
        return drawn[0].get_critical_point(side)


def light_neurons(
    neurons: VGroup, units: np.ndarray, values: np.ndarray, top: float | None = None
) -> None:
    """Fill each drawn neuron by its unit's real value: viridis, from 0 to ``top`` (1 for
    probabilities), by default the largest |value| among those drawn. A neuron-graph column
    works too: its circles and its shown units."""
    shown = np.abs(np.asarray(values, dtype=np.float64).reshape(-1)[units])
    colours = rs.apply_colormap(shown / (top or float(shown.max()) or 1.0), "viridis")
    for neuron, colour in zip(neurons, colours, strict=True):
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
    edge is coloured by sign (diverging map) and made wider and more opaque with |w| (one
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
        colour = rs.colormap("diverging").lut[round((level / EDGE_LEVELS + 1) / 2 * 255)]
        lines = VMobject(
            stroke_color=rs.rgb_hex(colour),
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
    """A conv block's label: what it holds, and how it changes the map size."""
    convs = [s for s in block if s.kind == "conv"]
    first, last = block[0].shape, block[-1].shape
    if convs:
        channels = sorted({s.shape[0] for s in convs}, key=[s.shape[0] for s in convs].index)
        count = f"{len(convs)} × " if len(convs) > 1 else ""
        what = f"{count}conv {', '.join(map(str, channels))}"
    else:
        what = "global avg" if block[0].kind == "gap" else block[0].kind
    size = f"{first[1]}×{first[2]}" if len(first) == 3 else f"{first[0]}"
    if len(last) == 3 and last[1:] != first[1:]:
        size += f" → {last[1]}×{last[2]}"
    elif len(last) == 1 and len(first) == 1:
        size = f"{last[0]} values"
    return what, size


class Diagram(Group):
    """A model drawn from its ``layout``: each slot built by its kind's drawer around the
    line ``y``, the glue between neighbours (``weights(name)`` gives a dense layer's real
    [out, in] weights, or None), and labels under each block and column (``classes`` name
    the output neurons).

    ``stages`` are the pieces in build order (a block, or a column with the glue into it);
    ``forward(i, values)``, ``rest(i)`` and ``focus(i)`` are slot i's drawer's.
    """

    def __init__(
        self,
        slots: Sequence[Slot],
        *,
        y: float = 0.0,
        weights: Callable[[str], np.ndarray | None] = lambda name: None,
        classes: Sequence[str] = (),
    ):
        super().__init__()
        self.slots = list(slots)
        self.parts = [drawer(s.kind).build(s, y) for s in self.slots]
        self.joins: list[VMobject | None] = [None]
        for left, right in itertools.pairwise(self.parts):
            draw = glue(left.slot.kind, right.slot.kind).draw
            self.joins.append(draw(left, right, weights(right.slot.name)))
        floor = y - max(s.height / 2 for s in self.slots) - 0.22
        self.labels = self._labels(floor)
        self.names = self._class_names(classes)
        self.add(*(j for j in self.joins if j is not None), *self.parts, self.labels, self.names)

    def _labels(self, floor: float) -> Group:
        labels = Group()
        self.label_of: dict[int, Group] = {}
        for block in blocks(self.slots):
            what, size = block_words(block)
            members = [self.parts[self.slots.index(s)] for s in block]
            centre = Group(*(m[0] for m in members)).get_center()[0]
            labels.add(self._label(what, size, centre, floor))
            for slot in block:
                self.label_of[self.slots.index(slot)] = labels[-1]
        for i, slot in enumerate(self.slots):
            if slot.block <= 0:
                if slot.kind == "image":
                    words = ("input", theme.shape_text(slot.shape))
                else:
                    words = (slot.name, f"{slot.units:,}")
                centre = self.parts[i].get_center()[0]
                labels.add(self._label(*words, centre, floor))
                self.label_of[i] = labels[-1]
        self._spread_labels(labels)
        return labels

    def _spread_labels(self, labels: Group) -> None:
        """Move labels apart where two would overlap, keeping each near its layer."""
        order = sorted(range(len(labels)), key=lambda i: labels[i].get_x())
        widths = [labels[i].width for i in order]
        lefts = spread([labels[i].get_x() for i in order], widths, -LIMIT, LIMIT, LABEL_GAP)
        for i, left in zip(order, lefts, strict=True):
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
        last = self.parts[-1]
        if self.slots[-1].kind != "logits" or not classes:
            return names
        units = last.units
        if self.slots[-1].units == 1 and len(classes) == 2:  # one logit read by a sigmoid
            words = [f"p({classes[1]})"]
        else:
            words = [str(classes[u]) if u < len(classes) else str(u) for u in units]
        for neuron, word in zip(last[0], words, strict=True):
            names.add(theme.text(word, theme.SMALL, theme.MUTED).next_to(neuron, RIGHT, 0.1))
        return names

    def stages(self) -> list[Group]:
        """Build order: the input, then each block (with the glue into it and its label),
        then each column of the head (with its glue and label); the class names last."""
        stages: list[Group] = []
        seen: set[int] = set()
        for i, slot in enumerate(self.slots):
            if i in seen:
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
            group.add(self.label_of[i])
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
