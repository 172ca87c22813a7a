"""The operations of a CNN's first layers, computed again from a run's stored weights so that a
video can show them with real numbers: the first conv's kernel sliding over the probe image
(its BatchNorm folded in), the ReLU that clips the negatives, and the max-pooling of the first
pool — each checked against the activations the run recorded.

Folding: in eval mode a BatchNorm after a conv is an affine map per channel, ``γ (z − μ) / σ +
β``, so conv → BatchNorm is one conv with the kernel scaled by ``γ / σ`` and bias ``β − μ γ / σ``
(σ = √(running variance + ε)): the numbers a viewer is shown produce the network's pre-ReLU
values exactly, with nothing left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import RunError
from engine.recording import load_model
from engine.store import LayerInfo, Run, schema

SLOW_POSITIONS = 4
"""Positions of the kernel worked through number by number before the rest go fast."""


def trained_model(run: Run):
    """The run's stored network in eval mode (the one place this module loads it)."""
    return load_model(run)


@dataclass(frozen=True)
class Convolution:
    """One output channel of a run's first conv layer on one probe image, as the network
    computes it: the padded input it reads, the folded kernel and bias, the pre-ReLU map, and
    the map the run recorded after the ReLU."""

    layer: str
    channel: int
    """The output channel shown."""
    channels: int
    """Output channels the layer has."""
    padded: np.ndarray
    """[C, H + 2p, W + 2p] the conv's input: the normalised image in its zero padding."""
    padding: int
    kernel: np.ndarray
    """[C, kh, kw] the channel's kernel with its BatchNorm folded in."""
    bias: float
    pre: np.ndarray
    """[H', W'] the map before the activation: Σ kernel · window + bias at every position."""
    recorded: np.ndarray
    """[H', W'] the run's recorded activation of this channel (after the ReLU, fp16)."""
    batchnorm: bool
    activation: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.pre.shape

    def window(self, row: int, col: int) -> np.ndarray:
        """[C, kh, kw] the input the kernel covers for output pixel (row, col)."""
        kh, kw = self.kernel.shape[1:]
        return self.padded[:, row : row + kh, col : col + kw]

    def value_at(self, row: int, col: int) -> float:
        """Σ kernel · window + bias at one position, summed as the video shows it."""
        return float((self.kernel * self.window(row, col)).sum() + self.bias)

    @property
    def post(self) -> np.ndarray:
        """The map after the ReLU: the negatives clipped to 0."""
        return np.maximum(self.pre, 0.0)

    def slow_positions(self, count: int = SLOW_POSITIONS) -> list[tuple[int, int]]:
        """Positions worth working through by hand, in raster order: the strongest response,
        the most negative one (which the ReLU will clip), one on the plain background, and the
        first position (the corner, where the padding shows)."""
        pre = self.pre
        picks = [
            (0, 0),
            np.unravel_index(int(np.argmax(pre)), pre.shape),
            np.unravel_index(int(np.argmin(pre)), pre.shape),
            np.unravel_index(int(np.argmin(np.abs(pre - np.median(pre)))), pre.shape),
        ]
        unique = list(dict.fromkeys((int(r), int(c)) for r, c in picks))
        return sorted(unique[:count])


def first_conv(run: Run, index: int, channel: int | None = None) -> Convolution:
    """The run's first conv layer on probe image ``index``, for ``channel`` (None: the channel
    whose map changes most under the ReLU — strong both ways — so clipping shows)."""
    import torch

    info = first_of(run, "conv")
    model = trained_model(run)
    block = model.layer(info.name) if hasattr(model, "layer") else None
    if not isinstance(getattr(block, "act", None), torch.nn.ReLU):
        raise RunError(
            f"The operations scene works through nnreel's own conv blocks (a conv, its "
            f"BatchNorm, a ReLU); {info.name}, the first conv of run {run.name!r} "
            f"({run.model.get('arch')}), is not one. The featuremaps, kernels and activations "
            "scenes show any model's convolutions."
        )
    conv = block.conv
    if tuple(conv.stride) != (1, 1) or conv.groups != 1 or tuple(conv.dilation) != (1, 1):
        raise RunError(
            f"{info.name} of run {run.name!r} is not a plain stride-1 convolution; the "
            "operations scene shows only those."
        )
    weight = conv.weight.detach().double()
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(len(weight))
    norm = getattr(block, "bn", None)
    if norm is not None:
        scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
        weight = weight * scale[:, None, None, None]
        bias = (bias - norm.running_mean.double()) * scale + norm.bias.detach().double()
    image = run.read(schema.PROBE_IMAGES, 0)[index]
    with torch.no_grad():
        x = model.layer("normalize")(torch.from_numpy(image[None]).float() / 255)[0].double()
        pad = int(conv.padding[0])
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        pre = torch.nn.functional.conv2d(padded[None], weight, bias)[0].numpy()
    recorded = run.read(schema.acts(info.name), -1)[index].astype(np.float64)
    if channel is None:
        spread = np.minimum(pre.max(axis=(1, 2)), -pre.min(axis=(1, 2)))
        channel = int(np.argmax(spread))
    return Convolution(
        layer=info.name,
        channel=channel,
        channels=int(weight.shape[0]),
        padded=padded.numpy(),
        padding=pad,
        kernel=weight[channel].numpy(),
        bias=float(bias[channel]),
        pre=pre[channel],
        recorded=recorded[channel],
        batchnorm=norm is not None,
        activation=type(block.act).__name__,
    )


@dataclass(frozen=True)
class Pooling:
    """One channel of a run's first pool layer on one probe image, from the recorded input
    map (the layer before the pool) and the recorded pooled map."""

    layer: str
    source: str
    """The layer whose output the pool reads."""
    channel: int
    size: int
    """The pooling window (and stride)."""
    before: np.ndarray
    """[H, W] the recorded input map."""
    recorded: np.ndarray
    """[H // size, W // size] the pooled map the run recorded."""

    def window(self, row: int, col: int) -> np.ndarray:
        s = self.size
        return self.before[row * s : (row + 1) * s, col * s : (col + 1) * s]

    def winner(self, row: int, col: int) -> tuple[int, int]:
        """Where in window (row, col) the maximum is (first on ties)."""
        window = self.window(row, col)
        r, c = np.unravel_index(int(np.argmax(window)), window.shape)
        return row * self.size + int(r), col * self.size + int(c)

    @property
    def pooled(self) -> np.ndarray:
        """Every window's maximum, as the animation writes it."""
        h, w = self.recorded.shape
        return np.array([[self.window(r, c).max() for c in range(w)] for r in range(h)])


def first_pool(run: Run, index: int, channel: int | None = None) -> Pooling:
    """The run's first max-pool on probe image ``index``: ``channel`` (None: the most active
    channel of its input) of the layer before it, as recorded, and the pooled map recorded."""
    info = first_of(run, "pool")
    names = [i.name for i in run.layers]
    source = run.layers[names.index(info.name) - 1]
    before = run.read(schema.acts(source.name), -1)[index].astype(np.float64)
    after = run.read(schema.acts(info.name), -1)[index].astype(np.float64)
    size = before.shape[1] // after.shape[1]
    if channel is None:
        channel = int(np.argmax(before.reshape(len(before), -1).mean(axis=1)))
    return Pooling(info.name, source.name, channel, size, before[channel], after[channel])


def first_of(run: Run, kind: str) -> LayerInfo:
    """The first layer of ``kind`` whose activations the run recorded."""
    for info in run.layers:
        if info.kind == kind and run.has(schema.acts(info.name)):
            return info
    raise RunError(
        f"Run {run.name!r} recorded no {kind} layer's activations: the operations scene needs "
        "a CNN run, e.g. vgg16-synth or smallcnn-synth."
    )
