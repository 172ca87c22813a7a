"""Render speed and GIF size, each measured side by side in one process:

- FeatureMaps at 1080p60 against a scene of the same length with one moving dot (the floor:
  clearing and encoding frames). Target: at most 1.5×.
- One FeatureMaps stage (conv1_2: 16 maps of 32×32, fade in and hold) drawn as one raster, as
  we do, against the same maps as one ``Square`` per pixel. Target: at least 20× faster.
- Our GIF export (palette built for the clip) against Manim's ``--format gif``, same clip and
  size; and a 10 s clip at 640 px (target: under 2 MB).

    python -m bench.render_bench            # 1080p60; several minutes on 2 cores
    python -m bench.render_bench --quick    # 480p15, for a fast look

Uses the default run (vgg16-synth; trained first if missing) or --run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from manim import LEFT, RIGHT, Dot, FadeIn, Scene, Square, VGroup, linear

from engine.cli.render import manim_config, render_scene
from engine.console import console
from engine.export import gif_from_video
from engine.scenekit import RUN_ENV, RasterCamera, find_run, raster_image, theme
from engine.scenekit import raster as rs
from engine.store import Run, human_bytes

STAGE = "conv1_2"
IMAGE = 3


class MovingDot(Scene):
    """The floor: one dot crossing the frame for ``seconds``."""

    seconds: ClassVar[float] = 5.0

    def construct(self) -> None:
        dot = Dot().shift(5 * LEFT)
        self.play(dot.animate.shift(10 * RIGHT), run_time=self.seconds, rate_func=linear)


def stage_maps(run: Run) -> np.ndarray:
    """The maps of one FeatureMaps stage, as the scene shows them ([N, H, W])."""
    return run.read(f"acts/{STAGE}", -1)[IMAGE].astype(np.float32)


class RasterStage(Scene):
    """One stage as FeatureMaps draws it: one grid raster, faded in, held."""

    maps: ClassVar[np.ndarray]

    def construct(self) -> None:
        image, _ = rs.feature_grid(self.maps, rows=3, background=rs.hex_rgb(theme.PANEL))
        self.play(FadeIn(raster_image(image, height=4.3)), run_time=0.25)
        self.wait(0.7)


class SquareStage(Scene):
    """The same stage with one Square per map pixel (what not to do)."""

    maps: ClassVar[np.ndarray]

    def construct(self) -> None:
        colors = rs.apply_colormap(rs.normalise(self.maps, "channel").unit)
        n, h, w = self.maps.shape
        side = 4.3 / (3 * (h + 2))
        squares = VGroup()
        for i in range(n):
            row, col = divmod(i, 6)
            for y in range(h):
                for x in range(w):
                    square = Square(side, stroke_width=0, fill_opacity=1.0)
                    square.set_fill(rs.rgb_hex(colors[i, y, x]))
                    squares.add(
                        square.move_to([(col * (w + 2) + x) * side, -(row * (h + 2) + y) * side, 0])
                    )
        squares.center()
        self.play(FadeIn(squares), run_time=0.25)
        self.wait(0.7)


def timed(render) -> tuple[float, Path]:
    start = time.perf_counter()
    path = render()
    return time.perf_counter() - start, path


def cpu_timed(render) -> tuple[float, float, Path]:
    """Wall seconds, CPU seconds of this process (its encoder threads included), result."""
    cpu = time.process_time()
    wall, path = timed(render)
    return wall, time.process_time() - cpu, path


def render_class(cls: type[Scene], media: Path, **settings) -> Path:
    with manim_config(media_dir=media, **settings):
        scene = cls(camera_class=RasterCamera) if cls is RasterStage else cls()
        scene.render()
        return Path(scene.renderer.file_writer.movie_file_path)


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration / av.time_base)


def speed(media: Path, quality: str, repeats: int) -> tuple[list[dict], Path]:
    """FeatureMaps against the moving dot (alternating which goes first, median of
    ``repeats``), then one stage as a raster against squares."""
    ours, floor = [], []  # (wall, cpu) pairs
    for i in range(repeats):
        for which in ("ours", "dot") if i % 2 == 0 else ("dot", "ours"):
            if which == "ours":  # first of all: the dot needs the scene's length
                wall, cpu, video = cpu_timed(
                    lambda: render_scene("featuremaps", quality=quality, media_dir=media)
                )
                MovingDot.seconds = video_seconds(video)
                ours.append((wall, cpu))
            else:
                wall, cpu, _ = cpu_timed(lambda: render_class(MovingDot, media, quality=quality))
                floor.append((wall, cpu))
    maps = stage_maps(find_run("vgg16-synth"))
    RasterStage.maps = SquareStage.maps = maps
    raster, _ = timed(lambda: render_class(RasterStage, media, quality=quality))
    squares, _ = timed(lambda: render_class(SquareStage, media, quality=quality))
    ours_s, floor_s = (
        statistics.median(w for w, _ in ours),
        statistics.median(w for w, _ in floor),
    )
    ours_c, floor_c = (
        statistics.median(c for _, c in ours),
        statistics.median(c for _, c in floor),
    )
    return [
        {
            "figure": f"FeatureMaps vs one moving dot, {quality}, {MovingDot.seconds:.1f} s",
            "ratio": ours_s / floor_s,
            "detail": f"wall {ours_s:.1f} s vs {floor_s:.1f} s; CPU {ours_c:.1f} s vs "
            f"{floor_c:.1f} s = {ours_c / floor_c:.2f}×; median of {repeats}",
            "target": "≤ 1.5",
        },
        {
            "figure": f"{maps.size:,} map pixels as Squares vs one raster, {STAGE} stage",
            "ratio": squares / raster,
            "detail": f"{squares:.1f} s vs {raster:.1f} s for the same 0.95 s clip",
            "target": "≥ 20",
        },
    ], video


def gifs(media: Path, video: Path) -> list[dict]:
    """Our palette GIF against Manim's own GIF of the same clip at 640×360, 15 fps; and a
    10 s clip of the full-quality video at 640 px."""
    size = {"resolution": (640, 360), "fps": 15}
    manim_time, manim_gif = timed(
        lambda: render_scene("featuremaps", fmt="gif", media_dir=media / "m", **size)
    )
    mp4_time, small = timed(lambda: render_scene("featuremaps", media_dir=media / "o", **size))
    ours = gif_from_video(small, media / "ours.gif", width=None, fps=None)
    clip = gif_from_video(video, media / "clip.gif", width=640, fps=15, start=2, duration=10)
    manim_size = manim_gif.stat().st_size
    return [
        {
            "figure": "GIF size, Manim --format gif vs our export (640×360, 15 fps, whole scene)",
            "ratio": manim_size / ours.size,
            "detail": f"{human_bytes(manim_size)} vs {human_bytes(ours.size)}",
            "target": "> 1",
        },
        {
            "figure": "GIF time, Manim --format gif vs our MP4 render + export",
            "ratio": manim_time / (mp4_time + ours.seconds),
            "detail": f"{manim_time:.1f} s vs {mp4_time:.1f} s + {ours.seconds:.1f} s export",
            "target": "-",
        },
        {
            "figure": "10 s clip at 640 px, 15 fps (MB)",
            "ratio": clip.size / 1e6,
            "unit": " MB",
            "detail": f"exported in {clip.seconds:.1f} s",
            "target": "< 2",
        },
    ]


def run(quick: bool = False, run_name: str | None = None, repeats: int = 1) -> list[dict]:
    if run_name:
        os.environ[RUN_ENV] = run_name
    find_run("vgg16-synth")  # train the default run before anything is timed
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        rows, video = speed(media, "low" if quick else "high", repeats)
        return rows + gifs(media, video)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--run", help="the run FeatureMaps shows (default: vgg16-synth)")
    parser.add_argument("--repeats", type=int, default=1, help="scene/dot pairs (median)")
    args = parser.parse_args()
    for row in run(args.quick, args.run, args.repeats):
        console.print(
            f"{row['figure']}: [bold]{row['ratio']:.2f}{row.get('unit', '×')}[/] ({row['detail']}; "
            f"target {row['target']})"
        )


if __name__ == "__main__":
    main()
