"""``TappedNet``: any recorded model behind the interface nnreel's own ``LayeredNet`` offers.

Activation maximisation, pruning and the probe read a model through a few names: its layers
and their kinds, ``forward_to`` (the outputs of chosen layers, with gradients), the class
probabilities, the conv and linear modules that pruning thins. ``LayeredNet`` has them by
construction; ``TappedNet`` gives them to a traced ``nn.Module`` (a torchvision model, a
user's class) or to a stored ``torch.export`` program, reading layers through taps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from engine.errors import UnknownNameError
from engine.models.graph import LOGITS, ModelGraph
from engine.models.layers import Normalize
from engine.store import schema
from engine.store.schema import LayerInfo

Taps = Callable[[torch.Tensor, tuple[str, ...]], dict[str, torch.Tensor]]


class TappedNet(nn.Module):
    """A network whose layers are read through taps; inputs are pixels in [0, 1] (or raw
    points), with ``normalize`` applied first when the model expects normalised inputs."""

    def __init__(
        self,
        net: nn.Module,
        taps: Taps,
        layers: Sequence[LayerInfo],
        *,
        arch: str,
        input_shape: Sequence[int],
        num_classes: int,
        normalize: dict[str, list[float]] | None = None,
        live: bool = True,
    ):
        super().__init__()
        self.net = net
        self.normalize = Normalize(normalize["mean"], normalize["std"]) if normalize else None
        self._taps = taps
        self._live = live
        self.infos = list(layers)
        self.arch = arch
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)

    @classmethod
    def from_graph(cls, graph: ModelGraph, **kwargs) -> TappedNet:
        """A live module, traced: its taps stop after the deepest layer asked for."""
        return cls(
            graph.module,
            lambda x, keys: graph.tap(keys)(x),
            graph.layers,
            input_shape=graph.input_shape,
            **kwargs,
        )

    @classmethod
    def from_program(cls, program: nn.Module, layers: Sequence[LayerInfo], **kwargs) -> TappedNet:
        """A stored program: one call returns the logits and every layer."""
        return cls(
            program,
            lambda x, keys: {key: out for key, out in program(x).items() if key in keys},
            layers,
            live=False,
            **kwargs,
        )

    def train(self, mode: bool = True) -> TappedNet:
        """A stored program is traced in eval mode for good; only a live module switches."""
        self.training = mode
        if self._live:
            self.net.train(mode)
        return self

    # -- the layers ------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        return [info.name for info in self.infos if info.kind not in schema.HIDDEN_KINDS]

    visible_names = layer_names

    def info(self, name: str) -> LayerInfo:
        for info in self.infos:
            if info.name == name:
                return info
        raise UnknownNameError("layer", name, self.layer_names)

    def kind_of(self, name: str) -> str:
        return self.info(name).kind

    @property
    def binary(self) -> bool:
        """Two classes read from a single logit through a sigmoid."""
        return self.num_classes == 2 and self.infos[-1].output_shape == [1]

    def prunable(self) -> dict[str, nn.Module]:
        """The conv and linear modules that define each weighted layer, by layer name."""
        return {
            info.name: self.net.get_submodule(info.module)
            for info in self.infos
            if info.kind in schema.WEIGHTED_KINDS and info.module
        }

    # -- running it ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_to(x, [LOGITS])[LOGITS]

    def forward_to(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """The outputs of ``layers`` (and ``"logits"`` if asked) for inputs ``x``."""
        keys = tuple(dict.fromkeys(layers))
        for key in keys:
            if key != LOGITS:
                self.info(key)  # an unknown name gets the list of valid layers
        if self.normalize is not None:
            x = self.normalize(x)
        return self._taps(x, keys)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if self.binary:
            p = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(logits, dim=1)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits[:, 0] > 0).long() if self.binary else logits.argmax(dim=1)
