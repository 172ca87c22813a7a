"""One console for all of nnreel's messages, and the progress bars of long work."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True, highlight=False)


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class RateColumn(ProgressColumn):
    """Steps per second, smoothed by rich over the last few updates."""

    def __init__(self, unit: str = "steps"):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} {self.unit}/s" if speed else f"  ... {self.unit}/s", "cyan")


def progress_bar(*fields: str, unit: str = "steps") -> Progress:
    """A bar with a description, counts, rate, elapsed/remaining time and named fields
    (each shown as ``name value``) that callers update as they go."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f"{name} {{task.fields[{name}]}}") for name in fields),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, console=console, transient=False)
