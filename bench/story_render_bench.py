"""Render speed of the seed-000 story scenes (architecture, summary, training, gradients,
kernels): each scene at 1080p60 against a scene of the same length with one moving dot (the
floor: clearing and encoding frames), rendered one after the other in this process. Target:
at most 1.5× the floor.

    python -m bench.story_render_bench                       # 1080p60; several minutes on 2 cores
    python -m bench.story_render_bench --quick               # 480p15, for a fast look
    python -m bench.story_render_bench --scenes kernels,training --run smallcnn-synth
    python -m bench.story_render_bench --repeat 3          # on a busy machine: fastest of 3

Uses the default run (vgg16-synth; trained first if missing) or --run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from manim import LEFT, RIGHT, Dot, Scene, linear, tempconfig

from engine.cli.render import manim_config, render_scene, scene_class, scene_file
from engine.console import console
from engine.scenekit import RUN_ENV, find_run, names

SCENES = ("architecture", "summary", "training", "gradients", "kernels")
TARGET = 1.5


class MovingDot(Scene):
    """The floor: one dot crossing the frame for ``seconds``."""

    seconds: ClassVar[float] = 5.0

    def construct(self) -> None:
        dot = Dot().shift(5 * LEFT)
        self.play(dot.animate.shift(10 * RIGHT), run_time=self.seconds, rate_func=linear)


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration / av.time_base)


def floor_seconds(seconds: float, media: Path, quality: str) -> float:
    """Wall time of the moving-dot scene lasting ``seconds``."""
    MovingDot.seconds = seconds
    start = time.perf_counter()
    with manim_config(media_dir=media, quality=quality):
        MovingDot().render()
    return time.perf_counter() - start


def measure(scene: str, media: Path, quality: str, repeat: int) -> dict:
    """The scene and its floor rendered in turn ``repeat`` times; the fastest of each (other
    work on the machine only ever adds time)."""
    ours, floor = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        video = render_scene(scene, quality=quality, media_dir=media)
        ours.append(time.perf_counter() - start)
        length = video_seconds(video)
        floor.append(floor_seconds(length, media, quality))
    return {"scene": scene, "length": length, "ours": min(ours), "floor": min(floor)}


def run(
    scenes: list[str], quick: bool = False, run_name: str | None = None, repeat: int = 1
) -> list[dict]:
    if run_name:
        os.environ[RUN_ENV] = run_name
    find_run("vgg16-synth")  # train the default run before anything is timed
    for scene in scenes:  # imports (torch, torchvision) are paid once per process, not timed
        scene_class(scene_file(scene))
    quality = "low" if quick else "high"
    with tempfile.TemporaryDirectory() as tmp, tempconfig({"progress_bar": "none"}):
        return [measure(scene, Path(tmp), quality, repeat) for scene in scenes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--run", help="the run the scenes show (default: vgg16-synth)")
    parser.add_argument("--scenes", type=names, default=list(SCENES), help="comma-separated")
    parser.add_argument(
        "--repeat", type=int, default=1, help="render each pair this often, keep the fastest"
    )
    args = parser.parse_args()
    for row in run(args.scenes, args.quick, args.run, max(1, args.repeat)):
        ratio = row["ours"] / row["floor"]
        colour = "green" if ratio <= TARGET else "red"
        console.print(
            f"{row['scene']:>12} vs one moving dot, {row['length']:.1f} s of video: "
            f"[bold {colour}]{ratio:.2f}×[/] ({row['ours']:.1f} s vs {row['floor']:.1f} s; "
            f"target ≤ {TARGET})"
        )


if __name__ == "__main__":
    main()
