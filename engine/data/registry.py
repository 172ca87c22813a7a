"""``load_data``: every dataset by name, with the conversions and the params to rebuild it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data import digits, folder, mnist, planes, vision
from engine.data.core import Data, convert_channels, resize
from engine.errors import DataError, UnknownNameError


@dataclass(frozen=True)
class _Entry:
    description: str
    build: Callable[..., Data]
    options: dict[str, Any] = field(default_factory=dict)  # option -> default
    reads_files: bool = False  # takes root and download


_PLANE = {"extent": None}
_ENTRIES: dict[str, _Entry] = {
    "digits": _Entry(
        "procedurally drawn digits 0-9, 28x28 grey, offline (the default)", digits.load_digits
    ),
    "mnist": _Entry(
        "MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 grey",
        mnist.load_mnist,
        reads_files=True,
    ),
    "mnist-test": _Entry(
        "the 10,000 real MNIST test digits split into 8,000 train / 2,000 val",
        mnist.load_mnist_test,
        reads_files=True,
    ),
    "fashion-mnist": _Entry(
        "Zalando clothing photos, 60,000 train / 10,000 test, 28x28 grey",
        mnist.load_fashion_mnist,
        reads_files=True,
    ),
    "cifar10": _Entry(
        "CIFAR-10 photos in 10 classes, 50,000 train / 10,000 test, 32x32 RGB",
        vision.load_cifar10,
        reads_files=True,
    ),
    "svhn": _Entry(
        "Street View house-number digits, 73,257 train / 26,032 test, 32x32 RGB",
        vision.load_svhn,
        reads_files=True,
    ),
    "folder": _Entry(
        "your own images: one sub-folder per class under --data-root (torchvision's "
        "ImageFolder), resized to size x size (size=32)",
        folder.load_folder,
        {"size": 32},
        reads_files=True,
    ),
    "ring": _Entry(
        "2-D: a ring of points around a disc (seed 002's with the default noise and spread)",
        planes.load_ring,
        {**_PLANE, "noise": 0.3, "spread": 0.3},
    ),
    "moons": _Entry(
        "2-D: two interleaved half moons", planes.load_moons, {**_PLANE, "noise": 0.08}
    ),
    "spiral": _Entry(
        "2-D: two interleaved spiral arms", planes.load_spiral, {**_PLANE, "noise": 0.03}
    ),
    "xor": _Entry(
        "2-D: quadrants labelled by the sign of x*y", planes.load_xor, {**_PLANE, "noise": 0.03}
    ),
    "checkerboard": _Entry(
        "2-D: a 4x4 checkerboard",
        planes.load_checkerboard,
        {**_PLANE, "noise": 0.02, "cells": 4},
    ),
    "mask": _Entry(
        "2-D: the inside of an image (path=shape.png; transparent or light = outside)",
        planes.load_mask,
        {**_PLANE, "path": None, "invert": False},
    ),
}

DATASETS: dict[str, str] = {name: entry.description for name, entry in _ENTRIES.items()}


def load_data(
    name: str,
    *,
    root: str | Path = "data",
    download: bool = False,
    seed: int = 0,
    image_size: int | None = None,
    channels: int | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    **options: Any,
) -> Data:
    """Load dataset ``name`` into memory.

    ``root`` is where file-based datasets live (torchvision's layout); ``download`` lets them be
    fetched. ``train_size``/``val_size`` take seeded subsets (generated datasets draw that
    many). ``image_size`` and ``channels`` resize and convert images. ``params`` records every
    setting with defaults filled in, so ``load_data(**data.params)`` rebuilds the same tensors.
    """
    entry = _ENTRIES.get(name)
    if entry is None:
        raise UnknownNameError("dataset", name, DATASETS)
    settings = {**entry.options, **_check_options(name, entry, options)}
    if "size" in entry.options and image_size is not None and "size" not in options:
        settings["size"] = image_size  # read at that size, rather than resized twice
    _check_numbers(
        seed,
        train_size=train_size,
        val_size=val_size,
        image_size=image_size,
        channels=channels,
    )
    if entry.reads_files:
        settings.update(root=Path(root), download=download)
    data = entry.build(seed=seed, train_size=train_size, val_size=val_size, **settings)
    if data.kind == "image":
        data = _convert(data, image_size, channels)
    elif image_size is not None or channels is not None:
        raise DataError(f"image_size and channels apply to images; {name!r} is a 2-D dataset.")
    data.params = {
        "name": name,
        "root": str(root),
        "seed": seed,
        "image_size": data.x_train.shape[-1] if data.kind == "image" else None,
        "channels": data.x_train.shape[1] if data.kind == "image" else None,
        "train_size": len(data.y_train),
        "val_size": len(data.y_val),
        **{k: v for k, v in settings.items() if k in entry.options},
        **data.params,
    }
    return data


def _check_options(name: str, entry: _Entry, options: dict[str, Any]) -> dict[str, Any]:
    """The options if ``name`` takes them all, else a message listing the ones it does take."""
    for key in options:
        if key not in entry.options:
            if not entry.options:
                raise DataError(f"Dataset {name!r} takes no options, got {key!r}.")
            raise UnknownNameError(f"{name} option", key, entry.options)
    return options


def _check_numbers(seed: int, **sizes: int | None) -> None:
    """Seed and given sizes must be whole numbers: >= 0 for seed and val_size, else >= 1."""
    given = {key: value for key, value in sizes.items() if value is not None}
    for key, value in {"seed": seed, **given}.items():
        smallest = 0 if key in ("seed", "val_size") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
            raise DataError(f"{key} must be a whole number >= {smallest}, not {value!r}.")


def _convert(data: Data, image_size: int | None, channels: int | None) -> Data:
    """Apply the channel conversion and the resize to both splits."""
    for attr in ("x_train", "x_val"):
        x = getattr(data, attr)
        if channels is not None:
            x = convert_channels(x, channels)
        if image_size is not None:
            x = resize(x, image_size)
        setattr(data, attr, x)
    return data
