"""Render speed of the MLP scenes, each measured side by side with its floor in one process:

- Fitting, Neurons and Weights at 1080p60 against a scene of the same length with one moving
  dot (the floor: clearing and encoding frames). Target: at most 1.5×.
- The network graph's edges with their weights changing on every frame, drawn as
  ``NetworkGraph`` draws them (one raster, redrawn by PIL) against one Manim ``Line`` per edge
  restyled every frame, for a 16-16-16-16-10 network (928 edges).

    python -m bench.mlp_render_bench               # 1080p60; several minutes on 2 cores
    python -m bench.mlp_render_bench --quick       # 480p15, for a fast look
    python -m bench.mlp_render_bench --scenes fitting,weights

Uses the default run (mlp-ring; trained first if missing) or --run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from manim import LEFT, RIGHT, Dot, Line, Scene, ValueTracker, VGroup, linear

from engine.cli.render import manim_config, render_scene
from engine.console import console
from engine.scenekit import RUN_ENV, find_run
from engine.scenekit.camera import RasterCamera
from engine.scenekit.network import LEVELS, NetworkGraph, level_style

SCENES = ("fitting", "neurons", "weights")
WIDTHS = (16, 16, 16, 16, 10)


class MovingDot(Scene):
    """The floor: one dot crossing the frame for ``seconds``."""

    seconds: ClassVar[float] = 5.0

    def construct(self) -> None:
        dot = Dot().shift(5 * LEFT)
        self.play(dot.animate.shift(10 * RIGHT), run_time=self.seconds, rate_func=linear)


def weights_at(t: float, rng_seed: int = 0) -> list[np.ndarray]:
    """Weights that drift smoothly with ``t``, so every frame restyles the edges."""
    rng = np.random.default_rng(rng_seed)
    return [
        np.sin(t * 3 + rng.uniform(0, 6, (out, inp))) for inp, out in itertools.pairwise(WIDTHS)
    ]


class EdgeScene(Scene):
    """A graph whose weights change on every frame, with the camera every RunScene uses."""

    seconds: ClassVar[float] = 3.0

    def __init__(self, **kwargs):
        kwargs.setdefault("camera_class", RasterCamera)
        super().__init__(**kwargs)


class RasterEdges(EdgeScene):
    """The edges as NetworkGraph draws them: one raster, redrawn when the weights change."""

    def construct(self) -> None:
        graph = NetworkGraph(list(WIDTHS), width=9, height=5.5)
        clock = ValueTracker(0.0)
        graph.edges.add_updater(
            lambda _: graph.set_weights(weights_at(clock.get_value()), [1.0] * 4)
        )
        self.add(graph.edges, graph.neurons)
        self.play(clock.animate.set_value(1.0), run_time=self.seconds, rate_func=linear)


class LineEdges(EdgeScene):
    """The same edges as one Manim Line each, restyled on every frame."""

    def construct(self) -> None:
        graph = NetworkGraph(list(WIDTHS), width=9, height=5.5)
        lines = VGroup()
        for column in range(1, len(WIDTHS)):
            for start, end in graph.endpoints(column).reshape(-1, 2, 3):
                lines.add(Line(start, end))
        clock = ValueTracker(0.0)

        def restyle(group: VGroup) -> None:
            weights = weights_at(clock.get_value())
            levels = np.concatenate([np.round(w * LEVELS).ravel() for w in weights])
            for line, level in zip(group, levels.astype(int), strict=True):
                colour, width, opacity = level_style(level)
                line.set_stroke(colour, width, opacity)

        lines.add_updater(restyle)
        self.add(lines, graph.neurons)
        self.play(clock.animate.set_value(1.0), run_time=self.seconds, rate_func=linear)


@dataclass(frozen=True)
class Took:
    """Wall-clock seconds (the target's measure) and CPU seconds of this process, every
    thread included: on a shared machine the CPU time moves far less with other load."""

    wall: float
    cpu: float


def timed(render) -> tuple[Took, Path]:
    wall, cpu = time.perf_counter(), time.process_time()
    path = render()
    return Took(time.perf_counter() - wall, time.process_time() - cpu), path


def compare(ours: Took, base: Took) -> str:
    return (
        f"wall {ours.wall:.1f} s vs {base.wall:.1f} s; CPU {ours.cpu:.1f} s vs {base.cpu:.1f} s, "
        f"{ours.cpu / base.cpu:.2f}×"
    )


def render_class(cls: type[Scene], media: Path, **settings) -> Path:
    with manim_config(media_dir=media, **settings):
        scene = cls()
        scene.render()
        return Path(scene.renderer.file_writer.movie_file_path)


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration / av.time_base)


def scene_speed(name: str, media: Path, quality: str) -> dict:
    """One scene against the moving dot for the same number of seconds."""
    ours, video = timed(lambda: render_scene(name, quality=quality, media_dir=media))
    MovingDot.seconds = video_seconds(video)
    floor, _ = timed(lambda: render_class(MovingDot, media, quality=quality))
    return {
        "figure": f"{name} vs one moving dot, {quality}, {MovingDot.seconds:.1f} s",
        "ratio": ours.wall / floor.wall,
        "detail": compare(ours, floor),
        "target": "≤ 1.5",
    }


def edge_speed(media: Path, quality: str) -> dict:
    lines, _ = timed(lambda: render_class(LineEdges, media, quality=quality))
    raster, _ = timed(lambda: render_class(RasterEdges, media, quality=quality))
    edges = sum(a * b for a, b in itertools.pairwise(WIDTHS))
    return {
        "figure": f"{edges} changing edges as one Line each vs NetworkGraph, {quality}, 3 s",
        "ratio": lines.wall / raster.wall,
        "detail": compare(lines, raster),
        "target": "> 1",
    }


def run(quick: bool = False, run_name: str | None = None, scenes=SCENES) -> list[dict]:
    if run_name:
        os.environ[RUN_ENV] = run_name
    find_run("mlp-ring")  # train the default run before anything is timed
    quality = "low" if quick else "high"
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        rows = [scene_speed(name, media, quality) for name in scenes]
        return [*rows, edge_speed(media, quality)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--run", help="the run the scenes show (default: mlp-ring)")
    parser.add_argument("--scenes", default=",".join(SCENES), help="comma-separated scenes")
    args = parser.parse_args()
    scenes = [s for s in args.scenes.split(",") if s]
    for row in run(args.quick, args.run, scenes):
        console.print(
            f"{row['figure']}: [bold]{row['ratio']:.2f}×[/] ({row['detail']}; "
            f"target {row['target']})"
        )


if __name__ == "__main__":
    main()
