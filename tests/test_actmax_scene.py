"""The ActMax scene: which layers it picks, its numbers as text, panels that show exactly the
recorded images, dead units crossed out, its messages, and a real render (recorded on the
spot) checked frame by frame with PyAV.

One tiny run (seed 003's CNN on 512 procedural digits, one epoch) serves every test; the
activation-maximisation recordings use a handful of steps.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from videos import changes, scene_module

from engine.errors import NnreelError, RunError, UnknownNameError
from engine.scenekit import raster as rs
from engine.scenekit.recordings import ensure_actmax
from engine.scenekit.tiles import scale_factor
from engine.store import LayerInfo, Run

actmax = scene_module("actmax")

SIZE, FPS = (480, 270), 5
STEPS = 6
DEAD = (0, 2)
"""conv1 filters killed in the dead-unit run."""
OPTIONS = f"units=4 steps={STEPS} pace=0.2 hold=0.75"


@pytest.fixture(scope="session")
def dead_run(small_cnn, tmp_path_factory) -> Path:
    """A copy of the run whose conv1 filters ``DEAD`` can never fire (zero weights, negative
    bias: ReLU(-1) = 0 on every input)."""
    folder = tmp_path_factory.mktemp("runs") / "tiny-dead"
    shutil.copytree(small_cnn, folder)
    weights = torch.load(folder / "model.pt", weights_only=True)
    for unit in DEAD:
        weights["conv1.conv.weight"][unit] = 0.0
        weights["conv1.conv.bias"][unit] = -1.0
    torch.save(weights, folder / "model.pt")
    return folder


@pytest.fixture
def resolution():
    """Manim's config at the test size, as during a render (layouts are in output pixels)."""
    from engine.video.render import manim_config

    with manim_config(resolution=SIZE, fps=FPS):
        yield


def vgg_like(convs: int) -> SimpleNamespace:
    """A stand-in run with a VGG-like layer table: ``convs`` convs, a pool after every two."""
    layers = []
    for i in range(convs):
        layers.append(LayerInfo(f"conv{i}", "conv", [8, 8, 8], 0, 0))
        if i % 2:
            layers.append(LayerInfo(f"pool{i}", "pool", [8, 4, 4], 0, 0))
    layers += [LayerInfo("fc", "dense", [16], 0, 0), LayerInfo("out", "logits", [10], 0, 0)]
    return SimpleNamespace(name="stub", layers=layers, model={"input_shape": [1, 32, 32]})


# -- what the scene picks and says ------------------------------------------------------------
def test_early_middle_and_late_convs_or_as_many_as_there_are(small_cnn):
    picked = [i.name for i in actmax.pick_layers(vgg_like(13), None)]
    assert picked == ["conv0", "conv6", "conv12"]
    assert [i.name for i in actmax.pick_layers(Run(small_cnn), None)] == ["conv1", "conv2"]
    assert [i.name for i in actmax.pick_layers(vgg_like(1), None)] == ["conv0"]
    assert actmax.logits_layer(Run(small_cnn)).name == "fc"
    chosen = actmax.pick_layers(Run(small_cnn), ["pool1", "conv2"])
    assert [i.name for i in chosen] == ["pool1", "conv2"]
    assert [actmax.role(Run(small_cnn), i) for i in chosen] == ["middle", "late"]


def test_layers_that_cannot_be_shown_get_one_clear_message(small_cnn):
    with pytest.raises(UnknownNameError, match=r"Unknown layer 'conv9'.*Valid layers: conv1"):
        actmax.pick_layers(Run(small_cnn), ["conv9"])
    with pytest.raises(NnreelError, match=r"'flatten'.*flatten layer.*conv1, pool1, conv2"):
        actmax.pick_layers(Run(small_cnn), ["flatten"])
    mlp = SimpleNamespace(name="ring", layers=[], model={"input_shape": [2], "arch": "mlp"})
    mlp.dataset = {"name": "ring"}
    with pytest.raises(RunError, match=r"not images.*NNREEL_RUN=vgg16-synth"):
        actmax.pick_layers(mlp, None)


def test_numbers_read_honestly():
    assert actmax.value_text(0.8712) == "0.87"
    assert actmax.value_text(-3.14159) == "-3.14"
    assert actmax.value_text(12.34) == "12.3"
    assert actmax.value_text(153.4) == "153"
    assert actmax.probability_text(0.9984) == "p = 0.998"
    assert actmax.probability_text(0.99964) == "p = 0.9996"
    assert actmax.probability_text(0.999994) == "p = 0.99999"
    assert actmax.probability_text(1.0) == "p > 0.99999"
    assert actmax.probability_text(3e-4) == "p = 0.0003"
    assert actmax.probability_text(0.0) == "p < 0.00001"


def test_crisp_tiles_unless_a_whole_factor_wastes_room():
    assert scale_factor(140, 32) == 4.0
    assert scale_factor(60, 32) == 60 / 32  # 1× would leave half the room empty
    assert scale_factor(20, 32) == 20 / 32


# -- recordings and panels --------------------------------------------------------------------
def tile(canvas: np.ndarray, panel, k: int) -> np.ndarray:
    """Tile k's image as the panel drew it."""
    x, y = panel.grid.image_box(k)
    return canvas[y : y + panel.grid.side, x : x + panel.grid.side, :3]


def drawn(images: np.ndarray, k: int, factor: float) -> np.ndarray:
    """Recorded image k as a tile shows it: grey as grey, enlarged nearest-neighbour."""
    return rs.enlarge(rs.to_rgb(images[k]), factor)


def test_panels_show_the_recorded_images_and_values(dead_run, resolution):
    run = Run(dead_run)
    threads = torch.get_num_threads()
    recording = ensure_actmax(run, run.layer("conv1"), [0, 1, 2, 3], steps=STEPS, threads=1)
    assert torch.get_num_threads() == threads
    panel = actmax.UnitPanel(recording, [0, 1, 2, 3], (-3.0, 3.0, 2.0, -2.0))
    factor = panel.grid.factor
    for frame in (0, 1, len(recording.steps) - 1):
        tiles = panel.at(frame)
        canvas = panel.compose(tiles)
        for k in (1, 3):
            want = drawn(recording.frames[frame], k, factor)
            assert (tile(canvas, panel, k)[: want.shape[0], : want.shape[1]] == want).all()
            assert tiles.right[k] == actmax.value_text(recording.values[frame, k])
    best = panel.compose(panel.best())
    want = drawn(recording.best, 1, factor)
    assert (tile(best, panel, 1)[: want.shape[0], : want.shape[1]] == want).all()
    assert recording.dataset_max is not None and panel.ticks is not None


def test_dead_units_are_crossed_out_not_shown_as_noise(dead_run, resolution):
    run = Run(dead_run)
    recording = ensure_actmax(run, run.layer("conv1"), [0, 1, 2, 3], steps=STEPS, threads=1)
    assert [u for u in range(4) if recording.dead[u]] == list(DEAD)
    assert recording.dataset_max[list(DEAD)].max() == 0.0
    panel = actmax.UnitPanel(recording, [0, 1, 2, 3], (-3.0, 3.0, 2.0, -2.0))
    canvas = panel.compose(panel.at(len(recording.steps) - 1))
    red = np.array(rs.hex_rgb(actmax.theme.BAD))
    for k in range(4):
        redness = (tile(canvas, panel, k) == red).all(axis=2).mean()
        assert (redness > 0.05) == (k in DEAD)
    assert "0 of 2 beat" in panel.summary()[0] or "dead" in panel.summary()[0]


# -- real renders -----------------------------------------------------------------------------
def render(render_small, run: Path, options: str) -> tuple[np.ndarray, str]:
    """The video's frames (nothing blank) and its captions."""
    video = render_small("actmax", run, options, size=SIZE, fps=FPS)
    assert all(frame.std() > 10 for frame in video.frames)
    return video.frames, video.captions


@pytest.mark.render
def test_the_scene_records_on_the_spot_and_shows_the_recording(dead_run, render_small):
    from engine.actmax import load_actmax, recorded_layers
    from engine.video.render import manim_config

    frames, captions = render(render_small, dead_run, OPTIONS)
    run = Run(dead_run)
    assert set(recorded_layers(run)) == {"conv1", "conv2", "fc"}
    recording = load_actmax(run, "conv1")
    units = int(OPTIONS.split("units=")[1].split()[0])
    assert f"Step 0: random noise for {units} filters each of conv1 (" in captions
    shown = [(layer, load_actmax(run, layer)) for layer in ("conv1", "conv2")]
    live = [(r.best_values[u], layer, r, u) for layer, r in shown for u in range(units)]
    value, layer, best, u = max((t for t in live if not t[2].dead[t[3]]), key=lambda t: t[0])
    assert (  # the strongest live unit shown, in the tiles' own number format
        f"filter {u} of {layer}, {actmax.value_text(value)} (its best training image: "
        f"{actmax.value_text(best.dataset_max[u])})"
    ) in captions
    classes = load_actmax(run, "fc")
    top = int(np.argmax(classes.probabilities[-1]))
    sure = actmax.probability_text(float(classes.probabilities[-1, top]))
    assert f"surest of “{classes.labels[top]}” ({sure})" in captions
    count = len(recording.steps)  # both parts: the noise while it is read, a frame per step
    assert 2 * count <= len(frames) <= 2 * count + 60
    assert changes(frames) >= 2 * (count - 2)  # the images grow on both pages

    with manim_config(resolution=SIZE, fps=FPS):  # the scene's left panel, drawn again
        frame_w, frame_h, ppu = (
            actmax.theme.frame_width(),
            actmax.theme.frame_height(),
            actmax.pixels_per_unit(),
        )
        left = -frame_w / 2 + actmax.theme.MARGIN
        width = (frame_w - 2 * actmax.theme.MARGIN - actmax.PANEL_GAP) / 2
        rows = SimpleNamespace()  # the grids' top and bottom, measured from the title as drawn
        actmax.ActMax.place_rows(rows, actmax.title(run))
        panel = actmax.UnitPanel(recording, [0, 1, 2, 3], (left, left + width, *rows.grid))
        origin = (round((left + frame_w / 2) * ppu), round((frame_h / 2 - rows.grid[0]) * ppu))
        best = tile(panel.compose(panel.best()), panel, 1).astype(np.float32)
        boxes = {k: panel.grid.image_box(k) for k in (1, DEAD[0])}
        side = panel.grid.side

    def seen(k: int) -> np.ndarray:
        x, y = boxes[k][0] + origin[0], boxes[k][1] + origin[1]
        return frames[:, y : y + side, x : x + side].astype(np.float32)

    error = np.abs(seen(1) - best).mean(axis=(1, 2, 3))
    assert error.min() < 6 and error.min() < error[0] / 2  # a frame shows the best image
    red = np.array(rs.hex_rgb(actmax.theme.BAD), dtype=np.float32)
    dead = seen(DEAD[0])[1]
    assert (np.abs(dead - red).max(axis=2) < 60).mean() > 0.05  # crossed out in red


@pytest.mark.render
def test_an_unknown_layer_reaches_the_user_as_one_message(small_cnn, project, capsys):
    from engine.cli import main

    args = ["render", "actmax", "--run", str(small_cnn), "--set", "layers=conv1,conv9"]
    assert main([*args, "--resolution", "256,144", "--fps", "5"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "Unknown layer 'conv9'" in err and "conv1, pool1, conv2" in err
    assert "Traceback" not in err
