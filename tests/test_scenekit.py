"""The scene kit: rasters, options, finding (and making) the run, output folders, GIF export."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import NnreelError, RunError, UnknownNameError
from engine.scenekit import base, palette, places, theme
from engine.scenekit import options as opt
from engine.scenekit import raster as rs
from engine.scenekit.probe import FILE_NAME_CHARACTERS, file_words


# -- colour maps and normalisation ------------------------------------------------------------
def test_colormaps_have_their_known_ends():
    assert tuple(rs.colormap("viridis").lut[0]) == rs.hex_rgb("440154")
    assert tuple(rs.colormap("viridis").lut[255]) == rs.hex_rgb("fde725")
    assert rs.colormap("diverging").diverging
    with pytest.raises(UnknownNameError, match="Valid colour maps: viridis"):
        rs.colormap("jet")


def luminance(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=float) @ [0.2126, 0.7152, 0.0722]


@pytest.mark.parametrize("look", ["dark", "light"])
def test_zero_reads_as_nothing_on_each_background(look):
    """Zero is the background on light and the panel colour on dark, and a stronger value is
    always further from it: a silent pixel never glares (the dark greens used to start white)."""
    with palette.using(palette.look(look)):
        zero = rs.hex_rgb(theme.BACKGROUND if look == "light" else theme.PANEL)
        for name in ("greens", "gray"):
            lut = rs.colormap(name).lut
            assert tuple(lut[0]) == zero, name
            distance = np.abs(luminance(lut) - luminance(zero))
            assert np.all(np.diff(distance) >= -1), name  # monotone away from zero
        diverging = rs.colormap("diverging").lut
        assert np.abs(diverging[128].astype(int) - zero).max() <= 4
        distance = np.abs(luminance(diverging) - luminance(zero))
        assert distance[0] > 50 and distance[255] > 50


def test_apply_colormap_shapes_and_nan():
    rgb = rs.apply_colormap(np.array([[0.0, 1.0], [np.nan, 0.5]]), "gray")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == list(rs.hex_rgb(theme.PANEL))  # the dark theme's zero
    assert rgb[0, 1].tolist() == [255, 255, 255]
    assert rgb[1, 0].tolist() == rgb[0, 0].tolist()


def test_normalise_per_channel_and_layer():
    maps = np.stack([np.full((2, 2), 2.0), np.full((2, 2), 4.0)])
    maps[0, 0, 0] = 0.0
    channel = rs.normalise(maps, "channel")
    assert channel.unit[0].max() == 1.0 and channel.unit[1].max() == 1.0
    assert channel.hi.tolist() == [2.0, 4.0] and channel.lo.tolist() == [0.0, 0.0]
    assert channel.label == "each map scaled to its own max"
    layer = rs.normalise(maps, "layer")
    assert layer.unit[0, 0, 1] == pytest.approx(0.5) and layer.unit[1].max() == 1.0
    assert "whole layer" in layer.label


def test_symmetric_normalisation_centres_zero():
    weights = np.array([[[-2.0, 0.0, 1.0]]])
    scaled = rs.normalise(weights, "symmetric")
    assert scaled.unit[0, 0].tolist() == pytest.approx([0.0, 0.5, 0.75])
    middle = rs.apply_colormap(scaled.unit, "diverging")[0, 0, 1]
    assert np.abs(middle.astype(int) - rs.hex_rgb(theme.PANEL)).max() <= 3


def test_constant_maps_do_not_divide_by_zero():
    dead = np.zeros((2, 3, 3))
    assert np.all(rs.normalise(dead, "channel").unit == 0)
    assert np.all(rs.normalise(dead, "symmetric-channel").unit == 0.5)
    with pytest.raises(UnknownNameError, match="normalisation"):
        rs.normalise(dead, "global")


# -- channels, grids, images ------------------------------------------------------------------
def test_top_k_and_silent_channels():
    maps = np.zeros((5, 2, 2))
    maps[1] = 3.0
    maps[3] = 1.0
    maps[4, 0, 0] = 1.0
    assert rs.top_k(maps, 3).tolist() == [1, 3, 4]
    assert rs.top_k(maps, 10).tolist() == [1, 3, 4, 0, 2]  # ties keep channel order
    assert rs.silent(maps).tolist() == [True, False, True, False, False]


def test_maps_below_zero_rank_by_size_so_a_strong_signed_channel_is_most_active():
    """A channel swinging ±3 averages 0; a weak one at 0.2 everywhere must not outrank it."""
    maps = np.zeros((3, 4, 4))
    maps[0] = 0.2
    maps[1, :2], maps[1, 2:] = -3.0, 3.0
    assert maps[1].mean() == 0 and rs.top_k(maps, 1).tolist() == [1]
    assert rs.top_k(maps, 3).tolist() == [1, 0, 2]
    assert rs.most_active(maps) == "most active (by mean |value|)"
    assert rs.most_active(np.abs(maps)) == "most active"


def test_near_ties_rank_by_index_so_last_digits_never_reorder_a_grid():
    """Two CPUs train maps whose means differ in the last digits: the order must not."""
    means = np.array([0.5, 2.0, 2.0 * (1 + 1e-5), 1.0, 2.0 * (1 - 1e-5)])
    maps = np.broadcast_to(means[:, None, None], (5, 3, 3)).copy()
    assert rs.top_k(maps, 5).tolist() == [1, 2, 4, 3, 0]
    nudged = maps.copy()
    nudged[4] *= 1 + 2e-5  # now a hair above channels 1 and 2: still tied with them
    assert rs.top_k(nudged, 5).tolist() == [1, 2, 4, 3, 0]
    assert rs.ranked(np.array([1.0, 1.01, -3.0])).tolist() == [1, 0, 2]  # real gaps still rank


@pytest.mark.parametrize("n", [1, 5, 16, 32, 64, 128])
def test_grid_shape_holds_every_tile_without_an_empty_row(n):
    rows, cols = rs.grid_shape(n, aspect=16 / 9)
    assert rows * cols >= n and (rows - 1) * cols < n


def test_tile_places_tiles_pads_and_borders():
    tiles = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    tiles[1] = 200
    borders = np.array([[-1, -1, -1], [255, 0, 0], [-1, -1, -1]], dtype=np.int16)
    image = rs.tile(tiles, rows=1, scale=2, pad=1, background=(9, 9, 9), borders=borders)
    cell = 4 + 2  # 2×2 upscaled by 2, plus a 1-pixel frame each side
    assert image.shape == (1 * cell + 2, 3 * cell + 4, 3)
    assert image[0, 0].tolist() == [9, 9, 9]
    x1 = 1 + cell + 1  # second cell's left edge
    assert image[1, x1].tolist() == [255, 0, 0]  # its frame
    assert image[2, x1 + 1].tolist() == [200, 200, 200]  # its upscaled pixels
    assert image[1, 1].tolist() == [9, 9, 9]  # no frame on the first tile


def test_feature_grid_is_one_image_and_marks_silent_maps():
    maps = np.random.default_rng(0).random((6, 4, 4)).astype(np.float32)
    maps[2] = 0
    image, scaled = rs.feature_grid(maps, rows=2, min_tile=8, mark_silent=(255, 0, 0))
    assert image.ndim == 3 and image.dtype == np.uint8
    assert (image == [255, 0, 0]).all(axis=2).sum() > 0
    assert scaled.mode == "channel"


def test_to_rgb_accepts_dataset_layouts():
    gray = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    assert rs.to_rgb(gray).shape == (4, 4, 3)
    assert rs.to_rgb(np.ones((3, 4, 4), dtype=np.float32))[0, 0].tolist() == [255] * 3
    assert rs.to_rgb(np.zeros((4, 4))).shape == (4, 4, 3)


def test_upscale_is_nearest_neighbour():
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    assert rs.upscale(image, 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


def test_nearest_neighbour_resizing_keeps_pixels_square():
    image = np.arange(26 * 26 * 3, dtype=np.uint8).reshape(26, 26, 3)
    tile = rs.fit_square(image, 60, (1, 2, 3))  # enlarged by 2, centred on the background
    assert tile.shape == (60, 60, 3)
    assert (tile[4:56, 4:56] == np.repeat(np.repeat(image, 2, 0), 2, 1)).all()
    assert (tile[:4] == (1, 2, 3)).all()
    small = rs.fit_square(image, 13, (0, 0, 0))  # shrunk only when it must
    assert small.shape == (13, 13, 3) and (small == image[::2, ::2]).all()
    assert (rs.enlarge(image, 2.0) == np.repeat(np.repeat(image, 2, 0), 2, 1)).all()
    assert rs.enlarge(np.zeros((32, 32, 3), np.uint8), 0.5).shape == (16, 16, 3)
    rows = np.arange(14)[:, None] * np.ones((1, 3), int)  # row i holds i
    picked = rs.resize_nearest(rows, (64, 5))[:, 0]
    assert picked.tolist() == [i * 14 // 64 for i in range(64)]  # exact, never float-rounded


# -- options ----------------------------------------------------------------------------------
OPTIONS = {
    "image": opt.Number(None, "a probe image index", at_least=0, whole=True),
    "layers": opt.Names(None, "comma-separated layers"),
    "cmap": opt.Choice("viridis", "colour map", choices=("viridis", "greens")),
    "channel": opt.Choice("mean", "input channel", choices=("mean",), or_index=True),
    "classes": opt.Flag(True, "end on the classes"),
    "sparsity": opt.Number(0.5, "fraction removed", above=0, below=1),
}


def test_options_from_text_and_from_python_values_are_checked_alike():
    defaults = opt.parse_options(OPTIONS, "")
    assert defaults == {key: option.default for key, option in OPTIONS.items()}
    text = "image=3  layers=conv1_1,pool1 cmap=greens channel=2 classes=no sparsity=0.25"
    python = {"image": 3, "layers": ["conv1_1", "pool1"], "cmap": "greens", "channel": 2}
    python |= {"classes": False, "sparsity": 0.25}
    assert opt.parse_options(OPTIONS, text) == opt.parse_options(OPTIONS, python) == python
    assert opt.parse_options(OPTIONS, {"image": 3.0, "layers": "a, ,b"}) == {
        **defaults,
        "image": 3,
        "layers": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("imag=3", "Unknown scene option 'imag'. Did you mean 'image'"),
        ("image", "needs a value"),
        ("image=three", "image='three' is not valid: give a whole number ≥ 0 (a probe image"),
        ("image=-1", "give a whole number ≥ 0"),
        ("image=2.5", "give a whole number ≥ 0"),
        ("cmap=jet", "cmap='jet' is not valid: use viridis | greens (colour map)"),
        ("channel=-1", "use mean | an index ≥ 0"),
        ("classes=maybe", "use yes | no"),
        ("sparsity=1", "give a number > 0 and < 1"),
        ("sparsity=nan", "give a number > 0 and < 1"),
    ],
)
def test_a_wrong_option_gets_one_message_with_what_is_valid(given, words):
    with pytest.raises(NnreelError) as info:
        opt.parse_options(OPTIONS, given)
    assert words in str(info.value)


def test_options_describe_themselves_for_the_listing():
    assert [o.describe() for o in OPTIONS.values()] == [
        "a whole number ≥ 0",
        "names, comma-separated",
        "viridis | greens",
        "mean | an index ≥ 0",
        "yes | no",
        "a number > 0 and < 1",
    ]
    assert [o.shown_default() for o in OPTIONS.values()] == [
        "auto",
        "auto",
        "viridis",
        "mean",
        "yes",
        "0.5",
    ]


@pytest.mark.parametrize(
    "value", ["my digit.png", '/tmp/two  spaces/it\'s a "7".png', "a=b\\c", "tab\there", ""]
)
def test_option_text_reads_back_unchanged(value):
    given = {"image": value, "layers": "conv1,pool1"}
    assert opt.assignments(opt.options_text(given)) == given


def test_option_text_with_spaces_is_quoted_as_in_a_shell():
    """$NNREEL_SET splits as a shell does: a path with spaces stays one value when quoted."""
    image = {"image": opt.Image(None, "an image"), "pace": opt.PACE["pace"]}
    given = opt.parse_options(image, "image='my digit.png' pace=brisk")
    assert given == {"image": Path("my digit.png"), "pace": 0.5}
    assert opt.parse_options(image, r"image=my\ digit.png")["image"] == Path("my digit.png")
    with pytest.raises(NnreelError, match=r"quote that is not closed.*image='my digit.png'"):
        opt.assignments("image='my digit.png")


def test_options_come_from_the_environment_only_when_none_are_given(monkeypatch):
    monkeypatch.setenv(opt.SET_ENV, "image=4")
    assert opt.given_options(None) == {"image": "4"}
    assert opt.given_options({}) == {}


# -- finding the run --------------------------------------------------------------------------
def test_missing_named_run_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NNREEL_RUNS", str(tmp_path))
    with pytest.raises(RunError) as info:
        base.find_run("vgg16-synth", "nope")
    message = str(info.value)
    assert "'nope' (from $NNREEL_RUN)" in message and "python -m engine train" in message
    assert "does not exist" in message
    with pytest.raises(RunError, match=r"'nope' \(from the run argument\)"):
        base.find_run("vgg16-synth", "nope", "the run argument")


def test_broken_named_run_says_what_is_wrong(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "manifest.json").write_text("{ not json")
    with pytest.raises(RunError, match="corrupt"):
        base.find_run("vgg16-synth", str(folder))


def test_default_run_is_trained_once_and_kept(tmp_path, monkeypatch):
    from engine import presets

    def tiny(name):
        config = presets.PRESETS[name].config
        config = type(config).from_json(config.to_json())
        config.data_settings.update(train_size=128, val_size=32)
        config.epochs, config.batch_size = 1, 64
        config.record.snapshots, config.record.weights = "log:3", "once"
        return config

    monkeypatch.setenv("NNREEL_RUNS", str(tmp_path))
    monkeypatch.setattr(base, "preset_config", tiny)
    run = base.find_run("smallcnn-synth")
    assert run.status == "finished" and run.folder == tmp_path / "smallcnn-synth"
    created = json.loads((run.folder / "manifest.json").read_text())["created"]

    monkeypatch.setattr(base, "preset_config", lambda name: pytest.fail("trained twice"))
    again = base.find_run("smallcnn-synth")
    assert json.loads((again.folder / "manifest.json").read_text())["created"] == created

    manifest = json.loads((run.folder / "manifest.json").read_text())
    manifest["status"] = "running"  # as if another process were training it, or was killed
    (run.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=r"still marked as training.*--resume"):
        base.find_run("smallcnn-synth")


def test_renders_land_beside_the_scenes_folder_or_in_the_working_one(tmp_path, monkeypatch):
    scene = tmp_path / "project" / "scenes" / "demo.py"
    assert places.renders_dir(scene) == (tmp_path / "project" / "renders").resolve()
    monkeypatch.chdir(tmp_path)  # an installed nnreel's scenes: never inside site-packages
    assert places.renders_dir(places.INSTALLED_SCENES / "demo.py") == tmp_path / "renders"


# -- GIF export -------------------------------------------------------------------------------
def make_video(path: Path, seconds: float = 2.0, fps: int = 10, size=(160, 90)) -> Path:
    """A small MP4: a square moving over a gradient (so frames differ)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            frame[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)
            frame[20:50, 5 + 5 * i : 35 + 5 * i] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_gif_export_resizes_and_keeps_timing(tmp_path):
    from PIL import Image

    from engine.video.gif import gif_from_video

    video = make_video(tmp_path / "clip.mp4")
    result = gif_from_video(video, width=80, fps=5)
    assert result.path == tmp_path / "clip.gif" and result.size == result.path.stat().st_size
    with Image.open(result.path) as gif:
        assert gif.size == (80, 45)
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert len(durations) > 3
    assert sum(durations[:-1]) == pytest.approx(2000 - 200, abs=250)  # the last frame is held


def test_export_cli(tmp_path, capsys):
    from engine.cli import main

    video = make_video(tmp_path / "clip.mp4")
    out = tmp_path / "out" / "small.gif"
    assert main(["export", str(video), "--gif", "--width", "64", "-o", str(out)]) == 0
    assert out.is_file() and "GIF" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none.mp4"), "--gif"]) == 2
    assert "No video at" in capsys.readouterr().err
    assert main(["export", str(video)]) == 2


# -- widgets and camera -----------------------------------------------------------------------
def test_step_counter_words():
    from engine.scenekit import StepCounter

    counter = StepCounter({"total_steps": 186, "steps_per_epoch": 93, "epochs": 2}, 0)
    assert counter.words == ("step 0 of 186", "untrained")
    assert counter.describe(93) == ("step 93 of 186", "epoch 1 of 2")
    assert counter.describe(94)[1] == "epoch 2 of 2"
    top_right = counter.get_corner([1, 1, 0]).copy()
    counter.set_step(186)
    assert counter.words[0] == "step 186 of 186"
    assert np.allclose(counter.get_corner([1, 1, 0]), top_right)  # it stays where it was put


def test_probability_bars_mark_the_prediction():
    from engine.scenekit import ProbabilityBars

    bars = ProbabilityBars(list("abc"), np.array([0.2, 0.7, 0.1]), true_label=0, width=3.0)
    widths = [bar.width for bar in bars.bars]
    assert bars.predicted == 1 and widths[1] > widths[0] > widths[2]
    left = bars.bars.get_left()[0]
    bars.set_probs(np.array([0.9, 0.05, 0.05]))
    assert bars.predicted == 0 and bars.bars[0].width > bars.bars[1].width
    assert bars.bars.get_left()[0] == pytest.approx(left)  # bars grow from a fixed edge


def test_raster_camera_draws_like_manims_camera():
    from manim import DOWN, LEFT, RIGHT, UP, Camera, Scene, tempconfig

    from engine.scenekit import RasterCamera, raster_image

    rgb = np.random.default_rng(0).integers(0, 255, (9, 16, 3), dtype=np.uint8)

    def frame(camera_class) -> np.ndarray:
        with tempconfig({"pixel_width": 320, "pixel_height": 180, "disable_caching": True}):
            scene = Scene(camera_class=camera_class)
            scene.add(raster_image(rgb, height=4).shift(2 * LEFT))  # 10 screen pixels a pixel
            scene.add(raster_image(rgb, height=2).shift(6.5 * RIGHT + UP))  # partly outside
            scene.add(raster_image(rgb, height=2).set_opacity(0.5).shift(2.5 * DOWN))
            scene.renderer.update_frame(scene)
            return scene.renderer.get_frame().astype(int)

    diff = np.abs(frame(Camera) - frame(RasterCamera)).max(axis=2)
    assert diff.mean() < 0.5 and (diff > 8).mean() < 0.005  # edges may round differently


def test_percentages_never_read_as_a_false_100_or_0_percent():
    assert theme.percent(0.4567) == "45.7%"
    assert theme.percent(0.99996) == "99.996%"
    assert theme.percent(3.1e-5) == "0.0031%"
    assert theme.percent(1.0) == "100.0%"


def test_fit_scale_fits_the_tile_with_its_padding_and_frame():
    assert rs.fit_scale(32, 200) == (5, 10)  # 160 + 3 × 10 ≤ 200
    assert rs.fit_scale(8, 111) == (11, 5)  # 88 + 3 × 5 ≤ 111 < 96 + 3 × 6
    assert rs.fit_scale(4, 37) == (7, 1)
    assert rs.fit_scale(32, 10) == (1, 2)


def test_captions_last_until_the_next_one_and_land_beside_the_video(tmp_path):
    import srt
    from manim import tempconfig

    class Captioned(base.RunScene):
        def setup(self) -> None:  # no run needed to test the captions
            self.settings = {}

        def construct(self) -> None:
            self.wait(0.4)
            self.caption("first   part:\n 97.8%")
            self.wait(1)
            self.caption("second part")
            self.caption("timed within the next wait", delay=0.4)
            self.wait(0.8)

    settings = {
        "media_dir": str(tmp_path),
        "pixel_width": 64,
        "pixel_height": 36,
        "frame_rate": 5,
        "disable_caching": True,
        "progress_bar": "none",
    }
    with tempconfig(settings):
        Captioned().render()
    (video,) = tmp_path.rglob("Captioned.mp4")
    captions = list(srt.parse(video.with_suffix(".srt").read_text(encoding="utf-8")))
    assert [c.content for c in captions] == [
        "first part: 97.8%",
        "second part",
        "timed within the next wait",
    ]
    times = [(c.start.total_seconds(), c.end.total_seconds()) for c in captions]
    assert times == [pytest.approx(t) for t in [(0.4, 1.4), (1.4, 1.8), (1.8, 2.2)]]


def test_a_scene_leaves_manims_config_as_it_found_it(tmp_path, monkeypatch):
    """Built and rendered outside any ``tempconfig`` (as in a notebook), a scene changes
    nothing in Manim's global config: its settings hold only while it is made and rendered."""
    from manim import config

    class Still(base.RunScene):
        def setup(self) -> None:  # no run needed
            self.settings = {}

        def construct(self) -> None:
            self.wait(0.4)

    keys = ("media_dir", "video_dir", "output_file", "background_color", "disable_caching")
    keys += ("max_inflight_encoders", "pixel_width", "frame_rate")
    monkeypatch.setattr(config, "media_dir", str(tmp_path))
    monkeypatch.setattr(config, "pixel_width", 64)
    monkeypatch.setattr(config, "pixel_height", 36)
    monkeypatch.setattr(config, "frame_rate", 5)
    monkeypatch.setattr(config, "progress_bar", "none")
    before = {key: str(config[key]) for key in keys}
    scene = Still(run="some-run")
    assert {key: str(config[key]) for key in keys} == before
    video = scene.render_video()
    assert {key: str(config[key]) for key in keys} == before
    assert video.name == "Still-some-run.mp4" and video.is_file()  # its settings did apply
    assert scene.camera.background_color.to_hex().lower() == theme.BACKGROUND


def test_actmax_images_are_recorded_on_first_use_completed_and_kept(small_cnn, writable):
    """A scene asks for units of a layer: a partial recording is completed (a small layer is
    recorded whole, for other scenes too), then reused without recording again."""
    from engine.actmax import RenderSettings, record_actmax
    from engine.scenekit.recordings import ensure_actmax
    from engine.store import Run

    copy = writable(small_cnn)
    record_actmax(copy, "conv2", [0, 1], RenderSettings(steps=2, frames=2), dataset_max=False)
    info = Run(copy).layer("conv2")
    recording = ensure_actmax(Run(copy), info, [0, 1, 2, 3], steps=2, threads=1)
    assert recording.units == list(range(32))
    made = (copy / "manifest.json").stat().st_mtime_ns
    assert ensure_actmax(Run(copy), info, None, steps=2).units == recording.units  # all: held
    assert (copy / "manifest.json").stat().st_mtime_ns == made  # reused, not recorded again


def test_scene_files_are_only_scenes():
    """Each scene file imports the kit and libraries, never another scene file, and never
    edits ``sys.path``: what scenes share lives in the scene kit."""
    import ast

    folder = Path(__file__).resolve().parents[1] / "scenes"
    scenes = {path.stem for path in folder.glob("*.py")}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & scenes, f"{path.name} imports the scene(s) {imported & scenes}"
        assert "sys.path" not in ast.unparse(tree), f"{path.name} edits sys.path"


def test_pace_scales_every_wait_and_hold_waits_for_the_caption(tmp_path):
    """At pace 2 every wait lasts twice as long; ``hold`` waits until the caption has been up
    long enough to read (16 characters a second, 1.6 s at least), at the scene's pace; a cue
    inside an animation waits for the caption before it, too."""
    import srt
    from manim import Dot, tempconfig

    from engine.scenekit.replay import Cues, animate

    class Paced(base.RunScene):
        def setup(self) -> None:
            self.settings, self.pace = {"pace": 2.0}, 2.0

        def construct(self) -> None:
            self.caption("a caption of forty-eight characters, to be read.")  # 3 s to read
            self.wait(0.5)  # 1 s of video
            self.hold(1.0)  # until the caption's 3 s (6 s of video) are over
            self.caption("short")
            cues = Cues(self, [(0.0, lambda: "too soon"), (0.5, lambda: "later")])
            animate(self, Dot(), 2.0, cues)  # "short" needs 1.6 s: "too soon" is dropped

    settings = {"media_dir": str(tmp_path), "pixel_width": 64, "pixel_height": 36}
    with tempconfig({**settings, "frame_rate": 10, "progress_bar": "none"}):
        Paced().render()
    (video,) = tmp_path.rglob("Paced.mp4")
    captions = list(srt.parse(video.with_suffix(".srt").read_text(encoding="utf-8")))
    assert [c.content for c in captions] == [
        "a caption of forty-eight characters, to be read.",
        "short",
        "later",
    ]
    starts = [c.start.total_seconds() for c in captions]
    assert starts[1] == pytest.approx(6.0, abs=0.11)
    assert starts[2] - starts[1] == pytest.approx(3.2, abs=0.21)  # 1.6 s read, at pace 2
    assert captions[-1].end.total_seconds() == pytest.approx(10.0, abs=0.11)


def test_readable_cues_keep_only_those_with_time_to_be_read():
    from engine.scenekit.pacing import readable_cues, reading_seconds

    assert reading_seconds("x" * 64) == pytest.approx(4.0)
    assert reading_seconds("short") == pytest.approx(1.6)
    cues = [(0.0, "x" * 64), (3.0, "too soon"), (4.0, "kept"), (5.0, "too soon after it")]
    assert [text for _, text in readable_cues(cues)] == ["x" * 64, "kept"]
    assert readable_cues([(2.0, "b"), (0.0, "a")])[0] == (0.0, "a")


def test_tile_box_finds_each_tile_of_a_grid():
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 255, (7, 3, 5, 3), dtype=np.uint8)
    borders = np.full((7, 3), 200, dtype=np.int16)
    grid = rs.tile(tiles, rows=2, cols=4, scale=3, pad=2, borders=borders, border=2)
    for k in range(7):
        x, y, w, h = rs.tile_box(k, cols=4, size=(3, 5), scale=3, pad=2, border=2)
        assert np.array_equal(grid[y : y + h, x : x + w], rs.upscale(tiles[k], 3))
        assert (grid[y - 1, x : x + w] == 200).all()  # its frame just outside


def test_isolated_share_counts_specks_not_edges():
    from engine.actmax.regularizers import isolated_share

    image = np.full((1, 1, 20, 20), 100, dtype=np.uint8)
    image[0, 0, :, 10:] = 200  # an edge: no speck
    image[0, 0, 5, 15] = 0  # a dark speck on the bright side
    image[0, 0, 12, 3] = 180  # a bright speck on the dark side
    image[0, 0, 15, 4] = 110  # too faint to count
    assert isolated_share(image) == pytest.approx(2 / 400)


def test_focus_zooms_into_the_grids_own_pixels():
    from manim import tempconfig

    from engine.scenekit import focus
    from engine.scenekit.widgets import raster_image

    with tempconfig({"pixel_width": 320, "pixel_height": 180}):
        raster = np.zeros((40, 60, 3), dtype=np.uint8)
        raster[10:20, 30:45] = (255, 0, 0)
        grid = raster_image(raster, height=4.0).move_to([1.0, -0.5, 0])
        picked = focus.Focus(grid, raster, (30, 10, 15, 10), (np.zeros(3), 2.0))
        assert (picked.zoom.pixel_array[..., :3] == (255, 0, 0)).all()
        centre, (width, height) = focus.pixel_place(grid, (40, 60), (30, 10, 15, 10))
        assert np.allclose(picked.zoom.get_center(), centre) and height == pytest.approx(1.0)
        assert width == pytest.approx(1.5)


def test_focus_and_morph_put_things_back_and_take_the_scenes_pace(tmp_path):
    """A map picked out returns to its grid and leaves nothing over it; a morph leaves only the
    new grid on screen (never two ghosted); grids shrink into a mark and grow back to their
    place; every one of these lasts ``pace`` times its time."""
    from manim import Square, tempconfig

    from engine.scenekit import focus
    from engine.scenekit.widgets import raster_image

    seen: dict[str, object] = {}

    def drawn(scene: base.RunScene) -> list:
        """What the scene shows (not the empty mobject Manim leaves behind a ``wait``)."""
        return [m for m in scene.mobjects if m.has_points()]

    class Walk(base.RunScene):
        def setup(self) -> None:
            self.settings, self.pace = {"pace": 2.0}, 2.0

        def construct(self) -> None:
            raster = np.zeros((40, 60, 3), dtype=np.uint8)
            grid = raster_image(raster, height=4.0)
            self.add(grid)
            seen["before"] = drawn(self)
            focus.pick_out(self, grid, raster, (30, 10, 15, 10), None, (np.zeros(3), 2.0), 1.0)
            seen["after focus"] = (drawn(self), self.time)
            pooled = raster_image(raster[::2, ::2], height=2.0).shift([3.0, 0, 0])
            focus.morph(self, grid, pooled)
            seen["after morph"] = (drawn(self), pooled.height, self.time)
            mark = Square(0.2).shift([-5.0, 3.0, 0])
            focus.shrink_into(self, pooled, mark)
            seen["after shrink"] = pooled in self.mobjects
            back = raster_image(raster, height=3.0).shift([3.0, 0, 0])
            focus.grow_from(self, back, mark)
            seen["grown"] = (back in self.mobjects, back.get_center(), back.height, self.time)

    settings = {"media_dir": str(tmp_path), "pixel_width": 64, "pixel_height": 36}
    with tempconfig({**settings, "frame_rate": 10, "progress_bar": "none"}):
        Walk().render()
    before = seen["before"]
    shown, at = seen["after focus"]
    assert shown == before and at == pytest.approx(2 * (0.8 + 1.0 + 0.4), abs=0.11)
    shown, height, at = seen["after morph"]
    assert len(shown) == len(before) and before[-1] not in shown
    assert height == pytest.approx(2.0)
    assert at == pytest.approx(4.4 + 2 * 0.8, abs=0.11)
    assert not seen["after shrink"]
    shown, centre, height, at = seen["grown"]
    assert shown and np.allclose(centre, [3.0, 0, 0]) and height == pytest.approx(3.0)
    assert at == pytest.approx(6.0 + 2 * 0.8, abs=0.11)


def test_a_cue_left_waiting_after_an_animation_comes_once_the_caption_is_read(tmp_path):
    """``Cues.finish``: the last cue, overtaken by the animation's end, still gets its caption,
    after the caption before it has had its reading time."""
    import srt
    from manim import Dot, tempconfig

    from engine.scenekit.replay import Cues, animate

    class Late(base.RunScene):
        def setup(self) -> None:
            self.settings, self.pace = {"pace": 1.0}, 1.0

        def construct(self) -> None:
            self.caption("a caption of forty-eight characters, to be read.")  # 3 s to read
            cues = Cues(self, [(0.9, lambda: "the last word")])
            animate(self, Dot(), 1.0, cues)
            cues.finish()
            self.hold()

    settings = {"media_dir": str(tmp_path), "pixel_width": 64, "pixel_height": 36}
    with tempconfig({**settings, "frame_rate": 10, "progress_bar": "none"}):
        Late().render()
    (video,) = tmp_path.rglob("Late.mp4")
    captions = list(srt.parse(video.with_suffix(".srt").read_text(encoding="utf-8")))
    assert [c.content for c in captions][-1] == "the last word"
    assert captions[-1].start.total_seconds() == pytest.approx(3.0, abs=0.11)
    assert captions[-1].end.total_seconds() - captions[-1].start.total_seconds() >= 1.5


def test_a_short_log_axis_labels_only_ticks_that_can_be_read():
    """5×10⁻⁴, 0.001 and 0.002 on a narrow log axis: every tick is drawn, and the labels kept
    never touch (one of them is left out rather than written over its neighbour)."""
    from manim import Line

    from engine.scenekit.charts import Chart, Scale

    scale = Scale.fit_log(np.array([5e-4, 2e-3]))
    chart = Chart(scale, Scale(0, 1), width=1.2, height=1, y_ticks=[], size=theme.BODY)
    ticks = [m for m in chart.labels if isinstance(m, Line)]
    labels = [m for m in chart.labels if not isinstance(m, Line)]
    assert len(ticks) == len(scale.ticks()) >= 3
    assert 1 <= len(labels) < len(ticks)
    spans = sorted((m.get_left()[0], m.get_right()[0]) for m in labels)
    assert all(right < left for (_, right), (left, _) in itertools.pairwise(spans))


def test_renders_of_one_scene_for_two_runs_keep_their_pieces_apart():
    """Two renders of a scene at once (two runs, or a look) write their partial movie files
    into folders named like their videos: sharing one, the second failed to assemble."""

    class Shown(base.RunScene):
        pass

    def pieces(run_name, theme_name="dark"):
        settings = base.scene_config(Shown, run_name, palette.look(theme_name, "video"))
        return settings["partial_movie_dir"]

    folders = {pieces(None), pieces("runs/ring-a"), pieces("ring-b"), pieces(None, "light")}
    assert len(folders) == 4
    assert pieces("runs/ring-a").endswith("/partial_movie_files/Shown-ring-a")


def test_a_long_image_file_name_is_cut_in_its_middle_where_a_scene_names_it():
    assert file_words(Path("photos/cat.png")) == "cat.png"
    long = file_words(Path("IMG_20261206_142233_0001-crop-final.png"))
    assert len(long) == FILE_NAME_CHARACTERS and long.startswith("IMG_")
    assert long.endswith("001-crop-final.png") and "…" in long


def test_a_title_card_keeps_a_long_run_name_inside_the_frame():
    """A user's run can be named anything: a line too long for the card shrinks to fit, the
    other line keeps its size."""
    from engine.scenekit.cards import card_image

    def inked(image, rows):
        band = image[rows]
        columns = np.flatnonzero((band != image[0, 0]).any(axis=2).any(axis=0))
        return columns[0], columns[-1]

    title, short = "Part 1 · The network", "ring · MLP"
    long_name = "-".join(["my-own-photographs-of-handwritten-digits"] * 3) + " · LeNet5 on folder"
    width, height = 640, 360
    upper, lower = slice(0, height // 2), slice(height // 2, height)
    card, plain = (
        card_image(title, long_name, width, height),
        card_image(title, short, width, height),
    )
    left, right = inked(card, lower)
    assert left >= 0.04 * width and right <= 0.96 * width  # was cut off at both edges
    assert inked(card, upper) == inked(plain, upper)  # the title as it was
