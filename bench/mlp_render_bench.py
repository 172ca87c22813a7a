"""Render speed of the MLP scenes, each measured side by side with its floor in one process:

- Fitting, Neurons, Weights and Mlp (the three in one) at 1080p60 against a scene of the same
  length with one moving dot (the floor: clearing and encoding frames). Target: at most 1.5×.
- The network graph's edges with their weights changing on every frame, drawn as
  ``NetworkGraph`` draws them (one raster, redrawn by PIL) against one Manim ``Line`` per edge
  restyled every frame, for a 16-16-16-16-10 network (928 edges).

    python -m bench.mlp_render_bench               # 1080p60; several minutes on 2 cores
    python -m bench.mlp_render_bench --quick       # 480p15, for a fast look
    python -m bench.mlp_render_bench --scenes fitting,weights

Uses the default run (mlp-ring; trained first if missing) or --run.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from manim import Line, Scene, ValueTracker, VGroup, linear

from bench.common import (
    RESOLUTIONS,
    Figure,
    floor_figures,
    interleaved,
    measured,
    quality,
    ratio_figure,
    render_class,
    render_media,
    scene_main,
    showing,
)
from engine.scenekit.camera import RasterCamera
from engine.scenekit.network import LEVELS, NetworkGraph, level_style

SCENES = ("fitting", "neurons", "weights", "mlp")
WIDTHS = (16, 16, 16, 16, 10)
EDGE_SECONDS = 3.0


def weights_at(t: float, rng_seed: int = 0) -> list[np.ndarray]:
    """Weights that drift smoothly with ``t``, so every frame restyles the edges."""
    rng = np.random.default_rng(rng_seed)
    return [
        np.sin(t * 3 + rng.uniform(0, 6, (out, inp))) for inp, out in itertools.pairwise(WIDTHS)
    ]


class RasterEdges(Scene):
    """The edges as NetworkGraph draws them: one raster, redrawn when the weights change."""

    def construct(self) -> None:
        graph = NetworkGraph(list(WIDTHS), width=9, height=5.5)
        clock = ValueTracker(0.0)
        graph.edges.add_updater(
            lambda _: graph.set_weights(weights_at(clock.get_value()), [1.0] * 4)
        )
        self.add(graph.edges, graph.neurons)
        self.play(clock.animate.set_value(1.0), run_time=EDGE_SECONDS, rate_func=linear)


class LineEdges(Scene):
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
        self.play(clock.animate.set_value(1.0), run_time=EDGE_SECONDS, rate_func=linear)


def edge_figure(quick: bool) -> Figure:
    """Both edge scenes with the camera every RunScene uses, so only the drawing differs."""
    q = quality(quick)

    def render(cls: type[Scene], media: Path) -> Path:
        return render_class(partial(cls, camera_class=RasterCamera), media, quality=q)

    with render_media() as media:
        took = interleaved(
            {
                "lines": measured(lambda: render(LineEdges, media)),
                "raster": measured(lambda: render(RasterEdges, media)),
            },
            1,
        )
    edges = sum(a * b for a, b in itertools.pairwise(WIDTHS))
    return ratio_figure(
        f"{edges} changing edges as one Line each vs NetworkGraph, {RESOLUTIONS[q]}, "
        f"{EDGE_SECONDS:.0f} s",
        took["lines"],
        took["raster"],
        "> 1",
    )


def figures(
    quick: bool = False, scenes: Sequence[str] = SCENES, run: str | None = None, repeats: int = 1
) -> list[Figure]:
    with showing(run):
        return [*floor_figures(list(scenes), quick, repeats), edge_figure(quick)]


def main() -> None:
    scene_main(__doc__, figures, SCENES)


if __name__ == "__main__":
    main()
