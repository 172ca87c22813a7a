"""Mlp: seed 002's whole video in one file, from one recorded run: the fit (``fitting``), every
neuron over the plane (``neurons``), then which weights carry the decision (``weights``),
each replaying training with its step counter and opened by a title card. The three parts'
captions run on in one ``Mlp.srt``.

    manim scenes/mlp.py                                      # the default run (mlp-ring)
    NNREEL_RUN=spiral manim scenes/mlp.py
    NNREEL_SET="seconds=10 tour=0.4" manim -ql scenes/mlp.py

Options (``NNREEL_SET`` or ``python -m engine render mlp --set KEY=VALUE``): those of the three
scenes (``seconds`` is the length of each replay of training); ``nnreel scenes mlp`` lists them.
"""

from __future__ import annotations

from engine.scenekit import ChainScene


class Mlp(ChainScene):
    """The fit, the neurons and the weights of one MLP run, one after another."""

    default_preset = "mlp-ring"
    parts = ("fitting", "neurons", "weights")
