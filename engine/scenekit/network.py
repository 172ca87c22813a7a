"""``NetworkGraph``: an MLP drawn the way 3Blue1Brown draws one. Neurons are circles in columns,
and every edge is a line whose width and colour (diverging, centred on zero) are the real
weight. The graph is built from a run and updated in place as training goes on::

    from engine.analysis.contributions import recorded_weights
    from engine.scenekit.network import NetworkGraph

    graph = NetworkGraph.from_run(run, width=4.0, height=4.5)
    recorded = recorded_weights(run)                  # [snapshots, out, in] per layer
    graph.set_weights([w[-1] for w in recorded.weights], limits=recorded.limits())
    graph.highlight_path([(3, 0), (2, 4), (1, 7), (0, 1)])   # (column, unit) pairs
    legend = graph.legend()

Columns are numbered from the input (0) to the output. Layers wider than ``max_shown`` show a
sample (their first and last units) with an ellipsis between, as 3Blue1Brown's videos do;
edges are drawn between shown units only, and highlighting a unit that is not shown does
nothing. The graph may be moved and scaled like any mobject.

Speed: the edges and the neurons are one raster (``edges``, an ImageMobject), drawn by PIL at
twice the output resolution and halved (anti-aliased), edges weakest first then the circles,
whenever the weights or the highlight change; ``neurons`` holds invisible points that mark
where the circles are. Cairo would stroke each edge as a vector path on every frame instead:
one ``Line`` per edge costs about 0.1 ms per edge per frame, and one path holding many edges
costs more still (Cairo intersects every crossing outline). ``bench/mlp_render_bench.py``
measures the raster against one ``Line`` per edge.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
from manim import DOWN, LEFT, UP, Group, Mobject, VectorizedPoint, VGroup, config
from PIL import Image, ImageDraw

from engine.errors import RunError
from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.widgets import ColorBar, raster_image, set_pixels
from engine.store.schema import DENSE_KINDS

LEVELS = 8
"""Weight levels per sign: edges are drawn in 2·LEVELS + 1 colours and widths."""
MIN_WIDTH, MAX_WIDTH = 0.8, 7.0
"""Widths of the weakest and the strongest edges, in Manim stroke-width units."""
MIN_OPACITY = 0.2
GLOW_WIDTH = 3.0
"""A highlighted edge gets a halo this much wider than the widest edge, drawn beneath the
edges so that its own colour and width still show."""
ELLIPSIS = "⋮"
SUPERSAMPLE = 2
"""Edges are drawn at this multiple of the output resolution, then reduced: anti-aliasing."""


def sample_units(width: int, max_shown: int) -> np.ndarray:
    """The units of a layer to draw: all of them, or the first and last ``max_shown // 2``-ish
    when the layer is wider (the ellipsis sits between the two halves)."""
    if width <= max_shown:
        return np.arange(width)
    head = (max_shown + 1) // 2
    return np.concatenate([np.arange(head), np.arange(width - (max_shown - head), width)])


def level_style(level: int) -> tuple[str, float, float]:
    """(colour, stroke width, opacity) of edges at ``level`` (−LEVELS … LEVELS)."""
    strength = abs(level) / LEVELS
    colour = rs.colormap("diverging").lut[round((level / LEVELS + 1) / 2 * 255)]
    width = MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * strength
    return rs.rgb_hex(colour), width, MIN_OPACITY + (1 - MIN_OPACITY) * strength


def pixels_per_unit() -> float:
    return config.pixel_height / config.frame_height


class NetworkGraph(Group):
    """An MLP's neurons and weighted edges (see the module docstring).

    ``widths`` are the units per column, input first; ``names`` label the columns (default
    ``input``, ``layer1`` …). The graph spans ``width`` × ``height`` frame units, labels aside.
    """

    def __init__(
        self,
        widths: Sequence[int],
        names: Sequence[str] | None = None,
        *,
        width: float = 4.0,
        height: float = 4.0,
        max_shown: int = 16,
        labels: bool = True,
    ):
        super().__init__()
        if len(widths) < 2:
            raise ValueError("a network graph needs at least two columns")
        self.widths = [int(w) for w in widths]
        self.names = list(names or ["input", *(f"layer{i}" for i in range(1, len(widths)))])
        self.shown = [sample_units(w, max_shown) for w in self.widths]
        rows = max(len(s) + (len(s) < w) for s, w in zip(self.shown, self.widths, strict=True))
        spacing = height / max(rows - 1, 1)
        radius = min(0.2, 0.36 * spacing, 0.18 * width / (len(widths) - 1))
        xs = np.linspace(-width / 2, width / 2, len(widths))
        centres = [
            self._column(x, units, w, spacing)
            for x, units, w in zip(xs, self.shown, self.widths, strict=True)
        ]
        margin = 2 * radius
        self.edges = raster_image(np.zeros((2, 2, 4), np.uint8))
        self.edges.stretch_to_fit_width(width + 2 * margin)
        self.edges.stretch_to_fit_height(height + 2 * margin)
        self.neurons = VGroup(
            *(VGroup(*(VectorizedPoint(c) for c in column)) for column in centres)
        )
        self.radius = radius / self.edges.width
        """A neuron's radius as a fraction of the raster's width (so it scales with the graph)."""
        self.dots = Group(*self._ellipses(xs, centres, spacing))
        self.add(self.edges, self.neurons, self.dots)
        self.labels = Group()
        if labels:
            self.labels = self._labels(xs, -height / 2 - radius - 0.15)
            self.add(self.labels)
        self._levels = [np.zeros((len(b), len(a)), int) for a, b in itertools.pairwise(self.shown)]
        self._lit: list[tuple[int, int, int]] = []
        self._lit_neurons: list[tuple[int, int]] = []
        self._fills: dict[int, np.ndarray] = {}
        """Per column, the colours its shown neurons are filled with (``fill_neurons``)."""
        self._draw()

    @classmethod
    def from_run(cls, run, **kwargs) -> NetworkGraph:
        """The graph of a run's MLP (an ``engine.store.Run``): its input, then each dense
        layer and the output."""
        layers = [info for info in run.layers if info.kind != "flatten"]
        if not layers or any(info.kind not in DENSE_KINDS for info in layers):
            raise RunError(
                f"Run {run.name!r} is not an MLP ({', '.join(i.kind for i in layers)}): "
                "NetworkGraph draws dense layers only."
            )
        inputs = int(np.prod(run.dataset.get("input_shape") or [0])) or None
        if inputs is None:
            raise RunError(f"Run {run.name!r} does not record its input shape.")
        widths = [inputs, *(int(np.prod(info.output_shape)) for info in layers)]
        return cls(widths, ["input", *(info.name for info in layers)], **kwargs)

    @classmethod
    def placed(
        cls,
        run,
        size: tuple[float, float],
        centre: Sequence[float],
        top: float,
        legend_length: float = 2.2,
    ) -> NetworkGraph:
        """A run's graph about ``centre`` at ``size`` (width, height), its top no higher than
        ``top``, its column labels clear of its ``legend`` in the bottom-left corner and
        everything inside the frame's margins: with large type, a shorter graph."""
        graph = cls.from_run(run, width=size[0], height=size[1])
        legend = graph.legend(length=legend_length).to_corner(DOWN + LEFT, buff=theme.MARGIN)
        floor = legend.get_top()[1] + 0.15
        extra = graph.height - size[1]  # column labels and rims
        height = min(size[1], top - floor - extra)
        if height < size[1]:
            graph = cls.from_run(run, width=size[0], height=height)
        graph.move_to([centre[0], centre[1], 0])
        graph.shift(max(graph.get_top()[1] - top, 0.0) * DOWN)
        graph.shift(max(floor - graph.get_bottom()[1], 0.0) * UP)
        inside = theme.MARGIN - config.frame_width / 2 - graph.get_left()[0]
        return graph.shift(max(inside, 0.0) * np.array([1.0, 0.0, 0.0]))

    # -- building -------------------------------------------------------------------------
    def _column(self, x: float, units: np.ndarray, width: int, spacing: float) -> np.ndarray:
        """Centres of a column's shown neurons, top to bottom, with a gap for the ellipsis."""
        slots = np.arange(len(units), dtype=float)
        if len(units) < width:
            slots[(len(units) + 1) // 2 :] += 1
        slots -= (slots[-1] if len(slots) else 0) / 2
        return np.stack([np.full(len(units), x), -slots * spacing, np.zeros(len(units))], 1)

    def _ellipses(self, xs: np.ndarray, centres: list[np.ndarray], spacing: float) -> list[Mobject]:
        dots = []
        for x, units, width, column in zip(xs, self.shown, self.widths, centres, strict=True):
            if len(units) < width:
                gap = column[(len(units) + 1) // 2 - 1, 1] - spacing
                dots.append(theme.text(ELLIPSIS, theme.HEADING, theme.TEXT).move_to([x, gap, 0]))
        return dots

    def _labels(self, xs: np.ndarray, y: float) -> Group:
        """Each column's name and width under it; every other one a line lower when
        neighbours would touch."""
        labels = Group()
        for x, name, width in zip(xs, self.names, self.widths, strict=True):
            label = Group(
                theme.text(name, theme.SMALL, theme.TEXT),
                theme.text(f"{width:,}", theme.SMALL, theme.MUTED),
            ).arrange(DOWN, buff=0.06)
            labels.add(label.move_to([x, 0, 0]).align_to([0, y, 0], UP))
        spacing = xs[1] - xs[0]
        if max(label.width for label in labels) > spacing - 0.12:
            for label in labels[1::2]:
                label.shift(0.55 * DOWN)
        return labels

    # -- reading ------------------------------------------------------------------------------
    def column(self, layer: int | str) -> int:
        """A column's index, by index or by name."""
        if isinstance(layer, str):
            return self.names.index(layer)
        return int(layer)

    def _slot(self, column: int, unit: int) -> int | None:
        found = np.flatnonzero(self.shown[column] == unit)
        return int(found[0]) if len(found) else None

    def neuron(self, layer: int | str, unit: int) -> Mobject | None:
        """A point at the centre of a unit's circle (it moves with the graph; use it to place
        things), or None when the unit is hidden behind the ellipsis."""
        column = self.column(layer)
        slot = self._slot(column, unit)
        return None if slot is None else self.neurons[column][slot]

    @property
    def neuron_radius(self) -> float:
        """The circles' radius in frame units, as the graph is scaled now."""
        return self.radius * self.edges.width

    def edge_levels(self, layer: int | str) -> np.ndarray:
        """The level (−LEVELS … LEVELS) each shown edge into ``layer`` is drawn at now,
        [shown out, shown in]: what the picture says about the weights."""
        return self._levels[self.column(layer) - 1]

    def endpoints(self, column: int) -> np.ndarray:
        """Every shown edge into ``column``, rim to rim, where the circles are now:
        [out, in, 2 (start, end), 3]."""
        src = np.array([c.get_center() for c in self.neurons[column - 1]])
        dst = np.array([c.get_center() for c in self.neurons[column]])
        radius = self.neuron_radius
        starts = np.repeat(src[None], len(dst), 0)
        ends = np.repeat(dst[:, None], len(src), 1)
        direction = ends - starts
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        return np.stack([starts + radius * direction, ends - radius * direction], axis=2)

    # -- updating -----------------------------------------------------------------------------
    def set_weights(
        self, weights: Sequence[np.ndarray], limits: Sequence[float] | None = None
    ) -> NetworkGraph:
        """Show these weights: ``weights[l]`` is the [out, in] matrix into column ``l + 1``.

        Width and colour are w / limit per layer: pass fixed ``limits`` (e.g. the largest |w|
        over all of training) so that weights visibly grow; by default each layer's own
        largest |w| now.
        """
        if len(weights) != len(self._levels):
            raise ValueError(f"{len(self._levels)} weight matrices expected, {len(weights)} given")
        if limits is None:
            limits = [float(np.abs(w).max()) for w in weights]
        levels = []
        for column, (w, limit) in enumerate(zip(weights, limits, strict=True), start=1):
            shown = np.asarray(w, dtype=np.float32)[
                np.ix_(self.shown[column], self.shown[column - 1])
            ]
            scaled = shown / limit if limit > 0 else np.zeros_like(shown)
            levels.append(np.clip(np.round(scaled * LEVELS), -LEVELS, LEVELS).astype(int))
        if any(not np.array_equal(a, b) for a, b in zip(levels, self._levels, strict=True)):
            self._levels = levels
            self._draw()
        return self

    def highlight(
        self,
        neurons: Iterable[tuple[int | str, int]] = (),
        edges: Iterable[tuple[int | str, int, int]] = (),
    ) -> NetworkGraph:
        """Mark neurons (column, unit) and edges (column, out unit, in unit) — an edge into
        ``column`` from the column before — in the accent colour; everything else unmarked."""
        lit_neurons = []
        for layer, unit in neurons:
            column = self.column(layer)
            slot = self._slot(column, unit)
            if slot is not None:
                lit_neurons.append((column, slot))
        lit = []
        for layer, out, inp in edges:
            column = self.column(layer)
            slot_out, slot_in = self._slot(column, out), self._slot(column - 1, inp)
            if slot_out is not None and slot_in is not None:
                lit.append((column, slot_out, slot_in))
        if (lit_neurons, lit) != (self._lit_neurons, self._lit):
            self._lit_neurons, self._lit = lit_neurons, lit
            self._draw()
        return self

    def highlight_path(self, path: Sequence[tuple[int | str, int]]) -> NetworkGraph:
        """Mark a chain of neurons in consecutive columns (in either direction) and the edges
        between them, e.g. a path traced from the output back to an input."""
        columns = [(self.column(layer), unit) for layer, unit in path]
        edges = []
        for (c1, u1), (c2, u2) in itertools.pairwise(columns):
            if abs(c1 - c2) != 1:
                raise ValueError(f"columns {c1} and {c2} are not neighbours")
            edges.append((c1, u1, u2) if c1 > c2 else (c2, u2, u1))
        return self.highlight(columns, edges)

    def fill_neurons(self, layer: int | str, colours: np.ndarray) -> NetworkGraph:
        """Fill a column's shown neurons with ``colours`` ([shown, 3] RGB): their real values,
        say (``layers.neuron_colours``)."""
        column = self.column(layer)
        if len(colours) != len(self.shown[column]):
            raise ValueError(f"{len(colours)} colours for {len(self.shown[column])} neurons")
        self._fills[column] = np.asarray(colours, np.uint8)
        self._draw()
        return self

    @property
    def lit_edges(self) -> list[tuple[int, int, int]]:
        """The highlighted edges, as (column, shown out slot, shown in slot)."""
        return list(self._lit)

    @property
    def lit_neurons(self) -> list[tuple[int, int]]:
        """The highlighted neurons, as (column, shown slot)."""
        return list(self._lit_neurons)

    def _draw(self) -> None:
        """Redraw the raster: halos of highlighted edges, then every edge, weakest first, each
        in its level's colour, width and opacity, then the neurons on top."""
        box = self.edges
        scale = pixels_per_unit() * SUPERSAMPLE
        size = (max(1, round(box.width * scale)), max(1, round(box.height * scale)))
        corner = box.get_corner(UP + LEFT)
        canvas = Image.new("RGBA", size)
        draw = ImageDraw.Draw(canvas, "RGBA")
        to_pixels = np.array([scale, -scale, 0.0])
        lines = [(self.endpoints(c) - corner) * to_pixels for c in range(1, len(self.widths))]
        unit_width = 0.01 * scale  # Manim: a stroke width of 1 is 1/100 of a frame unit
        accent = rs.hex_rgb(theme.ACCENT)
        for column, out, inp in self._lit:
            (x0, y0, _), (x1, y1, _) = lines[column - 1][out, inp]
            halo = round((MAX_WIDTH + GLOW_WIDTH) * unit_width)
            draw.line([(x0, y0), (x1, y1)], fill=(*accent, 255), width=halo)
        styles = {level: level_style(level) for level in range(-LEVELS, LEVELS + 1)}
        order = sorted(
            (abs(level), column, out, inp)
            for column, grid in enumerate(self._levels, start=1)
            for (out, inp), level in np.ndenumerate(grid)
        )
        for _, column, out, inp in order:
            colour, width, opacity = styles[int(self._levels[column - 1][out, inp])]
            (x0, y0, _), (x1, y1, _) = lines[column - 1][out, inp]
            fill = (*rs.hex_rgb(colour), round(255 * opacity))
            draw.line([(x0, y0), (x1, y1)], fill=fill, width=max(1, round(width * unit_width)))
        self._draw_neurons(draw, corner, scale)
        # Reduced as straight (not premultiplied) RGBA: the anti-aliased rims darken a
        # little, which the dark background hides, for half the cost.
        small = canvas.reduce(SUPERSAMPLE)
        set_pixels(box, np.array(small))  # writable: set_opacity writes into it

    def _draw_neurons(self, draw: ImageDraw.ImageDraw, corner: np.ndarray, scale: float) -> None:
        """Each neuron as a filled circle with a rim: accent-coloured when lit, filled with its
        colour where ``fill_neurons`` gave one."""
        radius = self.neuron_radius * scale
        unit_width = 0.01 * scale
        lit = set(self._lit_neurons)
        accent = rs.hex_rgb(theme.ACCENT)
        panel = np.array(rs.hex_rgb(theme.PANEL))
        lit_fill = tuple(np.round(0.45 * np.array(accent) + 0.55 * panel).astype(int).tolist())
        for column, points in enumerate(self.neurons):
            for slot, point in enumerate(points):
                x, y = (point.get_center()[:2] - corner[:2]) * [scale, -scale]
                box = [x - radius, y - radius, x + radius, y + radius]
                if (column, slot) in lit:
                    width, rim, fill = 5.0, accent, lit_fill
                else:
                    width, rim, fill = 2.0, rs.hex_rgb(theme.MUTED), rs.hex_rgb(theme.PANEL)
                if column in self._fills:
                    fill = tuple(self._fills[column][slot].tolist())
                draw.ellipse(
                    box, fill=(*fill, 255), outline=(*rim, 255), width=round(width * unit_width)
                )

    # -- legend -------------------------------------------------------------------------------
    def legend(self, length: float = 2.4) -> Group:
        """A colour bar for the edges (blue negative, red positive, zero the palette's) and a
        line saying that the width is |w| too, on each layer's own scale."""
        bar = ColorBar(
            "diverging",
            low="w < 0",
            high="w > 0",
            title=f"edges: weight w (0 = {theme.ZERO_WORD})",
            length=length,
        )
        note = theme.text("width ∝ |w|, per layer", theme.SMALL, theme.MUTED)
        return Group(bar, note.next_to(bar, DOWN, buff=0.12, aligned_edge=LEFT))
