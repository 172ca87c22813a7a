"""Fixtures the whole suite shares: runs made once per session, and a small real render
checked the same way for every scene (helpers to read videos and scene files: ``videos.py``).

Runs here are trained (or written) once and read by many tests; a test that writes into a run
(activation-maximisation recordings, for instance) works on a ``writable`` copy of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from captions import read_captions
from synthetic import write_cnn_run
from videos import ROOT, Video, decode


# -- runs -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fixed_vgg(tmp_path_factory) -> Path:
    """A slim VGG-16 run written from fixed numbers (no training): the same on every machine,
    so frames rendered from it can be compared with tests/reference/."""
    return write_cnn_run(tmp_path_factory.mktemp("runs") / "fixed-vgg")


@pytest.fixture(scope="session")
def tiny_vgg(tmp_path_factory) -> Path:
    """The default preset's slim VGG-16 on 256 procedural digits, 2 epochs: seconds to train.
    Named after the preset, so scenes take it as their default run under its runs folder
    (``NNREEL_RUNS=tiny_vgg.parent``)."""
    from engine.presets import preset_config
    from engine.training import train

    config = preset_config("vgg16-synth")
    config.data_settings.update(train_size=256, val_size=64)
    config.epochs = 2
    config.record.snapshots = config.record.weights = "log:6"
    folder = tmp_path_factory.mktemp("runs") / "vgg16-synth"
    train(config, folder, quiet=True)
    return folder


@pytest.fixture(scope="session")
def small_cnn(tmp_path_factory) -> Path:
    """Seed 003's MNIST CNN on 512 procedural digits, one epoch, 4 probe images."""
    from engine.presets import preset_config
    from engine.training import train

    config = preset_config("smallcnn-synth")
    config.data_settings.update(train_size=512, val_size=128)
    config.epochs = 1
    config.record.snapshots = config.record.weights = "log:4"
    config.record.probe_size = 4
    folder = tmp_path_factory.mktemp("runs") / "tiny-small"
    train(config, folder, quiet=True)
    return folder


@pytest.fixture(scope="session")
def ring(tmp_path_factory) -> Path:
    """Seed 002's MLP on ring-vs-disc, 10 epochs, its fit sampled on a 32×32 mesh."""
    from engine.presets import preset_config
    from engine.training import train

    config = preset_config("mlp-ring")
    config.epochs, config.record.mesh = 10, 32
    config.record.snapshots = config.record.weights = "log:12"
    folder = tmp_path_factory.mktemp("runs") / "ring"
    train(config, folder, quiet=True)
    return folder


@pytest.fixture
def writable(tmp_path):
    """A copy of a run (same folder name) in this test's folder, for a test that writes into
    it: ``writable(small_cnn)``."""

    def copy(run: Path) -> Path:
        return Path(shutil.copytree(run, tmp_path / "writable" / run.name))

    return copy


# -- rendering --------------------------------------------------------------------------------
@pytest.fixture
def drawn_texts(monkeypatch) -> list[str]:
    """Every text a scene draws on screen (titles, captions, labels), as it draws it."""
    from engine.scenekit.label import Label

    texts: list[str] = []
    made = Label.__init__

    def remember(self, text, *args, **kwargs):
        texts.append(str(text))
        made(self, text, *args, **kwargs)

    monkeypatch.setattr(Label, "__init__", remember)
    return texts


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A scratch project to work in: a copy of the scene files in its ``scenes/``, so renders
    made through the command line land in its ``renders/``, not the checkout's."""
    shutil.copytree(ROOT / "scenes", tmp_path / "scenes")
    monkeypatch.chdir(tmp_path)
    for name in ("NNREEL_RUN", "NNREEL_SET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def render_small(tmp_path):
    """Render a scene of a run at a small size into this test's folder, with its options as
    arguments (a mapping, or ``"key=value key=value"``), and check what every video must be:
    the size asked, as many frames as its length needs, and captions that are valid SRT
    covering ``coverage`` of it — readable in time, unless the test set another ``pace``."""
    from engine.scenekit import assignments
    from engine.video.render import render_scene

    def render(
        name: str,
        run: Path,
        options: str | dict = "",
        *,
        size: tuple[int, int] = (256, 144),
        fps: int = 5,
        coverage: float = 0.9,
        readable: bool | None = None,
    ) -> Video:
        given = assignments(options) if isinstance(options, str) else options
        path = render_scene(
            name, run=str(run), options=given, resolution=size, fps=fps, media_dir=tmp_path
        )
        times, frames = decode(path)
        assert frames.shape[1:] == (size[1], size[0], 3)
        seconds = len(frames) / fps
        assert times[-1] == pytest.approx(seconds - 1 / fps, abs=2 / fps)
        if readable is None:  # at the readable pace unless the test chose another
            readable = "pace" not in given
        captions = read_captions(path, seconds, coverage, readable=readable, slack=1 / fps)
        return Video(path, times, frames, "\n".join(captions))

    return render
