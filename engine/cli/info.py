"""``info``: what a run is, what it recorded, on which steps, and how much disk it takes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from engine.console import console

if TYPE_CHECKING:
    from engine.store import Run

SHORT_DTYPES = {"float16": "f16", "float32": "f32", "uint8": "u8", "int64": "i64"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a run: layer table, streams, steps, sizes (no RUN: list runs)",
        description="Describe a recorded run. Without RUN, list the runs under runs/ "
        "(or $NNREEL_RUNS).",
    )
    parser.add_argument("run", nargs="?", help="run name under runs/ or a run folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.store import Run

    if args.run is None:
        list_runs()
    else:
        describe(Run(args.run))
    return 0


def list_runs() -> None:
    from engine.store import Run, runs_root

    root = runs_root()
    folders = sorted(p for p in root.glob("*") if (p / "manifest.json").exists())
    if not folders:
        console.print(f"No runs under {root}. Train one: python -m engine train vgg16-synth")
        return
    table = Table("run", "status", "model", "dataset", "step", title=f"runs in {root}")
    for folder in folders:
        try:
            r = Run(folder)
        except Exception as exc:  # a broken run is listed, not fatal
            table.add_row(escape(folder.name), f"[red]unreadable: {escape(str(exc))}", "", "", "")
            continue
        p = r.manifest["progress"]
        table.add_row(
            escape(r.name),
            r.status,
            escape(r.model["arch"]),
            escape(str(r.dataset.get("name", "?"))),
            f"{p.get('step', 0):,}/{_count(p.get('total_steps'))}",
        )
    console.print(table)


def print_plain(text: str) -> None:
    """Text from a manifest, printed as it is (a run folder is untrusted: no markup)."""
    console.print(escape(text))


def writer_note(r: Run) -> str:
    """Who writes the run now; for a 'running' run that nobody writes, how to go on."""
    pid = r.writer_pid()
    if pid is not None:
        return f" (being written by process {pid})" if pid > 0 else " (being written)"
    if r.status == "running":
        return (
            "\n[yellow]No process is writing it: it was stopped abruptly (killed, or a "
            f"crash). Continue it with `python -m engine train --resume {r.folder}`."
        )
    return ""


def lost_note(r: Run) -> str:
    """For a run whose last snapshots never reached the disk: what it reads as now."""
    if not r.lost:
        return ""
    step = (r.manifest.get("checkpoint") or {}).get("step", 0)
    return (
        f"\n[yellow]The machine stopped before {sum(r.lost.values()):,} recorded snapshots "
        f"reached the disk (a power cut, a crash): the run reads as at its checkpoint, step "
        f"{step:,}."
    )


def describe(r: Run) -> None:
    from engine.store import human_bytes

    p, h = r.manifest["progress"], r.hparams
    console.print(
        f"[bold]{escape(r.name)}[/]  ({escape(str(r.folder))})  status: [bold]{r.status}[/] "
        f"{escape(r.manifest.get('message', ''))}{lost_note(r)}{writer_note(r)}"
    )
    model = r.model
    print_plain(
        f"model {model['arch']} {model.get('config', {})}, input {model.get('input_shape')}, "
        f"{model.get('num_classes')} classes; dataset {r.dataset.get('name')} "
        f"({r.dataset.get('train_size')} train / {r.dataset.get('val_size')} val)"
    )
    print_plain(
        f"step {p.get('step', 0):,} of {_count(p.get('total_steps'))} "
        f"(epoch {p.get('epoch', 0)} of {p.get('epochs') or '?'}); "
        f"{h.get('optimizer')} lr {h.get('lr')}, "
        f"batch {h.get('batch_size')}, seed {h.get('seed')}"
    )
    layers = Table("layer", "kind", "output shape", "parameters", "MACs", "from", title="layers")
    skips = {(edge.source, edge.target) for edge in r.graph.skips}
    for layer in r.layers:
        sources = [f"{s} (skip)" if (s, layer.name) in skips else s for s in layer.inputs]
        layers.add_row(
            escape(layer.name),
            escape(layer.kind),
            "×".join(map(str, layer.output_shape)),
            f"{layer.params:,}",
            f"{layer.macs:,}",
            escape(", ".join(sources)),
        )
    layers.add_row(
        "[bold]total",
        "",
        "",
        f"[bold]{sum(x.params for x in r.layers):,}",
        f"[bold]{sum(x.macs for x in r.layers):,}",
        "",
    )
    console.print(layers)
    usage = r.disk_usage()
    streams = Table(title="streams")  # on a narrow terminal the cadences wrap, nothing is cut
    every = {**r.streams, **r.computed}
    streams.add_column("stream", no_wrap=True, min_width=max(map(len, every), default=6))
    streams.add_column("shape", no_wrap=True)
    streams.add_column("snapshots")
    streams.add_column("steps", no_wrap=True)
    streams.add_column("on disk", no_wrap=True, min_width=9)
    for name, info in sorted(every.items()):
        steps = r.steps(name) if info.count else []
        span = f"{steps[0]:,}…{steps[-1]:,}" if len(steps) else "-"
        shape = "×".join(map(str, info.shape)) or "scalar"
        streams.add_row(
            name,
            f"{shape} {SHORT_DTYPES.get(info.dtype, info.dtype)}",
            f"{info.count}/{info.capacity} ({escape(info.cadence)})",
            span,
            human_bytes(usage[name]) if name in usage else r.aliases.get(name, "computed"),
        )
    console.print(streams)
    console.print(  # stream files are allocated whole; small ones take whole disk blocks
        f"on disk: {human_bytes(sum(usage.values()))}, for streams of "
        f"{human_bytes(r.manifest.get('size_bytes', 0))} when full"
    )


def _count(value: int | None) -> str:
    """A step count, or ``?`` for a loop of unknown length."""
    return f"{value:,}" if value is not None else "?"
