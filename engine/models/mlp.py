"""The multilayer perceptron of seed 002: 2-D points in, a class out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from engine.models.layers import Dense, Logits
from engine.models.net import LayeredNet
from engine.models.registry import register_model


@register_model()
def mlp(
    hidden: Sequence[int] = (9, 9),
    activation: str = "relu",
    in_features: int = 2,
    num_classes: int = 2,
) -> LayeredNet:
    """Hidden layers ``hidden1 … hiddenN`` then ``output``.

    Two classes get a single logit read through a sigmoid, as in seed 002, so "the output
    neuron" is one real unit whose contributions can be traced back.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for i, units in enumerate(hidden, start=1):
        layers[f"hidden{i}"] = Dense(width, int(units), activation)
        width = int(units)
    layers["output"] = Logits(width, 1 if num_classes == 2 else num_classes)
    return LayeredNet(
        layers,
        arch="mlp",
        input_shape=(in_features,),
        num_classes=num_classes,
        config={"hidden": [int(h) for h in hidden], "activation": activation},
    )
