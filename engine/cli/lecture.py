"""``lecture``: several scenes of one run joined into one MP4 with title cards, chapters and
one caption file."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.console import console, shown
from engine.video.lecture import DEFAULT_STORY, PLANE_STORY
from engine.video.render import QUALITIES, parse_resolution


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lecture",
        help="render scenes of one run and join them into one video with chapters and captions",
        description="Render each scene on one run (in parallel processes; a scene unchanged "
        "since its last render is reused) and join them into one MP4 with a title card per "
        "part, chapter markers and one merged .srt caption file beside it.",
        epilog="examples:\n"
        "  python -m engine lecture                                # the whole story of the "
        "default run\n"
        "  python -m engine lecture --run mlp-ring                 # an MLP's story\n"
        "  python -m engine lecture --run mlp-ring --scenes fitting,neurons,weights\n"
        "  python -m engine lecture --scenes training,kernels --quality low",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", help="the run every part shows (default: the first scene's)")
    parser.add_argument(
        "--scenes",
        help=f"comma-separated scenes, in order (default: the story that fits the run, "
        f"{','.join(DEFAULT_STORY)} for a CNN, {','.join(PLANE_STORY)} for an MLP on 2-D "
        "points, leaving out a part that cannot film the run)",
    )
    parser.add_argument("--quality", choices=list(QUALITIES), default="high")
    parser.add_argument(
        "--pace",
        default="readable",
        help="every part's pace: a number (2 = twice as slow), readable (default) or brisk",
    )
    parser.add_argument("--resolution", metavar="W,H", help="override the quality's frame size")
    parser.add_argument("--fps", type=float, help="override the quality's frame rate")
    parser.add_argument("--output", "-o", type=Path, help="default: renders/lecture/…mp4")
    parser.add_argument("--workers", type=int, help="parallel renders (default: one per core)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.video.lecture import make_lecture

    video = make_lecture(
        [s.strip() for s in args.scenes.split(",") if s.strip()] if args.scenes else None,
        run=args.run,
        quality=args.quality,
        resolution=parse_resolution(args.resolution) if args.resolution else None,
        fps=args.fps,
        output=args.output,
        workers=args.workers,
        pace=args.pace,
    )
    console.print(
        f"[bold green]Lecture[/] {shown(video)} with captions {shown(video.with_suffix('.srt'))}"
    )
    return 0
