"""``scenes``: every scene with its line, default run and options (type, default, help), read
from the scene files' declarations without running them."""

from __future__ import annotations

import argparse

from engine.video.catalog import listing, scene_info, scene_infos


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scenes",
        help="list every scene with its options (type, default, help)",
        description="List the scenes (scenes/NAME.py, or those of the installed package) with "
        "one line each, the run each shows by default, and every option it takes: the values "
        "it accepts, its default and what it does. Pass options to `render --set KEY=VALUE` "
        "or as arguments to engine.render().",
    )
    parser.add_argument("scene", nargs="?", help="only this scene")
    parser.set_defaults(handler=run)


def print_listing(scene: str | None = None) -> int:
    infos = [scene_info(scene)] if scene else scene_infos()
    print(listing(infos), end="")
    return 0


def run(args: argparse.Namespace) -> int:
    return print_listing(args.scene)
