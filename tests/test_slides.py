"""Present live: a scene built as a manim-slides presentation pauses at each key moment, and its
HTML export opens in a browser with one slide per key moment.

The browser check needs Chromium (Debian: ``apt-get install chromium``) and reveal.js on disk
(the page loads it from a CDN otherwise): a folder holding reveal.js's ``dist/`` in
``$NNREEL_REVEAL``, or ``node_modules/reveal.js`` in the checkout (``npm install reveal.js``).
Without them that test is skipped, saying which is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.videos import decode

ROOT = Path(__file__).resolve().parents[1]
SIZE = (640, 360)
SHORT = "seconds=1 dwell=0.4 theme=light"
"""The weights scene, short: a key moment at each of its three layers, then after training."""


@pytest.fixture(scope="module")
def deck(ring, tmp_path_factory):
    """The weights scene rendered as a presentation, and the key moments it passed."""
    pytest.importorskip("manim_slides")
    from engine.scenekit import assignments, base
    from engine.video.render import render_slides

    moments: list[str] = []
    key_moment = base.RunScene.key_moment

    def counted(self, name: str) -> None:
        moments.append(name)
        key_moment(self, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base.RunScene, "key_moment", counted)
        presentation = render_slides(
            "weights",
            run=str(ring),
            options=assignments(SHORT),
            resolution=SIZE,
            fps=5,
            media_dir=tmp_path_factory.mktemp("slides"),
        )
    return presentation, moments


def blank(frame: np.ndarray) -> bool:
    """Nothing drawn: (almost) one colour."""
    return float(frame.astype(float).std()) < 10


@pytest.mark.render
def test_a_scene_builds_as_slides_with_a_pause_at_each_key_moment(deck):
    presentation, moments = deck
    assert len(moments) == 4 and presentation.slides == len(moments)
    config = json.loads((presentation.folder / f"{presentation.name}.json").read_text())
    assert config["background_color"].lower() in ("#ffffff", "white")  # the light theme
    for slide in config["slides"]:
        _, frames = decode(presentation.folder / slide["file"])
        assert not blank(frames[-1])  # the frame the presenter pauses on shows the scene
    page = presentation.html.read_text()
    videos = re.findall(r'data-background-video="([^"]+)"', page)
    assert len(videos) == presentation.slides
    assert all((presentation.html.parent / video).is_file() for video in videos)
    assert presentation.command.startswith("manim-slides present --folder ")


def reveal_folder() -> Path | None:
    """A folder holding reveal.js's ``dist/``, if one is on disk."""
    for folder in (os.environ.get("NNREEL_REVEAL"), ROOT / "node_modules" / "reveal.js"):
        if folder and (Path(folder) / "dist" / "reveal.js").is_file():
            return Path(folder)
    return None


def chromium(page: str, *flags: str) -> str:
    """Run headless Chromium on ``page`` and return what it printed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    command = [browser, "--headless", "--no-sandbox", "--allow-file-access-from-files"]
    done = subprocess.run(
        [*command, *flags, page], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@pytest.mark.render
def test_the_html_export_opens_in_headless_chromium(deck, tmp_path):
    from PIL import Image

    from engine.video.slides import export_html

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Chromium (apt-get install chromium)")
    if (reveal := reveal_folder()) is None:
        pytest.skip("no reveal.js on disk ($NNREEL_REVEAL or node_modules/reveal.js)")
    presentation, _ = deck
    html = export_html(presentation.folder, presentation.name, "#ffffff", str(reveal))
    url = html.as_uri()
    dom = chromium(url, "--virtual-time-budget=5000", "--dump-dom")
    assert re.search(r'class="reveal [^"]*\bready\b', dom)  # reveal.js ran
    states = re.findall(r'<section [^>]*class="[^"]*\b(present|future)\b', dom)
    assert states == ["present"] + ["future"] * (presentation.slides - 1)
    # A slide opens on its video's first frame; the first slide's is the scene's fade-in
    # (blank by design), so look at the second's, opened by its address.
    shot = tmp_path / "slide.png"
    chromium(
        f"{url}#/1", f"--window-size={SIZE[0]},{SIZE[1]}", "--timeout=4000", f"--screenshot={shot}"
    )
    picture = np.asarray(Image.open(shot).convert("RGB"))
    assert picture.shape[:2] == (SIZE[1], SIZE[0]) and not blank(picture)
