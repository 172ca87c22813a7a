"""``export``: turn a rendered video into a README-ready GIF."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.console import console, shown
from engine.errors import NnreelError

if TYPE_CHECKING:
    from engine.video.gif import GifResult


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="make a small GIF from a rendered video (palette built for the clip)",
        description="Convert a rendered video into a looping GIF with ffmpeg's palettegen / "
        "paletteuse (the ffmpeg shipped with imageio-ffmpeg). A 10 s clip at 640 px stays "
        "well under 2 MB.",
        epilog="example:\n"
        "  python -m engine export renders/featuremaps/1080p60/FeatureMaps.mp4 --gif\n"
        "  python -m engine export VIDEO --gif --width 480 --fps 12 -o renders/gallery/x.gif",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", help="the video to convert (e.g. an MP4 from `render`)")
    parser.add_argument("--gif", action="store_true", help="export a GIF (the only format yet)")
    parser.add_argument("--width", type=int, default=640, help="width in pixels (default 640)")
    parser.add_argument("--fps", type=float, default=15, help="frames per second (default 15)")
    parser.add_argument("--colors", type=int, default=256, help="palette size, 2 to 256")
    parser.add_argument("--start", type=float, default=0.0, help="clip start, in seconds")
    parser.add_argument("--duration", type=float, help="clip length in seconds (default: all)")
    parser.add_argument("-o", "--output", help="where to write (default: VIDEO with .gif)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.video.gif import gif_from_video

    if not args.gif:
        raise NnreelError("Say which format to export: --gif (the only one so far).")
    result = gif_from_video(
        args.video,
        args.output,
        width=args.width,
        fps=args.fps,
        colors=args.colors,
        start=args.start,
        duration=args.duration,
    )
    report(result)
    return 0


def report(result: GifResult) -> None:
    from engine.store import human_bytes

    console.print(
        f"[bold green]GIF[/] {shown(result.path)} ({human_bytes(result.size)}, "
        f"{result.seconds:.1f} s)"
    )
