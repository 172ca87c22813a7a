"""Image parameterisations: what the optimiser changes, and how that becomes images in [0, 1].

Optimising raw pixels lets the high frequencies a conv net's gradient is made of run away into
noise. The default therefore follows Lucid: each image lives in Fourier space with every
frequency pre-scaled by 1/f (so natural-image statistics are the easy direction), and its colours
are mixed through a square root of the channel covariance, here estimated from the run's own
training data rather than ImageNet's. A sigmoid maps the result into [0, 1], centred on the
data's mean colour, so every image is valid at every step without clipping.

All B images of a batch share one parameter tensor [B, ...]; image i depends on row i only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import UnknownNameError

PARAMS = ("fourier", "pixel")
_MAX_PIXELS = 1_000_000  # pixels sampled to estimate the channel covariance
_MEAN_LIMITS = (0.05, 0.95)  # keep the sigmoid's starting point off its flat ends
_FLOOR = 1e-2  # smallest decorrelation axis, relative to the largest


@dataclass(frozen=True)
class ColourStats:
    """Per-channel mean and covariance of training images in [0, 1]."""

    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]

    @classmethod
    def from_images(cls, images: torch.Tensor) -> ColourStats:
        """Estimate from uint8 images [N, C, H, W] (at most a million evenly spaced pixels)."""
        channels = images.shape[1]
        pixels = images.transpose(0, 1).reshape(channels, -1)
        stride = max(1, pixels.shape[1] // _MAX_PIXELS)
        x = pixels[:, ::stride].double() / 255
        mean = x.mean(1)
        centred = x - mean[:, None]
        cov = centred @ centred.T / max(1, centred.shape[1] - 1)
        return cls(tuple(mean.tolist()), tuple(map(tuple, cov.tolist())))

    @classmethod
    def diagonal(cls, mean: list[float], std: list[float]) -> ColourStats:
        """Without the images (say the dataset is offline), channels taken as uncorrelated."""
        cov = [[s * s if i == j else 0.0 for j in range(len(std))] for i, s in enumerate(std)]
        return cls(tuple(mean), tuple(map(tuple, cov)))

    @property
    def channels(self) -> int:
        return len(self.mean)

    def sqrt_cov(self) -> torch.Tensor:
        """M with M Mᵀ ∝ the covariance (eigenvectors times root eigenvalues), scaled so its
        largest column has norm 1; tiny axes are floored so that no colour is unreachable."""
        cov = torch.tensor(self.cov, dtype=torch.float64)
        values, vectors = torch.linalg.eigh(cov)
        roots = values.clamp(min=0).sqrt()
        if roots.max() <= 0:
            return torch.eye(self.channels)
        roots = roots.clamp(min=_FLOOR * roots.max())
        matrix = vectors * roots
        return (matrix / matrix.norm(dim=0).max()).float()

    def logit_mean(self) -> torch.Tensor:
        """The pre-sigmoid value at which each channel shows the data's mean."""
        return torch.logit(torch.tensor(self.mean).clamp(*_MEAN_LIMITS))


def neutral_stats(channels: int) -> ColourStats:
    """Mid-grey, uncorrelated channels: for a model whose data is unknown."""
    return ColourStats.diagonal([0.5] * channels, [0.25] * channels)


class ImageParam(nn.Module):
    """B images made from learnable parameters; ``forward()`` returns them [B, C, H, W] in [0, 1].

    ``linear()`` is the image before colour mixing and the sigmoid, in "deviation from the mean
    colour" units; the step-wise regularisers (decay, blur, clipping) act there.
    """

    def __init__(self, shape: tuple[int, int, int], colour: ColourStats, decorrelate: bool):
        super().__init__()
        self.shape = tuple(shape)
        if colour.channels != shape[0]:
            raise ValueError(f"colour stats have {colour.channels} channels, images {shape[0]}")
        mixing = colour.sqrt_cov() if decorrelate else torch.eye(shape[0])
        self.register_buffer("mixing", mixing)
        self.register_buffer("offset", colour.logit_mean().float().view(1, -1, 1, 1))

    def linear(self) -> torch.Tensor:
        raise NotImplementedError

    def set_linear(self, image: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        mixed = torch.einsum("dc,bchw->bdhw", self.mixing, self.linear())
        return torch.sigmoid(mixed + self.offset)


class PixelParam(ImageParam):
    """One free value per pixel and channel (seed 003's plain gradient ascent)."""

    def __init__(self, batch, shape, colour, decorrelate, sd, generator):
        super().__init__(shape, colour, decorrelate)
        noise = torch.randn((batch, *shape), generator=generator) * sd
        self.pixels = nn.Parameter(noise)

    def linear(self) -> torch.Tensor:
        return self.pixels

    @torch.no_grad()
    def set_linear(self, image: torch.Tensor) -> None:
        self.pixels.copy_(image)


class FourierParam(ImageParam):
    """Real-FFT coefficients scaled by 1/f^decay: a step of Adam changes coarse structure more
    than fine, and pixels move by about ``lr`` per step, as with ``PixelParam``."""

    def __init__(self, batch, shape, colour, decorrelate, sd, generator, decay: float = 1.0):
        super().__init__(shape, colour, decorrelate)
        _, height, width = shape
        self.register_buffer("scale", spectrum_scale(height, width, decay))
        noise = torch.randn((batch, *shape[:1], *self.scale.shape, 2), generator=generator) * sd
        self.spectrum = nn.Parameter(noise)

    def linear(self) -> torch.Tensor:
        coefficients = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfft2(coefficients, s=self.shape[1:], norm="ortho")

    @torch.no_grad()
    def set_linear(self, image: torch.Tensor) -> None:
        coefficients = torch.fft.rfft2(image, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(coefficients))


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """1/f^decay over the rfft2 grid (f in cycles per pixel, floored at one cycle per image),
    normalised to unit root-mean-square over the full spectrum."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freq = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(height, width))
    scale = freq.pow(-decay)
    weights = torch.full_like(scale, 2.0)  # rfft keeps one of each ± pair ...
    weights[:, 0] = 1.0  # ... except the zero column
    if width % 2 == 0:
        weights[:, -1] = 1.0  # and the Nyquist column
    rms = math.sqrt(float((weights * scale * scale).sum()) / (height * width))
    return scale / rms


def make_param(
    kind: str,
    batch: int,
    shape: tuple[int, int, int],
    colour: ColourStats,
    *,
    decorrelate: bool = True,
    sd: float = 0.01,
    decay: float = 1.0,
    generator: torch.Generator | None = None,
) -> ImageParam:
    """A parameterisation by name (``fourier`` or ``pixel``); ``decay`` is the Fourier
    spectrum's 1/f exponent."""
    if kind == "fourier":
        return FourierParam(batch, shape, colour, decorrelate, sd, generator, decay)
    if kind == "pixel":
        return PixelParam(batch, shape, colour, decorrelate, sd, generator)
    raise UnknownNameError("parameterisation", kind, PARAMS)
