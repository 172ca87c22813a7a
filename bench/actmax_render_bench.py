"""Render speed of the ActMax scene: the scene at 1080p60 against a scene of the same length with
one moving dot (the floor: clearing and encoding frames), side by side in this process,
alternating which goes first. Target: at most 1.5× the floor.

    python -m bench.actmax_render_bench                      # 1080p60; minutes on 2 cores
    python -m bench.actmax_render_bench --quick              # 480p15, for a fast look
    python -m bench.actmax_render_bench --run smallcnn-synth --repeats 3

The scene shows its default run (vgg16-synth, trained first if missing) or --run. The
activation-maximisation recordings it would make on first use are made before timing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench.common import Figure, floor_figures, prepare_scene, scene_main, showing
from engine.scenekit import parse_options

SCENE = "actmax"


def prepare() -> None:
    """Record what the scene would otherwise record inside the timed render (its defaults)."""
    cls, run = prepare_scene(SCENE)
    sys.modules[cls.__module__].prepare(run, parse_options(cls.options, ""))


def figures(
    quick: bool = False, scenes: Sequence[str] = (SCENE,), run: str | None = None, repeats: int = 1
) -> list[Figure]:
    with showing(run):
        prepare()
        return floor_figures(list(scenes), quick, repeats)


def main() -> None:
    scene_main(__doc__, figures, (SCENE,))


if __name__ == "__main__":
    main()
