"""Unit: one unit of a trained CNN seen four ways, as in Distill's "Feature Visualization" —
its kernel (for the first layer), its map on a real probe image, the image grown from noise to
excite it most (activation maximisation), and the validation images that excite it most —
then a unit of a deeper layer the same way (its kernel is no picture there).

Every view is the run's own: the recorded weights and activations, the activation-maximisation
recording (``engine.actmax``, made and kept in the run on first use) and the dataset examples
(``engine.analysis.examples``: the validation set through the stored network, kept too).

    manim scenes/unit.py                                     # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/unit.py
    NNREEL_SET="layers=conv2_1 units=7" manim -ql scenes/unit.py

Options (``NNREEL_SET`` or ``python -m engine render unit --set KEY=VALUE``): see
``Unit.options``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from manim import DOWN, RIGHT, UP, FadeIn, Group, ImageMobject

from engine.analysis.examples import Examples
from engine.errors import NnreelError, RunError
from engine.scenekit import (
    Names,
    Number,
    Option,
    RunScene,
    layout,
    model_name,
    pick_image,
    raster_image,
    theme,
)
from engine.scenekit import raster as rs
from engine.scenekit.charts import TITLE_WIDTH, fitted_title, format_value
from engine.scenekit.pacing import BEAT, IDEA
from engine.scenekit.recordings import ensure_actmax, ensure_examples
from engine.store import LayerInfo, Run, schema

VIEW_HEIGHT = 2.5
VIEW_Y = 0.3
VIEW_XS = (-4.6, 0.0, 4.6)
"""Centres of the kernel, the map and the grown image (frame units)."""
EXAMPLES_Y = -2.55
EXAMPLE_SIZE = 1.25


def chosen_layers(run: Run, requested: list[str] | None) -> list[LayerInfo]:
    """The layers whose units are shown: as requested, else the first conv and the last conv
    of the middle block (where units respond to parts of digits, not edges)."""
    convs = [i for i in run.layers if i.kind == "conv" and run.has(schema.acts(i.name))]
    if requested:
        layers = [run.layer(name) for name in requested]  # unknown names list the valid ones
        for info in layers:
            if info not in convs:
                raise NnreelError(
                    f"Layer {info.name!r} is a {info.kind} layer without recorded maps; Unit "
                    f"shows conv layers: {', '.join(i.name for i in convs)}."
                )
        return layers
    if not convs:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)}) recorded no conv activations: Unit needs a "
            "CNN run, e.g. NNREEL_RUN=smallcnn-synth."
        )
    middle = convs[min(len(convs) - 1, max(1, len(convs) // 2))]
    return [convs[0]] if middle is convs[0] else [convs[0], middle]


def chosen_units(
    acts: dict[str, np.ndarray], layers: list[LayerInfo], requested: list[str] | None
) -> list[int]:
    """One unit per layer: as requested, else the one most active on the image shown."""
    if requested:
        if len(requested) != len(layers) or not all(u.isdigit() for u in requested):
            raise NnreelError(
                f"units={','.join(requested)}: give one whole number per layer shown "
                f"({', '.join(i.name for i in layers)})."
            )
        units = [int(u) for u in requested]
        for unit, info in zip(units, layers, strict=True):
            count = int(info.output_shape[0])
            if unit >= count:
                raise NnreelError(f"{info.name} has {count} units (0 … {count - 1}).")
        return units
    return [int(rs.top_k(acts[info.name], 1)[0]) for info in layers]


class Unit(RunScene):
    """One unit seen four ways: kernel, map, the image that excites it most, the validation
    images that excite it most."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "image": Number(None, "a probe image index (0 = the first)", at_least=0, whole=True),
        "layers": Names(None, "comma-separated conv layers (default: the first and a middle one)"),
        "units": Names(None, "one unit per layer (default: each one's most active on the image)"),
        "examples": Number(
            8, "validation images shown per unit", at_least=4, at_most=8, whole=True
        ),
        "steps": Number(
            256, "optimisation steps when the images must be grown first", at_least=1, whole=True
        ),
    }

    def construct(self) -> None:
        s = self.settings
        self.index = pick_image(self.run, s["image"])
        layers = chosen_layers(self.run, s["layers"])
        acts = {info.name: self.activations(info.name)[self.index] for info in layers}
        units = chosen_units(acts, layers, s["units"])
        examples = ensure_examples(self.run, layers)
        self.caption("One unit of the trained network, seen several ways.")
        for number, (info, unit) in enumerate(zip(layers, units, strict=True)):
            recording = ensure_actmax(self.run, info, [unit], steps=s["steps"])
            self.hold()
            self.clear()
            self.add_header(info, unit)
            self.unit(info, unit, acts[info.name][unit], recording, examples[info.name], number)

    # -- the fixed parts ----------------------------------------------------------------------
    def add_header(self, info: LayerInfo, unit: int) -> None:
        """The title, naming the unit shown; replaced for the next unit."""
        head = fitted_title(
            "One unit, four views",
            [
                f"{info.name}, channel {unit} of {info.output_shape[0]}",
                model_name(self.run),
                f"run {self.run.name}",
            ],
            TITLE_WIDTH,
        )
        self.add(head, self.step_counter(int(self.run.manifest["progress"]["step"])))

    def class_name(self) -> str:
        label = int(self.run.read(schema.PROBE_LABELS, 0)[self.index])
        return str(self.run.classes[label]) if label < len(self.run.classes) else str(label)

    # -- one unit -----------------------------------------------------------------------------
    def unit(self, info, unit: int, map_: np.ndarray, recording, examples: Examples, n: int):
        """The views of one unit, one after another, each with its caption."""
        first = n == 0 and self.run.has(schema.weights(info.name))
        views = 4 if first else 3
        what = f"{info.name}, channel {unit}"
        self.caption(f"Channel {unit} of {info.name}, seen {views} ways.")
        self.hold(BEAT)
        step = 1
        if first:
            kernel = self.run.read(schema.weights(info.name), -1)[unit].astype(np.float32)
            reach = float(np.abs(kernel).max()) or 1.0
            self.view(VIEW_XS[0], kernel_pixels(kernel, reach), "its kernel", f"±{reach:.2g}")
            kh, kw = kernel.shape[1:]
            self.caption(f"1. Its {kh}×{kw} kernel: what it weighs each input patch by.")
            self.hold(IDEA)
            step += 1
        top, mean = float(map_.max()), float(map_.mean())
        cmap = rs.apply_colormap(np.clip(map_ / (top or 1.0), 0.0, 1.0), "viridis")
        detail = f"0 … {format_value(top, 3)}, mean {format_value(mean, 3)}"
        self.view(VIEW_XS[1], cmap, f"its map on this '{self.class_name()}'", detail)
        self.caption(
            f"{step}. Its map on this '{self.class_name()}': mean {format_value(mean, 3)}, "
            f"up to {format_value(top, 3)}."
        )
        self.hold(IDEA)
        step += 1
        position = recording.units.index(unit)
        grown = rs.to_rgb(recording.best[position])
        value = float(recording.best_values[position])
        self.view(VIEW_XS[2], grown, "grown from noise for it", f"mean {value:.3g}")
        self.caption(f"{step}. An image grown from noise to raise its mean: {value:.3g}.")
        self.hold(IDEA)
        step += 1
        count = self.settings["examples"]
        row = self.examples_row(examples, unit, count)
        self.play(FadeIn(row), run_time=BEAT)
        values = examples.values[unit][:count]
        self.caption(
            f"{step}. The {count} validation images with the highest mean: "
            f"{values[0]:.3g} to {values[-1]:.3g}."
        )
        self.hold(IDEA)
        self.note_scale(what, values, value)
        self.key_moment(what)

    def note_scale(self, what: str, values: np.ndarray, grown: float) -> None:
        """How the grown image compares with the best real one, in one caption."""
        ratio = grown / values[0] if values[0] > 0 else float("nan")
        if np.isfinite(ratio):
            self.caption(f"The grown image excites {what} {ratio:.1f}× the best real one.")
            self.hold(BEAT)

    def view(self, x: float, rgb: np.ndarray, name: str, detail: str) -> ImageMobject:
        """One big view with its heading, grown in place."""
        image = raster_image(rgb, height=VIEW_HEIGHT).move_to([x, VIEW_Y, 0])
        label = Group(
            theme.text(name, theme.BODY, weight="BOLD"),
            theme.text(detail, theme.SMALL, theme.MUTED),
        ).arrange(DOWN, buff=0.04)
        label.next_to(image, UP, buff=0.12)
        limit = theme.frame_width() / 2 - theme.MARGIN  # large type: in from the margin
        label.shift(
            RIGHT
            * (max(0.0, -limit - label.get_left()[0]) - max(0.0, label.get_right()[0] - limit))
        )
        layout.names(label, image)
        self.play(FadeIn(image, scale=0.6), FadeIn(label), run_time=BEAT)
        return image

    def examples_row(self, examples: Examples, unit: int, count: int) -> Group:
        """The unit's top validation images, best first, each with its activation."""
        tiles = Group()
        for image, value in zip(examples.images[unit][:count], examples.values[unit][:count],
                                strict=True):  # fmt: skip
            picture = raster_image(rs.to_rgb(image), height=EXAMPLE_SIZE)
            number = theme.text(f"{value:.3g}", theme.SMALL, theme.MUTED)
            number.next_to(picture, DOWN, buff=0.06)
            tiles.add(Group(picture, layout.names(number, picture)))
        tiles.arrange(direction=np.array([1.0, 0.0, 0.0]), buff=0.22)
        head = theme.text(
            f"the {count} validation images that excite it most (its mean under each)",
            theme.BODY,
            weight="BOLD",
        )
        row = Group(head, tiles).arrange(DOWN, buff=0.12)
        return row.move_to([0, EXAMPLES_Y, 0])


def kernel_pixels(kernel: np.ndarray, reach: float) -> np.ndarray:
    """A [C, kh, kw] kernel as an image: one input channel on the diverging map (blue < 0 <
    red), three as colour with grey at zero, more as their mean."""
    unit = np.clip(0.5 + kernel / (2 * reach), 0.0, 1.0)
    if kernel.shape[0] == 3:
        return (np.moveaxis(unit, 0, -1) * 255 + 0.5).astype(np.uint8)
    return rs.apply_colormap(unit.mean(axis=0), "diverging")
