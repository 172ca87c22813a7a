"""Render speed of the seed-000 story scenes (architecture, summary, training, gradients,
kernels): each scene at 1080p60 against a scene of the same length with one moving dot (the
floor: clearing and encoding frames), side by side in this process. Target: at most 1.5×.

    python -m bench.story_render_bench                       # 1080p60; several minutes on 2 cores
    python -m bench.story_render_bench --quick               # 480p15, for a fast look
    python -m bench.story_render_bench --scenes kernels,training --run smallcnn-synth
    python -m bench.story_render_bench --repeats 3          # on a busy machine: fastest of 3

Uses each scene's default run (vgg16-synth; trained first if missing) or --run.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.common import Figure, floor_figures, scene_main, showing

SCENES = ("architecture", "summary", "training", "gradients", "kernels")


def figures(
    quick: bool = False, scenes: Sequence[str] = SCENES, run: str | None = None, repeats: int = 1
) -> list[Figure]:
    with showing(run):
        return floor_figures(list(scenes), quick, repeats)


def main() -> None:
    scene_main(__doc__, figures, SCENES)


if __name__ == "__main__":
    main()
