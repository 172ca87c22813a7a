"""The architecture scene drawn from a recorded graph: torchvision's ResNet-18 and a user's CNN
with one residual block. Each skip connection is an arc between the right layers, thumbnails
sit over their own blocks clear of the arcs, and the frame's boxes neither overlap nor come
within 2 % of the frame's width of its edges.

Geometry is checked on the scene's own mobjects (built with Manim's dry run, no pixels) and
on the kit's layout (plain numbers); no picture and no trained number is compared.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from manim import tempconfig
from torch import nn
from usermodels import record_steps

from engine.scenekit import RUN_ENV, SET_ENV, theme
from engine.scenekit import layers as ly
from engine.store import LayerInfo, Run, schema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scenes"))

import architecture  # noqa: E402  (scenes/ is not a package: one scene per file for `manim`)

MARGIN = 0.02  # of the frame's width


class OneResidualBlock(nn.Module):
    """A lecturer's small CNN: a stem, one residual block (conv, BatchNorm, ReLU, conv, add,
    ReLU), a pool and a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(8)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(x + self.conv_b(F.relu(self.bn_a(self.conv_a(x)))))
        return self.head(torch.flatten(F.max_pool2d(x, 2), 1))


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory) -> Path:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    return record_steps(model, tmp_path_factory.mktemp("runs") / "resnet18", (3, 32, 32), 10)


@pytest.fixture(scope="module")
def residual_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "residual"
    return record_steps(OneResidualBlock(), folder, (1, 16, 16), 4)


def drawing(run: Run) -> tuple[ly.Layout, architecture.TilePlan]:
    """The layout the scene draws (thumbnails' headroom included)."""
    shape = run.model["input_shape"]
    sized = {"width": architecture.WIDTH, "height": architecture.BOX_ROOM, "overhang": 1.0}
    plan = architecture.tile_plan(ly.graph_layout(run.layers, shape, **sized))
    laid = ly.graph_layout(run.layers, shape, headroom=plan.headroom, **sized)
    return laid, architecture.tile_plan(laid)


def built(folder: Path, monkeypatch) -> architecture.Architecture:
    """The scene constructed to its last frame by Manim's dry run (nothing is drawn)."""
    monkeypatch.setenv(RUN_ENV, str(folder))
    monkeypatch.setenv(SET_ENV, "pace=0.05")
    with tempconfig({"dry_run": True, "pixel_width": 1920, "pixel_height": 1080}):
        scene = architecture.Architecture()
        scene.render()
    return scene


# -- the layout: one arc per skip edge ---------------------------------------------------------
def test_every_skip_connection_of_resnet18_is_an_arc_between_its_layers(resnet_run):
    run = Run(resnet_run)
    laid, plan = drawing(run)
    skips = [(e.source, e.target) for e in run.graph.skips]
    assert len(skips) == 11
    assert sorted((a.source, a.target) for a in laid.arcs) == sorted(skips)
    line = [s for s in laid.slots if not s.branch]
    assert all(a.x < b.x for a, b in itertools.pairwise(line))  # the main path, left to right
    assert sum(s.kind == "add" for s in line) == 8
    shortcuts = [s for s in laid.slots if s.branch]
    assert [s.name for s in shortcuts] == [f"layer{k}.0.downsample" for k in (2, 3, 4)]
    for arc in laid.arcs:
        source, target = laid.slot(arc.source), laid.slot(arc.target)
        if source.branch:  # leaves a shortcut conv from its right side, on the run
            assert arc.start == pytest.approx((source.right, arc.top))
        else:  # rises from the line between the source and the layer after it
            after = line[line.index(source) + 1]
            assert source.right < arc.start[0] < after.x
        if target.branch:
            assert arc.end == pytest.approx((target.x, arc.top))
            assert target.rise == pytest.approx(arc.top)
        else:  # comes down onto the merge
            assert target.kind == "add"
            assert arc.end[0] == pytest.approx(target.centre)
        spanned = [s for s in line if arc.start[0] < s.x < arc.end[0]]
        assert all(arc.top > s.top + plan.headroom for s in spanned)
    for slot in shortcuts:
        before = run.layer(run.layer(slot.name).inputs[0]).output_shape
        assert ly.shortcut_words(run.layer(slot.name), before) == "1×1 conv, stride 2"


def test_a_chain_without_skips_lays_out_as_before():
    layers = [
        LayerInfo("conv1", "conv", [8, 16, 16], 80, 0, ["input"]),
        LayerInfo("pool1", "pool", [8, 8, 8], 0, 0, ["conv1"]),
        LayerInfo("fc", "logits", [3], 1539, 0, ["pool1"]),
    ]
    laid = ly.graph_layout(layers, [1, 16, 16], width=13.3, height=3.7)
    assert laid.arcs == [] and not any(s.branch for s in laid.slots)
    assert [s.block for s in laid.slots] == [0, 1, 1, -1]


# -- thumbnails over their own blocks ----------------------------------------------------------
@pytest.mark.parametrize("which", ["resnet_run", "residual_run"])
def test_thumbnails_sit_over_their_blocks_clear_of_the_arcs(which, request):
    run = Run(request.getfixturevalue(which))
    laid, plan = drawing(run)
    legs = [a.start[0] for a in laid.arcs if not laid.slot(a.source).branch]
    legs += [a.end[0] for a in laid.arcs if not laid.slot(a.target).branch]
    boxes = []
    for block, grid in zip(
        ly.blocks([s for s in laid.slots if not s.branch]), plan.grids, strict=True
    ):
        assert [laid.slots[i] for i in grid.slots] == block
        for i in grid.slots:
            left, bottom = plan.tile(i)
            boxes.append((left, left + plan.size, bottom, bottom + plan.size))
            assert bottom > max(s.top for s in block)  # over the block
            assert not any(left < x < left + plan.size for x in legs)  # clear of every leg
        middle = (block[0].x + max(s.right for s in block)) / 2
        lefts = [plan.tile(i)[0] for i in grid.slots]
        assert min(lefts) - 0.5 < middle < max(lefts) + plan.size + 0.5  # near its block
    for a, b in itertools.combinations(boxes, 2):
        assert (
            a[1] <= b[0] + 1e-6 or b[1] <= a[0] + 1e-6 or a[3] <= b[2] + 1e-6 or b[3] <= a[2] + 1e-6
        )
    assert plan.size >= 0.3  # about 40 px at 1080p


# -- the frame ---------------------------------------------------------------------------------
def frame_boxes(scene: architecture.Architecture) -> dict[str, tuple[float, float, float, float]]:
    """Every text and raster of the last frame by name: (left, right, bottom, top)."""
    named = {"title": scene.head, "counter": scene.counter, "bottom line": scene.footer}
    named |= {f"label {k}": m for k, m in enumerate(scene.diagram.labels)}
    named |= {f"shortcut label {k}": m for k, m in enumerate(scene.diagram.shortcut_labels)}
    named |= {f"class name {k}": m for k, m in enumerate(scene.diagram.names)}
    named |= {f"key line {k}": m for k, m in enumerate(scene.legend)}
    named |= {f"thumbnails {k}": m for k, m in enumerate(scene.strip.images)}
    named |= {f"prediction {k}": m for k, m in enumerate(scene.marks)}
    return {
        name: (m.get_left()[0], m.get_right()[0], m.get_bottom()[1], m.get_top()[1])
        for name, m in named.items()
    }


@pytest.mark.parametrize("which", ["resnet_run", "residual_run"])
def test_the_last_frame_has_no_overlaps_and_keeps_its_margins(which, request, monkeypatch):
    scene = built(request.getfixturevalue(which), monkeypatch)
    boxes = frame_boxes(scene)
    margin = MARGIN * theme.frame_width()
    half_w, half_h = theme.frame_width() / 2, theme.frame_height() / 2
    everything = scene.diagram.get_left()[0], scene.diagram.get_right()[0]
    assert everything[0] >= -half_w + margin and everything[1] <= half_w - margin
    for name, (left, right, bottom, top) in boxes.items():
        assert left >= -half_w + margin and right <= half_w - margin, name
        assert bottom >= -half_h + margin and top <= half_h - margin, name
    for (a, p), (b, q) in itertools.combinations(boxes.items(), 2):
        apart = p[1] <= q[0] or q[1] <= p[0] or p[3] <= q[2] or q[3] <= p[2]
        assert apart, f"{a} overlaps {b}"
    for part, slot in zip(scene.diagram.parts, scene.diagram.slots, strict=True):
        for name, (left, right, bottom, top) in boxes.items():
            if name.startswith(("thumbnails", "shortcut label", "label")):
                apart = (
                    part.get_right()[0] <= left
                    or right <= part.get_left()[0]
                    or part.get_top()[1] <= bottom
                    or top <= part.get_bottom()[1]
                )
                assert apart, f"{name} overlaps {slot.name}"


def test_the_prediction_reads_as_the_caption_says(residual_run, monkeypatch):
    scene = built(residual_run, monkeypatch)
    run = Run(residual_run)
    probs = run.read(schema.PROBE_PROBS, -1)[architecture.pick_image(run, None)]
    mark = scene.marks[0]
    assert mark.text == theme.percent(probs.max())
    assert f"({theme.percent(probs.max())})" in scene.footer.text


def test_a_conv_summed_with_its_skip_before_the_relu_is_not_called_post_relu(
    resnet_run, drawn_texts, monkeypatch
):
    """ResNet's second conv of a block (conv2, bn2) goes into the add before any ReLU: the
    layer record says so, and the scene's caption for it says what its map is."""
    run = Run(resnet_run)
    names = ("conv1", "maxpool", "layer1.0.conv2", "layer1.0.add")
    assert [run.layer(name).activation for name in names] == ["ReLU", "", "", "ReLU"]
    built(resnet_run, monkeypatch)
    said = dict(text.split("  ·  ")[:2] for text in drawn_texts if "  ·  output " in text)
    assert said["layer1.0.conv1"] == "conv + ReLU"
    assert said["layer1.0.conv2"] == "conv, no activation before layer1.0.add"
    assert said["layer2.0.downsample"] == "conv on the skip connection"


def test_the_input_caption_says_how_maps_that_go_below_zero_are_ranked(
    resnet_run, drawn_texts, monkeypatch
):
    """ResNet's convs before an add go below zero, so its thumbnails' "most active channel"
    is ranked by mean |value| (a strong negative response counts), and the caption says so."""
    built(resnet_run, monkeypatch)
    assert any("each layer's most active (by mean |value|) channel" in t for t in drawn_texts)


def test_a_block_that_is_only_a_pool_is_said_to_pool(residual_run, monkeypatch):
    """The pool after the residual block is a block of its own: its caption says what it
    pools to, never "0 convs"."""
    scene = built(residual_run, monkeypatch)
    run, slots = Run(residual_run), scene.diagram.slots
    forward = architecture.Pass(run, [i.name for i in architecture.drawn_layers(run.layers)], 0)
    first = next(i for i, slot in enumerate(slots) if slot.kind == "pool")
    words = architecture.block_words(slots, first, forward)
    assert words.startswith(f"{slots[first].name}: pooled to 8 channels at 8×8; largest value")
    head = next(i for i, slot in enumerate(slots) if slot.name == "head")
    words = architecture.block_words(slots, head, forward)  # one dense layer, said as one
    assert words == "The head, head: a dense layer of 4 units, then the class probabilities."


def test_neurons_below_zero_are_drawn_either_side_of_it_and_never_called_silent():
    """A dense layer with no ReLU (or an input point's coordinates) goes below zero: its
    neurons take the diverging map on one ±max scale (−2 the bluest, 0 the middle), and its
    caption gives the range instead of counting "silent" units; ReLU outputs stay viridis."""
    from types import SimpleNamespace

    from manim import Circle, VGroup

    from engine.scenekit import raster as rs

    def fills(values, top=None):
        circles = VGroup(*(Circle() for _ in values))
        ly.light_neurons(circles, np.arange(len(values)), np.array(values), top)
        return [c.get_fill_color().to_hex().lower() for c in circles]

    def hexes(unit, cmap):
        return [rs.rgb_hex(c).lower() for c in rs.apply_colormap(np.array(unit), cmap)]

    assert fills([-2.0, 0.0, 1.0]) == hexes([0.0, 0.5, 0.75], "diverging")
    assert fills([0.0, 1.0, 2.0]) == hexes([0.0, 0.5, 1.0], "viridis")
    assert fills([0.2, 0.8], top=1.0) == hexes([0.2, 0.8], "viridis")  # probabilities
    scene = SimpleNamespace(columns=[None] * 3)
    signed = architecture.Architecture.vector_caption(scene, "fc", np.array([-1.5, 0.5]), 1)
    assert "silent" not in signed.text
    assert "-1.5 to 0.5" in signed.text and "blue below 0, red above" in signed.text
    relu = architecture.Architecture.vector_caption(scene, "fc", np.array([0.0, 0.5]), 1)
    assert "1 silent (ReLU at 0)" in relu.text


def test_an_mlps_neurons_are_filled_with_their_colours_in_the_graph():
    """The MLP's graph draws its neurons into its raster: filling a column shows its colours
    at the neurons' centres (light_neurons on the graph's invisible points showed nothing)."""
    from engine.scenekit.network import NetworkGraph

    graph = NetworkGraph([2, 3, 1], width=4, height=3)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    graph.fill_neurons(1, colours)
    pixels, box = graph.edges.pixel_array, graph.edges
    for point, colour in zip(graph.neurons[1], colours, strict=True):
        x, y = point.get_center()[:2]
        col = int((x - box.get_left()[0]) / box.width * pixels.shape[1])
        row = int((box.get_top()[1] - y) / box.height * pixels.shape[0])
        assert np.abs(pixels[row, col, :3].astype(int) - colour).max() <= 2
    with pytest.raises(ValueError, match="2 colours for 3 neurons"):
        graph.fill_neurons(1, colours[:2])


def test_edges_and_boxes_never_share_a_colour():
    boxes = {c for faces in ly.FACE_COLOURS.values() for c in faces}
    assert not boxes & set(ly.SIGN_COLOURS.values())
    assert ly.SIGN_COLOURS["positive"] != ly.SIGN_COLOURS["negative"]


# -- renders -----------------------------------------------------------------------------------
@pytest.mark.render
@pytest.mark.parametrize("which", ["resnet_run", "residual_run"])
def test_the_architecture_of_a_residual_network_renders(which, request, render_small):
    video = render_small("architecture", request.getfixturevalue(which), "pace=0.05")
    assert all(frame.std() > 8 for frame in video.frames[2:])
    assert not np.array_equal(video.frames[len(video.frames) // 2], video.frames[-1])


def test_a_thumbnail_that_goes_below_zero_is_drawn_either_side_of_it():
    """A map with no ReLU after it is a diverging thumbnail (blue below 0, red above) and
    the key says so; a post-ReLU map keeps viridis from 0."""
    from engine.scenekit import raster as rs

    signed = np.zeros((2, 4, 4), np.float32)
    signed[0, :2], signed[0, 2:] = -1.0, 2.0
    relu = np.abs(signed)
    diverging = {tuple(c) for c in rs.colormap("diverging").lut.tolist()}
    for maps, centred in ((signed, True), (relu, False)):
        tile = architecture.thumbnail(maps, "top", 8)
        assert ({tuple(c) for c in tile.reshape(-1, 3).tolist()} <= diverging) == centred
    top, bottom = architecture.thumbnail(signed, "top", 8)[[0, -1], 0].astype(int)
    assert top[2] > top[0] and bottom[0] > bottom[2]  # −1 bluer, +2 redder
    assert len(architecture.Architecture.activation_key(True, "activation")) == 2
    assert len(architecture.Architecture.activation_key(False, "activation")) == 1


def test_an_mlps_graph_has_a_key_to_its_colours_clear_of_the_drawing(ring, monkeypatch):
    """The weights' and the neurons' colours are named under the graph, above the bottom line,
    touching neither (the MLP view had no key: only the first caption named the edges)."""
    scene = built(ring, monkeypatch)
    words = " ".join(t.text for t in scene.legend.get_family() if hasattr(t, "text"))
    assert "weight: blue < 0 < red" in words and "neuron 0 → its layer's max" in words
    labels = min(label.get_bottom()[1] for label in scene.graph.labels)
    assert scene.footer.get_top()[1] < scene.legend.get_bottom()[1]
    assert scene.legend.get_top()[1] < labels
    half = theme.frame_width() / 2 - MARGIN * theme.frame_width()
    assert -half <= scene.legend.get_left()[0] and scene.legend.get_right()[0] <= half
