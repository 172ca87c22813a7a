"""The gallery: every scene rendered on its default run and exported as a README-sized GIF
into ``renders/gallery/``, each under a size limit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.console import console
from engine.errors import NnreelError
from engine.video.catalog import scene_infos
from engine.video.gif import gif_from_video
from engine.video.jobs import RenderJob, render_jobs, renders_folder

SIZE_LIMIT = 2 * 1024 * 1024
"""Bytes a committed GIF may take."""
PACE = "brisk"
"""The gallery's pace, brisk on purpose: a README GIF has no captions to read, loops, and must
stay under the size limit; the videos themselves default to the readable pace."""
LAYOUT = "gif"
"""The gallery's type scale: a 640 px GIF needs the large type (text at least 10 px tall)."""


@dataclass(frozen=True)
class GifSettings:
    width: int
    fps: float
    colors: int = 256
    seconds: float | None = None
    """Only the scene's first seconds (None: all of it)."""

    def __str__(self) -> str:
        colors = "" if self.colors == 256 else f", {self.colors} colours"
        clip = "" if self.seconds is None else f", its first {self.seconds:g} s"
        return f"{self.width} px, {self.fps:g} fps{colors}{clip}"


FALLBACKS = tuple(
    GifSettings(*s)
    for s in [
        (640, 15),
        (640, 10),
        (640, 8),
        (640, 6),
        (640, 6, 128),
        (640, 6, 64),
        (640, 8, 256, 40.0),
        (640, 6, 128, 30.0),
        (640, 5, 64, 20.0),
        (480, 8),
    ]
)
"""Tried in turn until a scene's GIF fits the limit: frames go first, then colours, then the
length (the scene's opening, for the longest walks through every layer), pixels last, as
labels must stay readable at 640 px and a README animation need not be smooth."""


@dataclass(frozen=True)
class GalleryItem:
    scene: str
    gif: Path
    size: int
    settings: GifSettings


def all_scenes() -> list[str]:
    """Every scene but those that chain others: their parts are in the gallery already, and a
    GIF of the whole (over a minute) cannot stay under the size limit."""
    return [info.name for info in scene_infos() if not info.parts]


def fit_gif(video: Path, target: Path, attempts: tuple[GifSettings, ...], limit: int):
    """The first settings whose GIF fits ``limit`` bytes; an error when none does."""
    for settings in attempts:
        result = gif_from_video(
            video,
            target,
            width=settings.width,
            fps=settings.fps,
            colors=settings.colors,
            duration=settings.seconds,
        )
        if result.size <= limit:
            return result, settings
    raise NnreelError(
        f"The GIF of {video.name} stays above {limit / 2**20:.1f} MiB even at {settings} "
        f"({result.size / 2**20:.1f} MiB). Shorten the scene (its options) or "
        "export a clip: python -m engine export VIDEO --gif --start S --duration D"
    )


def make_gallery(
    scenes: list[str] | None = None,
    folder: Path | None = None,
    quality: str = "medium",
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    attempts: tuple[GifSettings, ...] = FALLBACKS,
    limit: int = SIZE_LIMIT,
    workers: int | None = None,
    pace: str = PACE,
) -> list[GalleryItem]:
    """Render every scene (or those named) on its default run at ``pace`` in the GIF layout,
    unless unchanged since its last render, and export one GIF per scene into ``folder``
    (default ``renders/gallery``)."""
    if not scenes:
        scenes = all_scenes()
        for info in scene_infos():
            if info.parts:
                parts = f"{', '.join(info.parts[:-1])} and {info.parts[-1]} back to back"
                console.print(f"[dim]{info.name}: not in the gallery ({parts}).[/]")
    renders = renders_folder(scenes)
    folder = folder or renders / "gallery"
    options = (("pace", pace), ("layout", LAYOUT))
    jobs = [RenderJob(scene, None, quality, resolution, fps, options) for scene in scenes]
    videos = render_jobs(jobs, renders, workers)
    items = []
    for job in jobs:
        result, settings = fit_gif(videos[job], folder / f"{job.scene}.gif", attempts, limit)
        items.append(GalleryItem(job.scene, result.path, result.size, settings))
        console.print(f"[green]GIF[/] {result.path} ({result.size / 2**20:.2f} MiB, {settings})")
    return items
