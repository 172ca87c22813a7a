"""Model registry: every architecture is a ``LayeredNet`` built by name from plain settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import NnreelError, UnknownNameError
from engine.models.cnn import smallcnn
from engine.models.mlp import mlp
from engine.models.net import LayeredNet
from engine.models.vgg import imagenet_vgg16, vgg16, vggcifar

ARCHITECTURES: dict[str, Callable[..., LayeredNet]] = {
    "mlp": mlp,
    "smallcnn": smallcnn,
    "vgg16": vgg16,
    "vggcifar": vggcifar,
    "imagenet-vgg16": imagenet_vgg16,
}


def build_model(arch: str, **settings: Any) -> LayeredNet:
    """Build ``arch`` with ``settings``; unknown names or settings get a clear message."""
    if arch not in ARCHITECTURES:
        raise UnknownNameError("model", arch, ARCHITECTURES)
    try:
        return ARCHITECTURES[arch](**settings)
    except TypeError as exc:
        raise NnreelError(f"Bad settings for model {arch!r}: {exc}") from None


def rebuild_model(description: dict[str, Any]) -> LayeredNet:
    """Build the model a run manifest describes (see ``LayeredNet.describe``)."""
    settings = dict(description.get("config", {}))
    arch = description["arch"]
    if arch != "mlp":
        shape = description["input_shape"]
        settings.update(in_channels=shape[0], image_size=shape[-1])
    else:
        settings["in_features"] = description["input_shape"][0]
    settings["num_classes"] = description["num_classes"]
    if arch == "imagenet-vgg16":
        settings = {"weights": settings.get("weights")}
    return build_model(arch, **settings)


__all__ = ["ARCHITECTURES", "LayeredNet", "build_model", "rebuild_model"]
