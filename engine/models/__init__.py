"""Models: nnreel's own networks (each a ``LayeredNet``) in one registry with torchvision's."""

from __future__ import annotations

from engine.models import cnn, mlp, vgg  # noqa: F401  (their builders register themselves)
from engine.models.net import LayeredNet
from engine.models.registry import (
    builder_of,
    get_model,
    list_models,
    rebuild_model,
    register_model,
)
from engine.models.tapped import TappedNet

build_model = get_model
"""The name the rest of nnreel has always used for ``get_model``."""

Net = LayeredNet | TappedNet
"""A network nnreel reads layer by layer: one of its own, or any recorded model."""

__all__ = [
    "LayeredNet",
    "Net",
    "TappedNet",
    "build_model",
    "builder_of",
    "get_model",
    "list_models",
    "rebuild_model",
    "register_model",
]
