"""Activation maximisation: images that make chosen units of a trained network fire.

Small composable pieces, in the spirit of Lucid/Lucent but batched: a parameterisation
(``param``), random transforms (``transforms``), objectives that add and scale, one term per
image (``objectives``), optional classic regularisers (``regularizers``), an Adam loop that
records the images growing on a log-spaced schedule (``render``), and the run-store recording
the scenes read (``record``).

    from engine.actmax import record_actmax, load_actmax
    record_actmax("vgg16-synth", "conv3_1", "all", RenderSettings(steps=256))
    rec = load_actmax("vgg16-synth", "conv3_1")   # rec.frames [F, U, C, H, W] uint8
"""

from engine.actmax.objectives import (
    Activations,
    Objective,
    channel,
    class_logit,
    deepdream,
    diversity,
    forward_to,
    lp_norm,
    neuron,
    total_variation,
    unit_objective,
)
from engine.actmax.param import ColourStats, make_param
from engine.actmax.record import (
    ActmaxRecording,
    load_actmax,
    record_actmax,
    recorded_layers,
)
from engine.actmax.regularizers import Regularizers
from engine.actmax.render import Optimisation, RenderResult, RenderSettings, frozen, render
from engine.actmax.transforms import Transforms, random_affine

__all__ = [
    "Activations",
    "ActmaxRecording",
    "ColourStats",
    "Objective",
    "Optimisation",
    "Regularizers",
    "RenderResult",
    "RenderSettings",
    "Transforms",
    "channel",
    "class_logit",
    "deepdream",
    "diversity",
    "forward_to",
    "frozen",
    "load_actmax",
    "lp_norm",
    "make_param",
    "neuron",
    "random_affine",
    "record_actmax",
    "recorded_layers",
    "render",
    "total_variation",
    "unit_objective",
]
