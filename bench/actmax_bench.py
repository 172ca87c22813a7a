"""Activation maximisation: step cost, batching speed-up and image quality, side by side.

1. Step cost: one optimisation step for a batch of units (parameterisation, transforms, forward
   to the layer, objective, backward, Adam) against a plain forward+backward of the same batch
   through the same layers, and against a training step's forward+backward through the whole
   model; interleaved, repeated, median. Target: at most 1.3× the plain pass.
2. Batching: the 64 filters of a layer optimised in one batch against 64 one-unit
   optimisations with the same settings. Figure: the speed-up.
3. Quality: each unit's best image against the unit's highest activation over the run's
   training data. Figure: the fraction of live units whose image beats every training image.

    python -m bench.actmax_bench                    # slim runs trained on the spot, minutes
    python -m bench.actmax_bench --run runs/vgg16-synth --run runs/smallcnn-synth
    python -m bench.actmax_bench --quick            # fewer steps and repeats
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from engine.actmax import (
    Optimisation,
    RenderSettings,
    channel,
    forward_to,
    frozen,
    render,
    unit_objective,
)
from engine.actmax.objectives import layer_units
from engine.actmax.record import best_candidates, colour_stats, training_images, unit_maxima
from engine.console import console
from engine.models.net import LayeredNet
from engine.presets import preset_config
from engine.store import Run
from engine.training import train

PRESETS = {"smallcnn-synth": 2048, "vgg16-synth": 3072}  # training images for the bench runs
STEP_LAYERS = {"smallcnn": ("conv2", "fc"), "vgg16": ("conv3_1", "fc3")}
BATCH_LAYERS = {"smallcnn": "conv1", "vgg16": "conv3_1"}  # 64 filters each
QUALITY_LAYERS = {"smallcnn": ("conv2", "fc"), "vgg16": ("conv2_2", "conv3_3", "conv5_3", "fc3")}


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    detail: str
    target: str


def bench_runs(folder: Path) -> list[Run]:
    """The slim presets on a subset of their data, one epoch each: real trained networks."""
    runs = []
    for preset, size in PRESETS.items():
        config = preset_config(preset)
        config.data_settings.update(train_size=size, val_size=256)
        config.epochs, config.record = 1, None
        with console.status(f"training {preset} ({size} images, 1 epoch) for the benchmark"):
            train(config, folder / preset, quiet=True)
        runs.append(Run(folder / preset))
    return runs


def interleaved(tasks: dict[str, Callable[[], None]], repeats: int, inner: int) -> dict:
    """Median seconds per call of each task, run in alternating order ``repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in tasks}
    names = list(tasks)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(inner):
                tasks[name]()
            times[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(values) for name, values in times.items()}


def step_cost(model: LayeredNet, layer: str, repeats: int, inner: int) -> tuple[Row, Row]:
    """Figure 1 for every unit of ``layer`` (at most 64) in one batch."""
    units = list(range(min(64, layer_units(model, layer))))
    objective = unit_objective(model, layer, units)
    batch = len(units)
    with frozen(model):
        opt = Optimisation(model, objective, batch, RenderSettings())
        for _ in range(opt.settings.redirect_steps + 2):  # steady state: past the redirect
            opt.step()
        x = torch.rand(batch, *model.input_shape)

        def plain() -> None:
            image = x.clone().requires_grad_(True)
            objective(forward_to(model, image, objective.layers)).sum().backward()

        timed = interleaved({"step": opt.step, "plain": plain}, repeats, inner)
    labels = torch.randint(0, model.num_classes, (batch,))
    model.train()

    def training() -> None:
        model.zero_grad(set_to_none=True)
        model.loss(model(x), labels).backward()

    timed.update(interleaved({"training": training}, repeats, inner))
    model.eval()
    step, plain_s, train_s = timed["step"], timed["plain"], timed["training"]
    name = f"{model.arch} {layer}, {batch} units"
    return (
        Row(
            f"step / plain fwd+bwd, {name}",
            step / plain_s,
            "×",
            f"{step * 1e3:.1f} ms vs {plain_s * 1e3:.1f} ms",
            "≤ 1.3",
        ),
        Row(
            f"step / training fwd+bwd (whole net), {name}",
            step / train_s,
            "×",
            f"{step * 1e3:.1f} ms vs {train_s * 1e3:.1f} ms",
            "",
        ),
    )


def batching(model: LayeredNet, layer: str, steps: int) -> Row:
    """Figure 2: 64 filters in one batch against 64 separate one-filter optimisations."""
    settings = RenderSettings(steps=steps, frames=min(steps, 30))
    start = time.perf_counter()
    render(model, channel(layer, list(range(64))), 64, settings, quiet=True)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for unit in range(64):
        render(model, channel(layer, [unit]), 1, settings, quiet=True)
    separate = time.perf_counter() - start
    return Row(
        f"batched speed-up, {model.arch} {layer}, 64 filters, {steps} steps",
        separate / batched,
        "×",
        f"{batched:.1f} s in one batch vs {separate:.1f} s one by one",
        "",
    )


def quality(run: Run, model: LayeredNet, layer: str, settings: RenderSettings) -> Row:
    """Figure 3, with the recording's defaults (up to 64 images a batch, best of the starts)."""
    images = training_images(run, quiet=True)
    colour = colour_stats(run, images)
    units = list(range(layer_units(model, layer)))
    starts = max(1, min(4, 64 // len(units)))
    per_batch = max(1, 64 // starts)
    best, dead = [], []
    for first in range(0, len(units), per_batch):
        chunk = units[first : first + per_batch]
        objective = unit_objective(model, layer, chunk * starts)
        result = render(model, objective, len(chunk) * starts, settings, colour=colour, quiet=True)
        result = best_candidates(result, len(chunk), starts)
        best.append(result.best_values)
        dead.append(result.dead)
    best_values, dead_units = np.concatenate(best), np.concatenate(dead)
    data_max, _ = unit_maxima(model, unit_objective(model, layer, units), images)
    live = ~dead_units
    above = best_values[live] > data_max[live]
    ratio = np.median(best_values[live] / np.maximum(data_max[live], 1e-6))
    return Row(
        f"units beating the dataset max, {model.arch} {layer}",
        float(above.mean()) if live.any() else float("nan"),
        "",
        f"{int(above.sum())}/{int(live.sum())} live, {int(dead_units.sum())} dead "
        f"(also silent on all data: {int((data_max[dead_units] <= 0).sum())}); "
        f"median best/data max {ratio:.2f}",
        "",
    )


def run_all(runs: list[Run], args: argparse.Namespace) -> list[Row]:
    rows = []
    settings = RenderSettings(steps=args.steps)
    figures = set(args.figures.split(","))
    for run in runs:
        model = run.load_model()
        arch = model.arch
        for layer in STEP_LAYERS.get(arch, ()) if "step" in figures else ():
            rows.extend(step_cost(model, layer, args.repeats, args.inner))
        if arch in BATCH_LAYERS and "batch" in figures:
            rows.append(batching(model, BATCH_LAYERS[arch], args.batch_steps))
        for layer in QUALITY_LAYERS.get(arch, ()) if "quality" in figures else ():
            rows.append(quality(run, model, layer, settings))
    return rows


def show(rows: list[Row]) -> None:
    table = Table("figure", "value", "detail", "target", title="activation maximisation")
    for row in rows:
        value = f"{row.value:.0%}" if row.unit == "" else f"{row.value:.2f}{row.unit}"
        table.add_row(row.figure, f"[bold]{value}", row.detail, row.target)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", help="a trained run to use (repeatable)")
    parser.add_argument("--steps", type=int, default=256, help="steps for the quality figure")
    parser.add_argument("--batch-steps", type=int, default=8, help="steps for the batching")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=5, help="steps per timed repeat")
    parser.add_argument("--figures", default="step,batch,quality", help="which to measure")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.batch_steps, args.repeats, args.inner = 64, 4, 3, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:
        console.print(
            f"[yellow]The machine is busy (load {load:.1f} on {cores} cores): timings are "
            "unreliable; --threads 1 suffers least."
        )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [Run(r) for r in args.run] if args.run else bench_runs(Path(tmp))
        rows = run_all(runs, args)
    show(rows)
    console.print(f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
