"""``render``: render a scene with Manim and say where the video is (``engine.render``)."""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path

from engine.console import console, shown
from engine.errors import NnreelError
from engine.scenekit.options import assignments, given_options
from engine.video.catalog import scene_paths
from engine.video.render import FORMATS, QUALITIES, parse_resolution


def register(subparsers) -> None:
    scenes = textwrap.fill(
        ", ".join(scene_paths()), 88, initial_indent="  ", subsequent_indent="  "
    )
    parser = subparsers.add_parser(
        "render",
        help="render a scene (scenes/NAME.py) to renders/ and print where the file is",
        description="Render a scene with Manim into renders/NAME/QUALITY/. The scene shows the "
        "run given by --run (else $NNREEL_RUN, else its default run, trained on the spot if "
        "missing). Scene options are checked before anything heavy is loaded.",
        epilog=f"scenes (each with a line and its options: render --list):\n{scenes}\n\n"
        "examples:\n"
        "  python -m engine render featuremaps\n"
        "  python -m engine render featuremaps --run smallcnn-synth --quality low\n"
        "  python -m engine render featuremaps --set image=5 --set layers=conv1_1,pool1\n"
        "  python -m engine render featuremaps --pace brisk\n"
        "  python -m engine render featuremaps --quality medium --format gif\n"
        "  python -m engine render weights --theme light --slides",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scene", nargs="?", help="scene name: a file scenes/NAME.py")
    parser.add_argument("--list", action="store_true", help="list every scene and its options")
    parser.add_argument("--run", help="run name under runs/ or a run folder")
    parser.add_argument(
        "--quality",
        choices=list(QUALITIES),
        default="high",
        help="low 480p15, medium 720p30, high 1080p60 (default), 4k 2160p60",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="mp4",
        help="gif: rendered as MP4, then converted with a palette built for the clip (far "
        "smaller than Manim's own GIF; for a README size use `export --gif --width 640`)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scene option (see --list); without any, $NNREEL_SET's",
    )
    parser.add_argument(
        "--theme",
        choices=("dark", "light"),
        help="colours: dark for video, light for slides and print (the scene option theme)",
    )
    parser.add_argument(
        "--transparent",
        action="store_true",
        help="a background with alpha, as MOV (or --format webm), to lay over slides",
    )
    parser.add_argument(
        "--stills", action="store_true", help="also a PNG of each key moment, in stills/"
    )
    parser.add_argument(
        "--slides",
        action="store_true",
        help="a manim-slides presentation pausing at each key moment, and its HTML export "
        "(pip install 'nnreel[slides]')",
    )
    parser.add_argument(
        "--pace",
        metavar="PACE",
        help="scale every hold and transition: a number (2 = twice as slow) or readable (1, "
        "the default: time to read every caption) or brisk (0.5, for README GIFs)",
    )
    parser.add_argument("--resolution", metavar="W,H", help="override the quality's frame size")
    parser.add_argument("--fps", type=float, help="override the quality's frame rate")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.scenes import print_listing

    if args.list:
        return print_listing(args.scene)
    if not args.scene:
        raise NnreelError("Name a scene to render (python -m engine render --list shows them).")
    from engine.video.render import render

    resolution = parse_resolution(args.resolution) if args.resolution else None
    options = dict(given_options(assignments(args.set) or None))  # none: $NNREEL_SET's
    if args.theme:
        options["theme"] = args.theme
    if args.pace is not None:
        options["pace"] = args.pace
    start = time.perf_counter()
    video = render(
        args.scene,
        args.run,
        args.quality,
        args.format,
        resolution=resolution,
        fps=args.fps,
        display=False,
        transparent=args.transparent,
        stills=args.stills,
        slides=args.slides,
        **options,
    )
    if args.slides:
        console.print(f"[bold green]Slides[/] {shown(video)}")
        console.print(f"present: manim-slides present --folder {shown(video.parent)} {video.stem}")
        return 0
    report(video, time.perf_counter() - start)
    return 0


def report(video: Path, seconds: float) -> None:
    """Where the video is, its size and how long it took; the GIF beside it, if one."""
    from engine.store import human_bytes

    mp4 = video.with_suffix(".mp4") if video.suffix == ".gif" else video  # or MOV, WebM
    console.print(
        f"[bold green]Rendered[/] {shown(mp4)} ({human_bytes(mp4.stat().st_size)}, {seconds:.0f} s)"
    )
    if video.suffix == ".gif":
        console.print(f"[bold green]GIF[/] {shown(video)} ({human_bytes(video.stat().st_size)})")
