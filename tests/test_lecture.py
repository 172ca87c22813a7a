"""Lecture and gallery: real renders joined into one playable file, captions that are valid
SRT with monotonic times, one small GIF per scene, and unchanged scenes not rendered again."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
import srt
from videos import ROOT

from engine.errors import RunError
from engine.scenekit import RUN_ENV, SET_ENV
from engine.video.gallery import make_gallery
from engine.video.jobs import RenderJob, render_jobs
from engine.video.lecture import (
    DEFAULT_STORY,
    PLANE_STORY,
    duration,
    make_lecture,
    story_for,
    video_format,
)

SCENES = ["training", "summary"]
SMALL = {"resolution": (320, 180), "fps": 5}


@pytest.fixture(scope="module")
def lecture_project(tmp_path_factory, tiny_vgg) -> Path:
    """A scratch project holding copies of the scenes, so renders land in its renders/ (the
    render processes find scenes/ in their working directory)."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "scenes").mkdir()
    for name in [*SCENES, "operations"]:
        shutil.copy(ROOT / "scenes" / f"{name}.py", folder / "scenes")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("NNREEL_RUNS", str(tiny_vgg.parent))  # the default run, made small
        patch.delenv(RUN_ENV, raising=False)
        patch.delenv(SET_ENV, raising=False)
        yield folder


def test_lecture_joins_its_parts_with_chapters_and_captions(lecture_project):
    video = make_lecture(SCENES, **SMALL, workers=2)
    parts = sorted((lecture_project / "renders").glob("*/180p5/*.mp4"))
    assert len(parts) == 2
    cards = 2 * 2.0
    assert duration(video) == pytest.approx(sum(duration(p) for p in parts) + cards, abs=0.3)
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        chapters = container.chapters()
    assert frames == pytest.approx(duration(video) * 5, abs=2)
    assert [c["metadata"]["title"] for c in chapters] == [
        "Part 1 · Training",
        "Part 2 · Parameters and cost",
    ]
    captions = list(srt.parse(video.with_suffix(".srt").read_text(encoding="utf-8")))
    assert captions[0].content == "Part 1 · Training"
    starts = [c.start for c in captions]
    assert starts == sorted(starts) and all(c.end > c.start for c in captions)
    assert captions[-1].end.total_seconds() <= duration(video) + 0.1
    # The scenes' own captions come through, each after its part's title card.
    second = next(c for c in captions if c.content == "Part 2 · Parameters and cost")
    said = {c.content: c.start for c in captions}
    training = next(c for c in said if c.startswith("Training on"))
    table = next(c for c in said if "multiply-accumulates" in c)
    assert captions[0].end <= said[training] < second.start <= said[table]


def test_unchanged_scenes_are_not_rendered_again(lecture_project, capsys):
    make_lecture(SCENES, **SMALL, workers=2)  # renders, or reuses the first test's renders
    renders = {p: p.stat().st_mtime_ns for p in (lecture_project / "renders").glob("*/180p5/*.mp4")}
    capsys.readouterr()
    make_lecture(SCENES, **SMALL, workers=2)
    assert "unchanged, not rendered again: training" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in renders} == renders


def test_the_default_story_fits_the_run(ring, tiny_vgg):
    assert story_for(str(ring)) == PLANE_STORY  # an MLP on 2-D points: its fit and neurons
    assert story_for(str(tiny_vgg)) == DEFAULT_STORY


def test_a_part_that_cannot_film_the_run_is_left_out_only_when_not_asked_for(
    lecture_project, ring, capsys
):
    """The default story leaves out, with its reason, a scene the run cannot be filmed by
    (operations on an MLP run); scenes named on the command line must all render."""
    jobs = [RenderJob(scene, str(ring), **SMALL) for scene in ("summary", "operations")]
    videos = render_jobs(jobs, lecture_project / "renders", workers=2, optional=True)
    assert [job.scene for job in videos] == ["summary"] and videos[jobs[0]].exists()
    assert "left out operations: Run 'ring' recorded no conv layer" in capsys.readouterr().err
    with pytest.raises(RunError, match="Scene 'operations': Run 'ring' recorded no conv"):
        render_jobs(jobs, lecture_project / "renders", workers=2)


def test_gallery_makes_one_small_gif_per_scene(lecture_project):
    items = make_gallery(SCENES, lecture_project / "gallery", **SMALL, workers=2)
    assert sorted(item.gif.name for item in items) == ["summary.gif", "training.gif"]
    for item in items:
        assert 0 < item.size == item.gif.stat().st_size < 2 * 1024 * 1024
        with av.open(str(item.gif)) as gif:
            assert sum(1 for _ in gif.decode(video=0)) > 5


def test_a_part_with_rounded_timestamps_keeps_its_frame_rate(tmp_path):
    """Manim's join of partial movies rounds a few timestamps (15 fps averaging 15.0003); the
    lecture must still see 15 fps, or it refuses the part as encoded differently."""
    import numpy as np

    path = tmp_path / "rounded.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * i, np.uint8), "rgb24")
            frame.pts = i * 1024 - 5 * (i >= 10) - 5 * (i >= 20)  # two joins, rounded
            frame.time_base = stream.codec_context.time_base = Fraction(1, 15360)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate != 15  # the situation to handle
    assert video_format(path).rate == 15
    assert duration(path) == pytest.approx(2.0)


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
            if int(fields["PPid"]) == pid:
                found.add(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_stopping_a_parallel_render_stops_its_workers_too(lecture_project, ring):
    """A lecture or gallery sent SIGTERM (a scheduler's stop, `kill`) takes its render
    processes with it, instead of leaving them rendering for minutes, unseen."""
    script = (
        "from engine.video.jobs import RenderJob, render_jobs\n"
        f"jobs = [RenderJob(s, {str(ring)!r}, quality='low') for s in ('summary', 'training')]\n"
        "render_jobs(jobs, __import__('pathlib').Path('renders'), workers=2)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=lecture_project)
    deadline = time.monotonic() + 60
    while len(workers := _children(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) >= 2, "the render processes never started"
    time.sleep(1.0)  # rendering (or still importing Manim)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
