"""Every CNN scene filmed from a run of a user's own model (BatchNorm, ``F.relu``, a residual
block) recorded in a plain loop, and ``image=FILE``: any picture through the run's stored model.

Activations of a new image are compared with the user's model computed in the same process
(within fp16), never with stored numbers, so the tests hold on any CPU.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from captions import read_captions
from PIL import Image
from usermodels import ResidualCNN, recorded_residual_cnn
from videos import scene_module, tile_colours

from engine.data import load_data
from engine.errors import NnreelError
from engine.scenekit import RUN_ENV, SET_ENV, ImageRun, options_text, parse_options, theme
from engine.store import Run, schema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scenes"))

import featuremaps  # noqa: E402  (scenes/ is not a package: one scene per file for `manim`)

SIZE, FPS = (256, 144), 5
FP16 = {"rtol": 2e-3, "atol": 2e-3}
QUICK = {
    "featuremaps": "pace=brisk",
    "summary": "seconds=1 pace=brisk",
    "training": "seconds=1 pace=brisk",
    "gradients": "seconds=1 pace=brisk",
    "kernels": "seconds=1 pace=brisk",
    "activations": "hold=0.2 pace=brisk",
    "filters": "steps=4 grow=0.2 hold=0.2 pace=brisk",
    "actmax": "steps=4 frames=2 hold=0.2 pace=0.1",
    "pruning": "hold=0.2 pace=brisk",
    "operations": "pace=brisk",
}
"""Each scene's options for a short render (brisk: the readable pace is tested elsewhere)."""
ABOUT_DATA = ("featuremaps", "training", "activations", "filters")
"""Scenes that show the dataset (the others show the model's weights and gradients)."""
PANELS_ON_CONV_B = ("featuremaps", "activations", "filters", "pruning")
"""Scenes with a captioned panel for each map layer."""


@pytest.fixture(scope="module")
def user_cnn(tmp_path_factory) -> tuple[Run, ResidualCNN]:
    """The residual CNN trained one short epoch on the built-in digits in a plain loop."""
    digits = load_data("digits", train_size=320, val_size=64)
    run, model = recorded_residual_cnn(tmp_path_factory.mktemp("runs") / "residual", digits)
    return run, model.eval()


def picture(path: Path, pixels: np.ndarray, mode: str = "L") -> Path:
    Image.fromarray(pixels).convert(mode).save(path)
    return path


@pytest.mark.render
@pytest.mark.parametrize("scene", list(QUICK))
def test_every_cnn_scene_films_a_user_models_run(
    scene, user_cnn, drawn_texts, tmp_path, monkeypatch
):
    """Each scene renders; what it writes on screen and in its captions names the model (and
    the dataset, where it shows data) from the manifest, and nothing reads '?'. A panel on
    conv_b (summed with the skip connection before the block's ReLU) never says ReLU."""
    from engine.video.render import render_scene

    run, _ = user_cnn
    panels: list[str] = []
    caption = theme.caption

    def remember(name: str, *words, **kwargs):
        panels.append("  ·  ".join(filter(None, (name, *words))))
        return caption(name, *words, **kwargs)

    monkeypatch.setattr(theme, "caption", remember)
    monkeypatch.setenv(RUN_ENV, str(run.folder))
    monkeypatch.setenv(SET_ENV, QUICK[scene])
    video = render_scene(scene, resolution=SIZE, fps=FPS, media_dir=tmp_path)
    import av

    with av.open(str(video)) as container:
        seconds = float(container.duration / 1e6)
    words = "\n".join([*read_captions(video, seconds, coverage=0.8, readable=False), *drawn_texts])
    assert "residual CNN" in words
    if scene in ABOUT_DATA:
        assert "procedural digits" in words
    assert not re.search(r"(^|\s)\?(\s|$)", words), "a caption reads '?'"
    on_conv_b = [text for text in panels if text.startswith("conv_b  ·  ")]
    assert not any("ReLU" in text for text in on_conv_b)
    if scene in PANELS_ON_CONV_B:
        assert on_conv_b and all("no activation before add" in text for text in on_conv_b)


def test_an_image_file_goes_through_the_stored_model(user_cnn, tmp_path):
    """image=FILE: the activations the scenes film are the user's model on that image."""
    run, model = user_cnn
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    shown = ImageRun(run, picture(tmp_path / "noise.png", pixels))
    expected = model.by_hand(torch.from_numpy(pixels).float()[None, None] / 255)
    for name in ("stem", "conv_a", "conv_b", "add", "max_pool2d"):
        assert shown.steps(schema.acts(name)).tolist() == [run.manifest["progress"]["step"]]
        got = shown.read(schema.acts(name), -1).astype(np.float32)
        np.testing.assert_allclose(got, expected[name].numpy(), **FP16)
    probs = torch.softmax(expected["head"], 1).numpy()
    np.testing.assert_allclose(shown.read(schema.PROBE_PROBS, -1), probs, atol=1e-4)
    np.testing.assert_array_equal(shown.read(schema.PROBE_IMAGES, 0)[0, 0], pixels)
    assert run.read(schema.PROBE_IMAGES, 0).shape[0] == 8  # the run itself is untouched


def test_an_image_of_any_size_and_mode_becomes_the_runs_input(user_cnn, tmp_path):
    run, _ = user_cnn
    wide = np.zeros((60, 90, 3), dtype=np.uint8)
    wide[:, 30:60] = 255  # a white square in the middle of a wide colour picture
    shown = ImageRun(run, picture(tmp_path / "wide.png", wide, "RGBA"))
    image = shown.read(schema.PROBE_IMAGES, 0)
    assert image.shape == (1, 1, 28, 28) and image.dtype == np.uint8
    assert image[0, 0, :, 10:18].min() == 255 and image[0, 0, :, :3].max() == 0  # cropped
    assert shown.read(schema.acts("add"), -1).shape == (1, 8, 28, 28)


def test_a_bad_image_is_one_message_naming_the_file(user_cnn, tmp_path, monkeypatch, capsys):
    run, _ = user_cnn
    missing, broken = tmp_path / "missing.png", tmp_path / "broken.png"
    broken.write_text("not an image")
    for path in (missing, broken):
        with pytest.raises(NnreelError, match=re.escape(str(path))):
            ImageRun(run, path)
    options = featuremaps.FeatureMaps.options
    assert parse_options(options, "image=2")["image"] == 2
    assert parse_options(options, {"image": " cat.png"})["image"] == Path("cat.png")

    from engine.video.render import manim_config

    monkeypatch.setenv(RUN_ENV, str(run.folder))
    monkeypatch.setenv(SET_ENV, f"image={broken}")
    with manim_config(resolution=SIZE, fps=FPS, media_dir=tmp_path), pytest.raises(SystemExit) as e:
        featuremaps.FeatureMaps().render()
    assert e.value.code == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "broken.png cannot be read" in err and "Traceback" not in err


@pytest.mark.render
def test_featuremaps_films_an_image_file(user_cnn, drawn_texts, tmp_path, monkeypatch):
    """image=FILE given in $NNREEL_SET, its path with a space in it (quoted as a shell
    quotes it): the scene films that file and names it, in its captions and its subtitle."""
    from engine.video.render import render_scene

    run, _ = user_cnn
    ring = np.zeros((64, 64), dtype=np.uint8)
    yy, xx = np.mgrid[:64, :64]
    ring[np.abs(np.hypot(yy - 32, xx - 32) - 18) < 4] = 255
    path = picture(tmp_path / "my ring.png", ring)
    monkeypatch.setenv(RUN_ENV, str(run.folder))
    monkeypatch.setenv(SET_ENV, options_text({"image": path}))
    video = render_scene("featuremaps", resolution=SIZE, fps=FPS, media_dir=tmp_path)
    import av

    with av.open(str(video)) as container:
        seconds = float(container.duration / 1e6)
    captions = "\n".join(read_captions(video, seconds, coverage=0.8, readable=False))
    assert "The image my ring.png through the residual CNN" in captions
    assert "my ring.png: no label" in captions and "true class" not in captions
    subtitle = "the image my ring.png through 3 conv layers"
    assert any(text.startswith(subtitle) for text in drawn_texts)
    assert not any("validation image" in text for text in drawn_texts)


@pytest.mark.render
@pytest.mark.parametrize("scene", ["featuremaps", "activations"])
def test_maps_below_zero_are_drawn_on_a_scale_centred_on_zero(
    scene, user_cnn, drawn_texts, tmp_path, monkeypatch
):
    """conv_b (BatchNorm, no ReLU before the add) holds negative values: its maps are drawn
    blue below zero and red above, and a colour bar runs from −max through 0 to +max; the
    post-ReLU stem keeps the scene's own colour map from 0."""
    from engine.scenekit import raster as rs
    from engine.video.render import render_scene

    run, _ = user_cnn
    drawn: list[tuple[np.ndarray, np.ndarray, dict]] = []
    feature_grid = rs.feature_grid

    def remember(maps, **kwargs):
        image, scaled = feature_grid(maps, **kwargs)
        drawn.append((np.asarray(maps, np.float32), image, kwargs))
        return image, scaled

    monkeypatch.setattr(rs, "feature_grid", remember)
    monkeypatch.setenv(RUN_ENV, str(run.folder))
    monkeypatch.setenv(SET_ENV, f"image=0 focus=false {QUICK[scene]}")
    render_scene(scene, resolution=SIZE, fps=FPS, media_dir=tmp_path)

    diverging = {tuple(c) for c in rs.colormap("diverging").lut.tolist()}
    for name in ("conv_b", "stem"):
        acts = run.read(schema.acts(name), -1)[0].astype(np.float32)
        image, grid = next((i, g) for m, i, g in drawn if np.array_equal(m, acts))
        colours = [tile_colours(image, k, acts.shape[1:], grid) for k in range(len(acts))]
        in_diverging = all(tuple(c) in diverging for t in colours for c in t.reshape(-1, 3))
        if name == "stem":
            assert acts.min() >= 0 and not in_diverging
            continue
        assert acts.min() < 0 and in_diverging
        for maps, tile in zip(acts, colours, strict=True):
            red, blue = tile[..., 0].astype(int), tile[..., 2].astype(int)
            reach = np.abs(maps).max()
            assert np.all(blue[maps < -0.1 * reach] > red[maps < -0.1 * reach])
            assert np.all(red[maps > 0.1 * reach] > blue[maps > 0.1 * reach])
    ends = [text for text in drawn_texts if text.startswith("−") and f"+{text[1:]}" in drawn_texts]
    assert ends, "no colour bar from −max to +max"


def test_a_residual_blocks_output_is_shown_over_training_by_default(user_cnn):
    """The maps followed over training are the last before each pool: in a residual network
    that is the block's add, not a conv."""
    run, _ = user_cnn
    layers = featuremaps.map_layers(run, "FeatureMaps")
    assert featuremaps.evolving_layers(run, layers, None) == ["add"]


def render_as(scene_class: type, scene: str, run: Run, options: str, tmp_path, monkeypatch):
    """Render ``scene`` from ``run`` as ``scene_class``: a subclass that remembers what it drew."""
    from engine.video import catalog
    from engine.video.render import render_scene

    monkeypatch.setattr(catalog, "scene_class", lambda name: scene_class)
    monkeypatch.setenv(RUN_ENV, str(run.folder))
    monkeypatch.setenv(SET_ENV, f"image=0 {options} {QUICK[scene]}")
    render_scene(scene, resolution=SIZE, fps=FPS, media_dir=tmp_path)


def on_diverging_map(*images: np.ndarray) -> bool:
    """Whether every colour of these rasters, but the panel's, is on the diverging map."""
    from engine.scenekit import raster as rs

    colours = {tuple(c) for image in images for c in image[..., :3].reshape(-1, 3).tolist()}
    diverging = {tuple(c) for c in rs.colormap("diverging").lut.tolist()}
    return colours - {tuple(rs.hex_rgb(theme.PANEL))} <= diverging


@pytest.mark.render
def test_pruning_draws_a_layer_below_zero_centred_on_zero(
    user_cnn, drawn_texts, tmp_path, monkeypatch
):
    """conv_b's maps (no ReLU before the add) in both networks are drawn on the diverging map
    either side of 0, with a −max · 0 · +max legend, and its channels shown are said to be the
    most active by mean |value|; the post-ReLU stem keeps its own map and words."""
    run, _ = user_cnn
    trios = {}

    class Remembered(scene_module("pruning").Pruning):
        def trio(self, info, previous):
            trios[info.name] = super().trio(info, previous)
            return trios[info.name]

    render_as(Remembered, "pruning", run, "maps=4", tmp_path, monkeypatch)
    for name, signed in (("conv_b", True), ("stem", False)):
        assert trios[name].signed == signed
        assert on_diverging_map(*trios[name].images[:2]) == signed
    assert {"−max", "0", "+max"} <= set(drawn_texts)
    ranked = [t for t in drawn_texts if t.startswith("the 4 channels most active")]
    assert any("(by mean |value|) in the dense" in t for t in ranked)  # conv_b
    assert any("most active in the dense" in t for t in ranked)  # the stem, after a ReLU


@pytest.mark.render
def test_filters_draws_a_layer_below_zero_centred_on_zero(
    user_cnn, drawn_texts, tmp_path, monkeypatch
):
    """conv_b's maps beside their filters' images are drawn on the diverging map either side
    of 0 and the legend turns to −max · 0 · +max on its page; the stem's stay from 0."""
    run, _ = user_cnn
    tiles: list[tuple[np.ndarray, list[np.ndarray]]] = []

    class Remembered(scene_module("filters").Filters):
        def map_tiles(self, maps, side):
            tiles.append((maps, super().map_tiles(maps, side)))
            return tiles[-1][1]

    render_as(Remembered, "filters", run, "layers=stem,conv_b", tmp_path, monkeypatch)
    assert [bool((maps < 0).any()) for maps, _ in tiles] == [False, True]
    assert [on_diverging_map(*rgb) for _, rgb in tiles] == [False, True]
    assert {"−max", "0", "+max"} <= set(drawn_texts)
