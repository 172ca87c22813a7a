"""Export rendered videos for READMEs and slides: GIFs with a palette built for the clip.

A GIF holds at most 256 colours per frame. Manim's own GIF output quantises every frame on
its own; ffmpeg's ``palettegen`` first collects the colours this clip really uses, and
``paletteuse`` maps onto them and re-encodes only the rectangle that changed. Frames that
differ from the previous one only by video-codec noise are dropped (``mpdecimate``; the GIF
keeps real timing through variable frame delays), so a held still costs one frame. Our scenes
are mostly still panels of flat colours, which makes this many times smaller.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import NnreelError

DITHER = "bayer:bayer_scale=5"
"""A light ordered dither: smooth fades, and unlike error diffusion it does not make still
areas flicker (which would defeat the frame-to-frame savings)."""
HOLD = 2.0
"""Seconds the last frame stays before the GIF loops (a dropped still tail would be lost)."""


@dataclass(frozen=True)
class GifResult:
    path: Path
    size: int
    """Bytes."""
    seconds: float
    """Wall time of the conversion."""


def ffmpeg() -> str:
    """The ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def video_fps(video: Path) -> float:
    import av

    with av.open(str(video)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 30.0


def gif_filter(width: int | None, fps: float, colors: int) -> str:
    """The ffmpeg filter graph: resample in time and size, build the palette, apply it."""
    steps = [f"fps={fps:g}"]
    if width:
        steps.append(f"scale={width}:-1:flags=lanczos")
    steps.append("mpdecimate")
    chain = ",".join(steps)
    return (
        f"[0:v]{chain},split[a][b];"
        f"[a]palettegen=max_colors={colors}:stats_mode=diff[p];"
        f"[b][p]paletteuse=dither={DITHER}:diff_mode=rectangle"
    )


def gif_from_video(
    video: str | Path,
    output: str | Path | None = None,
    *,
    width: int | None = 640,
    fps: float | None = 15,
    max_fps: float | None = None,
    colors: int = 256,
    start: float = 0.0,
    duration: float | None = None,
) -> GifResult:
    """Convert ``video`` (or the clip from ``start`` lasting ``duration`` seconds) to a looping
    GIF, by default beside it with the same name and ``.gif``.

    ``width`` in pixels (None keeps the video's), ``fps`` (None keeps the video's, capped at
    ``max_fps``), ``colors`` at most 256.
    """
    video = Path(video)
    if not video.is_file():
        raise NnreelError(f"No video at {video}. Render one first: python -m engine render SCENE")
    if width is not None and width < 16:
        raise NnreelError(f"--width {width} is too small; use at least 16 pixels.")
    if fps is not None and fps <= 0:
        raise NnreelError(f"--fps {fps} must be positive.")
    if not 2 <= colors <= 256:
        raise NnreelError(f"A GIF palette holds 2 to 256 colours, not {colors}.")
    target = Path(output) if output else video.with_suffix(".gif")
    target.parent.mkdir(parents=True, exist_ok=True)
    rate = fps or video_fps(video)
    if max_fps:
        rate = min(rate, max_fps)
    clip = ["-ss", f"{start:g}"] if start else []
    if duration:
        clip += ["-t", f"{duration:g}"]
    command = [
        ffmpeg(),
        "-v", "error", "-y", *clip, "-i", str(video),
        "-filter_complex", gif_filter(width, rate, colors),
        "-fps_mode", "vfr", "-final_delay", str(round(HOLD * 100)),
        "-loop", "0", str(target),
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-3:]
        raise NnreelError(f"ffmpeg could not convert {video} to a GIF: {' '.join(detail)}")
    return GifResult(target, target.stat().st_size, time.perf_counter() - start)
