"""Recordings a scene makes on first use and keeps in the run: activation-maximisation images
and dataset examples.

A scene that shows what units want to see reads ``engine.actmax`` recordings from the run
(``actmax/<layer>/...``). When the layer has none yet, or lacks units the scene shows, it is
recorded now, once, under a lock (two renders never record into the same run at once: they
wait for each other rather than meet the run's one-writer lock), and every later render
reuses it. The validation images that excite each unit most
(``engine.analysis.examples``, ``examples/<layer>/...``) are found and kept the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from engine.actmax import ActmaxRecording, RenderSettings, load_actmax, record_actmax
from engine.actmax import recorded_layers as actmax_layers
from engine.analysis.examples import (
    Examples,
    load_examples,
    record_examples,
    recorded_example_layers,
)
from engine.console import console
from engine.scenekit.base import locked
from engine.store import LayerInfo, Run

RECORD_ALL = 64
"""Layers with at most this many units are recorded whole (cheap; other scenes reuse it)."""


def recording_lock(run: Run) -> contextlib.AbstractContextManager[None]:
    """The lock a render waits on before recording anything into ``run``."""
    return locked(run.folder.parent / f".{run.name}.recording.lock")


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch's CPU threads set to ``count`` for the duration (None: left as they are). Small
    batches of small images gain little from a second thread, and on a busy machine two
    threads wait for each other: one thread was 3–10× faster than two here while other work
    shared the two cores."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def ensure_actmax(
    run: Run,
    info: LayerInfo,
    units: Sequence[int] | None = None,
    *,
    steps: int,
    threads: int | None = None,
) -> ActmaxRecording:
    """The run's activation-maximisation recording of layer ``info``, holding at least
    ``units`` (None: every unit). Made now, with ``steps`` optimisation steps on ``threads``
    CPU threads, when it is missing or lacks some of them: the whole layer when it has at most
    ``RECORD_ALL`` units, else the units wanted together with those it already holds."""
    count = int(info.output_shape[0])
    wanted = set(range(count) if units is None else units)
    with recording_lock(run):
        fresh = Run(run.folder)
        have = load_actmax(fresh, info.name).units if info.name in actmax_layers(fresh) else []
        if not wanted <= set(have):
            record = "all" if units is None or count <= RECORD_ALL else sorted(wanted | set(have))
            shown = count if record == "all" else len(record)
            console.print(
                f"[bold]No activation-maximisation images of {info.name!r} in {run.name!r} "
                f"yet[/]: growing {shown} of its {count} units from noise now ({steps} steps; "
                "once, kept in the run)."
            )
            with torch_threads(threads):
                record_actmax(fresh.folder, info.name, record, RenderSettings(steps=steps))
    return load_actmax(run.folder, info.name)


def ensure_examples(run: Run, layers: Sequence[LayerInfo]) -> dict[str, Examples]:
    """Each layer's top validation images per unit, found now (the dataset loaded once for
    all the layers missing) when the run does not hold them yet."""
    with recording_lock(run):
        fresh = Run(run.folder)
        missing = [info for info in layers if info.name not in recorded_example_layers(fresh)]
        if missing:
            names = ", ".join(info.name for info in missing)
            console.print(
                f"[bold]No dataset examples of {names} in {run.name!r} yet[/]: finding the "
                "validation images that excite each unit most (once, kept in the run)."
            )
            record_examples(fresh, missing)
    fresh = Run(run.folder)
    return {info.name: load_examples(fresh, info.name) for info in layers}
