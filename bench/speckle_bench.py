"""Speckle in activation-maximisation images: the share of isolated pixels (salt and pepper,
``engine.actmax.regularizers.isolated_share``) without and with the default light blur, the
same units optimised side by side from the same start, and what each reached against the
unit's best training image (the blur must not cost activation).

    python -m bench.speckle_bench                   # the scenes' default runs (trained if missing)
    python -m bench.speckle_bench --quick           # fewer units and steps
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bench.common import Figure, show, timed
from engine.actmax import Regularizers, RenderSettings, render, unit_objective
from engine.actmax.objectives import layer_units
from engine.actmax.record import colour_stats, training_images, unit_maxima
from engine.actmax.regularizers import isolated_share
from engine.recording import load_model
from engine.scenekit import ensure_default_run
from engine.store import Run

LAYERS = {"smallcnn-synth": ("conv2", "fc"), "vgg16-synth": ("conv3_3", "fc3")}
BEFORE = Regularizers(blur_every=0)
"""The settings before the blur became the default: no regulariser at all."""


def compare(run: Run, layer: str, units: int, steps: int) -> list[Figure]:
    """The same units of ``layer`` optimised without and with the default blur."""
    model = load_model(run)
    images = training_images(run, quiet=True)
    colour = colour_stats(run, images)
    chosen = list(range(min(units, layer_units(model, layer))))
    data_max, _ = unit_maxima(model, unit_objective(model, layer, chosen), images)
    found = {}
    for name, regularizers in (("without", BEFORE), ("with", Regularizers())):
        result = render(
            model,
            unit_objective(model, layer, chosen),
            len(chosen),
            RenderSettings(steps=steps, regularizers=regularizers),
            colour=colour,
            quiet=True,
        )
        reached = np.median(result.best_values / np.maximum(data_max, 1e-6))
        found[name] = (isolated_share(result.best), reached)
    (before, reached_before), (after, reached_after) = found["without"], found["with"]
    where = f"{run.name} {layer}, {len(chosen)} units, {steps} steps"
    return [
        Figure(
            f"isolated pixels without → with the default blur, {where}",
            after / before if before else float("nan"),
            f"{before:.2%} → {after:.2%}; median best/data max {reached_before:.2f} → "
            f"{reached_after:.2f}",
        )
    ]


def figures(quick: bool = False, units: int = 32, steps: int = 256) -> list[Figure]:
    if quick:
        units, steps = 8, 64
    out = []
    for preset, layers in LAYERS.items():
        run = ensure_default_run(preset)
        for layer in layers:
            out += compare(run, layer, units, steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32, help="units per layer (32)")
    parser.add_argument("--steps", type=int, default=256, help="optimisation steps (256)")
    parser.add_argument("--quick", action="store_true", help="8 units, 64 steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    took, found = timed(lambda: figures(args.quick, args.units, args.steps))
    show(found, f"{took.wall:.0f} s in all", judged=not args.quick)


if __name__ == "__main__":
    main()
