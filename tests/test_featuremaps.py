"""FeatureMaps: which layers it shows, its messages, and real renders (MP4 and GIF) checked
frame by frame, with key frames compared against tests/reference/.

Everything here reads ``fixed_vgg``, a run written from fixed numbers rather than trained: a
trained run differs in the last digits from one CPU to the next, and so would its frames.

Regenerate the reference frames after an intended visual change with
``NNREEL_UPDATE_REFERENCES=1 python -m pytest tests/test_featuremaps.py`` and look at them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from captions import read_captions
from synthetic import write_cnn_run
from videos import ROOT, decode, scene_module, tile_colours

from engine.errors import NnreelError, RunError, UnknownNameError
from engine.scenekit import RUN_ENV, SET_ENV, theme
from engine.store import Run, schema

REFERENCES = Path(__file__).parent / "reference"
UPDATE = os.environ.get("NNREEL_UPDATE_REFERENCES") == "1"
SIZE, FPS = (320, 180), 5
KEY_FRAMES = {
    "conv1_2": 11.4,
    "conv1_2_focus": 13.4,
    "pool1": 16.2,
    "conv3_1": 29.0,
    "pool5": 70.0,
    "prediction": 73.0,
    "untrained": 75.0,
    "end": -1,
}
"""Times (s) of the frames compared with references, in the middle of each hold at the
readable pace: a layer's whole grid, a channel zoomed in, a pool, pool5 on one colour scale,
the prediction, the untrained network; -1 is the last frame (the change since step 0)."""

featuremaps = scene_module("featuremaps")


# -- what the scene shows ---------------------------------------------------------------------
def test_every_conv_and_pool_layer_in_order(fixed_vgg):

    run = Run(fixed_vgg)
    layers = featuremaps.map_layers(run, "FeatureMaps")
    names = [info.name for info in layers]
    assert sum(info.kind == "conv" for info in layers) == 13
    assert names[:3] == ["conv1_1", "conv1_2", "pool1"] and names[-1] == "pool5"
    assert [i.output_shape[1] for i in layers if i.kind == "pool"] == [16, 8, 4, 2, 1]
    assert featuremaps.evolving_layers(run, layers, None) == ["conv1_2", "conv2_2", "conv3_3"]
    assert [i.name for i in featuremaps.vector_layers(run, layers[-1])] == ["fc1", "fc2"]
    assert featuremaps.pick_image(run, None) == 3
    with pytest.raises(NnreelError, match="out of range"):
        featuremaps.pick_image(run, 99)


def test_unknown_and_unsuitable_layers_are_named(fixed_vgg):

    run = Run(fixed_vgg)
    with pytest.raises(UnknownNameError, match="Did you mean 'conv5_3'"):
        featuremaps.map_layers(run, "FeatureMaps", ["conv9_3"])
    with pytest.raises(NnreelError, match=r"fc1.*dense layer.*FeatureMaps can show: conv1_1"):
        featuremaps.map_layers(run, "FeatureMaps", ["fc1"])


def test_a_run_without_feature_maps_says_what_to_show(fixed_vgg):

    class MlpLike(Run):
        def has(self, name):
            return not name.startswith(f"{schema.ACTS}/")

    with pytest.raises(RunError, match=r"recorded no feature maps.*NNREEL_RUN=smallcnn-synth"):
        featuremaps.map_layers(MlpLike(fixed_vgg), "FeatureMaps")


# -- messages through Manim's own CLI and ours ------------------------------------------------
def test_manim_cli_prints_one_message_for_a_missing_run(tmp_path):
    env = {**os.environ, RUN_ENV: "no-such-run", "NNREEL_RUNS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "manim", "-ql", str(ROOT / "scenes" / "featuremaps.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "error: The run 'no-such-run' (from $NNREEL_RUN) cannot be used" in done.stderr
    assert "python -m engine train" in done.stderr


def test_render_cli_messages(project, fixed_vgg, tmp_path, monkeypatch, capsys):
    from engine.cli import main

    assert main(["render", "nosuchscene"]) == 2
    assert "Unknown scene 'nosuchscene'" in capsys.readouterr().err

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"format": "nnreel-run"')
    assert main(["render", "featuremaps", "--run", str(broken), "--quality", "low"]) == 2
    assert "is corrupt" in capsys.readouterr().err

    layers = ["--set", "layers=conv1_1,convx", "--resolution", "256,144", "--fps", "5"]
    assert main(["render", "featuremaps", "--run", str(fixed_vgg), *layers]) == 2
    assert "Unknown layer 'convx'" in capsys.readouterr().err


# -- real renders -----------------------------------------------------------------------------
def frame_at(times: np.ndarray, frames: np.ndarray, t: float) -> np.ndarray:
    if t < 0:
        return frames[-1]
    return frames[int(np.argmin(np.abs(times - t)))]


def matches(frame: np.ndarray, reference: np.ndarray) -> tuple[bool, str]:
    """Alike up to video-codec noise and font antialiasing; a moved or missing panel, label or
    colour change is not."""
    if frame.shape != reference.shape:
        return False, f"shape {frame.shape} != {reference.shape}"
    diff = np.abs(frame.astype(int) - reference.astype(int)).max(axis=2)
    mean, changed = diff.mean(), (diff > 48).mean()
    return mean < 3.0 and changed < 0.005, f"mean diff {mean:.2f}, {changed:.2%} pixels changed"


@pytest.mark.render
def test_render_mp4_and_gif(project, fixed_vgg, monkeypatch, capsys):
    from PIL import Image

    from engine.cli import main

    monkeypatch.setenv(RUN_ENV, str(fixed_vgg))
    width, height = SIZE
    args = ["render", "featuremaps", "--resolution", f"{width},{height}", "--fps", str(FPS)]
    assert main([*args, "--format", "gif"]) == 0
    folder = project / "renders" / "featuremaps" / f"{height}p{FPS}"
    video = folder / f"FeatureMaps-{fixed_vgg.name}.mp4"  # named after a run not the default
    assert str(video.relative_to(project)) in capsys.readouterr().err.replace("\n", "")

    times, frames = decode(video)
    assert frames.shape[1:] == (height, width, 3)
    assert 80 <= times[-1] <= 110 and len(frames) == pytest.approx(times[-1] * FPS, abs=2)
    steps = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (steps > 0.5).sum() >= 20  # it moves: layer after layer, then training
    assert all(frame.std() > 10 for frame in frames[3:])  # nothing blank after the fade-in

    with Image.open(video.with_suffix(".gif")) as gif:
        assert gif.size == (width, height) and gif.n_frames >= 20

    captions = read_captions(video, times[-1])
    run = Run(fixed_vgg)
    c, h, w = run.layer("conv1_1").output_shape
    assert theme.percent(run.read(schema.VAL_ACC, -1)) in captions[0]
    assert any(f"{c} channels of {h}×{w}" in caption for caption in captions)
    assert any(caption.startswith("conv5_1") for caption in captions)

    failures = []
    for name, t in KEY_FRAMES.items():
        frame, path = frame_at(times, frames, t), REFERENCES / f"featuremaps_{name}.png"
        if UPDATE:
            Image.fromarray(frame).save(path)
            continue
        assert path.exists(), f"{path} is missing: make it with NNREEL_UPDATE_REFERENCES=1"
        ok, why = matches(frame, np.asarray(Image.open(path).convert("RGB")))
        if not ok:
            Image.fromarray(frame).save(video.parent / path.name)
            failures.append(f"{name} (t={t}): {why}; got {video.parent / path.name}")
    assert not failures, "frames differ from tests/reference:\n" + "\n".join(failures)


# -- maps that go below zero ------------------------------------------------------------------
@pytest.fixture(scope="module")
def signed_vgg(tmp_path_factory) -> Path:
    """``fixed_vgg``'s numbers with no ReLU after conv1_2: its maps go below zero at every
    step, as a residual branch's do before its add."""
    return write_cnn_run(tmp_path_factory.mktemp("runs") / "signed-vgg", linear=("conv1_2",))


@pytest.mark.render
def test_a_row_over_training_that_goes_below_zero_is_centred_on_zero(
    signed_vgg, drawn_texts, tmp_path, monkeypatch
):
    """conv1_2's row over training is drawn blue below zero and red above at every step, its
    legend runs from −max through 0 to +max, and its label says how its channels were
    ranked; conv2_2 (after a ReLU) keeps the sequential colour map."""
    from engine.scenekit import raster as rs
    from engine.video.render import render_scene

    rows: list[tuple[np.ndarray, np.ndarray, dict]] = []
    feature_grid = rs.feature_grid

    def remember(maps, **kwargs):
        image, scaled = feature_grid(maps, **kwargs)
        if kwargs.get("rows") == 1:  # a row over training
            rows.append((np.asarray(maps, np.float32), image, kwargs))
        return image, scaled

    monkeypatch.setattr(rs, "feature_grid", remember)
    monkeypatch.setenv(RUN_ENV, str(signed_vgg))
    options = "layers=conv1_1 evolve=conv1_2,conv2_2 evolve_maps=4 delta=false focus=false"
    monkeypatch.setenv(SET_ENV, f"image=3 {options} pace=brisk")
    render_scene("featuremaps", resolution=(256, 144), fps=5, media_dir=tmp_path)

    run = Run(signed_vgg)
    series = run.read(schema.acts("conv1_2"))[:, 3].astype(np.float32)
    diverging = {tuple(c) for c in rs.colormap("diverging").lut.tolist()}
    signed = [(m, i, g) for m, i, g in rows if m.shape[1:] == series.shape[2:] and m.min() < 0]
    assert len(signed) >= 2  # at least the first and the last step
    for maps, image, grid in signed:
        for k, values in enumerate(maps):
            colours = tile_colours(image, k, values.shape, {**grid, "cols": len(maps)})
            assert all(tuple(c) in diverging for c in colours.reshape(-1, 3))
            red, blue = colours[..., 0].astype(int), colours[..., 2].astype(int)
            reach = np.abs(values).max()
            assert np.all(blue[values < -0.1 * reach] > red[values < -0.1 * reach])
            assert np.all(red[values > 0.1 * reach] > blue[values > 0.1 * reach])
    viridis = {tuple(c) for c in rs.VIRIDIS.lut.tolist()}
    relu = [(m, i, g) for m, i, g in rows if m.shape[1:] != series.shape[2:]]
    for maps, image, grid in relu:
        assert maps.min() >= 0
        colours = tile_colours(image, 0, maps.shape[1:], {**grid, "cols": len(maps)})
        assert all(tuple(c) in viridis for c in colours.reshape(-1, 3))
    assert any(t.startswith("conv1_2  ·  4 most active (by mean |value|) of") for t in drawn_texts)
    assert any(t.startswith("conv2_2  ·  4 most active of") for t in drawn_texts)
    assert {"−max", "0", "+max"} <= set(drawn_texts)
