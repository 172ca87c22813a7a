"""Filters: seed 003's figure, animated — for one real input, every filter of each conv layer
in a grid labelled "filter i": its activation map on that input, and beside it the image that
excites it most (activation maximisation, grown from noise on screen). Filters that never fire
are marked dead.

The activation maps are the run's recorded post-ReLU activations; the images come from
``engine.actmax`` (all filters of a layer optimised together in one batch), recorded into the
run on first use and reused after. Each page is one raster; only the labels are separate.

    manim scenes/filters.py                              # the default run (smallcnn-synth)
    NNREEL_RUN=smallcnn-svhn manim -ql scenes/filters.py # seed 003's SVHN network (4 convs)
    NNREEL_SET="layers=conv2 per_page=32 grow=0" manim -ql scenes/filters.py
    python -m engine actmax smallcnn-synth --layer conv1 --units all --steps 512  # ahead

Options (``NNREEL_SET`` or ``python -m engine render filters --set KEY=VALUE``): see
``Filters.options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, FadeIn, Group

from engine.actmax import ActmaxRecording
from engine.errors import NnreelError, RunError
from engine.scenekit import (
    Choice,
    ColorBar,
    Names,
    Number,
    Option,
    RunScene,
    dataset_name,
    layout,
    model_name,
    output_words,
    pick_image,
    pixels_per_unit,
    raster_image,
    scale_ends,
    set_pixels,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title
from engine.scenekit.recordings import ensure_actmax
from engine.store import LayerInfo, Run, schema

GRID = (-4.15, 6.75, -3.7, 1.95)
"""Left, right, bottom, top of a page of filters (frame units)."""
INPUT_X = -5.55


def label_room() -> float:
    """Height above each pair of tiles for its label: a line of small text, descenders clear
    of the tiles."""
    return theme.text("filter 0  peak", theme.SMALL).height + 0.08


TILE_GAP = 0.06
INSET = 0.06
"""Left margin of each cell's tiles, room for a dead filter's frame."""
GROW_FRAMES = 8
"""At most this many recorded optimisation steps are shown while the images grow."""


def conv_layers(run: Run, requested: list[str] | None) -> list[LayerInfo]:
    """The conv layers to show: as requested, else all of them when there are at most four
    (seed 003's networks), else the first conv of each block."""
    convs = [
        info
        for info in run.layers
        if info.kind == "conv" and len(info.output_shape) == 3 and run.has(schema.acts(info.name))
    ]
    if requested:
        for name in requested:
            info = run.layer(name)  # an unknown name lists the run's layers
            if info not in convs:
                raise NnreelError(
                    f"Layer {name!r} of run {run.name!r} is a {info.kind} layer without recorded "
                    f"activation maps; Filters shows conv layers: "
                    f"{', '.join(i.name for i in convs) or 'none'}."
                )
        return [run.layer(name) for name in requested]
    if not convs:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)}) recorded no conv activations: Filters needs a "
            "CNN run, e.g. NNREEL_RUN=smallcnn-synth (python -m engine train smallcnn-synth)."
        )
    if len(convs) <= 4:
        return convs
    kinds = [info.kind for info in run.layers]
    firsts = [
        info
        for i, info in enumerate(run.layers)
        if info in convs and (i == 0 or kinds[i - 1] != "conv")
    ]
    return firsts


@dataclass
class Page:
    """Where the filters of one page go: a grid of cells, each a label over two tiles."""

    filters: list[int]
    rows: int
    cols: int
    cell: tuple[float, float]
    """Cell width and height in frame units."""
    side: int
    """Tile side in pixels."""
    bottom: float = GRID[2]
    """The page's lower edge (higher when the key sits under it)."""
    top: float = GRID[3]
    """The page's upper edge (lower under a caption in large type)."""

    @classmethod
    def plan(cls, filters: list[int], bottom: float = GRID[2], top: float = GRID[3]) -> Page:
        left, right = GRID[:2]
        width, height = right - left, top - bottom
        rows, cols = rs.grid_shape(len(filters), width / height, 2.2)
        cell = (width / cols, height / rows)
        side = min((cell[0] - 0.22) / 2 - TILE_GAP / 2, cell[1] - label_room() - 0.12)
        pixels = max(4, int(side * pixels_per_unit()))
        return cls(filters, rows, cols, cell, pixels, bottom, top)

    def origin(self, k: int) -> np.ndarray:
        """Top-left corner of cell k (frame units)."""
        r, c = divmod(k, self.cols)
        return np.array([GRID[0] + c * self.cell[0], self.top - r * self.cell[1], 0.0])

    def size(self) -> tuple[int, int]:
        """The page raster's (height, width) in pixels."""
        ppu = pixels_per_unit()
        return round((self.top - self.bottom) * ppu), round((GRID[1] - GRID[0]) * ppu)

    def tile_corner(self, k: int, which: int) -> tuple[int, int]:
        """Pixel (row, column) of cell k's map tile (0) or image tile (1) in the page raster."""
        ppu = pixels_per_unit()
        x, y = self.origin(k)[:2]
        row = round((self.top - y + label_room()) * ppu)
        col = round((x - GRID[0] + INSET) * ppu) + which * (self.side + round(TILE_GAP * ppu))
        return row, col


class Filters(RunScene):
    """Every filter of a CNN's conv layers: its map on one input and the image it likes best."""

    default_preset = "smallcnn-synth"
    options: ClassVar[dict[str, Option]] = {
        "layers": Names(None, "comma-separated conv layers (default: seed 003's)"),
        "image": Number(None, "a probe image index (0 = the first)", at_least=0, whole=True),
        "per_page": Number(16, "filters on one page", at_least=1, whole=True),
        "cmap": Choice(
            "viridis", "colour map of the activation maps", choices=("viridis", "greens", "gray")
        ),
        "steps": Number(
            256, "optimisation steps when the images must be made first", at_least=1, whole=True
        ),
        "grow": Number(
            3.0, "seconds the images grow from noise on each page (0: none)", at_least=0
        ),
        "hold": Number(3.0, "seconds each finished page stays on screen", above=0),
    }

    def construct(self) -> None:
        s = self.settings
        self.layers = conv_layers(self.run, s["layers"])
        self.index = pick_image(self.run, s["image"])
        recordings = {i.name: ensure_actmax(self.run, i, steps=s["steps"]) for i in self.layers}
        self.add_frame()
        for info in self.layers:
            count = info.output_shape[0]
            for first in range(0, count, s["per_page"]):
                filters = list(range(first, min(count, first + s["per_page"])))
                self.page(info, recordings[info.name], filters)

    # -- the fixed parts ----------------------------------------------------------------------
    def add_frame(self) -> None:
        step = int(self.run.steps(schema.acts(self.layers[0].name))[-1])
        head = fitted_title(
            f"Filters  ·  {model_name(self.run)}",
            [
                f"each filter's map on one image ({dataset_name(self.run)}) and the image it "
                "likes best",
                self.run.name,
            ],
            TITLE_WIDTH,
        )
        images = self.run.read(schema.PROBE_IMAGES, 0)
        label = int(self.run.read(schema.PROBE_LABELS, 0)[self.index])
        picture = raster_image(rs.to_rgb(images[self.index]), height=1.7)
        picture.move_to([INPUT_X, 0.9, 0])
        above = theme.text("input", theme.HEADING, weight="BOLD").next_to(picture, UP, buff=0.15)
        below = theme.text(f"true class: {self.class_name(label)}", theme.LABEL, theme.GOOD)
        below.next_to(picture, DOWN, buff=0.15)
        legend = self.map_legend(signed=False)
        legend.next_to(below, DOWN, buff=0.4).set_x(INPUT_X)
        self.legend = legend
        key = self.key(legend)
        # Pages start under their caption, which starts under the title (large type: lower).
        self.caption_top = min(GRID[3] + 0.75, head.get_bottom()[1] - 0.1)
        probe = theme.caption("conv", "details", "note")
        self.page_top = min(GRID[3], self.caption_top - probe.height - 0.08)
        self.progress = Group(
            theme.text("best image", theme.SMALL, theme.MUTED),
            theme.text("after 999 steps", theme.SMALL, theme.MUTED),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.04)
        below_key = key if key.get_left()[0] < GRID[0] else legend  # the key: beside or under
        self.progress.next_to(below_key, DOWN, buff=0.25).align_to([-6.75, 0, 0], LEFT)
        self.add(self.step_counter(step), picture, above, below, legend, key, self.progress)
        shown = ", ".join(info.name for info in self.layers)
        self.caption(
            f"What each filter of {shown} sees in one “{self.class_name(label)}” image, and "
            "the image it likes best"
        )
        self.play(FadeIn(head), run_time=0.5)
        self.hold()

    def map_legend(self, signed: bool) -> ColorBar:
        """The maps' colour scale: from 0, or either side of it for a layer whose maps go
        below zero (no ReLU after it)."""
        cmap = "diverging" if signed else self.settings["cmap"]
        return ColorBar(cmap, title="activation map", length=2.2, **scale_ends("max", signed))

    def show_legend(self, signed: bool) -> None:
        """The legend of the page's maps, in the place of the last one."""
        legend = self.map_legend(signed).move_to(self.legend, aligned_edge=UP)
        self.remove(self.legend)
        self.legend = legend
        self.add(legend)

    def key(self, legend: ColorBar) -> Group:
        """What the tiles mean: three lines under the legend when they fit the left column,
        else one line under the page (which then ends higher: ``page_bottom``)."""
        lines = [
            ("left: map on this input", theme.MUTED),
            ("right: its best image", theme.MUTED),
            ("red: dead, never fires", theme.BAD),
        ]
        key = Group(*(theme.text(words, theme.SMALL, colour) for words, colour in lines))
        key.arrange(DOWN, aligned_edge=LEFT, buff=0.04)
        self.page_bottom = GRID[2]
        if key.width <= GRID[0] - 0.2 + 6.75:
            return key.next_to(legend, DOWN, buff=0.3).set_x(-6.75 + key.width / 2)
        key.arrange(RIGHT, buff=0.4).move_to([GRID[0], GRID[2], 0], aligned_edge=LEFT + DOWN)
        self.page_bottom = key.get_top()[1] + 0.12
        return key

    def show_progress(self, first: str, second: str) -> None:
        for line, words in zip(self.progress, (first, second), strict=True):
            line.set_text(words)

    def class_name(self, label: int) -> str:
        classes = self.run.classes
        return str(classes[label]) if label < len(classes) else str(label)

    # -- one page -----------------------------------------------------------------------------
    def page(self, info: LayerInfo, recording: ActmaxRecording, filters: list[int]) -> None:
        """The page's maps and labels, the images growing from noise, then the best ones."""
        plan = Page.plan(filters, self.page_bottom, self.page_top)
        maps = self.activations(info.name)[self.index][filters]
        position = [recording.units.index(f) for f in filters]
        dead = recording.dead[position]
        labels = self.labels(plan, recording, position, dead)
        cap = self.page_caption(info, recording, filters, maps, int(dead.sum()))
        base = self.base(plan, self.map_tiles(maps, plan.side), dead)
        self.show_legend(rs.below_zero(maps))
        frames = self.shown_frames(recording)
        first = recording.frames[frames[0], position] if frames else recording.best[position]
        pixels = self.with_images(plan, base, first)
        raster = raster_image(pixels, height=pixels.shape[0] / pixels_per_unit())
        raster.move_to([GRID[0], plan.top, 0], aligned_edge=LEFT + UP)
        layout.gaps(raster, theme.BACKGROUND)  # the labels sit between the tiles
        self.add(raster, labels, cap)
        total = int(recording.settings.get("steps", recording.steps[-1]))
        c, h, w = info.output_shape
        which = (
            f"filters {filters[0]}–{filters[-1]} of {c}" if len(filters) < c else f"all {c} filters"
        )
        self.caption(f"{info.name}, {which}: {h}×{w} maps, and images grown from noise")
        for f in frames:
            set_pixels(raster, self.with_images(plan, base, recording.frames[f, position]))
            self.show_progress("growing", f"step {int(recording.steps[f])}/{total}")
            self.wait(self.settings["grow"] / len(frames))
        set_pixels(raster, self.with_images(plan, base, recording.best[position]))
        self.show_progress("best image", f"after {total} steps")
        self.hold()
        self.caption(self.best_words(info, recording, filters, position, dead))
        self.hold(self.settings["hold"])
        self.key_moment(f"{info.name} filters {filters[0]}-{filters[-1]}")
        self.remove(raster, labels, cap)

    def best_words(
        self,
        info: LayerInfo,
        recording: ActmaxRecording,
        filters: list[int],
        position: list[int],
        dead: np.ndarray,
    ) -> str:
        """The page's strongest filter: what its best image reached, when, and what the
        training images reached (when recorded); how many of the page's filters are dead."""
        count = int(dead.sum())
        if count == len(filters):
            return f"{info.name}: all {count} filters on this page are dead, they never fire"
        live = [k for k in range(len(filters)) if not dead[k]]
        k = max(live, key=lambda k: recording.best_values[position[k]])
        p = position[k]
        words = f"Strongest: filter {filters[k]}, {recording.best_values[p]:.3g}"
        if recording.dataset_max is not None:
            words += f" (its best training image: {recording.dataset_max[p]:.3g})"
        return words + (f"; {count} dead" if count else "")

    def shown_frames(self, recording: ActmaxRecording) -> list[int]:
        """Recorded steps shown while the images grow: none when ``grow=0``, else up to
        ``GROW_FRAMES`` spread over the recorded ones (which are log-spaced)."""
        if self.settings["grow"] <= 0 or len(recording.steps) < 2:
            return []
        picks = np.linspace(0, len(recording.steps) - 1, min(GROW_FRAMES, len(recording.steps)))
        return sorted(set(picks.round().astype(int).tolist()))

    def map_tiles(self, maps: np.ndarray, side: int) -> list[np.ndarray]:
        """Each map scaled to its own max in the colour map (maps that go below zero: to
        their own max |value| either side of 0, diverging), on a square tile."""
        mode = rs.honest_mode(maps, "channel")
        cmap = rs.mode_cmap(mode, self.settings["cmap"])
        rgb = rs.apply_colormap(rs.normalise(maps, mode).unit, cmap)
        return [rs.fit_square(m, side, rs.hex_rgb(theme.PANEL)) for m in rgb]

    def base(self, plan: Page, maps: list[np.ndarray], dead: np.ndarray) -> np.ndarray:
        """The page without its images, as RGBA (what an ImageMobject holds, so swapping
        pixels costs one copy): the map tiles, and a red frame around a dead filter's pair."""
        canvas = np.empty((*plan.size(), 4), dtype=np.uint8)
        canvas[:] = (*rs.hex_rgb(theme.BACKGROUND), 255)
        side = plan.side
        edge = max(1, side // 24)
        for k, tile in enumerate(maps):
            row, col = plan.tile_corner(k, 0)
            if dead[k]:
                right = plan.tile_corner(k, 1)[1] + side
                canvas[row - edge : row + side + edge, col - edge : right + edge, :3] = rs.hex_rgb(
                    theme.BAD
                )
            canvas[row : row + side, col : col + side, :3] = tile
        return canvas

    def with_images(self, plan: Page, base: np.ndarray, images: np.ndarray) -> np.ndarray:
        """The page with activation-maximisation images (uint8 [n, C, H, W]) beside the maps."""
        canvas = base.copy()
        side = plan.side
        for k, image in enumerate(images):
            row, col = plan.tile_corner(k, 1)
            tile = rs.fit_square(rs.to_rgb(image), side, rs.hex_rgb(theme.PANEL))
            canvas[row : row + side, col : col + side, :3] = tile
        return canvas

    def labels(
        self, plan: Page, recording: ActmaxRecording, position: list[int], dead: np.ndarray
    ) -> Group:
        """'filter i' over each cell, with the activation its best image reached when that
        fits; 'dead' in red for a filter that never fired."""
        labels = Group()
        room = plan.cell[0] - 0.15
        for k, (f, p) in enumerate(zip(plan.filters, position, strict=True)):
            if dead[k]:
                label = theme.text(f"filter {f}  dead", theme.SMALL, theme.BAD, weight="BOLD")
            else:
                label = theme.text(f"filter {f}  peak {recording.best_values[p]:.3g}", theme.SMALL)
                if label.width > room:
                    label = theme.text(f"filter {f}", theme.SMALL)
            corner = plan.origin(k) + np.array([0.0, -0.04, 0.0])
            labels.add(label.move_to(corner, aligned_edge=LEFT + UP))
        return labels

    def page_caption(
        self,
        info: LayerInfo,
        recording: ActmaxRecording,
        filters: list[int],
        maps: np.ndarray,
        dead: int,
    ) -> Group:
        c, h, w = info.output_shape
        size = "×".join(str(s) for s in recording.best.shape[2:])
        parts = [f"filters {filters[0]}–{filters[-1]} of {c}" if len(filters) < c else f"all {c}"]
        parts += [f"{dead} dead"] if dead else []
        silent = int(rs.silent(maps).sum())
        parts += [f"{silent} silent on this input"] if silent else []
        scale = "each map to its own ±max" if rs.below_zero(maps) else "each map to its own max"
        parts += [scale, "peak: the activation its image reached"]
        map_words = " ".join(filter(None, (f"maps {h}×{w}", output_words(self.run, info))))
        details = f"{c} filters  ·  {map_words}  ·  images {size} from noise"
        cap = theme.caption(info.name, details, "  ·  ".join(parts), width=GRID[1] - GRID[0])
        return cap.move_to([GRID[0], self.caption_top, 0], aligned_edge=LEFT + UP)
