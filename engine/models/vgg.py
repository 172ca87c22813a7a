"""VGG networks: seed 000's VGG-16 for 32×32 digits, seed 004's CIFAR-10 VGG, ImageNet VGG-16."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from engine.errors import NnreelError
from engine.models.layers import (
    AdaptiveAvgPool,
    ConvBlock,
    Dense,
    Flatten,
    GlobalAvgPool,
    Logits,
    Normalize,
    Pool,
)
from engine.models.net import LayeredNet
from engine.models.registry import register_model

VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGENET_WEIGHTS_FILE = "vgg16-397923af.pth"


def _scaled(channels: int, width: float) -> int:
    return max(4, round(channels * width))


@register_model()
def vgg16(
    in_channels: int = 1,
    image_size: int = 32,
    num_classes: int = 10,
    width: float = 1.0,
    dropout: float = 0.5,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> LayeredNet:
    """Seed 000's VGG-16: 13 conv+BN+ReLU in 5 blocks, a 2×2 max-pool after each, then
    FC 512 → 512 → 256 → 10. ``width`` scales every channel count and the head (0.25 trains
    on a CPU in minutes; 1.0 is the ≈15.1 M-parameter original)."""
    layers = OrderedDict(
        normalize=Normalize(mean or [0.5] * in_channels, std or [0.5] * in_channels)
    )
    channels, side = in_channels, image_size
    for block, (out, repeats) in enumerate(VGG16_BLOCKS, start=1):
        for i in range(1, repeats + 1):
            layers[f"conv{block}_{i}"] = ConvBlock(channels, _scaled(out, width))
            channels = _scaled(out, width)
        layers[f"pool{block}"] = Pool()
        side //= 2
    fc1, fc2 = _scaled(512, width), _scaled(256, width)
    layers["flatten"] = Flatten()
    layers["fc1"] = Dense(channels * side * side, fc1, dropout=dropout)
    layers["fc2"] = Dense(fc1, fc2, dropout=dropout)
    layers["fc3"] = Logits(fc2, num_classes)
    return LayeredNet(
        layers,
        arch="vgg16",
        input_shape=(in_channels, image_size, image_size),
        num_classes=num_classes,
        config={"width": width, "dropout": dropout, "mean": mean, "std": std},
    )


VGGCIFAR_CONFIG = (64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


@register_model()
def vggcifar(
    in_channels: int = 3,
    image_size: int = 32,
    num_classes: int = 10,
    width: float = 1.0,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> LayeredNet:
    """Seed 004's network (MIT efficient-ML course): 8 conv-BN-ReLU without conv bias,
    4 max-pools, global average pool, Linear(512, 10) — 9,228,362 parameters at width 1."""
    layers = OrderedDict(
        normalize=Normalize(
            mean or [0.4914, 0.4822, 0.4465][:in_channels],
            std or [0.247, 0.243, 0.261][:in_channels],
        )
    )
    channels, conv, pool = in_channels, 0, 0
    for item in VGGCIFAR_CONFIG:
        if item == "M":
            pool += 1
            layers[f"pool{pool}"] = Pool()
        else:
            conv += 1
            layers[f"conv{conv}"] = ConvBlock(channels, _scaled(item, width), bias=False)
            channels = _scaled(item, width)
    layers["gap"] = GlobalAvgPool()
    layers["fc"] = Logits(channels, num_classes)
    return LayeredNet(
        layers,
        arch="vggcifar",
        input_shape=(in_channels, image_size, image_size),
        num_classes=num_classes,
        config={"width": width, "mean": mean, "std": std},
    )


def imagenet_weights_path(weights: str | Path | None = None) -> Path:
    """The pretrained VGG-16 file: ``weights`` if given, else torch's local hub cache."""
    if weights is not None:
        path = Path(weights).expanduser()
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_WEIGHTS_FILE
    if not path.is_file():
        raise NnreelError(
            f"ImageNet VGG-16 weights not found at {path}. nnreel never substitutes random "
            f"weights. With internet, fetch them once with:\n"
            f"  python -c \"import torchvision; torchvision.models.vgg16(weights='DEFAULT')\"\n"
            f"or pass --weights PATH to a copy of {IMAGENET_WEIGHTS_FILE}."
        )
    return path


@register_model("imagenet-vgg16")
def imagenet_vgg16(weights: str | Path | None = None) -> LayeredNet:
    """torchvision's pretrained VGG-16 (224×224 RGB, 1000 classes), re-laid as a LayeredNet
    with readable names (conv1_1 … conv5_3, fc6, fc7, fc8) and without in-place ReLUs."""
    import torchvision

    state = torch.load(imagenet_weights_path(weights), map_location="cpu", weights_only=True)
    source = torchvision.models.vgg16(weights=None)
    source.load_state_dict(state)
    layers = OrderedDict(normalize=Normalize(IMAGENET_MEAN, IMAGENET_STD))
    block, index = 1, 1
    for module in source.features:
        if isinstance(module, nn.Conv2d):
            layer = ConvBlock(module.in_channels, module.out_channels, batchnorm=False, bias=True)
            layer.conv = module
            layers[f"conv{block}_{index}"] = layer
            index += 1
        elif isinstance(module, nn.MaxPool2d):
            layers[f"pool{block}"] = Pool()
            block, index = block + 1, 1
    layers["avgpool"] = AdaptiveAvgPool((7, 7))
    layers["flatten"] = Flatten()
    for name, linear in zip(
        ("fc6", "fc7"), (source.classifier[0], source.classifier[3]), strict=True
    ):
        dense = Dense(linear.in_features, linear.out_features, dropout=0.5)
        dense.linear = linear
        layers[name] = dense
    fc8 = Logits(4096, 1000)
    fc8.load_state_dict(source.classifier[6].state_dict())
    layers["fc8"] = fc8
    return LayeredNet(
        layers,
        arch="imagenet-vgg16",
        input_shape=(3, 224, 224),
        num_classes=1000,
        config={"weights": str(weights) if weights else None},
    ).eval()


def imagenet_classes() -> list[str]:
    import torchvision

    return list(torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"])
