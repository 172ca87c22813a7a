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

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from manim import tempconfig

from bench.render_bench import MovingDot, render_class, timed, video_seconds
from engine.cli.render import render_scene, scene_class, scene_file
from engine.console import console
from engine.scenekit import RUN_ENV, find_run, names

SCENES = ("activations", "pruning", "filters")
TARGET = 1.5


def prepare(name: str) -> None:
    """Make what the scene would otherwise make inside the timed render."""
    cls = scene_class(scene_file(name))
    run = find_run(cls.default_preset)
    module = sys.modules[cls.__module__]
    if name == "pruning":
        module.pruning_pair(run, 0.5, "global")
    elif name == "filters":
        for info in module.conv_layers(run, None):
            module.ensure_actmax(run, info.name, cls.options["steps"].default)


def compare(name: str, media: Path, quality: str, repeats: int) -> dict:
    """Median wall time of the scene and of the dot of the same length."""
    ours, floor = [], []
    for i in range(repeats):  # the first pair starts with the scene: the dot needs its length
        for which in ("scene", "dot") if i % 2 == 0 else ("dot", "scene"):
            if which == "scene":
                seconds, video = timed(lambda: render_scene(name, quality=quality, media_dir=media))
                MovingDot.seconds = video_seconds(video)
                ours.append(seconds)
            else:
                floor.append(timed(lambda: render_class(MovingDot, media, quality=quality))[0])
    scene_s, dot_s = statistics.median(ours), statistics.median(floor)
    return {
        "scene": name,
        "length": MovingDot.seconds,
        "ratio": scene_s / dot_s,
        "detail": f"{scene_s:.1f} s vs {dot_s:.1f} s, median of {repeats}",
    }


def run(scenes: list[str], quick: bool, run_name: str | None, repeats: int) -> list[dict]:
    if run_name:
        os.environ[RUN_ENV] = run_name
    for name in scenes:
        prepare(name)
    quality = "low" if quick else "high"
    with tempfile.TemporaryDirectory() as tmp, tempconfig({"progress_bar": "none"}):
        return [compare(name, Path(tmp), quality, repeats) for name in scenes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--scenes", type=names, default=list(SCENES), help="comma-separated")
    parser.add_argument("--run", help="the run every scene shows (default: each scene's own)")
    parser.add_argument("--repeats", type=int, default=1, help="scene/dot pairs (median)")
    args = parser.parse_args()
    for row in run(args.scenes, args.quick, args.run, args.repeats):
        console.print(
            f"{row['scene']} vs one moving dot, {row['length']:.1f} s: "
            f"[bold]{row['ratio']:.2f}×[/] ({row['detail']}; target ≤ {TARGET})"
        )


if __name__ == "__main__":
    main()
