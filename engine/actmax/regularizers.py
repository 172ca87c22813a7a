"""The classic regularisers of activation maximisation, each optional.

Two kinds: penalties added to the objective (total variation, Lp norm), and operations on the
image between steps (L2 decay, Gaussian blur every k steps, clipping of weak pixels), as in
Yosinski et al. 2015 and seed 003's "regularised" variant. The step-wise ones act on the
parameterisation's ``linear()`` image (deviation from the mean colour), so they work the same
for pixel and Fourier images.

All are off by default but one: a light blur (σ = 0.5 px every 8 steps). Without it about 1.4 %
of the pixels of our runs' images were isolated specks (``isolated_share``) — pixels where the
unit passes no gradient keep whatever the optimiser left there; the blur brings that under
0.2 % and leaves the activations reached as they were (``bench/speckle_bench.py``). A quieter
start (``init_sd``) barely changed it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.actmax.objectives import Objective, lp_norm, total_variation
from engine.actmax.param import ImageParam


@dataclass(frozen=True)
class Regularizers:
    total_variation: float = 0.0
    """Weight of the total-variation penalty (smooth images)."""
    lp: float = 0.0
    """Weight of the Lp-norm penalty on the image's distance from mid-grey."""
    p: float = 6.0
    decay: float = 0.0
    """Fraction of the deviation from the mean colour removed after each step (L2 decay)."""
    blur_every: int = 8
    """Steps between Gaussian blurs of the image; 0 never blurs."""
    blur_sigma: float = 0.5
    """Width of that blur, in pixels."""
    clip_percentile: float = 0.0
    """After each step, pixels whose deviation is in this lowest percentile are reset."""

    def penalty(self) -> Objective | None:
        """The penalty term to subtract from the objective (None when both weights are 0)."""
        terms = []
        if self.total_variation:
            terms.append(self.total_variation * total_variation())
        if self.lp:
            terms.append(self.lp * lp_norm(self.p))
        return sum(terms) if terms else None

    @property
    def steps_active(self) -> bool:
        return bool(self.decay or self.blur_every or self.clip_percentile)

    @torch.no_grad()
    def apply(self, param: ImageParam, step: int) -> None:
        """Regularise ``param`` after optimisation step ``step`` (1-based)."""
        if not self.steps_active:
            return
        image = param.linear()
        if self.decay:
            image = image * (1 - self.decay)
        if self.blur_every and step % self.blur_every == 0:
            image = gaussian_blur(image, self.blur_sigma)
        if self.clip_percentile:
            image = clip_weak_pixels(image, self.clip_percentile)
        param.set_linear(image)

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B, C, H, W] with reflected borders."""
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def clip_weak_pixels(images: torch.Tensor, percentile: float) -> torch.Tensor:
    """Zero the pixels (all channels) whose norm is below each image's ``percentile``."""
    norms = images.norm(dim=1, keepdim=True)
    threshold = torch.quantile(norms.flatten(1), percentile / 100, dim=1).view(-1, 1, 1, 1)
    return images * (norms >= threshold)


SPECK = 16
"""Grey levels (of 255) by which a pixel must stand out from all its neighbours to be a speck."""


def isolated_share(images: np.ndarray, threshold: int = SPECK) -> float:
    """The share of pixels of uint8 images ([N, C, H, W]) that are specks: brighter than all
    eight neighbours, or darker than all of them, by more than ``threshold`` in some channel
    (salt and pepper; an edge or a line is not counted, as a neighbour along it is alike)."""
    x = np.asarray(images).astype(np.int16)
    height, width = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    around = np.stack(
        [
            padded[:, :, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0)
        ]
    )
    specks = (x - around.max(axis=0) > threshold) | (around.min(axis=0) - x > threshold)
    return float(specks.any(axis=1).mean())
