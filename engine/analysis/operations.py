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

from engine.analysis.convchain import ConvChain, conv_chain, node_value
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
    input_words: str
    """What the conv's input is: "normalised", "pixels in [0, 1]" or the node it comes after."""

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
    whose map changes most under the ReLU — strong both ways — so clipping shows).

    Read out of the model's graph (``convchain``), so it is the same for nnreel's networks,
    torchvision's and a user's own: the conv's real input, its kernel and bias with the
    BatchNorm after it folded in."""
    import torch
    import torch.nn.functional as F

    info = first_of(run, "conv")
    image = torch.from_numpy(run.read(schema.PROBE_IMAGES, 0)[index][None]).float() / 255
    graph, x, normalised = _graph_of(trained_model(run), image)
    chain = conv_chain(graph, info.module or f"{info.name}.conv")
    _check_shown(run, info, chain)
    pad = chain.padding[0]
    conv_input = node_value(graph, chain.input_node, x)[0].double()
    padded = F.pad(conv_input, (pad, pad, pad, pad))
    pre = F.conv2d(padded[None], chain.weight, chain.bias)[0].numpy()
    recorded = run.read(schema.acts(info.name), -1)[index].astype(np.float64)
    if channel is None:
        spread = np.minimum(pre.max(axis=(1, 2)), -pre.min(axis=(1, 2)))
        channel = int(np.argmax(spread))
    return Convolution(
        layer=info.name,
        channel=channel,
        channels=int(chain.weight.shape[0]),
        padded=padded.numpy(),
        padding=pad,
        kernel=chain.weight[channel].numpy(),
        bias=float(chain.bias[channel]),
        pre=pre[channel],
        recorded=recorded[channel],
        batchnorm=chain.batchnorm,
        activation=chain.activation,
        input_words=_input_words(chain, normalised),
    )


def _graph_of(model, image):
    """The model's graph, what it takes for ``image`` (pixels in [0, 1]), and whether that is
    normalised: nnreel's networks normalise inside their graph, the others before it."""
    from torch import fx

    from engine.models import LayeredNet
    from engine.models.graph import trace_model

    if isinstance(model, LayeredNet):
        return trace_model(model, image).traced, image, True
    x = model.normalize(image) if model.normalize is not None else image
    net = model.net  # a stored program is a graph already; a live module is traced
    graph = net if isinstance(net, fx.GraphModule) else trace_model(net, x).traced
    return graph, x, model.normalize is not None


def _input_words(chain: ConvChain, normalised: bool) -> str:
    if normalised:
        return "normalised"
    if chain.input_node.op == "placeholder":
        return "pixels in [0, 1]"
    return f"after {chain.input_node.name}"


def _check_shown(run: Run, info: LayerInfo, chain: ConvChain) -> None:
    """The scene draws a plain conv (stride 1, one group, no dilation, the same padding each
    way) followed by a ReLU; anything else gets one message saying what to show instead."""
    plain = (
        chain.stride == (1, 1)
        and chain.dilation == (1, 1)
        and chain.groups == 1
        and chain.padding[0] == chain.padding[1]
    )
    problem = (
        f"a stride of {chain.stride[0]}" if chain.stride != (1, 1)
        else "a dilation, groups or uneven padding" if not plain
        else f"{chain.activation or 'no activation'} after it instead of a ReLU"
        if chain.activation != "ReLU"
        else ""
    )  # fmt: skip
    if problem:
        raise RunError(
            f"The operations scene works through a plain stride-1 convolution followed by a "
            f"ReLU; {info.name}, the first conv of run {run.name!r} ({run.model.get('arch')}), "
            f"has {problem}. The featuremaps, kernels and activations scenes show any model's "
            "convolutions."
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


def first_pool(run: Run, index: int, channel: int | None = None) -> Pooling | None:
    """The run's first pool on probe image ``index``: ``channel`` (None: the most active) of
    the layer it reads, as recorded, and the pooled map recorded. None when that pool is not a
    max-pool over separate windows (an average, overlapping windows) or the run has none: what
    the video would say of it would not be what the network did."""
    pools = [i for i in run.layers if i.kind == "pool" and run.has(schema.acts(i.name))]
    if not pools:
        return None
    info = pools[0]
    source = _pool_source(run, info)
    before = run.read(schema.acts(source), -1)[index].astype(np.float64)
    after = run.read(schema.acts(info.name), -1)[index].astype(np.float64)
    size = before.shape[-1] // after.shape[-1]
    if size < 2 or before.shape != (after.shape[0], *(s * size for s in after.shape[1:])):
        return None
    c, h, w = after.shape
    if not np.array_equal(before.reshape(c, h, size, w, size).max(axis=(2, 4)), after):
        return None  # fp16 maps: the maximum of recorded values is exact
    if channel is None:
        channel = int(np.argmax(before.reshape(len(before), -1).mean(axis=1)))
    return Pooling(info.name, source, channel, size, before[channel], after[channel])


def _pool_source(run: Run, info: LayerInfo) -> str:
    """The layer whose output the pool reads: its graph input, else the layer listed before."""
    if len(info.inputs) == 1 and run.has(schema.acts(info.inputs[0])):
        return info.inputs[0]
    names = [i.name for i in run.layers]
    return names[names.index(info.name) - 1]


def first_of(run: Run, kind: str) -> LayerInfo:
    """The first layer of ``kind`` whose activations the run recorded."""
    for info in run.layers:
        if info.kind == kind and run.has(schema.acts(info.name)):
            return info
    raise RunError(
        f"Run {run.name!r} recorded no {kind} layer's activations: the operations scene needs "
        "a CNN run, e.g. vgg16-synth or smallcnn-synth."
    )
