"""The CNN scenes of seeds 003 and 004 (activations, pruning, filters): what they compute, their
messages, and small real renders checked frame by frame.

The CIFAR network is tested on a tiny CIFAR-10 written in the dataset's own file format (python
batches, md5-checked by torchvision as real ones are); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from videos import changes, scene_module

from engine.errors import NnreelError, RunError
from engine.scenekit import RUN_ENV, SET_ENV, pick_image, theme
from engine.store import Run, schema

activations = scene_module("activations")
filters = scene_module("filters")
pruning = scene_module("pruning")

SIZE, FPS = (256, 144), 5
CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


# -- runs -------------------------------------------------------------------------------------
def write_cifar(root: Path, per_batch: int = 40) -> dict[str, str]:
    """A tiny CIFAR-10 in torchvision's layout (five training batches, a test batch and
    batches.meta, each a pickled dict); returns each file's md5."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(4)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = np.arange(per_batch) % 10
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, :1024] = np.clip(data[:, :1024] // 2 + labels[:, None] * 12, 0, 255)  # learnable
        batch = {"data": data, "labels": labels.tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_CLASSES}))
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture(scope="session")
def cifar_run(tmp_path_factory) -> Path:
    """Seed 004's network at width 1/8 trained one epoch on the tiny CIFAR-10 files."""
    from torchvision import datasets

    from engine.presets import preset_config
    from engine.training import train

    root = tmp_path_factory.mktemp("data")
    sums = write_cifar(root)
    config = preset_config("vggcifar-cifar10")
    config.model_settings = {"width": 0.125}
    config.data_root = str(root)
    config.epochs, config.batch_size = 1, 40
    config.record.snapshots = config.record.weights = "log:3"
    config.record.probe_size = 4
    folder = tmp_path_factory.mktemp("runs") / "tiny-cifar"
    with pytest.MonkeyPatch.context() as patch:  # torchvision checks the files' md5 sums
        batches = [[f"data_batch_{i}", sums[f"data_batch_{i}"]] for i in range(1, 6)]
        patch.setattr(datasets.CIFAR10, "train_list", batches)
        patch.setattr(datasets.CIFAR10, "test_list", [["test_batch", sums["test_batch"]]])
        meta = {"filename": "batches.meta", "key": "label_names", "md5": sums["batches.meta"]}
        patch.setattr(datasets.CIFAR10, "meta", meta)
        train(config, folder, quiet=True)
    return folder


# -- activations ------------------------------------------------------------------------------
def test_the_cifar_network_is_walked_conv_and_pool_then_gap(cifar_run):
    run = Run(cifar_run)
    assert run.classes == CIFAR_CLASSES
    names = [info.name for info in activations.walked_layers(run)]
    assert names == [
        "conv1",
        "conv2",
        "pool1",
        "conv3",
        "conv4",
        "pool2",
        "conv5",
        "conv6",
        "pool3",
        "conv7",
        "conv8",
        "pool4",
        "gap",
    ]


def test_small_cnn_walk_and_messages(small_cnn):
    run = Run(small_cnn)
    assert [i.name for i in activations.walked_layers(run)] == ["conv1", "pool1", "conv2", "pool2"]
    assert pick_image(run, None) == 3
    with pytest.raises(NnreelError, match=r"image=9 is out of range.*4 images"):
        pick_image(run, 9)

    class NoMaps(Run):
        def has(self, name):
            return not name.startswith(f"{schema.ACTS}/")

    with pytest.raises(RunError, match=r"recorded no feature maps.*smallcnn-synth"):
        activations.walked_layers(NoMaps(small_cnn))


def test_top_two_classes():
    assert activations.top_two(np.array([0.1, 0.6, 0.3])) == (1, 2)


# -- pruning ----------------------------------------------------------------------------------
def test_cut_off_and_relative_change():
    dense = np.array([0.5, -0.1, 0.02, -0.3, 0.05])
    pruned = np.where(np.abs(dense) <= 0.1, 0.0, dense)
    assert pruning.cut_off(dense, pruned) == pytest.approx(0.1)
    assert pruning.cut_off(dense, dense) == 0.0
    a = np.ones((2, 3, 3), dtype=np.float32)
    assert pruning.relative_change(a, a * 1.1) == pytest.approx(0.1, rel=1e-5)
    assert pruning.relative_change(a * 0, a) == 0.0


def test_histogram_shows_the_cut_and_the_removed_weights():
    rng = np.random.default_rng(0)
    dense = rng.normal(0, 0.1, 5000)
    cut = float(np.quantile(np.abs(dense), 0.5))
    pruned = np.where(np.abs(dense) <= cut, 0.0, dense)
    theme = pruning.theme  # colours of the look in use (dark, outside a render)
    red, yellow = (np.array(pruning.rs.hex_rgb(c)) for c in (theme.BAD, theme.ACCENT))
    before = pruning.histogram_raster(dense, pruned, cut, (200, 80), after=False)
    after = pruning.histogram_raster(dense, pruned, cut, (200, 80), after=True)
    assert before.shape == after.shape == (80, 200, 3)
    assert (before == red).all(axis=2).sum() > 500 and not (after == red).all(axis=2).any()
    columns = np.flatnonzero((before == yellow).all(axis=2).all(axis=0))
    reach = np.quantile(np.abs(dense), 0.999)
    expected = [round((x + reach) / (2 * reach) * 199) for x in (-cut, cut)]
    assert all(any(abs(c - e) <= 1 for c in columns) for e in expected)


def test_pruned_run_is_made_once_beside_the_run_and_found_from_either(small_cnn):
    dense, pruned = pruning.pruning_pair(Run(small_cnn), 0.5, "global")
    assert pruned.folder == small_cnn.with_name("tiny-small-pruned50")
    assert pruned.manifest["parent"]["pruning"]["sparsity"] == 0.5
    made = (pruned.folder / "manifest.json").stat().st_mtime_ns
    again = pruning.pruning_pair(Run(small_cnn), 0.5, "global")[1]
    assert (again.folder / "manifest.json").stat().st_mtime_ns == made
    parent, same = pruning.pruning_pair(pruned, 0.9, "layer")
    assert parent.folder == dense.folder and same.folder == pruned.folder
    pruning.check_pair(dense, pruned)


def test_runs_with_other_probe_images_are_refused(small_cnn, cifar_run):
    with pytest.raises(RunError, match="hold different networks"):
        pruning.check_pair(Run(small_cnn), Run(cifar_run))

    class OtherProbe(Run):
        def read(self, name, index=slice(None)):
            values = super().read(name, index)
            return values[::-1] if name == schema.PROBE_IMAGES else values

    with pytest.raises(RunError, match=r"different probe images.*--overwrite"):
        pruning.check_pair(Run(small_cnn), OtherProbe(small_cnn))


# -- filters ----------------------------------------------------------------------------------
def test_filters_shows_seed_003s_convs_or_the_first_of_each_block(small_cnn, cifar_run):
    assert [i.name for i in filters.conv_layers(Run(small_cnn), None)] == ["conv1", "conv2"]
    chosen = filters.conv_layers(Run(cifar_run), None)
    assert [i.name for i in chosen] == ["conv1", "conv3", "conv5", "conv7"]
    assert [i.name for i in filters.conv_layers(Run(cifar_run), ["conv8"])] == ["conv8"]
    with pytest.raises(NnreelError, match=r"pool1.*pool layer.*conv1, conv2, conv3"):
        filters.conv_layers(Run(cifar_run), ["pool1"])


# -- renders ---------------------------------------------------------------------------------
def render(render_small, name: str, run: Path, options: str) -> tuple[np.ndarray, str]:
    """The video's frames and its captions; nothing blank after the fade-in."""
    video = render_small(name, run, options, size=SIZE, fps=FPS)
    assert all(frame.std() > 10 for frame in video.frames[3:])
    return video.frames, video.captions


@pytest.mark.render
def test_activations_of_the_cifar_network_render(cifar_run, render_small):
    frames, captions = render(render_small, "activations", cifar_run, "pace=0.25")
    assert 60 <= len(frames) <= 120
    assert changes(frames) >= 13  # one cut per layer, the probabilities, the end
    run = Run(cifar_run)
    c, h, w = run.layer("conv3").output_shape
    assert f"conv3: {c:,} filters, each giving one {h}×{w} map" in captions
    probs = run.read(schema.PROBE_PROBS, -1)[pick_image(run, None)]
    assert f"({theme.percent(probs.max())})" in captions  # the prediction
    assert f"{theme.percent(run.read(schema.VAL_ACC, -1))} of the validation images" in captions


@pytest.mark.render
def test_pruning_renders_and_prunes_on_the_spot(small_cnn, render_small):
    frames, captions = render(render_small, "pruning", small_cnn, "pace=0.25 sparsity=0.7")
    pruned = small_cnn.with_name("tiny-small-pruned70")
    assert (pruned / "manifest.json").exists()
    assert 25 <= len(frames) <= 60
    assert changes(frames) >= 6  # the weights, after pruning, each layer, the outcome
    accuracy = (theme.percent(Run(r).read(schema.VAL_ACC, -1)) for r in (small_cnn, pruned))
    assert f"validation accuracy {' → '.join(accuracy)}" in captions
    report = Run(pruned).manifest["parent"]["pruning"]
    assert f"{theme.percent(report['sparsity'])} of the weights set to zero" in captions
    c, h, w = Run(small_cnn).layer("conv2").output_shape
    assert f"conv2 ({c} channels of {h}×{w}) changed by " in captions


@pytest.mark.render
def test_filters_record_their_images_on_the_spot_and_render(small_cnn, writable, render_small):
    copy = writable(small_cnn)
    options = "steps=8 per_page=32 pace=0.25"
    frames, captions = render(render_small, "filters", copy, options)
    run = Run(copy)
    from engine.actmax import load_actmax, recorded_layers

    assert recorded_layers(run) == ["conv1", "conv2"]
    assert 20 <= len(frames) <= 60  # three pages: conv1 0-31, 32-63, conv2
    assert changes(frames) >= 6  # images growing on each page, and the page turns
    c, h, w = run.layer("conv1").output_shape
    assert f"conv1, filters 0–31 of {c}: {h}×{w} maps, and images grown from noise" in captions
    recording = load_actmax(run, "conv2")  # one page: the strongest of all its live filters
    best = np.where(recording.dead, -np.inf, recording.best_values)
    k = int(np.argmax(best))
    strongest = f"Strongest: filter {recording.units[k]}, {best[k]:.3g} (its best training image: "
    assert strongest + f"{recording.dataset_max[k]:.3g})" in captions


def test_a_missing_dataset_reaches_the_user_as_one_message(tmp_path, monkeypatch, capsys):
    """A scene whose run needs CIFAR-10 files that are absent: the data package's message, no
    traceback, exit status 2."""
    from engine.video.render import manim_config

    class CifarActivations(activations.Activations):
        default_preset = "vggcifar-cifar10"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNREEL_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv(RUN_ENV, "")
    monkeypatch.setenv(SET_ENV, "")
    with manim_config(resolution=SIZE, fps=FPS, media_dir=tmp_path), pytest.raises(SystemExit) as e:
        CifarActivations().render()
    assert e.value.code == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "CIFAR-10 could not be loaded" in err and "data_batch_1" in err
    assert "--download" in err and "Traceback" not in err
