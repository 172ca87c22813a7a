"""Rendering several scenes at once: in parallel processes, each only when something it
depends on changed since it was last rendered. Used by ``lecture`` and ``gallery``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from engine.console import console
from engine.errors import NnreelError, RunError
from engine.scenekit.places import renders_dir
from engine.video import catalog

CACHE_FILE = ".render-cache.json"
KIT = Path(__file__).resolve().parents[1] / "scenekit"
"""The scene kit, whose source every render depends on."""


@dataclass(frozen=True)
class RenderJob:
    """One scene to render: on ``run`` (None: the scene's default run), at a Manim quality or
    an explicit resolution and frame rate, with scene options (name, value)."""

    scene: str
    run: str | None = None
    quality: str = "high"
    resolution: tuple[int, int] | None = None
    fps: float | None = None
    options: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def default_preset(scene: str) -> str:
    return catalog.scene_info(scene).default_run


def renders_folder(scenes: list[str]) -> Path:
    """Where renders of ``scenes`` land (``renders/`` beside the first one's ``scenes/``
    folder, else under the working directory): the render cache, the lecture and the gallery
    live there too."""
    return renders_dir(catalog.scene_file(scenes[0]) if scenes else None)


def job_run(job: RenderJob) -> str:
    return job.run or default_preset(job.scene)


def prepare_runs(jobs: list[RenderJob]) -> None:
    """Train, one after another, the preset runs the jobs need that do not exist yet (and
    check the others open), so parallel renders never wait on each other's training."""
    from engine.presets import PRESETS
    from engine.scenekit.base import ensure_default_run
    from engine.store import Run

    for name in dict.fromkeys(job_run(job) for job in jobs):
        if name in PRESETS:
            ensure_default_run(name)
        else:
            Run(name)  # a missing or broken run gets the store's message now


def fingerprint(job: RenderJob) -> str:
    """What a render depends on: the scene's source (its parts' too) and the scene kit's, the
    job's settings, and the identity of the run's training (when it was made, how far it
    got)."""
    from engine.store import Run

    digest = hashlib.sha256()
    info = catalog.scene_info(job.scene)
    scenes = [info.path, *(info.path.parent / f"{part}.py" for part in info.parts)]
    for path in [*scenes, *sorted(KIT.glob("*.py"))]:
        digest.update(path.read_bytes())
    run = Run(job_run(job))
    progress = run.manifest["progress"]
    identity = [run.manifest.get("created"), run.status, progress.get("step")]
    settings = {**asdict(job), "run": job_run(job)}
    digest.update(json.dumps([settings, identity], default=str).encode())
    return digest.hexdigest()


RENDERED, CANNOT_FILM, FAILED = "rendered", "cannot film", "failed"


def _render_in_child(numbered: tuple[int, RenderJob]) -> tuple[int, str, str]:
    """Body of a worker process (Manim's configuration is global, so one render per process):
    the job's number, and ``RENDERED`` with the video's path, or an error's kind and message.

    Errors travel as words, not exceptions (subclasses may not survive the trip). A plain
    RunError says "this scene cannot film this run" (a lecture may leave it out); a full disk
    or a busy run is an error of another kind."""
    from engine.video.render import render_scene

    number, job = numbered
    try:
        video = render_scene(
            job.scene,
            run=job_run(job),
            options=dict(job.options),
            quality=job.quality,
            resolution=job.resolution,
            fps=job.fps,
            quiet=True,  # parallel progress bars would garble each other
        )
    except NnreelError as exc:
        return number, CANNOT_FILM if type(exc) is RunError else FAILED, str(exc)
    return number, RENDERED, str(video)


@contextlib.contextmanager
def _render_workers(count: int) -> Iterator:
    """A pool of ``count`` fresh processes that never outlive the renders they were started
    for: an error, Ctrl-C or a SIGTERM to this process stops them too (the pool terminates
    them on the way out) instead of leaving them rendering for minutes, unseen."""
    handled = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate) if handled else None
    try:
        with get_context("spawn").Pool(count) as pool:
            yield pool
    finally:
        if handled:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _exit_on_terminate(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


class RenderCache:
    """Which video each fingerprint produced, kept beside the renders."""

    def __init__(self, folder: Path):
        self.path = folder / CACHE_FILE
        try:
            self.entries: dict[str, str] = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.entries = {}

    def get(self, key: str) -> Path | None:
        video = self.entries.get(key)
        return Path(video) if video and Path(video).is_file() else None

    def put(self, key: str, video: Path) -> None:
        self.entries[key] = str(video)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.entries, indent=1))


def render_jobs(
    jobs: list[RenderJob], cache_folder: Path, workers: int | None = None, optional: bool = False
) -> dict[RenderJob, Path]:
    """Render every job (or reuse its unchanged earlier render) and return the videos.

    Renders run in up to ``workers`` processes (default: one per core); Manim keeps a second
    thread busy encoding, so more would only contend. ``optional`` jobs whose scene cannot
    film its run (a ``RunError``: an MLP run for a CNN scene, say) are left out, each with a
    line saying why; otherwise the first failure is the error.
    """
    prepare_runs(jobs)
    cache = RenderCache(cache_folder)
    keys = {job: fingerprint(job) for job in jobs}
    videos = {job: cache.get(keys[job]) for job in jobs}
    todo = [job for job in jobs if videos[job] is None]
    for job in jobs:
        if videos[job] is not None:
            console.print(f"[dim]unchanged, not rendered again:[/] {job.scene}")
    if todo:
        count = max(1, min(len(todo), workers or os.cpu_count() or 1))
        console.print(f"Rendering {len(todo)} scene(s) in {count} process(es)…")
        with _render_workers(count) as pool:
            for number, outcome, text in pool.imap_unordered(_render_in_child, enumerate(todo)):
                job = todo[number]
                if outcome == CANNOT_FILM and optional:
                    console.print(f"[yellow]left out[/] {job.scene}: {text}")
                    del videos[job]
                    continue
                if outcome != RENDERED:
                    kind = RunError if outcome == CANNOT_FILM else NnreelError
                    raise kind(f"Scene {job.scene!r}: {text}")
                videos[job] = Path(text)
                cache.put(keys[job], videos[job])
                console.print(f"[green]rendered[/] {job.scene}: {videos[job]}")
    return videos
