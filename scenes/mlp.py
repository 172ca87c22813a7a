"""Mlp: seed 002's whole video in one file, from one recorded run: the fit (``fitting``), every
neuron over the plane (``neurons``), then which weights carry the decision (``weights``),
each replaying training with its step counter, joined by a short fade. The three parts'
captions run on in one ``Mlp.srt``.

    manim scenes/mlp.py                                      # the default run (mlp-ring)
    NNREEL_RUN=spiral manim scenes/mlp.py
    NNREEL_SET="seconds=10 tour=0.4" manim -ql scenes/mlp.py

Options (``NNREEL_SET`` or ``python -m engine render mlp --set KEY=VALUE``): those of the three
scenes (``seconds`` is the length of each replay of training); see ``OPTIONS``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

from manim import FadeIn

from engine.scenekit import Option, RunScene

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scene files
import fitting  # scenes/ is not a package: one scene per file for `manim`
import neurons
import weights

OPTIONS: dict[str, Option] = {**fitting.OPTIONS, **neurons.OPTIONS, **weights.OPTIONS}


def fade_out(scene: RunScene, seconds: float = 0.5) -> None:
    """Fade everything to the background, then empty the scene: one cover fades in over the
    rest, so the frames cost one fill each."""
    scene.play(FadeIn(fitting.cover()), run_time=seconds)
    scene.clear()


class Mlp(RunScene):
    """The fit, the neurons and the weights of one MLP run, one after another."""

    default_preset = "mlp-ring"
    options: ClassVar[dict[str, Option]] = OPTIONS

    def construct(self) -> None:
        fitting.fitting_part(self)
        fade_out(self)
        neurons.neurons_part(self)
        fade_out(self)
        weights.weights_part(self)
