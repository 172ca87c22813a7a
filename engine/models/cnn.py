"""Seed 003's small CNNs for MNIST and SVHN."""

from __future__ import annotations

from collections import OrderedDict

from engine.models.layers import ConvBlock, Dense, Flatten, Logits, Normalize, Pool
from engine.models.net import LayeredNet
from engine.models.registry import register_model


@register_model()
def smallcnn(
    in_channels: int = 1,
    image_size: int = 28,
    num_classes: int = 10,
    variant: str = "mnist",
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> LayeredNet:
    """``variant="mnist"``: Conv 64 → pool → Conv 32 → pool → Dense 10 (Keras "valid" convs).

    ``variant="svhn"``: Conv 32, Conv 32 ("same"), pool, Conv 64, Conv 64 ("valid"), pool,
    Dense 512, Dense 10 — 1,250,858 parameters at 32×32 RGB, seed 003's ≈1.25 M.
    """
    from engine.errors import UnknownNameError

    mean = mean or [0.5] * in_channels
    std = std or [0.5] * in_channels
    layers = OrderedDict(normalize=Normalize(mean, std))
    if variant == "mnist":
        layers["conv1"] = ConvBlock(in_channels, 64, padding=0, batchnorm=False)
        layers["pool1"] = Pool()
        layers["conv2"] = ConvBlock(64, 32, padding=0, batchnorm=False)
        layers["pool2"] = Pool()
        side = ((image_size - 2) // 2 - 2) // 2
        layers["flatten"] = Flatten()
        layers["fc"] = Logits(32 * side * side, num_classes)
    elif variant == "svhn":
        layers["conv1"] = ConvBlock(in_channels, 32, padding=1, batchnorm=False)
        layers["conv2"] = ConvBlock(32, 32, padding=1, batchnorm=False)
        layers["pool1"] = Pool()
        layers["conv3"] = ConvBlock(32, 64, padding=0, batchnorm=False)
        layers["conv4"] = ConvBlock(64, 64, padding=0, batchnorm=False)
        layers["pool2"] = Pool()
        side = (image_size // 2 - 4) // 2
        layers["flatten"] = Flatten()
        layers["fc1"] = Dense(64 * side * side, 512)
        layers["fc2"] = Logits(512, num_classes)
    else:
        raise UnknownNameError("smallcnn variant", variant, ["mnist", "svhn"])
    return LayeredNet(
        layers,
        arch="smallcnn",
        input_shape=(in_channels, image_size, image_size),
        num_classes=num_classes,
        config={"variant": variant, "mean": mean, "std": std},
    )
