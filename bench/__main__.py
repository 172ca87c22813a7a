"""Every benchmark in ``bench/`` in one table: each ``*_bench.py`` module found here, run with
its defaults, its figures joined. A module joins by being a ``*_bench.py`` with a
``figures(quick: bool = False, **options) -> list[Figure]`` function.

    python -m bench                                  # 1080p60, full settings: long on 2 cores
    python -m bench --quick                          # 480p15, fewer rounds: a smoke test
    python -m bench --only recording,actmax --markdown notes/bench.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.common import Figure, load_average, show, steady_allocator, timed, verdict
from engine.console import console
from engine.errors import NnreelError, UnknownNameError
from engine.scenekit import names

T = TypeVar("T")
SUFFIX = "_bench"
QUICK = "quick (480p15, small data): a smoke test, not judged against the targets"
FiguresFunction = Callable[..., list[Figure]]


def discover() -> list[str]:
    """Short names (``render`` for ``render_bench.py``) of every bench module here, found on
    disk so that a new one joins without being listed anywhere."""
    found = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(m.name.removesuffix(SUFFIX) for m in found if m.name.endswith(SUFFIX))


def load(name: str) -> FiguresFunction:
    """The ``figures`` function of bench module ``name``."""
    module = importlib.import_module(f"bench.{name}{SUFFIX}")
    figures = getattr(module, "figures", None)
    if not callable(figures):
        raise NnreelError(
            f"bench/{name}{SUFFIX}.py has no figures(quick=False, **options) function, so "
            "`python -m bench` cannot run it."
        )
    return figures


def attempt(name: str, work: Callable[[], T], failed: dict[str, str]) -> T | None:
    """``work()``, or None with the error kept under ``name``: one broken bench must not cost
    the others' figures, since a full run takes long."""
    try:
        return work()
    except Exception as exc:
        console.print_exception()
        failed[name] = f"{type(exc).__name__}: {exc}"
        return None


def run(selected: list[str], quick: bool) -> tuple[list[Figure], dict[str, str]]:
    """Every selected module's figures, and the error of each module that failed. All are
    imported first, so a broken one shows at once and edits to bench/ made while a long run
    goes on do not mix into it."""
    failed: dict[str, str] = {}
    loaded = {name: attempt(name, lambda name=name: load(name), failed) for name in selected}
    figures: list[Figure] = []
    for name, function in loaded.items():
        if function is None:
            continue
        console.rule(f"[bold]{name}[/] (load {load_average():.1f} on {os.cpu_count()} cores)")
        result = attempt(name, lambda f=function: timed(lambda: f(quick=quick)), failed)
        if result is not None:
            took, found = result
            console.print(f"{name}: {len(found)} figures in {took.wall:.0f} s")
            figures += found
    return figures, failed


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(figures: list[Figure], caption: str = "", judged: bool = True) -> str:
    """The table as Markdown, to paste into notes or the README."""
    met = {True: "yes", False: "**no**", None: ""}
    lines = ["| figure | ratio | target | met? | detail |", "| --- | ---: | --- | --- | --- |"]
    for f in figures:
        cells = [cell(f.name), f.value, f.target, met[verdict(f, judged)], cell(f.detail)]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines + ([f"\n{caption}"] if caption else [])) + "\n"


def parse(argv: list[str] | None, known: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"modules: {', '.join(known)}",
    )
    parser.add_argument("--quick", action="store_true", help="480p15 and fewer rounds")
    parser.add_argument("--only", type=names, help="comma-separated modules (default: all)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table here")
    args = parser.parse_args(argv)
    for name in args.only or []:
        if name not in known:
            parser.error(str(UnknownNameError("bench module", name, known)))
    return args


def main(argv: list[str] | None = None) -> int:
    known = discover()
    args = parse(argv, known)
    steady_allocator()
    start_load = load_average()
    took, (figures, failed) = timed(lambda: run(args.only or known, args.quick))
    caption = (
        f"{QUICK if args.quick else 'full settings (1080p60)'}; load {start_load:.1f} at the "
        f"start, {load_average():.1f} at the end, {os.cpu_count()} cores; "
        f"{took.wall / 60:.1f} min"
    )
    show(figures, caption, judged=not args.quick)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(figures, caption, judged=not args.quick))
        console.print(f"Wrote {args.markdown}")
    for name, error in failed.items():
        console.print(f"[red]{name} failed:[/] {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
