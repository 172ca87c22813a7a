"""Activation maximisation: step cost, batching speed-up and image quality, side by side.

1. Step cost: one optimisation step for a batch of units (parameterisation, transforms, forward
   to the layer, objective, backward, Adam) against a plain forward+backward of the same batch
   through the same layers, and against a training step's forward+backward through the whole
   model; interleaved, repeated, fastest. Target: at most 1.3× the plain pass.
2. Batching: the 64 filters of a layer optimised in one batch against 64 one-unit
   optimisations with the same settings. Figure: the speed-up.
3. Quality: each unit's best image against the unit's highest activation over the run's
   training data. Figure: the fraction of live units whose image beats every training image.

    python -m bench.actmax_bench                    # the scenes' default runs (trained if missing)
    python -m bench.actmax_bench --run runs/vgg16-synth --run runs/smallcnn-synth
    python -m bench.actmax_bench --quick            # fewer steps and repeats
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from bench.common import (
    Figure,
    before_timing,
    interleaved,
    measured,
    ratio_figure,
    show,
    timed,
)
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
from engine.models import Net
from engine.recording import load_model
from engine.scenekit import ensure_default_run, names
from engine.store import Run

PRESETS = ("smallcnn-synth", "vgg16-synth")  # the default runs the scenes show
STEP_LAYERS = {"smallcnn": ("conv2", "fc"), "vgg16": ("conv3_1", "fc3")}
BATCH_LAYERS = {"smallcnn": "conv1", "vgg16": "conv3_1"}  # 64 filters each
QUALITY_LAYERS = {"smallcnn": ("conv2", "fc"), "vgg16": ("conv2_2", "conv3_3", "conv5_3", "fc3")}
WHICH = ("step", "batch", "quality")


@dataclass(frozen=True)
class Settings:
    steps: int = 256
    """Optimisation steps for the quality figure."""
    batch_steps: int = 8
    """Steps of each optimisation in the batching figure."""
    repeats: int = 7
    """Rounds of the step-cost timing (the fastest is kept)."""
    inner: int = 5
    """Steps per timed round."""


QUICK = Settings(steps=64, batch_steps=4, repeats=3, inner=3)


def step_cost(model: Net, layer: str, settings: Settings) -> list[Figure]:
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

        took = interleaved(
            {"step": measured(opt.step, settings.inner), "plain": measured(plain, settings.inner)},
            settings.repeats,
        )
    labels = torch.randint(0, model.num_classes, (batch,))
    model.train()

    def training() -> None:
        model.zero_grad(set_to_none=True)
        model.loss(model(x), labels).backward()

    took |= interleaved({"training": measured(training, settings.inner)}, settings.repeats)
    model.eval()
    name = f"{model.arch} {layer}, {batch} units"
    return [
        ratio_figure(f"step / plain fwd+bwd, {name}", took["step"], took["plain"], "≤ 1.3"),
        ratio_figure(
            f"step / training fwd+bwd (whole net), {name}", took["step"], took["training"]
        ),
    ]


def batching(model: Net, layer: str, steps: int) -> Figure:
    """Figure 2: 64 filters in one batch against 64 separate one-filter optimisations."""
    settings = RenderSettings(steps=steps, frames=min(steps, 30))

    def separately() -> None:
        for unit in range(64):
            render(model, channel(layer, [unit]), 1, settings, quiet=True)

    took = interleaved(
        {
            "separate": measured(separately),
            "batched": measured(
                lambda: render(model, channel(layer, list(range(64))), 64, settings, quiet=True)
            ),
        },
        1,
    )
    return ratio_figure(
        f"batched speed-up, {model.arch} {layer}, 64 filters, {steps} steps",
        took["separate"],
        took["batched"],
        note="one by one vs in one batch",
    )


def quality(run: Run, model: Net, layer: str, steps: int) -> Figure:
    """Figure 3, with the recording's defaults (up to 64 images a batch, best of the starts)."""
    name = f"units beating the dataset max, {run.name} {layer}, {steps} steps"
    images = training_images(run)  # None, with a note saying why, when they cannot be loaded
    if images is None:
        return Figure(name, float("nan"), "no training images to compare with", unit="%")
    colour = colour_stats(run, images)
    units = list(range(layer_units(model, layer)))
    starts = max(1, min(4, 64 // len(units)))
    per_batch = max(1, 64 // starts)
    best, dead = [], []
    for first in range(0, len(units), per_batch):
        chunk = units[first : first + per_batch]
        objective = unit_objective(model, layer, chunk * starts)
        result = render(
            model,
            objective,
            len(chunk) * starts,
            RenderSettings(steps=steps),
            colour=colour,
            quiet=True,
        )
        result = best_candidates(result, len(chunk), starts)
        best.append(result.best_values)
        dead.append(result.dead)
    best_values, dead_units = np.concatenate(best), np.concatenate(dead)
    data_max, _ = unit_maxima(model, unit_objective(model, layer, units), images)
    live = ~dead_units
    above = best_values[live] > data_max[live]
    ratio = np.median(best_values[live] / np.maximum(data_max[live], 1e-6))
    return Figure(
        name,
        float(above.mean()) if live.any() else float("nan"),
        f"{int(above.sum())}/{int(live.sum())} live, {int(dead_units.sum())} dead "
        f"(also silent on all data: {int((data_max[dead_units] <= 0).sum())}); "
        f"median best/data max {ratio:.2f}",
        unit="%",
    )


def run_figures(run: Run, which: Sequence[str], settings: Settings) -> list[Figure]:
    model = load_model(run)
    arch, out = model.arch, []
    if "step" in which:
        for layer in STEP_LAYERS.get(arch, ()):
            out += step_cost(model, layer, settings)
    if "batch" in which and arch in BATCH_LAYERS:
        out.append(batching(model, BATCH_LAYERS[arch], settings.batch_steps))
    if "quality" in which:
        layers = QUALITY_LAYERS.get(arch, ())
        out += [quality(run, model, layer, settings.steps) for layer in layers]
    return out


def figures(
    quick: bool = False,
    runs: Sequence[str] = (),
    which: Sequence[str] = WHICH,
    settings: Settings | None = None,
) -> list[Figure]:
    """The figures ``which`` asks for, on ``runs`` or else the scenes' default runs (trained now
    if missing, by the scenes' own mechanism, and kept for them)."""
    chosen = [Run(r) for r in runs] or [ensure_default_run(p) for p in PRESETS]
    settings = settings or (QUICK if quick else Settings())
    return [figure for run in chosen for figure in run_figures(run, which, settings)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="a trained run (repeatable)")
    parser.add_argument("--steps", type=int, help="steps for the quality figure (256)")
    parser.add_argument("--batch-steps", type=int, help="steps for the batching (8)")
    parser.add_argument("--repeats", type=int, help="timed rounds of the step cost (7)")
    parser.add_argument("--inner", type=int, help="steps per timed round (5)")
    parser.add_argument("--figures", type=names, default=list(WHICH), help="which to measure")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's choice; 1 suffers least on a busy machine)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()
    given = {
        key: value
        for key in ("steps", "batch_steps", "repeats", "inner")
        if (value := getattr(args, key)) is not None
    }
    settings = replace(QUICK if args.quick else Settings(), **given)
    if args.threads:
        torch.set_num_threads(args.threads)
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    before_timing()
    took, found = timed(lambda: figures(args.quick, args.run, args.figures, settings))
    show(found, f"{took.wall:.0f} s in all", judged=not args.quick)


if __name__ == "__main__":
    main()
