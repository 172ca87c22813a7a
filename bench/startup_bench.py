"""Start-up time of the command line: how long ``python -m engine`` takes to answer commands
that need no network, no training and no rendering (``--help`` of every command, ``scenes``,
a misspelt scene option, ``export`` of a short clip), each a fresh process, against Python
starting alone and against importing what the CLI used to import first (torch, torchvision,
Manim), side by side in this process. Target: under 1 s.

    python -m bench.startup_bench                    # 5 rounds, fastest of each
    python -m bench.startup_bench --quick            # 2 rounds
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, Took, before_timing, duration, interleaved, show

TARGET = "< 1"
"""Seconds a command that does no heavy work may take to answer."""
HEAVY = "import torch, torchvision, manim"


def process(*args: str) -> Took:
    """Wall time of one fresh Python process, and the CPU time it used (children's times)."""
    before, wall = os.times(), time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Took(time.perf_counter() - wall, cpu)


def tiny_video(folder: Path) -> Path:
    """A 2-second 320×180 test pattern to export (ffmpeg's own testsrc, no render needed)."""
    import imageio_ffmpeg

    video = folder / "clip.mp4"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15",
        "-t", "2", "-pix_fmt", "yuv420p", str(video),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return video


def conversion(video: Path, gif: Path) -> Took:
    """ffmpeg alone converting ``video`` as ``export --gif`` does (640 px, 15 fps)."""
    from engine.video.gif import ffmpeg, gif_filter

    command = [ffmpeg(), "-v", "error", "-y", "-i", str(video)]
    command += ["-filter_complex", gif_filter(640, 15, 256), "-fps_mode", "vfr", str(gif)]
    before, wall = os.times(), time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Took(time.perf_counter() - wall, cpu)


def commands() -> dict[str, tuple[str, ...]]:
    """What is timed: each command's arguments to ``python -m engine``."""
    timed = {"--help": ("--help",)}
    for name in ("train", "info", "render", "export", "lecture", "gallery"):
        timed[f"{name} --help"] = (name, "--help")
    timed["scenes"] = ("scenes",)
    timed["render featuremaps --set bogus=1"] = ("render", "featuremaps", "--set", "bogus=1")
    return timed


def figures(quick: bool = False, repeats: int | None = None) -> list[Figure]:
    rounds = repeats or (2 if quick else 5)
    timed = commands()
    with tempfile.TemporaryDirectory() as tmp:
        video, gif = tiny_video(Path(tmp)), Path(tmp) / "clip.gif"
        tasks = {name: (lambda a=args: process("-m", "engine", *a)) for name, args in timed.items()}
        tasks["export"] = lambda: process(
            "-m", "engine", "export", str(video), "--gif", "-o", str(gif)
        )
        tasks["ffmpeg alone"] = lambda: conversion(video, gif)
        tasks["python alone"] = lambda: process("-c", "pass")
        tasks["heavy imports"] = lambda: process("-c", HEAVY)
        took = interleaved(tasks, rounds)
    floor, heavy = took["python alone"], took["heavy imports"]
    context = f"Python alone {duration(floor.wall)}; `{HEAVY}` {duration(heavy.wall)}"
    rows = [
        Figure(
            f"start-up: python -m engine {name}",
            took[name].wall,
            f"CPU {duration(took[name].cpu)}; {context}; fastest of {rounds}",
            TARGET,
            unit=" s",
        )
        for name in timed
    ]
    export, alone = took["export"], took["ffmpeg alone"]
    rows.append(
        Figure(
            "start-up: python -m engine export --gif, beyond ffmpeg's own conversion",
            export.wall - alone.wall,
            f"export of a 2 s clip {duration(export.wall)} vs ffmpeg alone {duration(alone.wall)}; "
            f"{context}; fastest of {rounds}",
            TARGET,
            unit=" s",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    parser.add_argument("--repeats", type=int, help="rounds (fastest of each kept)")
    args = parser.parse_args()
    before_timing()
    show(figures(args.quick, args.repeats))


if __name__ == "__main__":
    main()
