"""Architecture: a recorded model drawn from its own layer table — conv blocks as boxes whose
height tracks the map size and whose thickness tracks the channels (PlotNeuralNet), pools
and the dense head drawn distinctly, every block labelled — built left to right; then a
forward pass carries one real probe image through it, each layer's real activation appearing
as a thumbnail above its box and the dense layers' neurons lighting up with their real values,
ending at the run's real class probabilities.

Works for any recorded run: VGG-16, the CIFAR VGG, the small CNN, and MLPs (neurons and
real-weight edges, more than 16 neurons drawn as a sample with an ellipsis; the pass follows
one held-out point, its activations read from the recorded fit at the nearest mesh point).

    manim scenes/architecture.py                             # the default run (vgg16-synth)
    NNREEL_RUN=mlp-ring manim -ql scenes/architecture.py
    NNREEL_SET="image=5 pace=0.2" manim -ql scenes/architecture.py

Options (``NNREEL_SET`` or ``python -m engine render architecture --set KEY=VALUE``): see
``Architecture.options``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    Create,
    FadeIn,
    Group,
    SurroundingRectangle,
    Transform,
    VMobject,
)

from engine.console import console
from engine.errors import RunError
from engine.scenekit import (
    Choice,
    Number,
    Option,
    RunScene,
    model_name,
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
    Slot,
    blocks,
    drawn_layers,
    layout,
    light_neurons,
    spread,
)
from engine.scenekit.network import NetworkGraph
from engine.store import Run
from engine.store.schema import BOX_KINDS

DIAGRAM_Y = -0.45
WIDTH = 13.3
TILE = 0.54
"""Side of an activation thumbnail (frame units)."""
TILE_GAP, GROUP_GAP = 0.05, 0.16
PIXELS_PER_UNIT = 120


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
        missing = [name for name in layers if not run.has(f"acts/{name}")]
        if missing or not run.has("probe/images"):
            raise RunError(
                f"Run {run.name!r} recorded no activations for {', '.join(missing) or 'its probe'} "
                "(streams acts/<layer>, probe/images): the forward pass needs them. Train with "
                "snapshots on, e.g. `python -m engine train vgg16-synth --snapshots log:60`."
            )
        self.image = rs.to_rgb(run.read("probe/images", 0)[i])
        self.label = int(run.read("probe/labels", 0)[i])
        self.values = [self.image] + [
            run.read(f"acts/{name}", -1)[i].astype(np.float32) for name in layers
        ]
        self.probs = run.read("probe/probs", -1)[i].astype(np.float64)
        self.step = int(run.steps("probe/probs")[-1])

    def _plane(self, layers: list[str]) -> None:
        run, i = self.run, self.index
        needed = ["data/val_x", "plane/prob", *(f"plane/{name}" for name in layers)]
        missing = [n for n in needed if not run.has(n)]
        if missing:
            raise RunError(
                f"Run {run.name!r} recorded no {', '.join(missing)}: the forward pass of an MLP "
                "reads each neuron's recorded response over the plane. Train with snapshots on, "
                "e.g. `python -m engine train mlp-ring`."
            )
        point = run.read("data/val_x", 0)[i].astype(np.float64)
        self.label = int(run.read("data/val_y", 0)[i])
        meta = run.meta("plane/prob")
        xmin, xmax, ymin, ymax = meta["extent"]
        r = int(meta["mesh"])
        col = round((point[0] - xmin) / (xmax - xmin) * (r - 1))
        row = round((ymax - point[1]) / (ymax - ymin) * (r - 1))
        col, row = min(max(col, 0), r - 1), min(max(row, 0), r - 1)
        self.point = point
        self.values = [point] + [
            run.read(f"plane/{name}", -1)[:, row, col].astype(np.float32) for name in layers
        ]
        self.probs = run.read("plane/prob", -1)[:, row, col].astype(np.float64)
        self.step = int(run.steps("plane/prob")[-1])

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
        return f"The head, {names}: dense layers of {sizes} units, then the class probabilities."
    convs = [i for i in block if slots[i].kind == "conv"]
    c, h, w = slots[convs[-1] if convs else first].shape
    largest = max(float(np.max(forward.at(i))) for i in block)
    words = f"{names}: {len(convs)} conv{'s' * (len(convs) != 1)} of {c} channels at {h}×{w}"
    if slots[block[-1]].kind == "pool":
        words += f", pooled to {'×'.join(map(str, slots[block[-1]].shape[1:]))}"
    return words + f"; largest value {largest:.3g}."


def thumbnail(maps: np.ndarray, mode: str, size: int) -> np.ndarray:
    """A [C, H, W] activation as one size×size RGB tile: its most active channel, or the mean
    over channels, scaled to its own max (nearest-neighbour, so pixels stay square)."""
    x = maps if maps.ndim == 3 else maps[:, None, None]
    picture = x[rs.top_k(x, 1)[0]] if mode == "top" else x.mean(axis=0)
    unit = rs.normalise(picture[None], "channel").unit[0]
    return rs.apply_colormap(rs.resize_nearest(unit, (size, size)), "viridis")


class Strip:
    """The activation thumbnails of every map layer, grouped above their blocks, as one
    raster (tiles not reached yet show as empty panels), and the leader lines to the boxes."""

    def __init__(self, diagram: Diagram):
        self.diagram = diagram
        groups = blocks(diagram.slots)
        widths = [len(g) * TILE + (len(g) - 1) * TILE_GAP for g in groups]
        centres = [self._centre(g) for g in groups]
        lefts = spread(centres, widths, -LIMIT, LIMIT, GROUP_GAP)
        self.bottom = DIAGRAM_Y + max(s.top for s in diagram.slots) + 0.45
        self.left, right = lefts[0], lefts[-1] + widths[-1]
        self.tiles: dict[int, float] = {}
        for group, left in zip(groups, lefts, strict=True):
            for k, slot in enumerate(group):
                self.tiles[diagram.slots.index(slot)] = left + k * (TILE + TILE_GAP)
        self.size = int(TILE * PIXELS_PER_UNIT)
        width = int(np.ceil((right - self.left) * PIXELS_PER_UNIT))
        self.pixels = np.empty((self.size, width, 3), dtype=np.uint8)
        self.pixels[:] = rs.hex_rgb(theme.BACKGROUND)
        for i in self.tiles:
            self._paste(i, np.full((self.size, self.size, 3), rs.hex_rgb(theme.PANEL), np.uint8))
        self.image = raster_image(self.pixels, width=width / PIXELS_PER_UNIT)
        self.image.move_to([self.left, self.bottom, 0], aligned_edge=DOWN + LEFT)
        self.leaders = self._leaders()

    def _centre(self, group: list[Slot]) -> float:
        parts = [self.diagram.parts[self.diagram.slots.index(s)] for s in group]
        return Group(*parts).get_center()[0]

    def _paste(self, index: int, tile: np.ndarray) -> None:
        x = round((self.tiles[index] - self.left) * PIXELS_PER_UNIT)
        self.pixels[:, x : x + self.size] = tile[:, : self.pixels.shape[1] - x]

    def _leaders(self) -> VMobject:
        lines = VMobject(stroke_color=theme.MUTED, stroke_width=1.0, stroke_opacity=0.5)
        for index, x in self.tiles.items():
            top = self.diagram.parts[index][1]  # the box's top face
            lines.start_new_path([x + TILE / 2, self.bottom - 0.03, 0])
            lines.add_line_to(top.get_center())
        return lines

    def show(self, index: int, tile: np.ndarray) -> None:
        self._paste(index, tile)
        set_pixels(self.image, self.pixels)


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
        "pace": Number(0.4, "seconds per layer in the forward pass", at_least=0),
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
        self.add_header()
        if self.maps:
            self.build_diagram()
        else:
            self.build_graph()
        names = [info.name for info in drawn_layers(layers)]
        try:
            forward = Pass(self.run, names, pick_image(self.run, self.settings["image"]))
        except RunError as exc:
            console.print(f"[yellow]{exc}[/] Showing the diagram without a forward pass.")
            self.swap_caption(
                theme.text("no activations recorded: no forward pass", theme.LABEL, theme.BAD)
            )
            self.wait(2.0)
            return
        self.forward_pass(forward)
        self.wait(2.5)

    def final_weights(self, name: str) -> np.ndarray | None:
        stream = f"weights/{name}"
        return self.run.read(stream, -1).astype(np.float32) if self.run.has(stream) else None

    # -- building -------------------------------------------------------------------------
    def add_header(self) -> None:
        kinds = [info.kind for info in self.run.layers]
        words = {"conv": "conv", "pool": "max-pool", "gap": "global avg pool", "dense": "dense"}
        counts = [f"{kinds.count(k)} {w}" for k, w in words.items() if kinds.count(k)]
        params = sum(info.params for info in self.run.layers)
        head = fitted_title(
            f"Architecture  ·  {model_name(self.run)}",
            [f"{params:,} parameters", ", ".join([*counts, "output"]), f"run {self.run.name}"],
            TITLE_WIDTH,
        )
        self.counter = self.step_counter(int(self.run.manifest["progress"].get("step", 0)))
        key = (
            "box height: map size  ·  thickness: channels (log scales)  ·  blue conv, red max-pool"
            if self.maps
            else "edges: final weights, blue < 0 < red, wider = larger |w|"
        )
        self.footer = theme.text(key, theme.LABEL, theme.MUTED).to_edge(DOWN, buff=theme.MARGIN)
        self.add(head, self.counter, self.footer)
        listed = " and ".join([", ".join(counts[:-1]), counts[-1]] if len(counts) > 1 else counts)
        self.caption(
            f"The {model_name(self.run)}: {params:,} parameters in {listed} layers plus the output."
        )

    def build_diagram(self) -> None:
        """A CNN from the layer registry, stage by stage, left to right."""
        slots = layout(self.run.layers, self.run.model["input_shape"], width=WIDTH, height=3.7)
        self.diagram = Diagram(
            slots, y=DIAGRAM_Y, weights=self.final_weights, classes=self.run.classes
        )
        for stage in self.diagram.stages():
            self.play(FadeIn(stage, shift=0.15 * RIGHT), run_time=0.35)
        self.columns = [
            (part[0], part.units) for part in self.diagram.parts if hasattr(part, "units")
        ]
        self.wait(0.5)

    def build_graph(self) -> None:
        """An MLP as the kit's neuron graph (3Blue1Brown's look, as in the MLP scenes) with its
        final weights, column by column."""
        graph = NetworkGraph.from_run(self.run, width=10.5, height=4.2)
        graph.move_to([0, DIAGRAM_Y + 0.3, 0])
        weights = [self.final_weights(n) for n in graph.names[1:]]
        if all(w is not None for w in weights):
            graph.set_weights(weights)
        for circles, label in zip(graph.neurons, graph.labels, strict=True):
            self.play(FadeIn(circles, label, shift=0.15 * RIGHT), run_time=0.35)
        self.play(FadeIn(graph.edges), FadeIn(graph.dots), run_time=0.5)
        self.bring_to_front(graph.neurons)  # the circles over the edges
        self.graph = graph
        self.columns = list(zip(graph.neurons, graph.shown, strict=True))
        self.wait(0.5)

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
        pace = max(self.settings["pace"], 0.05)
        marker = self.show_input(forward)
        if self.maps:
            self.diagram_pass(forward, marker, pace)
        else:
            for column, (circles, units) in enumerate(self.columns[1:], start=1):
                last = column == len(self.columns) - 1  # probabilities: on a 0-1 scale
                light_neurons(circles, units, forward.at(column), 1.0 if last else None)
                name = self.graph.names[column]
                self.swap_caption(self.vector_caption(name, forward.at(column), column))
                self.glide(marker, SurroundingRectangle(circles, buff=0.08), pace)
        self.remove(marker)
        self.prediction(forward)

    def diagram_pass(self, forward: Pass, marker: VMobject, pace: float) -> None:
        diagram = self.diagram
        strip, lit = self.strip, None
        for i, slot in enumerate(diagram.slots[1:], start=1):
            values = forward.at(i)
            diagram.forward(i, values)
            if lit is not None:
                diagram.rest(lit)
            lit = i if slot.kind in BOX_KINDS else None
            if i in strip.tiles:
                strip.show(i, thumbnail(values, self.settings["thumb"], strip.size))
            if slot.block != diagram.slots[i - 1].block:
                self.caption(block_words(diagram.slots, i, forward))
            self.swap_caption(self.layer_caption(slot, values))
            self.glide(marker, diagram.focus(i), pace)
        if lit is not None:
            diagram.rest(lit)

    def glide(self, marker: VMobject, target: VMobject, pace: float) -> None:
        self.bring_to_front(marker)
        self.play(Transform(marker, target.set_stroke(theme.ACCENT, 3)), run_time=pace)

    def show_input(self, forward: Pass) -> VMobject:
        """Put the example on the input and return the marker that travels the layers."""
        if not self.maps:
            x, y = forward.point
            cls = self.run.classes[forward.label]
            words = f"input: the held-out point ({x:.2f}, {y:.2f}), true class {cls}"
            self.swap_caption(theme.text(words, theme.LABEL, theme.TEXT))
            sizes = " → ".join(str(len(units)) for _, units in self.columns[1:])
            self.caption(
                f"The held-out point ({x:.2f}, {y:.2f}), a {cls}, through {sizes} neurons "
                "coloured by their real activations."
            )
            circles, units = self.columns[0]
            light_neurons(circles, units, forward.point)
            marker = SurroundingRectangle(circles, buff=0.08).set_stroke(theme.ACCENT, 3)
            self.play(Create(marker), run_time=0.5)
            return marker
        panel = self.diagram.parts[0]
        marker = self.diagram.focus(0).set_stroke(theme.ACCENT, 3)
        self.strip = Strip(self.diagram)
        picture = raster_image(forward.image, height=panel.height).move_to(panel)
        cls = self.run.classes[forward.label]
        shown = "most active channel" if self.settings["thumb"] == "top" else "mean over channels"
        words = f"input: probe image {forward.index} (true class {cls})  ·  thumbnails: each "
        words += f"layer's {shown}"
        self.swap_caption(theme.text(words, theme.LABEL, theme.TEXT))
        self.caption(
            f"Probe image {forward.index}, a '{cls}', through the trained network; "
            f"thumbnails: each layer's {shown}."
        )
        self.play(
            FadeIn(picture),
            FadeIn(self.strip.image),
            FadeIn(self.strip.leaders),
            Create(marker),
            run_time=0.8,
        )
        return marker

    @staticmethod
    def layer_caption(slot: Slot, values: np.ndarray) -> Group:
        words = {
            "conv": "conv + ReLU",
            "pool": "max-pool",
            "gap": "global average pool",
            "dense": "dense + ReLU",
            "logits": "output: class probabilities",
        }.get(slot.kind, slot.kind)
        text = f"{slot.name}  ·  {words}  ·  output {theme.shape_text(slot.shape)}"
        if slot.kind != "logits":
            text += f"  ·  largest value {float(np.max(values)):.3g}"
        return theme.text(text, theme.LABEL, theme.TEXT)

    def vector_caption(self, name: str, values: np.ndarray, column: int) -> Group:
        if column == len(self.columns) - 1:
            return theme.text(f"{name}  ·  class probabilities", theme.LABEL, theme.TEXT)
        silent = int((np.asarray(values) <= 0).sum())
        text = f"{name}  ·  {len(values)} neurons, largest {float(np.max(values)):.3g}"
        if silent:
            text += f"  ·  {silent} silent (ReLU at 0)"
        return theme.text(text, theme.LABEL, theme.TEXT)

    def prediction(self, forward: Pass) -> None:
        """The predicted class (with its probability) marked at the output, and a caption
        with the true class."""
        probs = forward.probs
        predicted = int(np.argmax(probs))
        classes = self.run.classes
        name = classes[predicted] if predicted < len(classes) else str(predicted)
        truth = classes[forward.label] if forward.label < len(classes) else str(forward.label)
        right = predicted == forward.label
        words = (
            f"prediction: {name} ({100 * probs[predicted]:.0f}%)  ·  true class {truth}  ·  "
            f"{'right' if right else 'wrong'}  ·  the trained network at step {forward.step:,}"
        )
        circles, units = self.columns[-1]
        units = list(units)
        single = len(units) == 1 and len(probs) == 2  # one logit read by a sigmoid
        slot = 0 if single else (units.index(predicted) if predicted in units else None)
        marks = Group()
        if slot is not None:
            text = f"p({classes[1]}) = " if single else ""
            text += f"{100 * (probs[1] if single else probs[predicted]):.0f}%"
            beside = circles[slot]
            if self.maps and len(self.diagram.names):  # beside the class name, now accented
                beside = self.diagram.names[slot].set_color(theme.ACCENT)
            mark = theme.text(text, theme.SMALL, theme.ACCENT)
            marks.add(mark.next_to(beside, RIGHT, buff=0.1))
        self.swap_caption(theme.text(words, theme.LABEL, theme.GOOD if right else theme.BAD))
        self.caption(
            f"The network says '{name}' with p = {theme.percent(probs[predicted])}; the true "
            f"class is '{truth}' ({'right' if right else 'wrong'}, at step {forward.step:,})."
        )
        self.play(FadeIn(marks), run_time=0.4)
