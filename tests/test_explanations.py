"""The explanations: the operations scene's arithmetic against what the runs recorded, the unit
scene's dataset examples, honest colour scales, and the story the lecture tells.

Checks on trained runs compare the network's arithmetic with the activations the same run
recorded, on the same machine: outcomes, not numbers that depend on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from usermodels import plain_loop, recorded_residual_cnn
from videos import scene_module

from engine import record
from engine.analysis.examples import top_images
from engine.analysis.operations import first_conv, first_pool, trained_model
from engine.data import load_data
from engine.errors import RunError
from engine.recording import load_run_data
from engine.scenekit import raster as rs
from engine.store import Run, schema

operations = scene_module("operations")
featuremaps = scene_module("featuremaps")
unit = scene_module("unit")


# -- the operations, with real numbers ----------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny_vgg", "small_cnn"])
def test_the_sliding_kernel_writes_the_recorded_map(fixture, request):
    """Written as the animation writes it (a few positions by hand, then the rest in raster
    order), the map after the ReLU is the activation the run recorded (fp16: to 1e-3)."""
    run = Run(request.getfixturevalue(fixture))
    conv = first_conv(run, index=3)
    written = operations.conv_writer(conv)
    for row, col in conv.slow_positions():
        written.write(row, col)
    for count in np.linspace(written.done, conv.pre.size, 7).round().astype(int):
        written.write_until(int(count))
    assert written.done == conv.pre.size and np.isfinite(written.values).all()
    after_relu = np.maximum(written.values, 0.0)
    scale = float(np.abs(conv.recorded).max())
    np.testing.assert_allclose(after_relu, conv.recorded, rtol=2e-3, atol=2e-3 * scale)
    assert (written.values < 0).any() and (conv.recorded[written.values < -0.01 * scale] == 0).all()
    assert conv.batchnorm == (fixture == "tiny_vgg")  # folded in for VGG, none in the small CNN


@pytest.mark.parametrize("fixture", ["tiny_vgg", "small_cnn"])
def test_max_pooling_writes_the_recorded_maxima(fixture, request):
    run = Run(request.getfixturevalue(fixture))
    pooling = first_pool(run, index=3)
    written = operations.pool_writer(pooling)
    written.write_until(pooling.recorded.size)
    assert np.array_equal(written.values, pooling.recorded)  # max of fp16 values is exact
    row, col = np.unravel_index(int(np.argmax(pooling.recorded)), pooling.recorded.shape)
    r, c = pooling.winner(int(row), int(col))
    assert pooling.before[r, c] == pooling.recorded[row, col]


def test_slow_positions_show_the_extremes_in_raster_order(tiny_vgg):
    conv = first_conv(Run(tiny_vgg), index=3)
    picks = conv.slow_positions()
    assert picks == sorted(picks) and (0, 0) in picks
    values = [conv.value_at(r, c) for r, c in picks]
    assert max(values) == pytest.approx(conv.pre.max()) and min(values) == pytest.approx(
        conv.pre.min()
    )


# -- one unit, four views ---------------------------------------------------------------------
def test_top_validation_images_are_the_units_strongest(small_cnn):
    """Each unit's top images, best first, beat every other validation image."""
    from engine.actmax.objectives import forward_to, unit_objective

    run = Run(small_cnn)
    model = trained_model(run)
    images = load_run_data(run).x_val[:96]
    objective = unit_objective(model, "conv2", [0, 5, 9])
    values, indices = top_images(model, objective, images, k=6)
    assert values.shape == indices.shape == (3, 6)
    with torch.no_grad():
        out = forward_to(model, images.float() / 255, ["conv2"])["conv2"]
        every = objective.reduce(out)[:, [0, 5, 9]].T.numpy()  # [units, images]
    for u in range(3):
        assert np.all(np.diff(values[u]) <= 0)
        np.testing.assert_allclose(every[u, indices[u]], values[u], rtol=1e-5)
        rest = np.delete(every[u], indices[u])
        assert rest.max() <= values[u, -1] + 1e-6


def test_units_shown_are_the_first_and_a_middle_conv(fixed_vgg):
    run = Run(fixed_vgg)
    assert [i.name for i in unit.chosen_layers(run, None)] == ["conv1_1", "conv3_3"]
    acts = {"conv1_1": run.read(schema.acts("conv1_1"), -1)[3].astype(np.float32)}
    first = unit.chosen_units(acts, [run.layer("conv1_1")], None)[0]
    assert first == int(rs.top_k(acts["conv1_1"], 1)[0])
    with pytest.raises(Exception, match="one whole number per layer"):
        unit.chosen_units(acts, [run.layer("conv1_1")], ["a"])


# -- honest magnitude -------------------------------------------------------------------------
def test_pool5_of_the_default_run_is_not_identical_squares_by_default(fixed_vgg):
    """The slim VGG-16's pool5 maps are 1×1: each scaled to its own max, every tile is the
    top colour; under the default normalisation (one scale for such small maps) the tiles
    show how strong each channel is, and the legend can write that scale's maximum."""
    run = Run(fixed_vgg)
    maps = run.read(schema.acts("pool5"), -1)[3].astype(np.float32)
    shown = maps[rs.top_k(maps, 32)]
    default = featuremaps.FeatureMaps.options["norm"].default
    mode = rs.honest_mode(shown, default)
    assert mode == "layer"
    honest, scaled = rs.feature_grid(shown, mode=mode, rows=4, cols=8, scale=8, pad=1)
    own, _ = rs.feature_grid(shown, mode="channel", rows=4, cols=8, scale=8, pad=1)
    assert distinct_tiles(own, shown) == 1  # what per-map scaling drew: identical squares
    assert distinct_tiles(honest, shown) >= 8
    assert scaled.hi.max() == pytest.approx(shown.max())


def distinct_tiles(grid: np.ndarray, maps: np.ndarray) -> int:
    """How many different colours the tiles of a 4×8 grid of 1×1 maps have."""
    colours = set()
    for k in range(len(maps)):
        x, y, w, h = rs.tile_box(k, cols=8, size=(1, 1), scale=8, pad=1)
        colours.add(tuple(grid[y + h // 2, x + w // 2]))
    return len(colours)


def test_auto_scale_is_per_layer_for_small_or_flat_maps_only():
    rng = np.random.default_rng(0)
    varied = rng.uniform(0, 1, (6, 8, 8)).astype(np.float32)
    assert rs.honest_mode(varied, "auto") == "channel"
    assert rs.honest_mode(varied[:, :4, :4], "auto") == "layer"  # 16 pixels: small
    flat = np.ones((6, 8, 8), np.float32) * np.arange(1, 7)[:, None, None]
    assert rs.honest_mode(flat, "auto") == "layer"
    assert rs.honest_mode(flat, "channel") == "channel"  # chosen on purpose, kept


def test_maps_below_zero_are_scaled_around_zero_on_the_diverging_map():
    """A layer with no ReLU after it: the same choice of scale, centred on zero."""
    signed = np.random.default_rng(0).uniform(-1, 1, (6, 8, 8)).astype(np.float32)
    assert rs.honest_mode(signed, "auto") == "symmetric-channel"
    assert rs.honest_mode(signed[:, :4, :4], "auto") == "symmetric"
    assert rs.honest_mode(signed, "layer") == "symmetric"
    assert rs.mode_cmap("symmetric", "greens") == "diverging"
    assert rs.mode_cmap("layer", "greens") == "greens"


# -- the lecture's story ------------------------------------------------------------------------
def test_the_lecture_tells_the_story_in_order():
    from engine.scenekit.cards import part_title
    from engine.video.catalog import scene_paths
    from engine.video.lecture import DEFAULT_STORY

    assert DEFAULT_STORY == (
        "architecture",
        "operations",
        "training",
        "featuremaps",
        "unit",
        "actmax",
    )
    assert set(DEFAULT_STORY) <= set(scene_paths())
    assert part_title("operations") == "A conv layer, by hand"  # pooling or not


def test_the_operations_of_a_users_own_cnn_are_its_real_arithmetic(tmp_path):
    """A user's CNN (stored as a program: BatchNorm, functional ReLU, a residual block): its
    first conv with the BatchNorm folded in writes the recorded map after the ReLU, and its
    max-pool, which reads the residual sum, keeps the recorded maxima."""
    digits = load_data("digits", train_size=64, val_size=32)
    run, _ = recorded_residual_cnn(tmp_path / "residual", digits)
    conv = first_conv(run, index=2)
    assert (conv.layer, conv.batchnorm, conv.activation) == ("stem", True, "ReLU")
    assert conv.input_words == "pixels in [0, 1]" and conv.padded.shape == (1, 30, 30)
    rows, cols = conv.shape
    written = np.array([[conv.value_at(r, c) for c in range(cols)] for r in range(rows)])
    scale = float(np.abs(conv.recorded).max())
    np.testing.assert_allclose(np.maximum(written, 0), conv.recorded, atol=2e-3 * scale)
    pooling = first_pool(run, index=2)
    assert (pooling.layer, pooling.source, pooling.size) == ("max_pool2d", "add", 2)
    written = operations.pool_writer(pooling)
    written.write_until(pooling.recorded.size)
    assert np.array_equal(written.values, pooling.recorded)


class StridedStem(nn.Module):
    """A first conv the scene cannot draw as a plain sliding window (stride 2), and an average
    pool (no max to show)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.head = nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        return self.head(torch.flatten(F.avg_pool2d(F.relu(self.stem(x)), 2), 1))


def test_a_conv_the_scene_cannot_draw_gets_one_message_and_an_average_pool_none(tmp_path):
    digits = load_data("digits", train_size=64, val_size=32)
    torch.manual_seed(0)
    model = StridedStem()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with record(model, tmp_path / "strided", data=digits, optimizer=opt) as rec:
        plain_loop(model, rec, digits)
    run = Run(tmp_path / "strided")
    with pytest.raises(RunError, match=r"stem, the first conv of run 'strided'.*a stride of 2"):
        first_conv(run, index=0)
    assert first_pool(run, index=0) is None


def pre_relu_module() -> nn.Module:
    """Conv → BatchNorm with trained-looking statistics → ReLU, as torch.nn layers."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding="same"), nn.BatchNorm2d(3), nn.ReLU())
    norm = model[1]
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    nn.init.uniform_(norm.weight, 0.5, 1.5)
    nn.init.uniform_(norm.bias, -0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("dialect", ["fx", "export"])
def test_a_conv_chain_folds_its_batchnorm_in_either_graph_dialect(dialect):
    """Read from a torch.fx trace (a live module) or a torch.export program (a stored run), the
    folded kernel and bias give the network's pre-ReLU values."""
    from torch import fx

    from engine.analysis.convchain import conv_chain, node_value

    model, x = pre_relu_module(), torch.rand(1, 2, 6, 6)
    graph = (
        fx.symbolic_trace(model) if dialect == "fx" else torch.export.export(model, (x,)).module()
    )
    chain = conv_chain(graph, "0")
    assert (chain.batchnorm, chain.activation, chain.padding) == (True, "ReLU", (1, 1))
    padded = F.pad(node_value(graph, chain.input_node, x).double(), (1, 1, 1, 1))
    with torch.no_grad():
        expected = model[1](model[0](x)).double()
    np.testing.assert_allclose(F.conv2d(padded, chain.weight, chain.bias), expected, atol=1e-5)
