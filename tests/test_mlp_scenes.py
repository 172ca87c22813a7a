"""The MLP scenes (fitting, neurons, weights, mlp) and the network widget: what they compute
from a recorded run, and real renders checked frame by frame with PyAV."""

from __future__ import annotations

import numpy as np
import pytest
from manim import LEFT, UP
from videos import ROOT, scene_module

from engine.errors import NnreelError, RunError
from engine.scenekit import parse_options
from engine.scenekit.network import LEVELS, NetworkGraph, sample_units
from engine.scenekit.plane import PANEL_PIXELS, check_plane_run, describe_mlp
from engine.scenekit.replay import ReplayClock, Series
from engine.store import schema

SIZE, FPS = (320, 180), 5
SHORT = {
    "fitting": "seconds=1.5 pace=0.5",
    "neurons": "seconds=1.5 tour=0.2 pace=0.5",
    "weights": "seconds=1.5 dwell=0.4 pace=0.5",
    "mlp": "seconds=1.5 tour=0.2 dwell=0.4 pace=0.5",
}
"""Scene options that keep the test renders to a few seconds each (brisk: their reading time
is tested at the readable pace in test_pacing)."""

fitting = scene_module("fitting")
neurons = scene_module("neurons")
weights = scene_module("weights")


@pytest.fixture
def run(ring):
    from engine.store import Run

    return Run(ring)


# -- what the scenes show ---------------------------------------------------------------------
def test_the_fit_is_well_above_chance_on_held_out_points(run):
    """The held-out accuracy the fitting scene prints: from the model's own recorded
    probabilities, the same as the recorded validation accuracy (Bayes ≈ 79 %, chance 50 %)."""
    panels = fitting.FitPanels(run)
    val = Series.load(run, schema.PLANE_VAL_PROB)
    final = panels.right(val.at(val.steps[-1])[:, 1]) / len(panels.val_y)
    assert final > 0.7
    assert final == pytest.approx(float(run.read(schema.VAL_ACC, -1)), abs=0.006)
    assert panels.right(val.at(0)[:, 1]) / len(panels.val_y) < 0.65  # untrained


def test_panels_draw_the_recorded_surface(run):
    panels = fitting.FitPanels(run)
    p1 = run.read(schema.PLANE_PROB, -1).astype(np.float32)[1]
    surface = panels.canvas.smooth(p1)
    assert surface.shape == (PANEL_PIXELS, PANEL_PIXELS)
    assert surface.min() >= p1.min() - 1e-5 and surface.max() <= p1.max() + 1e-5
    hard = panels.hard(surface).reshape(-1, 4)
    middle = (PANEL_PIXELS // 2) * (PANEL_PIXELS + 1)  # the centre pixel, flattened
    regions = (surface.ravel() >= 0.5).astype(int)
    points = panels.train[0]
    ink = np.zeros(len(hard), dtype=bool)
    ink[points] = True
    assert regions[middle] == 0 and regions[0] == 1  # disc in the middle, ring far out
    truth = panels.truth.ravel()  # the true boundary, dashed over the points
    fill, points = ~ink & ~truth, ink & ~truth
    assert truth.any() and len(np.unique(hard[truth, :3], axis=0)) == 1  # one ink
    assert np.array_equal(hard[fill, :3], fitting.CLASS_FILL[regions[fill]])
    drawn = {tuple(c) for c in np.unique(hard[points, :3], axis=0).tolist()}
    assert drawn <= {tuple(c) for c in fitting.CLASS_INK.tolist()}
    assert np.all(hard[:, 3] == 255)


def test_series_blends_between_snapshots_and_is_exact_on_them(run):
    prob = Series.load(run, schema.PLANE_PROB)
    a, b = prob.steps[4], prob.steps[5]
    assert np.array_equal(prob.at(a), run.read(schema.PLANE_PROB, 4).astype(np.float32))
    middle = prob.at((a + b) / 2)
    assert np.allclose(middle, (prob.values[4] + prob.values[5]) / 2, atol=1e-6)
    assert np.array_equal(prob.at(-5), prob.values[0])
    assert np.array_equal(prob.at(1e9), prob.values[-1])


def test_clock_spends_time_where_the_fit_changes(run):
    prob = Series.load(run, schema.PLANE_PROB)
    clock = ReplayClock.paced(prob)
    assert clock.marks[0] == 0 and clock.marks[-1] == pytest.approx(1.0)
    assert np.all(np.diff(clock.marks) > 0)
    assert clock.step(0.0) == prob.steps[0] and clock.step(1.0) == prob.steps[-1]
    change = np.abs(np.diff(prob.values.reshape(len(prob.steps), -1), axis=0)).mean(1)
    gaps = np.diff(clock.marks)
    assert gaps[np.argmax(change)] == gaps.max()


def test_every_replay_ends_on_its_last_snapshot():
    """Float32 sums once put the clock's last mark a hair past 1, so the replay ended at step
    1,189.9995 and showed (and captioned "after training") the snapshot before the last."""
    for seed in range(50):
        rng = np.random.default_rng(seed)
        steps = np.cumsum(rng.integers(1, 200, 35)).astype(np.float64)
        series = Series(steps, rng.random((35, 2, 8, 8)).astype(np.float32))
        clock = ReplayClock.paced(series)
        assert clock.marks[-1] == 1.0 and clock.step(1.0) == steps[-1]
        assert series.index(clock.replay(12.0, 2.0, 10.0)) == len(steps) - 1


def test_an_mlp_is_described_by_its_layers_whoever_built_it(run, tmp_path):
    """nnreel's preset and a user's nn.Sequential read the same way (a user's said "() MLP")."""
    import torch
    from torch import nn

    from engine import RecordConfig, record
    from engine.store import Run

    assert describe_mlp(run) == "(9, 9) ReLU MLP on ring vs disc"
    model = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    config = RecordConfig(snapshots="epoch", weights="epoch", mesh=5)
    record(model, tmp_path / "user", probe=torch.randn(8, 2), config=config).close()
    assert describe_mlp(Run(tmp_path / "user")) == "(6, 4) ReLU MLP on 1 vs 0"


def test_neuron_blocks_and_their_words(run):
    blocks = neurons.blocks(run, "output")
    assert [b.name for b in blocks] == ["hidden1", "hidden2", "output"]
    assert [len(b.units) for b in blocks] == [9, 9, 1] and blocks[-1].centre == 0.5
    maps = blocks[0].maps(blocks[0].series.steps[-1])
    assert np.array_equal(maps, run.read(schema.plane("hidden1"), -1).astype(np.float32))
    words = neurons.describe_unit(blocks[0], 0, maps)
    assert words.startswith("hidden1 · neuron 0: ") and "of the plane" in words
    pre = neurons.blocks(run, "pre")
    assert pre[-1].centre == 0.0 and pre[-1].series.values.shape[1] == 1  # the logit


def test_weight_rows_follow_the_largest_weight(run):
    tracer = weights.Tracer(run)
    step = float(tracer.recorded.steps[-1])
    hops = tracer.hops(-1)
    out = tracer.recorded.weights[-1][-1, 0]
    assert hops[0].strongest == int(np.argmax(np.abs(out)))
    chosen, parts, pre = tracer.row(hops[0], step, 4)
    assert list(chosen) == sorted(np.argsort(-np.abs(out))[:4].tolist())
    assert parts.shape == (4, 32, 32) and pre.shape == (32, 32)
    first = tracer.row(hops[-1], step, 9)[0]
    assert first.tolist() == [0, 1]  # x and y: the input plane


def test_options_are_checked():
    assert parse_options(neurons.OPTIONS, "value=output tour=0")["tour"] == 0
    with pytest.raises(NnreelError, match=r"value='sideways' is not valid: use pre \| output"):
        parse_options(neurons.OPTIONS, "value=sideways")
    with pytest.raises(NnreelError, match=r"seconds='0' is not valid: give a number > 0"):
        parse_options(fitting.Fitting.options, "seconds=0")


def test_a_run_without_a_plane_is_refused_with_what_to_do(run):
    class ImageRun(type(run)):
        def has(self, name):
            return not name.startswith(f"{schema.PLANE}/")

    with pytest.raises(RunError, match=r"recorded no fitted plane.*engine train mlp-ring"):
        check_plane_run(ImageRun(run.folder))


# -- the network widget -----------------------------------------------------------------------
def edge_pixel(graph: NetworkGraph, column: int, out: int, inp: int) -> np.ndarray:
    """The RGBA pixel of the edge raster at the middle of one edge."""
    start, end = graph.endpoints(column)[out, inp]
    middle = (start + end) / 2
    image = graph.edges
    height, width = image.pixel_array.shape[:2]
    left, top = image.get_corner(UP + LEFT)[:2]
    col = int((middle[0] - left) / image.width * width)
    row = int((top - middle[1]) / image.height * height)
    return image.pixel_array[row, col].astype(int)


def test_graph_draws_the_weights_it_is_given(run):
    graph = NetworkGraph.from_run(run, width=4, height=4)
    assert graph.widths == [2, 9, 9, 1] and graph.names[-1] == "output"
    w = [np.zeros((9, 2)), np.zeros((9, 9)), np.zeros((1, 9))]
    w[1][3, 4], w[1][0, 0], w[2][0, 5] = -2.0, 0.5, 1.0
    raster = graph.edges
    graph.set_weights(w, limits=[1.0, 2.0, 1.0])
    assert graph.edges is raster  # redrawn in place, no new mobject
    assert graph.edge_levels("hidden2")[3, 4] == -LEVELS
    assert graph.edge_levels("hidden2")[0, 0] == round(0.25 * LEVELS)
    assert graph.edge_levels(3)[0, 5] == LEVELS and graph.edge_levels(3).sum() == LEVELS
    negative, positive = edge_pixel(graph, 2, 3, 4), edge_pixel(graph, 3, 0, 5)
    assert negative[2] > negative[0] + 60 and negative[3] == 255  # strong blue
    assert positive[0] > positive[2] + 60 and positive[3] == 255  # strong red
    assert edge_pixel(graph, 1, 0, 0)[3] < 100  # w = 0: faint


def test_graph_highlights_a_path_and_samples_wide_layers():
    graph = NetworkGraph([784, 32, 10], ["input", "fc1", "out"], width=5, height=4)
    assert list(graph.shown[0]) == list(sample_units(784, 16))
    assert len(graph.shown[0]) == 16 and graph.shown[0][-1] == 783 and len(graph.dots) == 2
    assert graph.neuron("input", 400) is None
    graph.shift([2, 1, 0]).scale(0.8).set_weights([np.ones((32, 784)), -np.ones((10, 32))])
    start = graph.endpoints(1)[15, 15, 0]  # fc1 unit 31 ← input unit 783, where it leaves
    assert np.linalg.norm(start - graph.neuron(0, 783).get_center()) < 0.2
    assert edge_pixel(graph, 2, 3, 15)[2] > 150  # w = −1 on every fc1 → out edge: blue
    graph.highlight_path([(2, 3), (1, 31), (0, 783)])
    assert graph.lit_edges == [(2, 3, 15), (1, 15, 15)]
    assert graph.lit_neurons == [(2, 3), (1, 15), (0, 15)]
    assert np.allclose(graph.neuron("fc1", 31).get_center(), graph.endpoints(1)[15, 0, 1], atol=0.3)
    graph.highlight_path([(2, 3), (1, 20)])  # unit 20 of fc1 is behind the ellipsis
    assert graph.lit_edges == [] and graph.lit_neurons == [(2, 3)]
    with pytest.raises(ValueError, match="not neighbours"):
        graph.highlight_path([(2, 3), (0, 1)])


# -- real renders -----------------------------------------------------------------------------
@pytest.fixture
def render(render_small, ring, monkeypatch):
    """Render a scene of the test run (from the checkout, so its renders folder is the
    checkout's had no media folder been given) with the short options."""

    def scene(name: str):
        monkeypatch.chdir(ROOT)
        video = render_small(name, ring, SHORT[name], size=SIZE, fps=FPS, coverage=0.95)
        assert video.path.suffix == ".mp4"
        return video.times, video.frames, video.captions

    return scene


def held_out_accuracy(run) -> str:
    """The final held-out accuracy as the fitting scene writes it, from the recorded
    probabilities of the held-out points."""
    from engine.scenekit import theme

    right = (run.read(schema.PLANE_VAL_PROB, -1)[:, 1] >= 0.5) == run.read(schema.data_y("val"), 0)
    return (
        f"{int(right.sum())} of {len(right)} held-out points right ({theme.percent(right.mean())})"
    )


def output_share(run) -> str:
    """Where the trained output says the second class, as the neurons scene writes it."""
    share = (run.read(schema.plane("output"), -1)[0] > 0).mean()
    return f"red ({run.classes[1]}) on {100 * share:.0f}% of the plane"


def most_contributing(run) -> str:
    """The input that contributes most to the trained output neuron (the largest mean |w·a|
    over the plane) and its weight, as the weights scene writes it."""
    last_hidden, output = run.layers[-2].name, run.layers[-1].name
    w = run.read(schema.weights(output), -1)[0].astype(np.float32)
    maps = run.read(schema.plane(last_hidden), -1).astype(np.float32)
    strongest = int(np.argmax(np.abs(maps * w[:, None, None]).mean(axis=(1, 2))))
    return f"contributing most: {last_hidden} neuron {strongest} (mean |w·a| "


def blank_runs(frames: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of frames with (almost) nothing on them: fades."""
    runs: list[tuple[int, int]] = []
    for i, frame in enumerate(frames):
        if frame.std() < 10:
            runs = (
                [*runs[:-1], (runs[-1][0], i)] if runs and runs[-1][1] == i - 1 else [*runs, (i, i)]
            )
    return runs


def moving(frames: np.ndarray) -> int:
    """How many frame-to-frame steps visibly change the picture."""
    return int((np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)) > 0.3).sum())


def panel(frame: np.ndarray, x: float) -> np.ndarray:
    """The pixels of the fitting panel centred at ``x`` (frame units), found in the frame: the
    rows that a picture fills (its size follows the type's)."""
    cx = int((x + 7.111) * SIZE[0] / 14.222)
    strip = frame[:, cx - 5 : cx + 5].astype(int)
    filled = (np.abs(strip - strip[0, 0]).max(axis=2) > 30).all(axis=1)
    runs = np.split(np.arange(len(filled)), np.flatnonzero(np.diff(filled)) + 1)
    tallest = max((r for r in runs if filled[r[0]]), key=len)  # not the colour bar under it
    top, bottom = tallest[0], tallest[-1]
    half = int((bottom - top) * 0.45)
    cy = (top + bottom) // 2
    return frame[cy - half : cy + half, cx - half : cx + half]


@pytest.mark.render
def test_fitting_renders_the_fit_forming(run, render):
    times, frames, words = render("fitting")
    assert held_out_accuracy(run) in words
    assert f"and {len(run.read(schema.data_y('val'), 0))} held-out points" in words
    assert 4 <= times[-1] <= 7 and blank_runs(frames) in ([], [(0, 0)], [(0, 1)])
    assert moving(frames) >= 6
    soft = panel(frames[-1], fitting.PANEL_XS[1]).astype(int)
    red = (soft[..., 0] - soft[..., 2] > 80).mean()
    blue = (soft[..., 2] - soft[..., 0] > 80).mean()
    assert red > 0.3 and blue > 0.015  # P(ring) high outside, low in the disc
    untrained = panel(frames[3], fitting.PANEL_XS[1]).astype(int)
    assert (
        np.abs(untrained[..., 0] - untrained[..., 2]).mean()
        < np.abs(soft[..., 0] - soft[..., 2]).mean()
    )


@pytest.mark.render
def test_neurons_renders(run, render):
    times, frames, words = render("neurons")
    assert output_share(run) in words
    assert all(f"{layer.name} after training" in words for layer in run.layers[:-1])
    assert 7 <= times[-1] <= 12 and blank_runs(frames) in ([], [(0, 0)], [(0, 1)])
    assert moving(frames) >= 10  # training, then the tour moving from neuron to neuron


@pytest.mark.render
def test_weights_renders(run, render):
    times, frames, words = render("weights")
    assert most_contributing(run) in words and "from step 0 (untrained)" in words
    assert 6 <= times[-1] <= 20 and blank_runs(frames) in ([], [(0, 0)], [(0, 1)])
    assert moving(frames) >= 6


@pytest.mark.render
def test_mlp_chains_the_three(run, render):
    times, frames, words = render("mlp")
    said = [held_out_accuracy(run), output_share(run), most_contributing(run)]
    assert all(text in words for text in said)
    assert sorted(said, key=words.index) == said  # the parts' captions, in their order
    assert 20 <= times[-1] <= 40
    cards = ["1 · The fit", "2 · Neurons", "3 · Weights"]  # each part opens with its card
    assert sorted(cards, key=words.index) == cards and words.index(cards[1]) > words.index(said[0])
    assert all(b - a < 3 for a, b in blank_runs(frames))  # no fade to black: cards instead
    assert moving(frames) >= 25
