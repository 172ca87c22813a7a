"""ActMax: what single units of a trained CNN respond to, grown from noise on screen.

Part one: an early, a middle and a late conv layer side by side (the first, middle and last
conv of the network; a two-conv network shows early and late). Each tile is one filter's image
as the optimiser grows it from noise, labelled with the filter and its real activation on that
image (the mean of its map), over a bar that rises towards the larger of its best value and its
highest activation on any training image (the tick, when the training data can be loaded).
The clock is the optimisation step on a log scale: the recording is log-spaced (dense early,
where the images change most) and every step shown gets the same screen time. Then each
filter's best image; a dead filter (one that never activates) is crossed out in red instead of
showing noise. Part two: the class-logit images growing, each with the model's own probability
that it shows its class and the logit it was grown to raise.

Everything shown comes from ``engine.actmax`` recordings in the run (``actmax/<layer>/...``).
A layer without one is recorded on first use and kept (every unit of a layer with at most 64,
so the Filters scene reuses it; else the units shown), on one CPU thread (``threads``). On the
default run (vgg16-synth: conv1_1's 16 filters, conv3_3's 64, 9 of conv5_3's, the 10 classes;
256 steps) that took 41 s on two busy CPU cores; later renders reuse it.

    manim scenes/actmax.py                                   # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/actmax.py     # seed 003's CNN: early and late
    NNREEL_SET="layers=conv2_2,conv4_1 units=6 pace=brisk" manim -ql scenes/actmax.py
    python -m engine actmax vgg16-synth --layer conv3_3 --units all --steps 512  # ahead

Options (``NNREEL_SET`` or ``python -m engine render actmax --set KEY=VALUE``): see
``ActMax.options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Group, ImageMobject

from engine.actmax import ActmaxRecording
from engine.errors import NnreelError, RunError
from engine.scenekit import (
    Flag,
    LogClock,
    Names,
    Number,
    Option,
    RunScene,
    dataset_name,
    model_name,
    pixels_per_unit,
    raster_image,
    set_pixels,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title
from engine.scenekit.paint import blank, coverage, fill, stamp, text_width, unit
from engine.scenekit.recordings import ensure_actmax
from engine.scenekit.tiles import Grid, TileStyle
from engine.store import LayerInfo, Run

# -- layout (frame units; the frame is about 14.2 × 8) ----------------------------------------
CAPTION_TOP = 2.78
GRID = (2.3, -2.83)
"""Top and bottom of the tile grids."""
KEY_Y = -3.0
CLOCK_BOTTOM = -3.68
PANEL_GAP = 0.4
UNIT_WORDS = {"conv": "filters", "pool": "channels", "dense": "neurons"}
UNIT_WORD = {"conv": "filter", "pool": "channel", "dense": "neuron"}
DEFAULT_UNITS = {1: 18, 2: 12, 3: 9}
STEP_SECONDS = 0.35
"""Seconds on screen for each recorded step shown while the images grow."""
"""Units shown per layer by the number of layers: three rows of tiles of about 160 px at 1080p."""


# -- which layers, which recordings -----------------------------------------------------------
def image_layers(run: Run) -> list[LayerInfo]:
    """The layers activation maximisation can target in a run: its layers with units, the
    output layer last. Refuses runs whose inputs are not images."""
    shape = run.model.get("input_shape") or []
    if len(shape) != 3:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)} on {dataset_name(run)}) takes inputs of shape "
            f"{list(shape)}, not images: ActMax needs a CNN run, e.g. NNREEL_RUN=vgg16-synth "
            "or NNREEL_RUN=smallcnn-synth."
        )
    return [i for i in run.layers if i.kind in (*UNIT_WORDS, "logits")]


def pick_layers(run: Run, requested: list[str] | None) -> list[LayerInfo]:
    """The layers of part one: as requested, else the first, middle and last conv (two or
    one when the network has fewer)."""
    usable = [i for i in image_layers(run) if i.kind != "logits"]
    if requested:
        chosen = [run.layer(name) for name in requested]  # an unknown name lists the layers
        for info in chosen:
            if info not in usable:
                raise NnreelError(
                    f"Layer {info.name!r} of run {run.name!r} is a {info.kind} layer; ActMax "
                    f"shows units of {', '.join(i.name for i in usable)} (the class logits "
                    "come in part two)."
                )
        return chosen
    convs = [i for i in usable if i.kind == "conv"]
    if not convs:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)}) has no conv layer: name the layers to show, "
            f"e.g. NNREEL_SET=layers={usable[0].name if usable else 'LAYER'}, or show a CNN run."
        )
    picks = sorted({0, len(convs) // 2, len(convs) - 1}) if len(convs) > 2 else range(len(convs))
    return [convs[i] for i in picks]


def logits_layer(run: Run) -> LayerInfo | None:
    found = [i for i in image_layers(run) if i.kind == "logits"]
    return found[-1] if found else None


def role(run: Run, info: LayerInfo) -> str:
    """'early', 'middle' or 'late': where the layer sits among those with units to show."""
    usable = [i.name for i in image_layers(run) if i.kind != "logits"]
    depth = usable.index(info.name) / max(1, len(usable) - 1)
    return "early" if depth < 1 / 3 else "middle" if depth < 2 / 3 else "late"


# -- numbers as text --------------------------------------------------------------------------
def value_text(value: float) -> str:
    """An activation in at most four digits: '0.87', '12.4', '153'."""
    size = abs(value)
    return f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"


def probability_text(p: float) -> str:
    """'p = 0.998', with more digits rather than a false 'p = 1.000' or 'p = 0.000'."""
    for digits in (3, 4, 5):
        text = f"{p:.{digits}f}"
        if text not in (f"1.{'0' * digits}", f"0.{'0' * digits}"):
            return f"p = {text}"
    return "p > 0.99999" if p > 0.5 else "p < 0.00001"


def shown_steps(recordings: list[ActmaxRecording], count: int) -> np.ndarray:
    """At most ``count`` of the steps the recordings shown together recorded, spread evenly
    over them (so still log-spaced), the first and the last always among them."""
    steps = np.unique(np.concatenate([r.steps for r in recordings]))
    if len(steps) <= count:
        return steps
    return steps[np.unique(np.linspace(0, len(steps) - 1, count).round().astype(int))]


def frame_at(recording: ActmaxRecording, step: int) -> int:
    """The recording's last frame at or before ``step``."""
    return max(0, int(np.searchsorted(recording.steps, step, side="right")) - 1)


def dead_tile(side: int, edge: int) -> np.ndarray:
    """A dead unit's tile instead of its (meaningless) image: a red frame, a dim red cross and
    'never fires' across the middle when it fits."""
    tile = np.empty((side, side, 3), dtype=np.uint8)
    tile[:] = rs.hex_rgb(theme.PANEL)
    red, dim = np.array(rs.hex_rgb(theme.BAD)), np.array(rs.hex_rgb(theme.PANEL))
    i = np.arange(side)
    near = np.abs(i[:, None] - i[None, :]) <= edge // 2
    tile[near | np.fliplr(near)] = (0.45 * red + 0.55 * dim).astype(np.uint8)
    tile[:edge], tile[-edge:], tile[:, :edge], tile[:, -edge:] = red, red, red, red
    height = coverage("0", theme.SMALL).shape[0]
    for lines in (["never fires"], ["never", "fires"]):
        if max(text_width(line, theme.SMALL, True) for line in lines) > side - 6 * edge:
            continue
        top, bottom = (side - height * len(lines)) // 2, (side + height * len(lines)) // 2
        fill(tile, top - edge, bottom + edge, 2 * edge, side - 2 * edge, theme.PANEL)
        for n, line in enumerate(lines):
            at = side // 2, top + n * height
            stamp(tile, line, *at, theme.SMALL, theme.BAD, bold=True, align="centre")
        break
    return tile


# -- panels -----------------------------------------------------------------------------------
@dataclass
class Tiles:
    """What a panel shows at one moment, one entry per tile."""

    images: np.ndarray
    """[n, C, H, W] uint8."""
    right: list[str]
    """The label row's changing text."""
    bars: np.ndarray
    """[n] bar fill in [0, 1]."""
    feet: list[str] | None = None


class Panel:
    """One layer's tiles as one raster: a static base (unit labels, bar tracks, dead crosses)
    and, per moment, the images, values and bars composited onto it with numpy."""

    def __init__(
        self,
        recording: ActmaxRecording,
        positions: list[int],
        box: tuple[float, float, float, float],
        style: TileStyle,
        heads: list[str],
        widest: str,
        *,
        ticks: np.ndarray | None = None,
        bar_color: str | None = None,
    ):
        bar_color = theme.BAR if bar_color is None else bar_color
        self.recording, self.positions, self.style = recording, positions, style
        self.dead = recording.dead[positions]
        self.ticks, self.bar_color = ticks, bar_color
        left, right, top, bottom = box
        ppu = pixels_per_unit()
        width, height = round((right - left) * ppu), round((top - bottom) * ppu)
        image = max(recording.frames.shape[-2:])
        need = max(text_width(h, style.head) for h in heads) + text_width(widest, style.head, True)
        self.grid = Grid.plan(
            len(positions),
            width,
            height,
            image,
            style,
            need + 3 * unit(),
            fewer="show fewer units (NNREEL_SET=units=9) or fewer layers",
        )
        self.heads = heads
        self.base = self.draw_base()
        self.raster: ImageMobject = raster_image(self.base, height=height / ppu)
        self.raster.move_to([left, top, 0], aligned_edge=LEFT + UP)

    def draw_base(self) -> np.ndarray:
        """Bar tracks, dead units' crosses and label rows, and the live units' names when
        they do not move (a split label row)."""
        grid = self.grid
        canvas = blank(grid.height, grid.width)
        edge = max(2, unit() // 2 + 1)
        for k in range(len(self.heads)):
            bx0, by0, bx1, by1 = grid.bar_box(k)
            fill(canvas, by0, by1, bx0, bx1, theme.PANEL)
            if self.dead[k]:
                x, y = grid.image_box(k)
                canvas[y : y + grid.side, x : x + grid.side, :3] = dead_tile(grid.side, edge)
                self.label_row(canvas, k, "dead", theme.BAD, name=True)
            elif not self.style.centred:
                self.label_row(canvas, k, "", theme.TEXT, name=True)
        return canvas

    def label_row(self, canvas: np.ndarray, k: int, value: str, color: str, name: bool) -> None:
        """Tile k's name (when ``name``) and ``value``: at the two ends of its label row, or
        side by side over its centre (``style.centred``)."""
        style, (x0, x1), y = self.style, self.grid.label_span(k), self.grid.cell(k)[1]
        head = self.heads[k]
        if style.centred:
            gap = 2 * unit()
            x0 = (x0 + x1) // 2 - (text_width(head, style.head, True) + gap) // 2
            x0 -= text_width(value, style.head, True) // 2
            x1 = x0 + text_width(head, style.head, True) + gap + text_width(value, style.head, True)
        if name:
            stamp(canvas, head, x0, y, style.head, style.name_color, bold=style.name_bold)
        if value:
            stamp(canvas, value, x1, y, style.head, color, bold=True, align="right")

    def compose(self, tiles: Tiles) -> np.ndarray:
        """The panel showing ``tiles`` (dead units keep their cross)."""
        grid, canvas = self.grid, self.base.copy()
        for k, image in enumerate(tiles.images):
            if self.dead[k]:
                continue
            x, y = grid.image_box(k)
            rgb = rs.enlarge(rs.to_rgb(image), grid.factor)
            h, w = rgb.shape[:2]
            canvas[y : y + h, x : x + w, :3] = rgb
            self.label_row(canvas, k, tiles.right[k], self.style.value_color, self.style.centred)
            self.draw_bar(canvas, k, float(tiles.bars[k]))
            if tiles.feet is not None and self.style.foot:
                bx0, _, bx1, by1 = grid.bar_box(k)
                at, align = ((bx0 + bx1) // 2, "centre") if self.style.centred else (bx0, "left")
                y = by1 + unit()
                stamp(canvas, tiles.feet[k], at, y, self.style.foot, theme.MUTED, align=align)
        return canvas

    def at(self, frame: int) -> Tiles:
        """What the panel shows at recorded frame ``frame``."""
        raise NotImplementedError

    def draw_bar(self, canvas: np.ndarray, k: int, share: float) -> None:
        """Tile k's bar filled to ``share``, with its tick when it has one."""
        x0, y0, x1, y1 = self.grid.bar_box(k)
        end = x0 + round(np.clip(share, 0.0, 1.0) * (x1 - x0))
        fill(canvas, y0, y1, x0, end, self.bar_color)
        if self.ticks is not None and np.isfinite(self.ticks[k]):
            at = x0 + round(np.clip(self.ticks[k], 0.0, 1.0) * (x1 - x0 - 2))
            fill(canvas, y0 - unit(), y1 + unit(), at, at + 2, theme.TEXT)

    def show(self, tiles: Tiles) -> None:
        set_pixels(self.raster, self.compose(tiles))


def title(run: Run) -> Group:
    """The scene's title: the rows below it start where it ends (``ActMax.place_rows``)."""
    return fitted_title(
        "Activation maximisation",
        [model_name(run), "images grown from noise to excite single units", run.name],
        TITLE_WIDTH,
    )


class UnitPanel(Panel):
    """Part one: units of one layer, their activation as a number and as a bar towards the
    larger of their best value and their highest over the training data (the tick)."""

    def __init__(self, recording: ActmaxRecording, units: list[int], box):
        positions = [recording.units.index(u) for u in units]
        best = recording.best_values[positions]
        maxima = recording.dataset_max
        self.data_max = None if maxima is None else maxima[positions]
        top = best if self.data_max is None else np.maximum(best, self.data_max)
        self.scale = np.where(top > 0, top, 1.0)
        ticks = None if self.data_max is None else self.data_max / self.scale
        heads = [f"#{u}" for u in units]
        values = [*recording.values[:, positions].ravel(), *best]
        widest = max((value_text(v) for v in values), key=len)
        super().__init__(recording, positions, box, TileStyle(), heads, widest, ticks=ticks)

    def at(self, frame: int) -> Tiles:
        values = self.recording.values[frame, self.positions]
        return Tiles(
            self.recording.frames[frame, self.positions],
            [value_text(v) for v in values],
            values / self.scale,
        )

    def best(self) -> Tiles:
        values = self.recording.best_values[self.positions]
        return Tiles(
            self.recording.best[self.positions],
            [value_text(v) for v in values],
            values / self.scale,
        )

    def summary(self) -> list[str]:
        """What the best images reached, from the longest wording to the shortest."""
        live, dead = ~self.dead, int(self.dead.sum())
        best = self.recording.best_values[self.positions]
        if self.data_max is None or not live.any():
            peak = f"peak {value_text(best[live].max())}" if live.any() else "all dead"
            return [f"best images, {peak}", peak]
        k, n = int(((best > self.data_max) & live).sum()), int(live.sum())
        also = f", {dead} dead" if dead else ""
        return [
            f"best: {k} of {n} beat all training images{also}",
            f"{k} of {n} beat all training data{also}",
            f"{k}/{n} beat the training data",
            f"{k}/{n} beat the data",
        ]


class ClassPanel(Panel):
    """Part two: one image per class, with the model's probability that it is that class (the
    number and the bar) and the logit it was grown to raise."""

    def __init__(self, recording: ActmaxRecording, classes: list[str], box):
        if recording.probabilities is None:
            raise RunError(
                f"The recording of {recording.layer!r} holds no class probabilities: record "
                f"the output layer again with `python -m engine actmax RUN --layer "
                f"{recording.layer} --units all`."
            )
        positions = list(range(len(recording.units)))
        style = TileStyle(theme.LABEL, theme.SMALL, theme.TEXT, True, theme.ACCENT, centred=True)
        names = [classes[u] if u < len(classes) else str(u) for u in recording.units]
        super().__init__(
            recording, positions, box, style, names, "p = 0.99999", bar_color=theme.ACCENT
        )

    def at(self, frame: int) -> Tiles:
        probs = self.recording.probabilities[frame]
        logits = self.recording.values[frame]
        return Tiles(
            self.recording.frames[frame],
            [probability_text(p) for p in probs],
            probs,
            [f"logit {value_text(v)}" for v in logits],
        )


# -- the scene --------------------------------------------------------------------------------
@dataclass
class Shown:
    """What the scene shows of a run, and the recordings it reads."""

    layers: list[LayerInfo]
    units: dict[str, list[int]]
    logits: LayerInfo | None
    recordings: dict[str, ActmaxRecording]


def prepare(run: Run, settings: dict) -> Shown:
    """The layers and units to show (``ActMax.options``) and their recordings, made now where
    missing (the benchmark calls this before timing a render)."""
    s = settings
    layers = pick_layers(run, s["layers"])
    logits = logits_layer(run) if s["classes"] else None
    count = s["units"] or DEFAULT_UNITS.get(len(layers), DEFAULT_UNITS[3])
    units = {i.name: list(range(min(count, i.output_shape[0]))) for i in layers}
    if logits is not None:
        units[logits.name] = list(range(logits.output_shape[0]))
    recordings = {
        info.name: ensure_actmax(
            run, info, units[info.name], steps=s["steps"], threads=s["threads"]
        )
        for info in [*layers, *([logits] if logits else [])]
    }
    return Shown(layers, units, logits, recordings)


class ActMax(RunScene):
    """Units of an early, a middle and a late layer growing their images, then the classes."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "layers": Names(None, "comma-separated layers (default: first, middle, last conv)"),
        "units": Number(
            None,
            "units shown per layer, the first N (default: 9 of each of three layers, 12 of two, "
            "18 of one)",
            at_least=1,
            whole=True,
        ),
        "classes": Flag(True, "end on the class-logit images (no: skip them)"),
        "steps": Number(
            256, "optimisation steps when a layer must be recorded first", at_least=1, whole=True
        ),
        "frames": Number(
            20,
            "recorded steps shown while images grow (at most; log-spaced)",
            at_least=2,
            whole=True,
        ),
        "hold": Number(3.0, "seconds the final images stay on screen", above=0),
        "threads": Number(
            1, "torch CPU threads while recording (1: best on a busy CPU)", at_least=1, whole=True
        ),
    }

    def construct(self) -> None:
        shown = prepare(self.run, self.settings)
        self.add_header()
        self.layers_page(shown.layers, shown.recordings, shown.units)
        if shown.logits is not None:
            self.classes_page(shown.logits, shown.recordings[shown.logits.name])

    # -- fixed parts --------------------------------------------------------------------------
    def add_header(self) -> None:
        head = title(self.run)
        self.counter = Group(
            theme.text("step 0", theme.BODY, weight="BOLD"),
            theme.text("optimisation step", theme.LABEL, theme.MUTED),
        )
        self.counter.arrange(DOWN, aligned_edge=RIGHT, buff=0.02)
        self.counter.to_corner(UP + RIGHT, buff=theme.MARGIN)
        self.header = (head, self.counter)
        self.place_rows(head)
        self.add(*self.header)

    def place_rows(self, head: Group) -> None:
        """Heights of the captions, the grids and the key line, between the title and the
        clock at the bottom, from the type's real heights (large type: smaller grids)."""
        self.caption_top = min(CAPTION_TOP, head.get_bottom()[1] - 0.08)
        caption = theme.text("conv", theme.HEADING, weight="BOLD").height
        small = theme.text("0", theme.SMALL).height
        clock = LogClock(np.array([0, 1, 10]), CLOCK_BOTTOM).raster.get_top()[1]
        self.key_y = max(KEY_Y, clock + 0.1 + small / 2)
        self.grid = (
            min(GRID[0], self.caption_top - caption - 0.1),
            max(GRID[1], self.key_y + small / 2 + 0.12),
        )

    def set_counter(self, first: str, second: str) -> None:
        for line, words in zip(self.counter, (first, second), strict=True):
            line.set_text(words, keep=RIGHT)

    def key(self, parts: list[str]) -> Group:
        """The key line under the grids: as many of ``parts`` as fit, in order."""
        width = theme.content_width()
        for keep in range(len(parts), 0, -1):
            line = theme.text("   ·   ".join(parts[:keep]), theme.SMALL, theme.MUTED)
            if line.width <= width:
                break
        return Group(line.move_to([0, self.key_y, 0]))

    def heading(self, name: str, details: list[str], left: float, width: float) -> Group:
        """A panel's one-line caption: its name in bold, then the first of ``details`` that
        fits beside it in ``width``."""
        title = theme.text(name, theme.HEADING, weight="BOLD")
        line = Group(title, theme.text(" ", theme.LABEL, theme.MUTED))
        line.move_to([left, self.caption_top, 0], aligned_edge=LEFT + UP)
        self.set_details(line, details, width)
        return line

    def set_details(self, heading: Group, details: list[str], width: float) -> None:
        title, words = heading
        room = width - title.width - 0.25
        fits = [d for d in details if theme.text(d, theme.LABEL).width <= room]
        words.set_text(fits[0] if fits else " ")
        words.next_to(title, RIGHT, buff=0.25).align_to(title, DOWN)

    # -- part one -----------------------------------------------------------------------------
    def layers_page(
        self,
        layers: list[LayerInfo],
        recordings: dict[str, ActmaxRecording],
        shown: dict[str, list[int]],
    ) -> None:
        count = len(layers)
        width = (theme.content_width() - PANEL_GAP * (count - 1)) / count
        panels, headings = [], []
        for n, info in enumerate(layers):
            left = -theme.frame_width() / 2 + theme.MARGIN + n * (width + PANEL_GAP)
            panel = UnitPanel(
                recordings[info.name], shown[info.name], (left, left + width, *self.grid)
            )
            units = info.output_shape[0]
            where, word = role(self.run, info), UNIT_WORDS[info.kind]
            details = [f"{where}  ·  {units} {word}", f"{where}, {units}", where]
            headings.append(self.heading(info.name, details, left, width))
            panels.append(panel)
        clock = LogClock(
            shown_steps([p.recording for p in panels], self.settings["frames"]), CLOCK_BOTTOM
        )
        self.add(*(p.raster for p in panels), *headings, self.unit_key(panels), clock.raster)
        kinds = {info.kind for info in layers}
        noun = UNIT_WORDS[kinds.pop()] if len(kinds) == 1 else "units"
        sizes = {len(p.positions) for p in panels}
        many = f"{sizes.pop()} {noun}" if len(sizes) == 1 else noun
        many += " each" if len(panels) > 1 else ""
        where = ", ".join(f"{i.name} ({role(self.run, i)})" for i in layers)
        self.caption(f"Step 0: random noise for {many} of {where}")
        dead = sum(int(p.dead.sum()) for p in panels)
        self.grow(
            panels,
            clock,
            "log-spaced clock",
            f"Each image is changed to raise its {noun[:-1]}'s activation, the number over it "
            f"({clock.total:,} steps)" + (f"; {dead} dead (red ✕)" if dead else ""),
        )
        for panel, heading in zip(panels, headings, strict=True):
            panel.show(panel.best())
            self.set_details(heading, panel.summary(), width)
        self.set_counter(f"best of {clock.total:,} steps", "each unit's best image")
        self.hold()
        self.caption(self.best_words(layers, panels))
        self.hold(self.settings["hold"])
        self.key_moment(" · ".join(info.name for info in layers))
        self.clear()
        self.add(*self.header)

    def best_words(self, layers: list[LayerInfo], panels: list[UnitPanel]) -> str:
        """The strongest unit shown: its best activation, the step it reached it, and the
        highest any training image gave it (when the recording has it)."""
        live = [
            (panel, info, k)
            for panel, info in zip(panels, layers, strict=True)
            for k in range(len(panel.positions))
            if not panel.dead[k]
        ]
        if not live:
            return "Every unit shown is dead: no input ever makes it fire"
        panel, info, k = max(live, key=lambda t: t[0].recording.best_values[t[0].positions[t[2]]])
        recording, p = panel.recording, panel.positions[k]
        words = (
            f"Strongest: {UNIT_WORD[info.kind]} {recording.units[p]} of {info.name}, "
            f"{value_text(recording.best_values[p])}"
        )
        if panel.data_max is not None:
            words += f" (its best training image: {value_text(panel.data_max[k])})"
        return words

    def unit_key(self, panels: list[UnitPanel]) -> Group:
        with_data = any(p.data_max is not None for p in panels)
        what = "the unit's activation on its image"
        if any(p.recording.objective == "channel" for p in panels):
            what += " (a filter: its map's mean)"
        parts = [f"number and bar: {what}" if with_data else f"number: {what}"]
        parts.append("tick: its highest on any training image" if with_data else "bar: to its best")
        if any(p.dead.any() for p in panels):
            parts.append("red ✕: dead, never activates on any input")
        return self.key(parts)

    def grow(self, panels: list[Panel], clock: LogClock, clock_words: str, growing: str) -> None:
        """Every step shown in turn, the same screen time each (the clock is log-spaced); step
        0, the starting noise, a little longer. Each is a still frame: drawn once, encoded
        as often as its screen time needs. ``growing`` is the caption from step 0's end."""
        for n, step in enumerate(int(s) for s in clock.steps):
            if n == 1:
                self.caption(growing)
            for panel in panels:
                panel.show(panel.at(frame_at(panel.recording, step)))
            clock.show(step)
            self.set_counter(f"step {step:,} of {clock.total:,}", clock_words)
            if n == 0:  # the starting noise, while its caption is read
                self.hold(self.settings["hold"] / 3)
            else:
                self.wait(STEP_SECONDS)

    # -- part two -----------------------------------------------------------------------------
    def classes_page(self, info: LayerInfo, recording: ActmaxRecording) -> None:
        left = -theme.frame_width() / 2 + theme.MARGIN
        width = theme.content_width()
        panel = ClassPanel(recording, self.run.classes, (left, left + width, *self.grid))
        steps, classes = int(recording.steps[-1]), len(recording.units)
        heading = self.heading(
            info.name,
            [
                f"the {classes} class logits  ·  each image grown from noise to raise one "
                "class's score (before the softmax)",
                f"the {classes} class logits  ·  one image per class",
                "class logits",
            ],
            left,
            width,
        )
        key = self.key(
            [
                "p and bar: the model's own probability that the image is its class",
                "logit: the class score the image was grown to raise",
            ]
        )
        clock = LogClock(shown_steps([recording], self.settings["frames"]), CLOCK_BOTTOM)
        self.add(panel.raster, heading, key, clock.raster)
        self.caption(
            f"Now the {classes} classes: each image starts as noise and is changed to raise one "
            f"class's score in {info.name}"
        )
        self.grow(
            [panel],
            clock,
            "log-spaced clock",
            "p is the model's own probability that the image shows its class",
        )
        self.hold()
        probs = recording.probabilities[-1]
        low, high = int(np.argmin(probs)), int(np.argmax(probs))
        least = f"{panel.recording.labels[low]!r}, {probability_text(float(probs[low]))}"
        self.caption(
            f"After {steps:,} steps the model is surest of “{recording.labels[high]}” "
            f"({probability_text(float(probs[high]))}), least of “{recording.labels[low]}” "
            f"({probability_text(float(probs[low]))})"
        )
        self.set_details(
            heading,
            [f"the {classes} class logits after {steps} steps  ·  least sure: {least}", least],
            width,
        )
        self.set_counter(f"step {steps:,} of {steps:,}", "after the last step")
        self.hold(self.settings["hold"])
        self.key_moment(f"{info.name} classes")
