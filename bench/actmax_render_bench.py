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

import argparse
import sys

from bench.common import (
    Figure,
    against_floor,
    prepare_scene,
    render_media,
    show,
    showing,
    warn_if_busy,
)
from engine.scenekit import parse_options

SCENE = "actmax"


def prepare() -> None:
    """Record what the scene would otherwise record inside the timed render (its defaults)."""
    cls, run = prepare_scene(SCENE)
    sys.modules[cls.__module__].prepare(run, parse_options(cls.options, ""))


def figures(quick: bool = False, run: str | None = None, repeats: int = 1) -> list[Figure]:
    with showing(run):
        prepare()
        with render_media() as media:
            return [against_floor(SCENE, media, quick, repeats)[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--run", help="the run the scene shows (default: vgg16-synth)")
    parser.add_argument("--repeats", type=int, default=1, help="scene/dot rounds (fastest)")
    args = parser.parse_args()
    warn_if_busy()
    show(figures(args.quick, args.run, args.repeats))


if __name__ == "__main__":
    main()
