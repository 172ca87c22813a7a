"""Transformation robustness: every step the network sees each image slightly moved, scaled and
turned, so the optimiser cannot win with pixel-exact adversarial patterns.

All of it is one random affine map per image, applied in a single batched ``grid_sample``
(differentiable, and the output keeps the network's input size, which dense heads require).
Lucid's pad becomes a margin of background colour around the image inside the view.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

REFERENCE_SIZE = 224  # the input size Lucid's amounts were chosen for


@dataclass(frozen=True)
class Transforms:
    """How far each image is moved per step. Pixel amounts are for the actual input size."""

    pad: float = 0.0
    """Background margin (pixels) shown around the image on every side."""
    jitter: float = 0.0
    """Largest random shift (pixels) in x and in y."""
    scale: float = 0.0
    """Largest relative zoom in or out (0.1: from 0.9× to 1.1×)."""
    rotate: float = 0.0
    """Largest rotation (degrees) either way."""

    @classmethod
    def for_size(cls, size: int) -> Transforms:
        """Lucid's amounts at 224 px (pad 12, jitter 8, scale ±10 %, rotate ±10°) with the pixel
        amounts scaled to ``size``: a 28-pixel digit gets 1.5 px of pad and 1 px of jitter."""
        ratio = size / REFERENCE_SIZE
        return cls(pad=12 * ratio, jitter=max(1.0, 8 * ratio), scale=0.1, rotate=10.0)

    @property
    def active(self) -> bool:
        return any((self.pad, self.jitter, self.scale, self.rotate))

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def random_affine(
    images: torch.Tensor,
    settings: Transforms,
    fill: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``images`` [B, C, H, W] each seen through its own random view; outside the image the
    view shows ``fill`` (a colour [C])."""
    if not settings.active:
        return images
    batch, _, height, width = images.shape
    theta = _view_matrices(batch, height, width, settings, generator).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    fill = fill.to(images).view(1, -1, 1, 1)
    moved = F.grid_sample(images - fill, grid, mode="bilinear", align_corners=False)
    return moved + fill


def _view_matrices(
    batch: int, height: int, width: int, settings: Transforms, generator: torch.Generator | None
) -> torch.Tensor:
    """[B, 2, 3] maps from output to input coordinates (normalised to [-1, 1] per axis).

    Rotation is done in pixel units (so non-square images are not sheared); a zoom s > 1
    enlarges the image; the margin widens the view by ``pad`` pixels on each side.
    """
    u = torch.rand(batch, 4, generator=generator, dtype=torch.float64) * 2 - 1
    zoom = 1 + settings.scale * u[:, 0]
    angle = math.radians(settings.rotate) * u[:, 1]
    view = (1 + 2 * settings.pad / min(height, width)) / zoom
    cos, sin = torch.cos(angle) * view, torch.sin(angle) * view
    aspect = height / width
    theta = torch.zeros(batch, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin / aspect, cos
    theta[:, 0, 2] = 2 * settings.jitter * u[:, 2] / width
    theta[:, 1, 2] = 2 * settings.jitter * u[:, 3] / height
    return theta.float()
