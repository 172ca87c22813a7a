"""Pruning: seed 004's fine-grained magnitude pruning, shown — a trained network and the same
network with its smallest weights set to zero, side by side on one real image.

First the weights: each layer's histogram with the cut-off (red: the weights removed), then
the removed ones gone; beside it the sparsity each layer ended with. Then every conv and pool
layer of both networks on the same probe image, the same channels on the same colour scale,
and their difference on a diverging scale centred on zero, with the relative change per layer
growing along the bottom. Last, both networks' class probabilities and their validation
accuracies. Every number comes from the two recorded runs.

The pruned run is made on the spot from the shown run when missing (``engine.analysis.pruning``,
kept beside it as ``<run>-pruned50``); a pruned run given as the run shows it against its
parent.

    manim scenes/pruning.py                              # vgg16-synth against 50 % pruned
    NNREEL_SET="sparsity=0.8 scope=layer" manim -ql scenes/pruning.py
    python -m engine prune vgg16-synth --sparsity 0.7 --finetune-epochs 1 --name vgg-p70ft
    NNREEL_RUN=vgg-p70ft manim -ql scenes/pruning.py     # a fine-tuned pruned run

Options (``NNREEL_SET`` or ``python -m engine render pruning --set KEY=VALUE``): see
``Pruning.options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    FadeIn,
    Group,
    Rectangle,
    VGroup,
)

from engine.analysis.pruning import prunable, prune_run
from engine.console import console
from engine.errors import RunError
from engine.recording import load_model
from engine.scenekit import (
    KIND_WORDS,
    MAP_KINDS,
    Choice,
    ColorBar,
    Number,
    Option,
    ProbabilityBars,
    RunScene,
    colour_key,
    focus,
    locked,
    model_name,
    output_words,
    pick_image,
    pixels_per_unit,
    raster_image,
    scale_ends,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title, format_value
from engine.scenekit.pacing import BEAT, IDEA
from engine.store import LayerInfo, Run, human_bytes, schema

# Layout in frame units (the frame is about 14.2 × 8).
CAPTION_TOP = 2.72
HISTOGRAMS = (-6.75, 2.55, -3.65, 1.75)
"""Left, right, bottom, top of the histogram grid (part 1)."""
SPARSITY_X = (3.1, 6.75)
PANELS = (-6.75, 6.75, -2.2, 1.45)
"""The three activation panels side by side (part 2), headings above."""
PANEL_GAP = 0.3
CHANGE = (-6.75, 2.4, -3.65, -2.5)
"""The relative-change chart along the bottom (part 2)."""


# -- the two runs -----------------------------------------------------------------------------
def pruned_name(run: Run, sparsity: float, scope: str) -> Path:
    """Where the pruned run of ``run`` lives: beside it, named by sparsity (and scope)."""
    suffix = "" if scope == "global" else f"-{scope}"
    return run.folder.with_name(f"{run.name}-pruned{round(sparsity * 100)}{suffix}")


def parent_of(run: Run) -> Run:
    """The dense run a pruned run came from (looked for beside it when its recorded path is
    relative to another working directory)."""
    recorded = Path(run.manifest["parent"]["run"])
    for folder in (recorded, run.folder.parent / recorded.name):
        if (folder / "manifest.json").exists():
            return Run(folder)
    raise RunError(
        f"Run {run.name!r} was pruned from {str(recorded)!r}, which is gone. Show the dense "
        "run instead (the pruned one is made from it), or restore that folder."
    )


def pruning_pair(run: Run, sparsity: float, scope: str) -> tuple[Run, Run]:
    """(dense, pruned): ``run`` and its pruned run (made now if missing), or, when ``run`` is
    itself a pruned run, its parent and ``run``."""
    if "pruning" in (run.manifest.get("parent") or {}):
        return parent_of(run), run
    folder = pruned_name(run, sparsity, scope)
    with locked(folder.parent / f".{folder.name}.lock"):
        if not (folder / "manifest.json").exists():
            console.print(
                f"[bold]No pruned run of {run.name!r} yet[/]: pruning {sparsity:.0%} of its "
                f"weights ({scope}) now (once; kept in {folder})."
            )
            prune_run(run.folder, sparsity, scope, name=str(folder), overwrite=True, quiet=True)
    pruned = Run(folder)
    if pruned.status != "finished":
        raise RunError(
            f"The pruned run {folder} is {pruned.status}; delete it and render again to prune "
            "afresh."
        )
    return run, pruned


def check_pair(dense: Run, pruned: Run) -> None:
    """Both runs must show the same network on the same probe images."""
    if dense.model != pruned.model:
        raise RunError(
            f"Runs {dense.name!r} and {pruned.name!r} hold different networks; show a run and "
            "a run pruned from it."
        )
    if not np.array_equal(dense.read(schema.PROBE_IMAGES, 0), pruned.read(schema.PROBE_IMAGES, 0)):
        raise RunError(
            f"Runs {dense.name!r} and {pruned.name!r} recorded different probe images (the "
            f"dataset has changed since {dense.name!r} was trained), so their activations "
            f"cannot be compared. Train {dense.name!r} again (`python -m engine train PRESET "
            f"--run {dense.name} --overwrite`) and delete {pruned.folder}; it is made afresh."
        )


# -- numbers ----------------------------------------------------------------------------------
def layer_weights(run: Run) -> dict[str, np.ndarray]:
    """Every prunable layer's final weights, flattened, by layer name."""
    model = load_model(run)
    return {
        name: module.weight.detach().numpy().ravel().copy()
        for name, module in prunable(model).items()
    }


def cut_off(dense: np.ndarray, pruned: np.ndarray) -> float:
    """The magnitude below which weights were removed: the largest |w| of the dense network
    among those the pruned network holds at zero (0 when none was removed)."""
    removed = np.abs(dense[pruned == 0])
    return float(removed.max()) if removed.size else 0.0


def relative_change(dense: np.ndarray, pruned: np.ndarray) -> float:
    """‖pruned − dense‖ / ‖dense‖ of one layer's activations."""
    norm = float(np.linalg.norm(dense))
    return float(np.linalg.norm(pruned - dense)) / norm if norm else 0.0


def histogram_raster(
    dense: np.ndarray,
    pruned: np.ndarray,
    cut: float,
    size: tuple[int, int],
    after: bool,
) -> np.ndarray:
    """One layer's weight histogram as a [height, width, 3] raster over ±(99.9th percentile of
    |w|), about two bins per sqrt(weights) (at most one per two pixel columns). Before: the
    dense weights, those under the cut-off in red on top of those kept. After: the pruned
    network's non-zero weights, the removed ones a faint ghost. Accent lines mark ±cut-off."""
    width, height = size
    reach = float(np.quantile(np.abs(dense), 0.999)) or 1.0
    bins = int(np.clip(2 * np.sqrt(dense.size), 16, max(16, width // 2)))
    edges = np.linspace(-reach, reach, bins + 1)

    def counts(values: np.ndarray) -> np.ndarray:
        return np.histogram(np.clip(values, -reach, reach), edges)[0].astype(np.float64)

    removed = counts(dense[np.abs(dense) <= cut]) if cut > 0 else np.zeros(bins)
    full = counts(dense)
    top = full.max() or 1.0
    kept = counts(pruned[pruned != 0]) if after else full - removed
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = rs.hex_rgb(theme.PANEL)
    column = np.minimum(np.arange(width) * bins // width, bins - 1)
    rows = np.arange(height)[::-1, None]  # pixel row 0 is the top: height - 1 above the base

    def paint(values: np.ndarray, colour: str, base: np.ndarray) -> np.ndarray:
        tall = np.round(np.minimum(values[column] / top, 1.0) * (height - 2)).astype(int)
        canvas[(rows >= base) & (rows < base + tall)] = rs.hex_rgb(colour)
        return base + tall

    floor = np.ones(width, dtype=int)
    if after:
        paint(removed, theme.GHOST, floor)
        paint(kept, theme.BAR, floor)
    else:
        paint(removed, theme.BAD, paint(kept, theme.BAR, floor))
    canvas[-1] = rs.hex_rgb(theme.MUTED)
    if cut > 0:
        for x in (-cut, cut):
            px = int(np.clip(round((x + reach) / (2 * reach) * (width - 1)), 0, width - 1))
            canvas[:, max(px - 1, 0) : px + 1] = rs.hex_rgb(theme.ACCENT)
    return canvas


def by_block(
    per_layer: dict[str, float], sizes: dict[str, int]
) -> tuple[dict[str, float], list[str]]:
    """The sparsity of each conv block (``conv3_1`` … ``conv3_3`` as ``conv3``: the share of
    its weights removed) and of each other layer, from each layer's sparsity and weight count:
    fewer rows, for large type."""
    names = list(sizes)
    grouped: dict[str, list[str]] = {}
    for name in names:
        block = name.split("_")[0] if "_" in name else name
        grouped.setdefault(block, []).append(name)
    shares = {
        block: sum(per_layer.get(n, 0.0) * sizes[n] for n in members)
        / sum(sizes[n] for n in members)
        for block, members in grouped.items()
    }
    return shares, list(grouped)


def thousands(count: int) -> str:
    return f"{count / 1e6:.2f} M" if count >= 1e6 else f"{count / 1e3:,.1f} k"


@dataclass
class Trio:
    """One layer of both networks as drawn: the three rasters, the channels they show and how
    much the layer changed."""

    info: LayerInfo
    channels: np.ndarray
    images: tuple[np.ndarray, np.ndarray, np.ndarray]
    change: float
    """‖pruned − dense‖ / ‖dense‖ over the whole layer on this image."""
    diff_max: float
    """The largest |pruned − dense| among the maps shown: the ends of the difference scale."""
    signed: bool
    """Whether the layer's maps go below zero (no ReLU after it): drawn centred on zero."""


class Pruning(RunScene):
    """A network and its magnitude-pruned copy side by side: weights, activations, outcome."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "sparsity": Number(0.5, "fraction of weights to remove", above=0, below=1),
        "scope": Choice(
            "global",
            "global (one cut-off for all layers) or layer",
            choices=("global", "layer"),
        ),
        "image": Number(None, "a probe image index (0 = the first)", at_least=0, whole=True),
        "maps": Number(
            16, "channels shown per layer (the dense network's most active)", at_least=1, whole=True
        ),
        "cmap": Choice(
            "greens",
            "colour map of the activations (greens: darker = stronger)",
            choices=("greens", "viridis", "gray"),
        ),
        "hold": Number(3.0, "seconds each layer stays on screen", above=0),
    }

    def construct(self) -> None:
        s = self.settings
        self.dense, self.pruned = pruning_pair(self.run, s["sparsity"], s["scope"])
        check_pair(self.dense, self.pruned)
        self.report = self.pruned.manifest["parent"]["pruning"]
        self.index = pick_image(self.dense, s["image"])
        self.label = int(self.dense.read(schema.PROBE_LABELS, 0)[self.index])
        self.layers = [
            info
            for info in self.dense.layers
            if info.kind in MAP_KINDS
            and len(info.output_shape) == 3
            and self.dense.has(schema.acts(info.name))
        ]
        if not self.layers:
            raise RunError(
                f"Run {self.dense.name!r} ({model_name(self.dense)}) recorded no feature maps: "
                "Pruning shows a CNN run, e.g. NNREEL_RUN=smallcnn-synth."
            )
        self.add_frame()
        self.weights()
        self.walk()
        self.outcome()

    # -- the fixed parts ----------------------------------------------------------------------
    def add_frame(self) -> None:
        tuned = self.pruned.manifest["progress"].get("epochs", 0)
        how = f"fine-tuned {tuned} epoch{'s' * (tuned != 1)}" if tuned else "no fine-tuning"
        self.scoreboard = self.accuracy_board()
        self.head = fitted_title(
            f"Pruning  ·  {model_name(self.dense)}",
            [
                f"{theme.percent(self.report['sparsity'])} of the weights zeroed by magnitude "
                f"({self.report['scope']}), {how}",
                f"{self.dense.name} vs {self.pruned.name}",
            ],
            min(TITLE_WIDTH - 0.6, self.scoreboard.get_left()[0] - 0.3 + 6.75),
        )
        self.caption_top = min(CAPTION_TOP, self.head.get_bottom()[1] - 0.1)
        self.add(self.scoreboard)
        self.caption(
            f"{theme.percent(self.report['sparsity'])} of the weights set to zero: validation "
            f"accuracy {self.accuracy_words()}"
        )
        self.play(FadeIn(self.head), run_time=0.5)
        self.hold()

    def accuracy(self, run: Run) -> float:
        """The run's last validation accuracy (a pruned run without fine-tuning: its step 0)."""
        return float(run.read(schema.VAL_ACC, -1))

    def accuracy_words(self) -> str:
        """'97.8% → 97.5%', as the accuracy board says it."""
        dense, pruned = (theme.percent(self.accuracy(r)) for r in (self.dense, self.pruned))
        return f"{dense} → {pruned}"

    def accuracy_board(self) -> Group:
        """Top right, all along: both networks' validation accuracy."""
        rows = Group(
            theme.text("validation accuracy, dense → pruned", theme.SMALL, theme.MUTED),
            Group(
                theme.text(theme.percent(self.accuracy(self.dense)), theme.BODY, weight="BOLD"),
                theme.text("→", theme.BODY, theme.MUTED),
                theme.text(
                    theme.percent(self.accuracy(self.pruned)),
                    theme.BODY,
                    theme.ACCENT,
                    weight="BOLD",
                ),
            ).arrange(RIGHT, buff=0.2),
        ).arrange(DOWN, aligned_edge=RIGHT, buff=0.08)
        return rows.to_corner(UP + RIGHT, buff=theme.MARGIN)

    def panel_caption(self, name: str, details: str, note: str) -> Group:
        cap = theme.caption(name, details, note, width=13.5)
        return cap.move_to([-6.75, self.caption_top, 0], aligned_edge=LEFT + UP)

    def clear_part(self) -> None:
        """Remove everything but the title and the accuracy board."""
        keep = {id(self.head), id(self.scoreboard)}
        self.remove(*(m for m in self.mobjects if id(m) not in keep))

    # -- part 1: the weights ------------------------------------------------------------------
    def weights(self) -> None:
        dense, pruned = layer_weights(self.dense), layer_weights(self.pruned)
        names = list(dense)
        self.weight_counts = {name: weights.size for name, weights in dense.items()}
        cuts = {name: cut_off(dense[name], pruned[name]) for name in names}
        if self.report["scope"] == "global":  # one threshold: the largest removed anywhere
            cuts = dict.fromkeys(names, max(cuts.values()))
        left, right, bottom, top = HISTOGRAMS
        top = min(top, self.panel_caption("w", "details", "note").get_bottom()[1] - 0.1)
        self.weights_top = top
        room = theme.text("conv", theme.SMALL, weight="BOLD").height + 0.12  # for the name
        rows, cols = rs.grid_shape(len(names), (right - left) / (top - bottom), 2.0)
        cell_w, cell_h = (right - left) / cols, (top - bottom) / rows
        ppu = pixels_per_unit()
        size = (int((cell_w - 0.25) * ppu), int(min(cell_h - room - 0.06, 2.4) * ppu))
        before, after, labels = Group(), Group(), Group()
        for i, name in enumerate(names):
            r, c = divmod(i, cols)
            corner = [left + c * cell_w, top - r * cell_h - room, 0]
            for group, done in ((before, False), (after, True)):
                raster = histogram_raster(dense[name], pruned[name], cuts[name], size, done)
                image = raster_image(raster, height=size[1] / ppu)
                group.add(image.move_to(corner, aligned_edge=UP + LEFT))
            label = theme.text(name, theme.SMALL, weight="BOLD")
            if self.report["scope"] != "global":
                label = Group(
                    label, theme.text(f"|w| < {cuts[name]:.3g}", theme.SMALL, theme.MUTED)
                ).arrange(RIGHT, buff=0.15, aligned_edge=DOWN)
            labels.add(label.next_to(before[-1], UP, buff=0.08).align_to(before[-1], LEFT))
        if self.report["scope"] == "global":
            scope, removed = "one cut-off for all layers", f"|w| < {max(cuts.values()):.3g}"
        else:
            scope, removed = "each layer its own cut-off", "the smallest"
        cap = self.panel_caption(
            "weights",
            f"each layer's histogram, {scope} ({theme.ACCENT_WORD})",
            f"red: the weights with {removed}, set to zero  ·  each on its layer's own range",
        )
        self.add(cap, labels, before, self.sparsity_bars(names))
        share = theme.percent(self.report["sparsity"])
        if self.report["scope"] == "global":
            self.caption(
                f"Each layer's weights: the red ones ({removed}) go to zero, {share} of all"
            )
        else:
            self.caption(
                f"Each layer's weights: the smallest {share} of each layer, in red, go to zero"
            )
        self.hold(IDEA)
        self.key_moment("the cut")
        self.remove(cap)
        self.add(
            self.panel_caption(
                "weights",
                "after pruning: the removed weights are exactly 0 (not drawn)",
                "blue: the weights kept  ·  faint red: the ones removed",
            )
        )
        per_layer = {n: float(self.report["per_layer"].get(n, 0.0)) for n in names}
        most = max(per_layer, key=per_layer.__getitem__)
        counts = (thousands(self.report[k]) for k in ("nonzero_before", "nonzero_after"))
        self.caption(
            f"Non-zero parameters {' → '.join(counts)}; "
            f"{most} lost the most: {theme.percent(per_layer[most])} of its weights"
        )
        self.play(FadeIn(after), run_time=0.6)
        self.hold(IDEA)
        self.key_moment("after pruning")
        self.clear_part()

    def sparsity_bars(self, names: list[str]) -> Group:
        """Right column: the share of each layer's weights that pruning removed, and what it
        did to the size of the whole network."""
        left, right = SPARSITY_X
        per_layer = self.report["per_layer"]
        before, after = self.report["nonzero_before"], self.report["nonzero_after"]
        size = self.sizes()
        total = Group(
            theme.fitted(
                "non-zero parameters  ·  size as fp32",
                SPARSITY_X[1] - SPARSITY_X[0],
                theme.SMALL,
                theme.MUTED,
            ),
            theme.text(f"{thousands(before)} → {thousands(after)}", theme.LABEL),
            theme.text(f"{size[0]} → {size[1]}", theme.LABEL),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        room = self.weights_top - HISTOGRAMS[2] - 0.45 - total.height - 0.3
        if room / len(names) < 0.85 * theme.text("conv_%", theme.SMALL).height:
            per_layer, names = by_block(per_layer, self.weight_counts)  # large type: fewer rows
        row_h = min(0.34, room / len(names))
        label_w = max(theme.text(n, theme.SMALL).width for n in names) + 0.15
        length = right - left - label_w - theme.text("88.8%", theme.SMALL).width - 0.15
        rows = Group()
        for i, name in enumerate(names):
            y = self.weights_top - 0.45 - i * row_h
            share = float(per_layer.get(name, 0.0))
            track = Rectangle(width=length, height=row_h * 0.6, stroke_width=0)
            track.set_fill(theme.PANEL, 1.0).move_to([left + label_w, y, 0], aligned_edge=LEFT)
            bar = Rectangle(width=max(share * length, 0.02), height=row_h * 0.6, stroke_width=0)
            bar.set_fill(theme.BAD, 1.0).move_to([left + label_w, y, 0], aligned_edge=LEFT)
            name_text = theme.text(name, theme.SMALL, theme.MUTED)
            rows.add(
                name_text.move_to([left, y, 0], aligned_edge=LEFT),
                track,
                bar,
                theme.text(theme.percent(share), theme.SMALL).next_to(track, RIGHT, buff=0.08),
            )
        head = theme.text("sparsity per layer", theme.LABEL)
        head.move_to([left, self.weights_top - 0.1, 0], aligned_edge=LEFT)
        total.next_to(rows, DOWN, buff=0.3).align_to(head, LEFT)
        return Group(head, rows, total)

    # -- part 2: the activations, side by side ------------------------------------------------
    def trio(self, info: LayerInfo, previous: Trio | None) -> Trio:
        """Both networks' maps of one layer — the same channels, each channel on one colour
        scale shared by both — and their difference, centred on zero, scaled to its largest
        value in the maps shown. A pool shows the channels of the conv before it."""
        dense = self.acts(self.dense, info.name)
        pruned = self.acts(self.pruned, info.name)
        if previous is not None and info.kind == "pool" and len(previous.channels) <= len(dense):
            channels = previous.channels
        else:
            channels = rs.top_k(dense, self.settings["maps"])
        width, height = self.panel_size()
        h, w = dense.shape[1:]
        rows, cols = rs.grid_shape(len(channels), width / height, w / h)
        tile = min(width / cols, height / rows) * pixels_per_unit()
        scale = max(1, int(tile * 15 / 16) // max(h, w))
        d, p = dense[channels], pruned[channels]
        signed = rs.below_zero(dense) or rs.below_zero(pruned)
        reach = (np.abs(d), np.abs(p)) if signed else (d, p)
        top = np.maximum(*(x.reshape(len(x), -1).max(1) for x in reach))
        if h * w == 1:  # a 1×1 map on its own scale only says "on": one scale for the layer
            top[:] = top.max()
        top = np.where(top > 0, top, 1.0)[:, None, None]
        diff_max = float(np.abs(p - d).max())
        grid = {
            "rows": rows,
            "cols": cols,
            "scale": scale,
            "pad": max(1, scale * h // 16),
            "background": rs.hex_rgb(theme.PANEL),
        }
        cmap = self.settings["cmap"]

        def coloured(x: np.ndarray) -> np.ndarray:
            """A map on its channel's scale: from 0, or either side of 0 when signed."""
            if signed:
                return rs.apply_colormap(x / top / 2 + 0.5, "diverging")
            return rs.apply_colormap(x / top, cmap)

        images = (
            rs.tile(coloured(d), **grid),
            rs.tile(coloured(p), **grid),
            rs.tile(rs.apply_colormap((p - d) / (diff_max or 1.0) / 2 + 0.5, "diverging"), **grid),
        )
        change = relative_change(dense, pruned)
        return Trio(info, channels, images, change, diff_max, signed)

    def acts(self, run: Run, name: str) -> np.ndarray:
        """One layer's activations on the shown image, at the run's last snapshot."""
        return run.read(schema.acts(name), -1)[self.index].astype(np.float32)

    def panel_size(self) -> tuple[float, float]:
        """The panels reach up to the headings under the caption (lower with large type)."""
        left, right, bottom, top = PANELS
        caption = self.panel_caption("conv", "details", "note").get_bottom()[1]
        heading = theme.text("dense", theme.BODY, weight="BOLD").height
        top = min(top, caption - 0.2 - heading - 0.1)
        return (right - left - 2 * PANEL_GAP) / 3, top - bottom

    def panel_centre(self, k: int) -> np.ndarray:
        width, height = self.panel_size()
        x = PANELS[0] + k * (width + PANEL_GAP) + width / 2
        return np.array([x, PANELS[2] + height / 2, 0.0])

    def place(self, trio: Trio) -> Group:
        """The three rasters at their own pixel size (crisp), each centred in its panel."""
        ppu = pixels_per_unit()
        return Group(
            *(
                raster_image(image, height=image.shape[0] / ppu).move_to(self.panel_centre(k))
                for k, image in enumerate(trio.images)
            )
        )

    def headings(self) -> Group:
        words = (
            "dense",
            f"pruned ({theme.percent(self.report['sparsity'])} zero)",
            "pruned − dense",
        )
        colours = (theme.TEXT, theme.ACCENT, theme.TEXT)
        height = self.panel_size()[1]
        return Group(
            *(
                theme.text(word, theme.BODY, colour, weight="BOLD")
                .move_to(self.panel_centre(k))
                .align_to([0, PANELS[2] + height + 0.1, 0], DOWN)
                for k, (word, colour) in enumerate(zip(words, colours, strict=True))
            )
        )

    def walk(self) -> None:
        """Every map layer of both networks, a cut from one to the next, while the change
        chart marks the layer on screen."""
        trios: list[Trio] = []
        for info in self.layers:
            trios.append(self.trio(info, trios[-1] if trios else None))
        legends = [self.activation_legend(signed) for signed in (False, True)]
        leftmost = min(legend.get_left()[0] for legend in legends)
        chart = ChangeChart(trios, right=min(CHANGE[1], leftmost - 0.3))
        self.add(self.headings(), chart)
        panels, notes = None, []
        for k, trio in enumerate(trios):
            self.hold()  # the last layer's caption read
            self.remove(*notes)
            chart.mark(k)
            notes = [
                self.layer_caption(trio, trios[k - 1] if k else None),
                self.activation_legend(trio.signed),
                self.difference_legend(trio.diff_max),
            ]
            self.add(*notes)
            c, h, w = trio.info.output_shape
            lead = "Dense vs pruned: " if k == 0 else ""
            self.caption(
                f"{lead}{trio.info.name} ({c} channels of {h}×{w}) changed by "
                f"{theme.percent(trio.change)}"
            )
            new = self.place(trio)
            if panels is not None and trio.channels is trios[k - 1].channels:
                focus.morph(self, panels, new)  # a pool shrinks its conv's maps
            else:
                if panels is not None:
                    focus.shrink_into(self, panels, chart.bars[k - 1])
                focus.grow_from(self, new, chart.bars[k])
            panels = new
            if self.settings["hold"] > BEAT:  # the transition took a beat of the hold
                self.wait(self.settings["hold"] - BEAT)
            self.key_moment(trio.info.name)
        self.hold()
        self.clear_part()

    def layer_caption(self, trio: Trio, previous: Trio | None) -> Group:
        c, h, w = trio.info.output_shape
        scale = "one scale for the layer" if h * w == 1 else "each channel on one scale"
        after = output_words(self.dense, trio.info) if trio.info.kind != "pool" else ""
        kind = ", ".join(filter(None, (KIND_WORDS[trio.info.kind], after)))
        shown = len(trio.channels)
        if shown == c:
            which = f"all {c} channels"
        elif previous is not None and previous.channels is trio.channels:
            which = f"the same {shown} channels as {previous.info.name}"
        else:
            which = f"the {shown} channels {rs.ranking_words(trio.signed)} in the dense network"
        return self.panel_caption(
            trio.info.name,
            f"{kind}  ·  {c} channels of {h}×{w}  ·  changed by {theme.percent(trio.change)}",
            f"{which}  ·  {scale} for both networks",
        )

    def activation_legend(self, signed: bool) -> ColorBar:
        """Bottom right, left of the difference legend (whose ends change from layer to layer:
        a wide one stands in for them). A layer whose maps go below zero is centred on it."""
        cmap = "diverging" if signed else self.settings["cmap"]
        ends = scale_ends("max" if signed else "channel max", signed)
        title = "activation (channel max)" if signed else "activation"
        bar = ColorBar(cmap, title=title, length=1.7, **ends)
        right = min(3.0 + bar.width, self.difference_legend(8.88).get_left()[0] - 0.3)
        return bar.move_to([right, CHANGE[2] + 0.05, 0], aligned_edge=RIGHT + DOWN)

    def difference_legend(self, reach: float) -> ColorBar:
        """The difference scale with its real ends (they change from layer to layer)."""
        ends = format_value(reach, 2)
        bar = ColorBar(
            "diverging", low=f"−{ends}", high=f"+{ends}", title="pruned − dense", length=1.7
        )
        return bar.move_to([6.75, CHANGE[2] + 0.05, 0], aligned_edge=RIGHT + DOWN)

    # -- part 3: the outcome ------------------------------------------------------------------
    def outcome(self) -> None:
        """The shown image's class probabilities from both networks (their colours explained
        once, under the image), their accuracies, and the sizes, between the caption and the
        bottom edge."""
        cap = self.panel_caption(
            "outcome",
            "the same image through both networks",
            "accuracy: each run's own record on the validation set",
        )
        before, after = self.report["nonzero_before"], self.report["nonzero_after"]
        size = self.sizes()
        width = -3.8 - (theme.MARGIN - theme.frame_width() / 2)  # left of the columns
        head = theme.text("non-zero parameters", theme.SMALL, theme.MUTED)
        if head.width > width:
            head = theme.text("non-zero", theme.SMALL, theme.MUTED)
        sizes = theme.text(f"{size[0]} → {size[1]} as fp32", theme.LABEL)
        if sizes.width > width:
            sizes = theme.text(f"{size[0]} → {size[1]}", theme.SMALL)
        summary = Group(
            head, theme.text(f"{thousands(before)} → {thousands(after)}", theme.LABEL), sizes
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.06)
        top = min(1.9, cap.get_bottom()[1] - 0.15)
        room = top - (theme.MARGIN - theme.frame_height() / 2)
        columns = Group(
            *(
                self.probability_column(run, word, colour, room)
                for run, word, colour in (
                    (self.dense, "dense", theme.TEXT),
                    (self.pruned, "pruned", theme.ACCENT),
                )
            )
        )
        columns.arrange(RIGHT, buff=1.0, aligned_edge=UP)
        columns.move_to([-3.6, top, 0], aligned_edge=LEFT + UP)
        image = rs.to_rgb(self.dense.read(schema.PROBE_IMAGES, 0)[self.index])
        picture = raster_image(image, height=1.9).move_to([-5.6, min(0.0, top - 1.1), 0])
        name = self.class_name(self.label)
        below = theme.text(f"true class: {name}", theme.LABEL, theme.GOOD)
        below.next_to(picture, DOWN, buff=0.2)
        left = theme.MARGIN - theme.frame_width() / 2  # the key and the sizes under the image
        key = colour_key().next_to(below, DOWN, buff=0.3).align_to([left, 0, 0], LEFT)
        summary.next_to(key, DOWN, buff=0.3).align_to([left, 0, 0], LEFT)
        column = Group(picture, below, key, summary)
        lift = min(theme.MARGIN - theme.frame_height() / 2 - summary.get_bottom()[1], top - 0.95)
        if lift > 0:  # large type: the column starts higher
            column.shift(lift * UP)
        shown = Group(columns, picture, below, key, cap, summary)
        said = []
        for word, run in (("dense", self.dense), ("pruned", self.pruned)):
            probs = run.read(schema.PROBE_PROBS, -1)[self.index]
            top = int(np.argmax(probs))
            said.append(f"{word} says “{self.class_name(top)}” ({theme.percent(probs[top])})")
        self.caption(
            f"On this “{name}”: {', '.join(said)}; validation accuracy {self.accuracy_words()}"
        )
        self.play(FadeIn(shown), run_time=0.5)
        self.hold(IDEA)
        self.key_moment("the outcome")

    def sizes(self) -> list[str]:
        """The network's size before and after, counting non-zero parameters as fp32."""
        return [human_bytes(self.report[k] * 2**20) for k in ("mib_before", "mib_after")]

    def class_name(self, label: int) -> str:
        classes = self.dense.classes
        return str(classes[label]) if label < len(classes) else str(label)

    def probability_column(self, run: Run, word: str, colour: str, height: float) -> Group:
        """One network's probabilities for the image, with its accuracy over them and its
        verdict under them, at most ``height`` tall."""
        probs = run.read(schema.PROBE_PROBS, -1)[self.index]
        verdict = theme.text("p", theme.BODY).height
        bars = ProbabilityBars(
            self.dense.classes,
            probs,
            true_label=self.label,
            width=4.2,
            row_height=0.25,
            size=theme.LABEL,
            height=height - 2 * verdict - 0.36,
            key=False,
        )
        top = int(np.argmax(probs))
        head = theme.fitted(
            f"{word}  ·  accuracy {theme.percent(self.accuracy(run))}",
            4.2,
            theme.BODY,
            colour,
            weight="BOLD",
        )
        verdict = theme.text(
            f"p({self.class_name(top)}) = {theme.percent(probs[top])}", theme.BODY, theme.ACCENT
        )
        return Group(head, bars, verdict).arrange(DOWN, aligned_edge=LEFT, buff=0.18)


class ChangeChart(Group):
    """Along the bottom: ‖pruned − dense‖ / ‖dense‖ of every map layer on the shown image, one
    bar per layer; ``mark`` lights the layer on screen and names it above every bar (never
    over its neighbours)."""

    def __init__(self, trios: list[Trio], right: float = CHANGE[1]):
        super().__init__()
        left, _, bottom, top = CHANGE
        self.right = right
        self.bottom = bottom
        self.peak = max(max(t.change for t in trios), 1e-6)
        width = (right - left) / len(trios)
        self.trios = trios
        self.bars = VGroup()
        self.label = theme.text("conv0 0%", theme.SMALL, theme.ACCENT)
        head = theme.fitted(
            "change per layer on this image  ·  ‖pruned − dense‖ / ‖dense‖",
            right - left,
            theme.SMALL,
            theme.MUTED,
        ).move_to([left, top, 0], aligned_edge=LEFT + UP)
        self.tallest = top - bottom - head.height - self.label.height - 0.12
        for k, trio in enumerate(trios):
            tall = max(trio.change / self.peak * self.tallest, 0.02)
            bar = Rectangle(width=width * 0.7, height=tall, stroke_width=0)
            bar.set_fill(theme.BAR, 1.0)
            self.bars.add(bar.move_to([left + (k + 0.5) * width, bottom, 0], aligned_edge=DOWN))
        axis = Rectangle(width=right - left, height=0.015, stroke_width=0)
        axis.set_fill(theme.MUTED, 1.0).move_to([left, bottom, 0], aligned_edge=LEFT + UP)
        self.add(head, axis, self.bars)

    def mark(self, k: int) -> None:
        for i, bar in enumerate(self.bars):
            bar.set_fill(theme.ACCENT if i == k else theme.BAR, 1.0)
        bar = self.bars[k]
        self.label.set_text(f"{self.trios[k].info.name} {theme.percent(self.trios[k].change)}")
        self.label.move_to([0, self.bottom + self.tallest + 0.04, 0], aligned_edge=DOWN)
        half = self.label.width / 2
        self.label.set_x(np.clip(bar.get_x(), CHANGE[0] + half, self.right - half))
        if self.label not in self.submobjects:
            self.add(self.label)
