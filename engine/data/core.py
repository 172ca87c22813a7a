"""The ``Data`` bundle and the conversions every image dataset shares (subsets, channels, size)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import DataError

DEFAULT_EXTENT = (-1.5, 1.5, -1.5, 1.5)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the weights PIL's "L" conversion uses
_CHUNK = 4096  # images converted at a time, to bound float copies of large datasets


@dataclass
class Data:
    """A dataset held in memory: images as uint8 [N, C, H, W], plane points as float32 [N, 2]."""

    name: str
    kind: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: list[str]
    params: dict
    extent: tuple[float, float, float, float] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        """Network input: images scaled from uint8 to [0, 1]; plane points as they are."""
        if self.kind == "image":
            return x.float() / 255
        return x.float()

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training inputs (images in [0, 1]), for Normalize.

        Sums are taken in float64 chunk by chunk, so 60,000 images need no float copy at once.
        """
        if self.kind != "image":
            x = self.x_train.double()
            return x.mean(0).tolist(), x.std(0, unbiased=False).tolist()
        channels = self.x_train.shape[1]
        total = torch.zeros(channels, dtype=torch.float64)
        squares = torch.zeros(channels, dtype=torch.float64)
        for chunk in self.x_train.split(_CHUNK):
            x = chunk.double() / 255
            total += x.sum((0, 2, 3))
            squares += (x * x).sum((0, 2, 3))
        count = self.x_train.numel() / channels
        mean = total / count
        std = (squares / count - mean * mean).clamp(min=0).sqrt()
        return mean.tolist(), std.tolist()


def seeded_indices(total: int, size: int, seed: int, stream: int, what: str) -> torch.Tensor:
    """``size`` distinct indices below ``total``, the same for the same seed, in original order.

    ``stream`` keeps the train and validation draws of one seed independent.
    """
    if size > total:
        raise DataError(f"{what}: asked for {size} samples, but only {total} exist.")
    rng = np.random.default_rng([seed, stream])
    return torch.from_numpy(np.sort(rng.permutation(total)[:size]))


def subset(
    x: torch.Tensor, y: torch.Tensor, size: int | None, seed: int, stream: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``size`` samples, or everything when ``size`` is None."""
    if size is None or size == len(y):
        return x, y
    idx = seeded_indices(len(y), size, seed, stream, what)
    return x[idx], y[idx]


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey to RGB by repetition, RGB to grey by luminance; uint8 in, uint8 out."""
    have = x.shape[1]
    if channels == have:
        return x
    if (have, channels) == (1, 3):
        return x.repeat(1, 3, 1, 1)
    if (have, channels) == (3, 1):
        weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
        return _chunked(x, lambda c: (c.float() * weights).sum(1, keepdim=True))
    raise DataError(f"Cannot convert {have}-channel images to {channels} channels: use 1 or 3.")


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Square resize with antialiased bilinear filtering (e.g. MNIST 28 → 32 for VGG-16)."""
    if tuple(x.shape[2:]) == (size, size):
        return x
    if size < 1:
        raise DataError(f"image_size must be a positive number of pixels, not {size}.")
    return _chunked(
        x,
        lambda c: F.interpolate(
            c.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        ),
    )


def _chunked(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply a float-valued ``fn`` chunk by chunk and round back to uint8."""
    return torch.cat([fn(c).round_().clamp_(0, 255).to(torch.uint8) for c in x.split(_CHUNK)])


def check_labels(y: torch.Tensor, num_classes: int, source: object) -> torch.Tensor:
    """Labels as int64 in [0, num_classes), or a DataError naming where they came from."""
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(
            f"{source} holds labels from {int(y.min())} to {int(y.max())}, expected 0 to "
            f"{num_classes - 1}; the file is not what its name says. Replace it."
        )
    return y
