"""``python -m engine`` / ``nnreel``: one sub-command per module in this package.

Each command module offers ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning an exit code. The work is
the library's (``engine.training``, ``engine.video``, …); a command only parses, calls and
reports. Building the parsers imports nothing heavy: torch, torchvision and Manim load inside
the handlers that need them, so ``--help``, ``scenes``, ``export`` and option errors answer at
once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.markup import escape

from engine.console import console
from engine.errors import NnreelError

COMMANDS = (
    "train",
    "info",
    "scenes",
    "render",
    "export",
    "prune",
    "actmax",
    "lecture",
    "gallery",
)

DESCRIPTION = """\
nnreel trains small neural networks while recording what happens inside them (weights,
gradients, activations, fitted functions) into a run folder, and renders those recordings as
videos with Manim.

Start with:
  python -m engine train vgg16-synth       # train the default run (offline digits)
  python -m engine info vgg16-synth        # what was recorded
  python -m engine scenes                  # the scenes and their options
  python -m engine render featuremaps      # a video of the default run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every command module: a Ctrl-C may land there
        args = parser.parse_args(argv)
        if not hasattr(args, "handler"):
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except NnreelError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
