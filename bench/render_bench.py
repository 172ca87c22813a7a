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
from functools import partial
from pathlib import Path

import numpy as np
from manim import FadeIn, Scene, Square, VGroup

from bench.common import (
    RESOLUTIONS,
    Figure,
    against_floor,
    before_timing,
    interleaved,
    measured,
    prepare_scene,
    quality,
    ratio_figure,
    render_class,
    render_media,
    show,
    showing,
    timed,
)
from engine.scenekit import RasterCamera, raster_image, theme
from engine.scenekit import raster as rs
from engine.store import Run, human_bytes, schema
from engine.video.gif import gif_from_video
from engine.video.render import render_scene

STAGE = "conv1_2"
IMAGE = 3


def stage_maps(run: Run) -> np.ndarray:
    """The maps of one FeatureMaps stage, as the scene shows them ([N, H, W])."""
    return run.read(schema.acts(STAGE), -1)[IMAGE].astype(np.float32)


class RasterStage(Scene):
    """One stage as FeatureMaps draws it: one grid raster, faded in, held."""

    def __init__(self, maps: np.ndarray, **kwargs):
        self.maps = maps
        super().__init__(camera_class=RasterCamera, **kwargs)

    def construct(self) -> None:
        image, _ = rs.feature_grid(self.maps, rows=3, background=rs.hex_rgb(theme.PANEL))
        self.play(FadeIn(raster_image(image, height=4.3)), run_time=0.25)
        self.wait(0.7)


class SquareStage(Scene):
    """The same stage with one Square per map pixel (what not to do)."""

    def __init__(self, maps: np.ndarray, **kwargs):
        self.maps = maps
        super().__init__(**kwargs)

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


def squares_figure(maps: np.ndarray, media: Path, quick: bool) -> Figure:
    q = quality(quick)
    took = interleaved(
        {
            "squares": measured(lambda: render_class(partial(SquareStage, maps), media, quality=q)),
            "raster": measured(lambda: render_class(partial(RasterStage, maps), media, quality=q)),
        },
        1,
    )
    return ratio_figure(
        f"{maps.size:,} map pixels as Squares vs one raster, {STAGE} stage, {RESOLUTIONS[q]}",
        took["squares"],
        took["raster"],
        "≥ 20",
        "the same 0.95 s clip",
    )


def gif_figures(media: Path, video: Path) -> list[Figure]:
    """Our palette GIF against Manim's own GIF of the same clip at 640×360, 15 fps; and a
    10 s clip of the floor figure's video at 640 px."""
    size = {"resolution": (640, 360), "fps": 15}
    manim_time, manim_gif = timed(
        lambda: render_scene("featuremaps", fmt="gif", media_dir=media / "m", **size)
    )
    mp4_time, small = timed(lambda: render_scene("featuremaps", media_dir=media / "o", **size))
    ours = gif_from_video(small, media / "ours.gif", width=None, fps=None)
    clip = gif_from_video(video, media / "clip.gif", width=640, fps=15, start=2, duration=10)
    manim_size = manim_gif.stat().st_size
    return [
        Figure(
            "GIF size, Manim --format gif vs our export (640×360, 15 fps, whole scene)",
            manim_size / ours.size,
            f"{human_bytes(manim_size)} vs {human_bytes(ours.size)}",
            "> 1",
        ),
        Figure(
            "GIF time, Manim --format gif vs our MP4 render + export",
            manim_time.wall / (mp4_time.wall + ours.seconds),
            f"{manim_time.wall:.1f} s vs {mp4_time.wall:.1f} s + {ours.seconds:.1f} s export",
        ),
        Figure(
            "10 s clip at 640 px, 15 fps",
            clip.size / 1e6,
            f"exported in {clip.seconds:.1f} s",
            "< 2",
            unit=" MB",
        ),
    ]


def figures(quick: bool = False, run: str | None = None, repeats: int = 1) -> list[Figure]:
    """FeatureMaps against its floor (``repeats`` rounds), Squares against a raster, GIFs."""
    with showing(run):
        _, shown = prepare_scene("featuremaps")
        with render_media() as media:
            floor, video = against_floor("featuremaps", media, quick, repeats)
            squares = squares_figure(stage_maps(shown), media, quick)
            return [floor, squares, *gif_figures(media, video)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--run", help="the run FeatureMaps shows (default: vgg16-synth)")
    parser.add_argument("--repeats", type=int, default=1, help="scene/dot rounds (fastest)")
    args = parser.parse_args()
    before_timing()
    show(figures(args.quick, args.run, args.repeats), judged=not args.quick)


if __name__ == "__main__":
    main()
