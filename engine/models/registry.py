"""One model registry, in torchvision's ``register_model`` / ``get_model`` style.

Every builder is a function of keyword arguments. ``get_model`` records on the model it returns
the builder's name and every argument (defaults filled in), so a run can build the same model
again with ``rebuild_model`` — the same call for every architecture, no special cases. nnreel's
own networks register here; torchvision's classification models are reachable as
``torchvision.<name>`` (``get_model("torchvision.resnet18", num_classes=10)``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from torch import nn

from engine.errors import NnreelError, UnknownNameError

BUILDER_ATTR = "nnreel_builder"
TORCHVISION = "torchvision."

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: make a builder available to ``get_model`` under ``name`` (default: its own)."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or builder.__name__
        if key in _BUILDERS:
            raise ValueError(f"A model named {key!r} is already registered.")
        _BUILDERS[key] = builder
        return builder

    return register


def list_models(torchvision: bool = False) -> list[str]:
    """nnreel's registered models (and, with ``torchvision``, torchvision's classifiers)."""
    names = list(_BUILDERS)
    if torchvision:
        import torchvision.models as tvm

        names += [TORCHVISION + n for n in tvm.list_models(module=tvm)]
    return names


def _builder(name: str) -> Callable[..., nn.Module]:
    if name in _BUILDERS:
        return _BUILDERS[name]
    if name.startswith(TORCHVISION):
        import torchvision.models as tvm

        short = name.removeprefix(TORCHVISION)
        if short in tvm.list_models(module=tvm):
            return tvm.get_model_builder(short)
    raise UnknownNameError("model", name, [*_BUILDERS, "torchvision.<name>"])


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build model ``name`` with ``kwargs``; the model remembers how (see ``builder_of``)."""
    builder = _builder(name)
    try:
        bound = inspect.signature(builder).bind(**kwargs)
    except TypeError as exc:
        raise NnreelError(f"Bad settings for model {name!r}: {exc}") from None
    bound.apply_defaults()
    arguments = {}
    for key, value in bound.arguments.items():
        kind = inspect.signature(builder).parameters[key].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[key] = value
    try:
        arguments = json.loads(json.dumps(arguments, default=_plain))
    except (TypeError, ValueError):
        raise NnreelError(
            f"The settings of model {name!r} must be plain values (numbers, strings, lists), "
            f"so a run can store them; got {kwargs!r}."
        ) from None
    try:
        model = builder(**kwargs)
    except TypeError as exc:
        raise NnreelError(f"Bad settings for model {name!r}: {exc}") from None
    setattr(model, BUILDER_ATTR, {"name": name, "kwargs": arguments})
    return model


def _plain(value: Any) -> Any:
    """Paths are stored as strings; anything else that JSON cannot hold is refused."""
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def builder_of(model: nn.Module) -> dict[str, Any] | None:
    """``{"name": …, "kwargs": …}`` when ``model`` came from ``get_model``, else None."""
    return getattr(model, BUILDER_ATTR, None)


def rebuild_model(builder: dict[str, Any]) -> nn.Module:
    """The model ``builder_of`` described, built again (fresh weights)."""
    try:
        name, kwargs = str(builder["name"]), dict(builder["kwargs"])
    except (KeyError, TypeError, ValueError):
        raise NnreelError(
            f"A model description needs a name and kwargs; got {builder!r}."
        ) from None
    return get_model(name, **kwargs)
