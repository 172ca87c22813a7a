"""Render speed of the CNN scenes of seeds 003 and 004 (activations, pruning, filters): each scene
at 1080p60 against a scene of the same length with one moving dot (the floor: clearing and
encoding frames), side by side in this process, alternating which goes first. Target: at most
1.5× the floor.

    python -m bench.cnn_render_bench                         # 1080p60; minutes on 2 cores
    python -m bench.cnn_render_bench --quick                 # 480p15, for a fast look
    python -m bench.cnn_render_bench --scenes pruning --run vgg16-synth --repeats 3

Each scene shows its default run (trained first if missing) or --run. What a scene would make
on first use — the pruned run, the activation-maximisation images — is made before timing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench.common import Figure, floor_figures, prepare_scene, scene_main, showing
from engine.scenekit.recordings import ensure_actmax

SCENES = ("activations", "pruning", "filters")


def prepare(name: str) -> None:
    """Make what the scene would otherwise make inside the timed render, with its defaults."""
    cls, run = prepare_scene(name)
    module = sys.modules[cls.__module__]
    if name == "pruning":
        options = cls.options
        module.pruning_pair(run, options["sparsity"].default, options["scope"].default)
    elif name == "filters":
        for info in module.conv_layers(run, None):
            ensure_actmax(run, info, steps=cls.options["steps"].default)


def figures(
    quick: bool = False, scenes: Sequence[str] = SCENES, run: str | None = None, repeats: int = 1
) -> list[Figure]:
    with showing(run):
        for name in scenes:
            prepare(name)
        return floor_figures(list(scenes), quick, repeats)


def main() -> None:
    scene_main(__doc__, figures, SCENES)


if __name__ == "__main__":
    main()
