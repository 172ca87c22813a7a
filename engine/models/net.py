"""``LayeredNet``: a sequence of named layers whose outputs are the activations we record."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from engine.errors import UnknownNameError


class LayeredNet(nn.Sequential):
    """A network as an ordered list of named layers, each with a ``kind``.

    Every model in nnreel is one of these, so the recorder, the summary table, activation
    maximisation and the scenes can walk any model the same way: ``for name, layer in
    net.named_children()``. The input is in [0, 1] pixel space (or raw 2-D points for MLPs);
    a leading ``Normalize`` layer does the rest.
    """

    def __init__(
        self,
        layers: OrderedDict[str, nn.Module],
        *,
        arch: str,
        input_shape: tuple[int, ...],
        num_classes: int,
        config: dict[str, Any],
    ):
        super().__init__(layers)
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.config = dict(config)

    @property
    def binary(self) -> bool:
        """A two-class net with a single logit, trained with a sigmoid (like seed 002's MLP)."""
        return self.num_classes == 2 and self.output_layer.out_features == 1

    @property
    def output_layer(self) -> nn.Linear:
        return list(self.children())[-1]

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def visible_layers(self) -> list[tuple[str, nn.Module]]:
        """Layers worth recording and drawing (everything but input normalisation)."""
        return [(n, m) for n, m in self.named_children() if getattr(m, "kind", "") != "normalize"]

    @property
    def visible_names(self) -> list[str]:
        return [name for name, _ in self.visible_layers()]

    def layer(self, name: str) -> nn.Module:
        children = dict(self.named_children())
        if name not in children:
            raise UnknownNameError("layer", name, [n for n, _ in self.visible_layers()])
        return children[name]

    def kind_of(self, name: str) -> str:
        return getattr(self.layer(name), "kind", type(self.layer(name)).__name__.lower())

    def forward_to(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Run only as far as the deepest of ``layers``, keeping their outputs (``"logits"``
        is the output layer's). Walking the named layers needs no hooks, so none is left."""
        wanted = {self.layer_names[-1] if name == "logits" else name: name for name in layers}
        for name in wanted:
            self.layer(name)  # an unknown name gets the list of valid layers
        outputs: dict[str, torch.Tensor] = {}
        for name, layer in self.named_children():
            if len(outputs) == len(wanted):
                break
            x = layer(x)
            if name in wanted:
                outputs[wanted[name]] = x
        return outputs

    def prunable(self) -> dict[str, nn.Module]:
        """The conv and linear modules whose weights pruning thins, by layer name."""
        found = {}
        for name, layer in self.visible_layers():
            for module in (getattr(layer, "conv", None), getattr(layer, "linear", None), layer):
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    found[name] = module
                    break
        return found

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities with the output layer's real activation ([N, num_classes])."""
        if self.binary:
            p = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(logits, dim=1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels.float())
        return nn.functional.cross_entropy(logits, labels)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return (logits[:, 0] > 0).long()
        return logits.argmax(dim=1)

    def describe(self) -> dict[str, Any]:
        """What a run's manifest says about this model (``schema.ModelInfo``)."""
        from engine.models.registry import builder_of

        return {
            "arch": self.arch,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "config": self.config,
            "builder": builder_of(self),
        }
