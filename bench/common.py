"""What every benchmark shares: the ``Figure`` row, side-by-side timing, the moving-dot floor
scene and the render helpers. A figure is always a ratio of two things measured in one process,
interleaved, so the machine's other load falls on both sides of it."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import operator
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from manim import LEFT, RIGHT, Dot, Scene, linear, tempconfig
from rich.console import Console
from rich.table import Table

from engine.console import console
from engine.scenekit import RUN_ENV, find_run, names
from engine.store import Run
from engine.video.catalog import scene_class
from engine.video.render import manim_config, render_scene

T = TypeVar("T")

FLOOR_TARGET = "≤ 1.5"
"""A scene renders at 1080p60 in at most 1.5× the time of the trivial scene of its length."""
RESOLUTIONS = {"high": "1080p60", "low": "480p15"}

TARGET = re.compile(r"(≤|≥|<|>) ?(\d+(?:\.\d+)?)")
COMPARISONS = {"≤": operator.le, "≥": operator.ge, "<": operator.lt, ">": operator.gt}


# -- the row ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """One row of the benchmark table.

    ``target`` is a comparison and a number (``"≤ 1.5"``, ``"≥ 20"``, ``"< 2"``), or empty for a
    figure reported without a bar; ``unit`` is how the ratio reads: ``"×"``, ``" MB"``, or
    ``"%"`` for a fraction."""

    name: str
    ratio: float
    detail: str = ""
    target: str = ""
    unit: str = "×"

    def __post_init__(self) -> None:
        if self.target and not TARGET.fullmatch(self.target):
            raise ValueError(f"target {self.target!r}: write ≤, ≥, < or > and a number")

    @property
    def met(self) -> bool | None:
        """Whether the ratio meets the target; None without one. NaN never meets it."""
        if not self.target:
            return None
        sign, bound = TARGET.fullmatch(self.target).groups()
        return COMPARISONS[sign](self.ratio, float(bound))

    @property
    def value(self) -> str:
        return f"{self.ratio:.0%}" if self.unit == "%" else f"{self.ratio:.2f}{self.unit}"


def verdict(figure: Figure, judged: bool) -> bool | None:
    """``figure.met``, or None when not ``judged``: a quick run is a smoke test, and the bars
    hold for the full settings (1080p60, whole epochs), not for its small ones."""
    return figure.met if judged else None


def table(figures: list[Figure], caption: str = "", judged: bool = True) -> Table:
    """The figures as one rich table: figure, ratio, target, met?, detail."""
    out = Table("figure", "ratio", "target", "met?", "detail", caption=caption or None)
    for figure in figures:
        met = {True: "[green]yes", False: "[red]no", None: ""}[verdict(figure, judged)]
        out.add_row(figure.name, f"[bold]{figure.value}", figure.target, met, figure.detail)
    return out


def show(figures: list[Figure], caption: str = "", judged: bool = True) -> None:
    """Print the table on stdout (messages and progress go to stderr)."""
    Console(highlight=False).print(table(figures, caption, judged))


# -- timing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Took:
    """Wall seconds (what the bars are about) and CPU seconds of this process, every thread
    included: CPU time moves far less with other load, so it is shown beside."""

    wall: float
    cpu: float

    def __truediv__(self, calls: float) -> Took:
        return Took(self.wall / calls, self.cpu / calls)

    def __add__(self, other: Took) -> Took:
        return Took(self.wall + other.wall, self.cpu + other.cpu)


def timed(work: Callable[[], T]) -> tuple[Took, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return Took(time.perf_counter() - wall, time.process_time() - cpu), result


def measured(work: Callable[[], object], inner: int = 1) -> Callable[[], Took]:
    """``work`` as a task for ``interleaved``: called ``inner`` times, timed per call."""

    def task() -> Took:
        took, _ = timed(lambda: [work() for _ in range(inner)])
        return took / inner

    return task


def rounds(tasks: Mapping[str, Callable[[], Took]], repeats: int) -> dict[str, list[Took]]:
    """Every round's time of each task (each measures itself, so its set-up can stay out),
    run in turn, in the given order first and reversed every other round, so that round i of
    two tasks ran next to each other."""
    names = list(tasks)
    took: dict[str, list[Took]] = {name: [] for name in names}
    for round_ in range(max(1, repeats)):
        for name in names if round_ % 2 == 0 else names[::-1]:
            took[name].append(tasks[name]())
    return took


def fastest(times: Sequence[Took]) -> Took:
    """Other load only ever adds time, so the fastest round is the closest to a task's cost."""
    return Took(min(t.wall for t in times), min(t.cpu for t in times))


def interleaved(tasks: Mapping[str, Callable[[], Took]], repeats: int) -> dict[str, Took]:
    """The fastest of ``repeats`` interleaved ``rounds`` of each task."""
    return {name: fastest(times) for name, times in rounds(tasks, repeats).items()}


def per_round(ours: Sequence[Took], base: Sequence[Took]) -> str:
    """The wall-time ratio of each round's pair, as its median and range: one lucky fast round
    on either side moves the fastest-of-N ratio, and this shows by how much."""
    ratios = sorted(a.wall / b.wall for a, b in zip(ours, base, strict=True))
    if len(ratios) < 2:
        return ""
    median = statistics.median(ratios)
    return f"per round {median:.2f}× (median; {ratios[0]:.2f}–{ratios[-1]:.2f}×)"


def repeated_note(ours: Sequence[Took], base: Sequence[Took]) -> str:
    """Says "fastest of N", with the per-round ratios beside it."""
    if len(ours) < 2:
        return ""
    return f"fastest of {len(ours)}; {per_round(ours, base)}"


def duration(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.1f} s"


def ratio_figure(name: str, ours: Took, base: Took, target: str = "", note: str = "") -> Figure:
    """``ours`` against ``base`` in wall time, with both sides in wall and CPU time."""
    detail = (
        f"wall {duration(ours.wall)} vs {duration(base.wall)}; CPU {duration(ours.cpu)} vs "
        f"{duration(base.cpu)} ({ours.cpu / base.cpu:.2f}×)"
    )
    return Figure(name, ours.wall / base.wall, f"{detail}; {note}" if note else detail, target)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (``malloc.h``)."""
STEADY_MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from the heap (glibc's largest mmap threshold)."""
STEADY_TRIM_THRESHOLD = 1 << 30
"""Free heap kept for reuse before any is given back to the system."""


def steady_allocator() -> bool:
    """Fix glibc's malloc thresholds for this process; False where there is no ``mallopt``.

    By default glibc moves both thresholds as blocks are freed and hands free heap back to the
    system past the trim threshold, so a tensor of a few MB comes from fresh pages at moments
    that depend on what ran before. On these VMs a page fault costs about 5 µs: one 8 s
    ResNet-18 loop took 600,000 of them and the same loop next to it none, which moved single
    rounds by 10–30 %, on either side of a figure. Fixed thresholds keep freed blocks for
    reuse, so the figures measure nnreel instead of the allocator's state."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mmap = mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
    return bool(mmap and mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD))


def before_timing() -> None:
    """What a bench does before it times anything: steady the allocator, and warn when the
    machine is busy."""
    steady_allocator()
    warn_if_busy()


def load_average() -> float:
    return os.getloadavg()[0]


def warn_if_busy() -> None:
    """Say so when other work holds every core: then even side-by-side ratios wobble."""
    load, cores = load_average(), os.cpu_count() or 1
    if load > cores:
        console.print(
            f"[yellow]The machine is busy (load {load:.1f} on {cores} cores): timings are "
            "unreliable."
        )


# -- rendering --------------------------------------------------------------------------------
class MovingDot(Scene):
    """The floor: one dot crossing the frame, so Manim only clears and encodes frames."""

    def __init__(self, seconds: float, **kwargs):
        self.seconds = seconds
        super().__init__(**kwargs)

    def construct(self) -> None:
        dot = Dot().shift(5 * LEFT)
        self.play(dot.animate.shift(10 * RIGHT), run_time=self.seconds, rate_func=linear)


def quality(quick: bool) -> str:
    """The bars are about 1080p60; a quick smoke test renders 480p15."""
    return "low" if quick else "high"


def render_class(make: Callable[[], Scene], media: Path, **settings) -> Path:
    """Render a scene built inside the render's config (its camera takes the frame size then);
    ``make`` is a Scene class or a ``partial`` of one. Returns the video."""
    with manim_config(media_dir=media, **settings):
        scene = make()
        scene.render()
        return Path(scene.renderer.file_writer.movie_file_path)


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration / av.time_base)


@contextlib.contextmanager
def render_media() -> Iterator[Path]:
    """A scratch media folder, with Manim's progress bars off so they do not bury the output."""
    with tempfile.TemporaryDirectory() as tmp, tempconfig({"progress_bar": "none"}):
        yield Path(tmp)


@contextlib.contextmanager
def showing(run: str | None) -> Iterator[None]:
    """Scenes inside show ``run`` (``$NNREEL_RUN``), or their default runs when None; restored
    after, so one bench's choice does not leak into the next."""
    before = os.environ.get(RUN_ENV)
    if run:
        os.environ[RUN_ENV] = run
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = before


def prepare_scene(name: str) -> tuple[type[Scene], Run]:
    """Scene ``name``'s class and run, before anything is timed: imports are paid once per
    process, and a missing default run is trained now by the scenes' own mechanism and kept in
    runs/, so every later bench and scene shares it."""
    cls = scene_class(name)
    return cls, find_run(cls.default_preset, os.environ.get(RUN_ENV) or None)


def against_floor(name: str, media: Path, quick: bool, repeats: int) -> tuple[Figure, Path]:
    """Scene ``name`` against the moving dot of the same length, and the scene's video."""
    q = quality(quick)
    video: list[Path] = []  # the first round renders the scene first: the dot needs its length

    def scene() -> None:
        video.append(render_scene(name, quality=q, media_dir=media))

    def floor() -> None:
        render_class(partial(MovingDot, video_seconds(video[0])), media, quality=q)

    took = rounds({"scene": measured(scene), "dot": measured(floor)}, repeats)
    seconds = video_seconds(video[0])
    figure = ratio_figure(
        f"{name} vs one moving dot, {RESOLUTIONS[q]}, {seconds:.1f} s",
        fastest(took["scene"]),
        fastest(took["dot"]),
        FLOOR_TARGET,
        repeated_note(took["scene"], took["dot"]),
    )
    return figure, video[0]


def floor_figures(scenes: list[str], quick: bool, repeats: int) -> list[Figure]:
    """Every scene against its floor, their runs found (or trained) before any timing."""
    for name in scenes:
        prepare_scene(name)
    with render_media() as media:
        return [against_floor(name, media, quick, repeats)[0] for name in scenes]


def scene_main(doc: str, figures: Callable[..., list[Figure]], scenes: Sequence[str]) -> None:
    """The command line of a bench of scenes against their floors, run alone."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p15 instead of 1080p60")
    parser.add_argument("--scenes", type=names, default=list(scenes), help="comma-separated")
    parser.add_argument("--run", help="the run every scene shows (default: each scene's own)")
    parser.add_argument("--repeats", type=int, default=1, help="scene/dot rounds (fastest)")
    args = parser.parse_args()
    before_timing()
    show(figures(args.quick, args.scenes, args.run, args.repeats), judged=not args.quick)
