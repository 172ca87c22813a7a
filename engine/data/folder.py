"""A folder of images, one sub-folder per class, read by torchvision's ``ImageFolder``.

``root/cat/1.png, root/dog/2.jpg, …`` (or ``root/train/<class>/…`` and ``root/val/<class>/…``
for a given split). Every image is resized to ``size``×``size`` (antialiased) and kept in
memory as uint8; grey folders stay one channel, anything else becomes RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torchvision import datasets

from engine.data.core import Data
from engine.errors import DataError

VAL_FRACTION = 0.2


def load_folder(
    *,
    root: Path,
    download: bool,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    size: int = 32,
) -> Data:
    """The images under ``root`` as a dataset; a seeded 20 % is held out for validation
    unless ``root`` has ``train`` and ``val`` folders."""
    del download  # a folder of one's own images is never downloaded
    if (root / "train").is_dir() and (root / "val").is_dir():
        (x_train, y_train, classes), (x_val, y_val, _) = (
            _read(root / split, size) for split in ("train", "val")
        )
    else:
        x, y, classes = _read(root, size)
        order = torch.from_numpy(np.random.default_rng([seed, 2]).permutation(len(y)))
        held = max(1, round(len(y) * VAL_FRACTION))
        val, train = order[:held].sort().values, order[held:].sort().values
        x_train, y_train, x_val, y_val = x[train], y[train], x[val], y[val]
    x_train, y_train = _first(x_train, y_train, train_size)
    x_val, y_val = _first(x_val, y_val, val_size)
    return Data(root.name or "folder", "image", x_train, y_train, x_val, y_val, classes, {})


def _first(x: torch.Tensor, y: torch.Tensor, size: int | None):
    return (x, y) if size is None else (x[:size], y[:size])


def _read(folder: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    if not folder.is_dir():
        raise DataError(
            f"No image folder at {folder}: give --data-root a folder with one sub-folder of "
            "images per class."
        )
    try:
        found = datasets.ImageFolder(str(folder), loader=_open)
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"{folder}: {exc}") from None
    images = [found.loader(path) for path, _ in found.samples]
    grey = all(image.mode in ("L", "1", "I;16") for image in images)
    tensors = [_tensor(image, grey, size) for image in images]
    labels = torch.tensor([label for _, label in found.samples], dtype=torch.long)
    return torch.stack(tensors), labels, list(found.classes)


def _open(path: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path} is not an image nnreel can read ({exc}).") from None


def _tensor(image: Image.Image, grey: bool, size: int) -> torch.Tensor:
    array = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.uint8)
    x = torch.from_numpy(array.copy())
    x = x[None] if grey else x.permute(2, 0, 1)
    resized = F.interpolate(
        x[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized[0].round().clamp(0, 255).to(torch.uint8)
