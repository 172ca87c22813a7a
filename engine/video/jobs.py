"""Rendering several scenes at once: in parallel processes, each only when something it
depends on changed since it was last rendered. Used by ``lecture`` and ``gallery``."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def _render_in_child(job: RenderJob) -> str:
    """Body of a worker process: Manim's configuration is global, so one render per process."""
    from engine.video.render import render_scene

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
        # Subclasses may not survive the trip back to the parent. A plain RunError says "this
        # scene cannot film this run" (a lecture may leave it out); a full disk or a busy run
        # is an error of another kind.
        kind = RunError if type(exc) is RunError else NnreelError
        raise kind(str(exc)) from None
    return str(video)


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
        with ProcessPoolExecutor(count, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_render_in_child, job): job for job in todo}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    videos[job] = Path(future.result())
                except RunError as exc:
                    if not optional:
                        raise RunError(f"Scene {job.scene!r}: {exc}") from None
                    console.print(f"[yellow]left out[/] {job.scene}: {exc}")
                    del videos[job]
                    continue
                except NnreelError as exc:
                    raise NnreelError(f"Scene {job.scene!r}: {exc}") from None
                cache.put(keys[job], videos[job])
                console.print(f"[green]rendered[/] {job.scene}: {videos[job]}")
    return videos
