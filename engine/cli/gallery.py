"""``gallery``: every scene on its default run as a README-sized GIF in renders/gallery/."""

from __future__ import annotations

import argparse

from engine.console import console, shown
from engine.video.render import QUALITIES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gallery",
        help="render every scene on its default run and export a README-sized GIF of each",
        description="Render every scene of scenes/ (or those named) on its default run, "
        "reusing renders that nothing changed since, and export each as a GIF under 2 MB into "
        "renders/gallery/ (640 px wide; fewer frames, then colours, then pixels only when "
        "needed to fit).",
    )
    parser.add_argument("--scenes", help="comma-separated scenes (default: all)")
    parser.add_argument(
        "--quality", choices=list(QUALITIES), default="medium", help="render quality (medium)"
    )
    parser.add_argument(
        "--pace", default="brisk", help="the scenes' pace: brisk (default), readable or a number"
    )
    parser.add_argument("--workers", type=int, help="parallel renders (default: one per core)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.video.gallery import make_gallery

    scenes = [s.strip() for s in args.scenes.split(",")] if args.scenes else None
    items = make_gallery(scenes, quality=args.quality, workers=args.workers, pace=args.pace)
    for item in items:
        console.print(
            f"{item.scene:<12} {shown(item.gif)}  {item.size / 2**20:.2f} MiB  {item.settings}"
        )
    return 0
