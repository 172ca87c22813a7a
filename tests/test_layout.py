"""Every frame legible: the layout check on made-up frames, then every scene's key moments
rendered with the check on — in the light theme (its text checked for contrast, WCAG AA) and in
the GIF layout (its text checked for size in a 640 px GIF). Both palettes' text colours are
checked against their background and panels.

A render fails at the first key moment whose layout is wrong, naming the two things that
collide (``engine.scenekit.layout``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from manim import Rectangle, tempconfig

from engine.scenekit import base, layout, palette
from engine.scenekit import raster as rs
from engine.scenekit.label import Label, render
from engine.scenekit.widgets import raster_image

SIZE, FPS = (640, 360), 3
"""The README GIF's size: the GIF layout is checked where it is meant to be read."""
CONTRAST = 4.5
"""WCAG AA for body text."""
CAP_PIXELS = 10
"""The least height of capitals and digits in a 640 px wide GIF."""


@pytest.fixture
def frame():
    """Manim's config at the test size, as while a scene renders."""
    with tempconfig({"pixel_width": SIZE[0], "pixel_height": SIZE[1]}):
        yield


def text(words: str, at: tuple[float, float]) -> Label:
    return Label(words, 20).move_to([*at, 0])


# -- the check on made-up frames --------------------------------------------------------------
def test_overlapping_texts_are_named(frame):
    a, b = text("conv1_1 5.2%", (0, 0)), text("pool1 8.6%", (0.4, 0.05))
    (problem,) = layout.problems([a, b])
    assert "'conv1_1 5.2%'" in problem and "'pool1 8.6%'" in problem
    assert layout.problems([a, text("pool1", (0, -1))]) == []


def test_text_over_a_picture_fails_unless_it_names_it(frame):
    tile = layout.call(raster_image(np.full((8, 8, 3), 200, np.uint8), height=1), "tile 3")
    label = text("output", (0.3, 0.2))
    (problem,) = layout.problems([tile, label])
    assert problem == "text 'output' overlaps tile 3"
    assert layout.problems([tile, layout.names(label, tile)]) == []
    assert layout.problems([tile, layout.overlay(text("on top", (0, 0)))]) == []


def test_text_may_sit_in_a_pictures_gaps_and_transparent_parts(frame):
    grid = np.full((40, 40, 3), 16, np.uint8)  # gap colour, two tiles in the bottom half
    grid[24:, 2:18] = grid[24:, 22:38] = 230
    picture = raster_image(grid, height=4).move_to([0, 0, 0])
    above = text("filter 0", (0, 1.2))  # over the gaps only
    assert layout.problems([picture, above])  # undeclared, the whole picture is a tile
    assert layout.problems([layout.gaps(picture, "#101010"), above]) == []
    assert layout.problems([picture, text("filter 0", (-1, -1.2))])  # on a tile
    clear = np.zeros((40, 40, 4), np.uint8)
    clear[30:] = 255  # opaque only at the bottom
    drawing = raster_image(clear[..., :3], height=4)
    drawing.pixel_array[..., 3] = clear[..., 3]
    assert layout.problems([drawing, text("title", (0, 1.2))]) == []


def test_text_on_a_filled_shape_fails_unless_it_is_a_backdrop(frame):
    bar = Rectangle(width=3, height=0.3).set_fill("#5b8def", 1.0)
    label = text("16%", (0, 0))
    assert layout.problems([bar, label]) == [
        f"text '16%' overlaps {layout.described(bar, 'solid')}"
    ]
    assert layout.problems([layout.backdrop(bar), label]) == []
    outline = Rectangle(width=3, height=0.3)  # strokes never count
    assert layout.problems([outline, label]) == []


def test_everything_keeps_two_percent_of_the_width_from_the_edges(frame):
    from manim import config

    edge = config.frame_width / 2
    near = text("3 100%", (0, 0))
    near.align_to([edge - 0.2, 0, 0], np.array([1, 0, 0]))
    (problem,) = layout.problems([near])
    share = re.match(r"'3 100%' is ([\d.]+)% of the frame width from its edge", problem)
    assert share and float(share[1]) < 2
    near.shift(0.1 * np.array([-1, 0, 0]))
    assert layout.problems([near]) == []


def test_hidden_things_are_not_checked(frame):
    a, b = text("one", (0, 0)), text("two", (0.1, 0))
    b.set_opacity(0.0)
    assert layout.problems([a, b]) == []


# -- every scene, rendered --------------------------------------------------------------------
SCENES = {
    "featuremaps": ("tiny_vgg", "evolve_maps=4"),
    "architecture": ("tiny_vgg", "pace=0.25"),
    "summary": ("tiny_vgg", "seconds=1"),
    "training": ("tiny_vgg", "seconds=1"),
    "gradients": ("tiny_vgg", "seconds=1"),
    "kernels": ("tiny_vgg", "seconds=1"),
    "activations": ("tiny_vgg", "hold=0.4"),
    "pruning": ("tiny_vgg", "hold=0.4"),
    "filters": ("small_cnn", "steps=8 grow=0.4 hold=0.4"),
    "actmax": ("small_cnn", "units=4 steps=8 pace=0.35 hold=0.4"),
    "fitting": ("ring", "seconds=1"),
    "neurons": ("ring", "seconds=1 tour=0.35"),
    "weights": ("ring", "seconds=1 dwell=0.4"),
    "operations": ("tiny_vgg", "pace=0.25"),
    "unit": ("tiny_vgg", "steps=4 examples=4 pace=0.35"),
}
"""Each scene's test run (a fixture) and options that keep its render short (``pace``, which
every scene takes, scales all its holds and transitions)."""
WRITES = ("filters", "actmax", "unit")
"""Scenes that record activation-maximisation images into their run on first use."""


def luminance(rgb) -> float:
    channel = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(channel <= 0.03928, channel / 12.92, ((channel + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def contrast(a, b) -> float:
    """WCAG's contrast ratio of two colours."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def behind(frame: np.ndarray, box: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The colour a text sits on: the most common colour in its box that is not its own."""
    from manim import config

    per_unit = config.pixel_width / config.frame_width
    x0 = int((box[0] + config.frame_width / 2) * per_unit)
    x1 = int(np.ceil((box[2] + config.frame_width / 2) * per_unit))
    y0 = int((config.frame_height / 2 - box[3]) * per_unit)
    y1 = int(np.ceil((config.frame_height / 2 - box[1]) * per_unit))
    region = frame[max(y0, 0) : y1, max(x0, 0) : x1, :3].reshape(-1, 3).astype(int)
    far = region[np.abs(region - ink).max(axis=1) > 60]
    colours, counts = np.unique(far if len(far) else region, axis=0, return_counts=True)
    return colours[np.argmax(counts)]


def cap_height(size: float) -> int:
    """Pixels from the top of a capital to the baseline, at ``size`` points, as drawn now."""
    coverage = render("H0", size)
    rows = np.flatnonzero(coverage.max(axis=1) >= 128)
    return int(rows[-1] - rows[0] + 1)


def text_problems(scene) -> list[str]:
    """Texts of a key frame that are too faint for their background (light theme) or too
    small for a 640 px GIF (GIF layout)."""
    found = []
    items = layout.items([*scene.mobjects, *scene.foreground_mobjects])
    texts = [i for i in items if i.kind == "text"]
    if scene.look.palette.name == "light":
        scene.renderer.update_frame(scene, ignore_skipping=True)
        frame = scene.renderer.get_frame()
        for item in texts:
            if getattr(item.owner, "layout_overlay", False):
                continue  # on a picture on purpose: its background is the picture
            ground = behind(frame, item.box, item.colour)
            ratio = contrast(item.colour, ground)
            if ratio < CONTRAST:
                found.append(
                    f"text {item.name} in {rs.rgb_hex(item.colour)} on "
                    f"{rs.rgb_hex(ground)}: contrast {ratio:.2f}"
                )
    if scene.look.sizes.name == "gif":
        for item in texts:
            if (tall := cap_height(item.size)) < CAP_PIXELS:
                found.append(f"text {item.name} is {tall} px tall ({item.size} pt)")
    return found


@pytest.fixture
def checked_renders(monkeypatch):
    """Renders with the layout check on (it raises at the first bad key moment), and each key
    frame's text checked as ``text_problems`` says; returns the key moments and the problems."""
    monkeypatch.setenv(base.CHECK_ENV, "1")
    seen: list[str] = []
    problems: list[str] = []
    key_moment = base.RunScene.key_moment

    def checked(self, name: str) -> None:
        key_moment(self, name)
        seen.append(name)
        problems.extend(f"{name}: {line}" for line in text_problems(self))

    monkeypatch.setattr(base.RunScene, "key_moment", checked)
    return seen, problems


def render_checked(scene: str, run: Path, options: str, media: Path) -> None:
    """``scene`` of ``run`` at the GIF's size, with ``checked_renders`` on."""
    from engine.scenekit import assignments
    from engine.video.render import render_scene

    render_scene(
        scene,
        run=str(run),
        options=assignments(options),
        resolution=SIZE,
        fps=FPS,
        media_dir=media,
        quiet=True,
    )


@pytest.mark.render
@pytest.mark.parametrize("look", ["theme=light", "layout=gif"])
@pytest.mark.parametrize("scene", list(SCENES))
def test_every_key_frame_is_laid_out_and_legible(
    scene, look, request, writable, checked_renders, tmp_path
):

    fixture, options = SCENES[scene]
    run = Path(request.getfixturevalue(fixture))
    if scene in WRITES:
        run = writable(run)
    seen, problems = checked_renders
    render_checked(scene, run, f"{options} {look}", tmp_path)
    assert seen, f"{scene} marks no key moment"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("look", [palette.LIGHT, palette.DARK], ids=lambda look: look.name)
def test_text_colours_pass_wcag_aa_on_the_background_and_panels(look):
    for ground in (look.background, look.panel):
        for colour in (look.text, look.muted, look.accent, look.good, look.bad, look.bar):
            assert contrast(rs.hex_rgb(colour), rs.hex_rgb(ground)) >= CONTRAST, (colour, ground)


def test_the_gif_layouts_smallest_text_is_ten_pixels_tall_at_640(frame):
    assert cap_height(palette.GIF.small) >= CAP_PIXELS
    assert cap_height(palette.VIDEO.small) < CAP_PIXELS  # why the GIF needs its own sizes


@pytest.fixture(scope="module")
def deep_convs(tmp_path_factory) -> Path:
    """A run of a CNN with 16 conv layers whose weights are recorded: more strips than one
    sheet holds (ResNet-18's default records 12, ResNet-50's 21)."""
    from torch import nn
    from usermodels import record_steps

    from engine.recording import RecordConfig

    layers: list[nn.Module] = []
    for i in range(16):
        layers += [nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * 8 * 8, 3))
    convs = [f"conv{2 * i}" for i in range(16)]
    config = RecordConfig(snapshots="every:1", weights="every:1", weight_layers=convs)
    return record_steps(model, tmp_path_factory.mktemp("runs") / "deep", (3, 8, 8), 3, config)


@pytest.mark.render
@pytest.mark.parametrize("look", ["theme=light", "layout=gif"])
def test_many_kernel_strips_keep_their_labels_apart(look, deep_convs, checked_renders, tmp_path):
    """A dozen strips leave no room for two-line labels: each takes one line, its shape in a
    column after the names and scales; a deeper network shows a dozen of its layers."""
    render_checked("kernels", deep_convs, f"seconds=1 view=delta {look}", tmp_path)
    seen, problems = checked_renders
    assert seen and not problems, "\n".join(problems)
