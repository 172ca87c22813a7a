"""The layer kinds every nnreel model is built from.

Each layer is one named stage of a ``LayeredNet`` and its output is the network's real
activation at that point (post-ReLU for conv and dense blocks). Each class carries a ``kind``
that the store, the summary and the scenes use to decide how to treat and draw it.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    from engine.errors import UnknownNameError

    if name not in ACTIVATIONS:
        raise UnknownNameError("activation", name, ACTIVATIONS)
    # Never in-place: a hook on the layer before would see its output overwritten.
    return ACTIVATIONS[name]()


class Normalize(nn.Module):
    """Maps [0, 1] pixels to the normalised input the network trained on.

    Living inside the model keeps every caller (training, probes, activation maximisation,
    display) in plain pixel space.
    """

    kind = "normalize"

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvBlock(nn.Sequential):
    """Conv, optional BatchNorm, activation: the output is the post-activation feature map."""

    kind = "conv"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        batchnorm: bool = True,
        bias: bool | None = None,
        activation: str = "relu",
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            padding=padding,
            bias=(not batchnorm) if bias is None else bias,
        )
        if batchnorm:
            self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_activation(activation)


class Pool(nn.MaxPool2d):
    kind = "pool"

    def __init__(self, size: int = 2):
        super().__init__(size)


class GlobalAvgPool(nn.Module):
    """Mean over the spatial axes, giving one value per channel."""

    kind = "gap"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Flatten(nn.Flatten):
    kind = "flatten"


class Dense(nn.Sequential):
    """Linear, activation, optional dropout: the output is the post-activation vector."""

    kind = "dense"

    def __init__(
        self, in_features: int, out_features: int, activation: str = "relu", dropout: float = 0.0
    ):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.act = make_activation(activation)
        if dropout > 0:
            self.dropout = nn.Dropout(dropout)


class Logits(nn.Linear):
    """The output layer: raw scores before softmax (or before sigmoid for a binary net)."""

    kind = "logits"


class AdaptiveAvgPool(nn.AdaptiveAvgPool2d):
    """ImageNet VGG's pooling to a fixed 7×7 grid before the classifier."""

    kind = "pool"
