"""The seed-000 story scenes (architecture, summary, training, gradients, kernels) and the
kit pieces they are built from (``layers``: the diagram layout; ``charts``: scales and ticks):
the diagram follows the model's real shapes, the table's totals are torchinfo's, missing
streams get a clear message, and every scene renders small to a real video that moves.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from videos import changes, scene_module

from engine.errors import NnreelError, RunError
from engine.recording import load_model
from engine.scenekit import layers as ly
from engine.scenekit import raster as rs
from engine.scenekit.charts import Scale, binned, format_tick, smoothed, use_log
from engine.store import Run, schema

architecture = scene_module("architecture")
gradients = scene_module("gradients")
kernels = scene_module("kernels")
summary = scene_module("summary")
training = scene_module("training")

SIZE, FPS = (256, 144), 5


def model_layers(arch: str, **settings):
    from engine.models import build_model
    from engine.summary import layer_table

    model = build_model(arch, **settings)
    return layer_table(model), model.input_shape


class Without(Run):
    """A run that pretends some streams were never recorded."""

    hidden: tuple[str, ...] = ()

    def has(self, name: str) -> bool:
        return not name.startswith(self.hidden) and super().has(name)


def without(folder: Path, *prefixes: str) -> Run:
    run = Without(folder)
    run.hidden = prefixes
    return run


# -- the diagram follows the model ------------------------------------------------------------
def test_vgg16_boxes_match_the_real_layer_shapes():
    layers, input_shape = model_layers("vgg16")  # the full 15 M-parameter network
    slots = ly.layout(layers, input_shape, width=13.3, height=3.7)
    boxes = [s for s in slots if s.kind in ly.BOX_KINDS]
    drawn = [i for i in layers if i.kind in ly.BOX_KINDS]
    assert [s.name for s in boxes] == [i.name for i in drawn]
    assert [s.shape for s in boxes] == [tuple(i.output_shape) for i in drawn]
    assert sum(s.kind == "conv" for s in boxes) == 13 and sum(s.kind == "pool" for s in boxes) == 5
    # Height tracks the map size, thickness the channels: monotone, equal for equal shapes.
    by_side = sorted(boxes, key=lambda s: s.shape[1])
    assert all(a.height <= b.height for a, b in itertools.pairwise(by_side))
    convs = [s for s in boxes if s.kind == "conv"]
    by_channels = sorted(convs, key=lambda s: s.shape[0])
    assert all(a.thickness <= b.thickness for a, b in itertools.pairwise(by_channels))
    conv1, conv5 = convs[0], convs[-1]
    assert conv1.height > conv5.height and conv1.thickness < conv5.thickness
    assert {s.height for s in convs if s.shape[1] == 8} == {convs[4].height}
    # Five blocks of 2, 2, 3, 3, 3 convs, each closed by its pool; the head is columns.
    groups = ly.blocks(slots)
    assert [sum(s.kind == "conv" for s in g) for g in groups] == [2, 2, 3, 3, 3]
    assert all(g[-1].kind == "pool" for g in groups)
    assert ly.block_words(groups[0]) == ("2 × conv 64", "32×32 → 16×16")
    assert ly.block_words(groups[4]) == ("3 × conv 512", "2×2 → 1×1")
    assert [(s.name, s.units) for s in slots if s.block < 0] == [
        ("fc1", 512),
        ("fc2", 256),
        ("fc3", 10),
    ]
    # Left to right, inside the frame.
    assert all(a.x < b.x for a, b in itertools.pairwise(slots))
    assert slots[0].x >= -13.3 / 2 - 1e-9 and max(s.right for s in slots) <= 13.3 / 2 + 1e-9


@pytest.mark.parametrize(
    ("arch", "settings", "blocks"),
    [
        ("vgg16", {}, 5),
        ("vgg16", {"width": 0.25}, 5),
        ("vggcifar", {}, 5),  # 4 conv blocks and the global average pool
        ("smallcnn", {}, 2),
        ("smallcnn", {"variant": "svhn", "in_channels": 3, "image_size": 32}, 2),
        ("mlp", {}, 0),
    ],
)
def test_every_model_is_drawn_without_overlapping_labels(arch, settings, blocks):
    layers, input_shape = model_layers(arch, **settings)
    slots = ly.layout(layers, input_shape, width=13.3, height=3.7)
    diagram = ly.Diagram(slots, classes=[str(i) for i in range(10)])
    assert len(ly.blocks(slots)) == blocks
    assert len(diagram.parts) == len(ly.drawn_layers(layers)) + 1  # and the input
    assert diagram.overlaps() == []
    assert diagram.get_left()[0] >= -ly.LIMIT - 1e-6 and diagram.get_right()[0] <= ly.LIMIT + 1e-6
    assert sum(len(stage) for stage in diagram.stages()) >= len(diagram.parts)


def test_wide_layers_are_sampled_with_an_ellipsis():
    assert ly.shown_units(10).tolist() == list(range(10))
    shown = ly.shown_units(512)
    assert len(shown) == ly.MAX_NEURONS and shown[0] == 0 and shown[-1] == 511


def test_glue_is_looked_up_by_the_pair_of_kinds():
    assert ly.glue("conv", "conv").name == "touch"
    assert ly.glue("pool", "conv").name == "arrow"
    assert ly.glue("pool", "dense").name == "fan"
    assert ly.glue("dense", "logits").name == "edges"
    assert ly.glue("vector", "dense").name == "edges"
    assert ly.glue("conv", "something-new").name == "arrow"


# -- the summary table ------------------------------------------------------------------------
def test_table_totals_equal_torchinfo(tiny_vgg):
    from torchinfo import summary as torchinfo_summary

    run = Run(tiny_vgg)
    model = load_model(run)
    stats = torchinfo_summary(
        model, input_size=(1, *model.input_shape), verbose=0, depth=8, mode="eval"
    )
    assert summary.totals(run.layers) == (stats.total_params, stats.total_mult_adds)
    rows = summary.table_rows(run.layers, max_rows=30)
    assert len(rows) == 22  # VGG-16's layers all fit, one row each
    assert sum(r.params for r in rows) == stats.total_params


def test_long_tables_group_each_blocks_convs():
    layers, _ = model_layers("vgg16")
    rows = summary.table_rows(layers, max_rows=16)
    assert len(rows) == 14
    assert rows[0].name == "conv1_1 … conv1_2" and rows[0].kind == "2 × conv"
    assert rows[0].params == sum(i.params for i in layers[:2])
    assert sum(r.macs for r in rows) == summary.totals(layers)[1]
    assert summary.heaviest([5, 9, 9, 1, 0], 1) == [1, 2]  # ties are all highlighted
    assert summary.human(2_359_808) == "2.36 M"


# -- charts -----------------------------------------------------------------------------------
def test_log_scale_ticks_read_well():
    scale = Scale.fit_log([0.04, 2.4])
    assert scale.lo <= 0.04 and scale.hi >= 2.4 and scale.log
    assert [format_tick(t) for t in scale.ticks()] == ["0.05", "0.1", "0.2", "0.5", "1", "2"]
    wide = Scale.fit_log([3e-6, 0.02])
    assert [format_tick(t) for t in wide.ticks()] == ["10⁻⁵", "10⁻⁴", "0.001", "0.01"]
    assert scale.unit([scale.lo, scale.hi]).tolist() == [0.0, 1.0]
    assert use_log([2.3, 0.3]) and not use_log([0.9, 0.5])
    assert Scale.fit([0.0, 86.0], zero=True).ticks()[-1] >= 86


def test_series_are_binned_and_smoothed():
    x, y = binned(np.arange(1000), np.arange(1000) % 2, 10)
    assert len(x) == 10 and np.allclose(y, 0.5, atol=0.01)
    assert smoothed(np.full(50, 3.0), 10)[0] == pytest.approx(3.0)  # no pull towards zero


# -- what is missing is said clearly ----------------------------------------------------------
def test_runs_without_what_a_scene_needs_say_so(tiny_vgg, ring):
    with pytest.raises(RunError, match=r"without gradient statistics \(stats/grad_abs_mean\)"):
        gradients.gradient_history(without(tiny_vgg, schema.GRAD_ABS_MEAN, schema.WEIGHT_NORM))
    with pytest.raises(RunError, match=r"has no val/loss, val/acc.*Train it again"):
        training.check_streams(without(tiny_vgg, schema.VAL_LOSS, schema.VAL_ACC))
    with pytest.raises(RunError, match=r"recorded no conv weights.*python -m engine train"):
        kernels.conv_weight_layers(Run(ring), None)
    run = without(tiny_vgg, f"{schema.ACTS}/")
    names = [info.name for info in ly.drawn_layers(run.layers)]
    with pytest.raises(RunError, match=r"recorded no activations for conv1_1"):
        architecture.Pass(run, names, 0)


def test_kernel_tiles_are_centred_on_zero(tiny_vgg):
    run = Run(tiny_vgg)
    chosen = kernels.select(run, "conv2_1", "strongest", first=False)
    assert chosen.shown.shape[1:] == (32, 3, 3) and chosen.steps[0] == 0
    tiles = chosen.tiles(0)
    assert tiles.shape == (32, 3, 3, 3) and tiles.dtype == np.uint8
    zero = chosen.tiles(0)[np.unravel_index(np.abs(chosen.shown[0]).argmin(), (32, 3, 3))]
    centre = rs.apply_colormap(np.array([0.5]), "diverging")[0].astype(int)  # what zero looks like
    assert np.abs(zero.astype(int) - centre).max() < 20
    rows, cols, scale = kernels.strip_layout(512, 3, 3, 1400, 120)
    assert rows * cols >= 512 and cols * (3 * scale + kernels.tile_pad(scale)) <= 1400


def test_a_deep_networks_kernels_are_a_dozen_of_its_layers_evenly_spread(tiny_vgg):
    names = [f"conv{i}" for i in range(21)]  # ResNet-50's default: 21 conv layers recorded
    shown = kernels.spread(names, kernels.MAX_STRIPS)
    assert len(shown) == 12 and shown[0] == "conv0" and shown[-1] == "conv20"
    assert shown == sorted(set(shown), key=names.index)  # in network order, none twice
    assert kernels.spread(names[:5], 12) == names[:5]
    many = ["conv1_1"] * 13
    with pytest.raises(NnreelError, match=r"names 13 layers; Kernels shows at most 12"):
        kernels.conv_weight_layers(Run(tiny_vgg), many)


# -- real renders -----------------------------------------------------------------------------
def render(render_small, name: str, run: Path, options: str) -> np.ndarray:
    """The frames of a small render, whose captions say the run's real numbers."""
    video = render_small(name, run, options, size=SIZE, fps=FPS)
    assert expected_words(name, Run(run)) in video.captions.replace("\n", " ")
    return video.frames


def expected_words(scene: str, run: Run) -> str:
    """Words with the run's real numbers that the scene's captions must say."""
    if scene == "training":
        return f"validation accuracy {100 * float(run.read(schema.VAL_ACC, -1)):.1f}%"
    if scene == "gradients":
        return f"{len(gradients.gradient_history(run)[2])} weight layers"
    if scene == "kernels":
        out, inputs, kh, kw = run.read(
            schema.weights(kernels.conv_weight_layers(run, None)[0]), 0
        ).shape
        return f"{out} kernels of {kh}×{kw}×{inputs}"
    return f"{sum(info.params for info in run.layers):,} parameters"  # architecture, summary


@pytest.mark.render
@pytest.mark.parametrize(
    ("scene", "options", "seconds", "moving"),
    [
        ("training", "seconds=2 pace=0.5", (3, 10), 6),
        ("gradients", "seconds=2 pace=0.5", (3, 10), 6),
        ("kernels", "seconds=1.5 pace=0.5", (4, 16), 3),
        ("summary", "seconds=2 pace=0.5", (4, 16), 8),
        ("architecture", "pace=0.1", (5, 20), 15),
    ],
)
def test_scene_renders_and_moves(scene, options, seconds, moving, tiny_vgg, render_small):
    frames = render(render_small, scene, tiny_vgg, options)
    assert seconds[0] * FPS <= len(frames) <= seconds[1] * FPS
    assert changes(frames, share=2e-4) >= moving  # a growing curve changes few pixels
    assert all(frame.std() > 8 for frame in frames[2:])  # nothing blank after the first frames
    assert not np.array_equal(frames[2], frames[-1])  # it ends elsewhere than it began


@pytest.mark.render
def test_architecture_of_an_mlp_renders(ring, render_small):
    frames = render(render_small, "architecture", ring, "pace=0.1")
    assert changes(frames, share=2e-4) >= 5 and frames[-1].std() > 8


def test_the_first_gradients_are_called_the_first_update_only_when_they_are():
    """Statistics taken every few steps begin after the first update: the key says so."""
    assert gradients.first_words(1) == "at step 1 (first update)"
    assert gradients.first_words(2) == "at step 2 (first recorded)"


def test_how_far_training_moved_the_kernels_reads_right_for_one_layer_or_many():
    from types import SimpleNamespace

    one = SimpleNamespace(kernels=[SimpleNamespace(name="conv0", moved=0.276)])
    assert kernels.Kernels.moved_words(one) == "conv0 moved 27.6% from its start."
    many = SimpleNamespace(
        kernels=[SimpleNamespace(name=f"conv{i}", moved=0.1 * i) for i in range(1, 5)]
    )
    assert kernels.Kernels.moved_words(many) == (
        "Each layer moved from its start by conv1 10.0%, … conv4 40.0%."
    )
