"""Objectives: what activation maximisation maximises, one value per image of a batch.

Every objective maps the activations of one forward pass to a tensor [B]: image i is scored by
its own term, so the 64 filters of a layer (or the 10 classes) are optimised together in one
batch, image i for unit ``units[i]``. Objectives compose with ``+``, ``-`` and scalar ``*``
(``channel("conv2", range(32)) - 0.05 * total_variation()``), and name the layers they read so
the forward pass can stop at the deepest one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from engine.errors import NnreelError, UnknownNameError
from engine.models import Net


@dataclass
class Activations:
    """The input a forward pass saw and the outputs of the layers that were asked for."""

    image: torch.Tensor
    outputs: dict[str, torch.Tensor]

    def __getitem__(self, layer: str) -> torch.Tensor:
        return self.outputs[layer]


def forward_to(model: Net, image: torch.Tensor, layers: Iterable[str]) -> Activations:
    """Run ``model`` on ``image`` only as far as the deepest of ``layers``, keeping their
    outputs (an unknown layer name gets the list of valid ones)."""
    return Activations(image, model.forward_to(image, layers))


@contextmanager
def frozen(model: Net) -> Iterator[Net]:
    """Eval mode and no weight gradients for the duration (both restored afterwards)."""
    training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    try:
        yield model
    finally:
        model.train(training)
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)


@torch.no_grad()
def layer_shapes(model: Net, layers: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Output shape (without the batch axis) of each of ``layers`` for one input (in eval
    mode, so BatchNorm statistics are left alone)."""
    device = next(model.parameters()).device
    probe = torch.zeros((1, *model.input_shape), device=device)
    with frozen(model):
        outputs = forward_to(model, probe, layers).outputs
    return {name: tuple(out.shape[1:]) for name, out in outputs.items()}


class Objective:
    """A differentiable score per image: ``objective(acts)`` is a tensor [B] to maximise."""

    layers: frozenset[str] = frozenset()

    def __call__(self, acts: Activations) -> torch.Tensor:
        raise NotImplementedError

    def check(self, shapes: dict[str, tuple[int, ...]], batch: int) -> None:
        """Raise a clear error if this objective cannot score ``batch`` images of this model."""

    def describe(self) -> str:
        raise NotImplementedError

    def terms(self) -> list[tuple[float, Objective]]:
        return [(1.0, self)]

    def __add__(self, other: Objective) -> Objective:
        return Sum(self.terms() + other.terms())

    def __radd__(self, other: object) -> Objective:
        if other == 0:  # so that sum([a, b, c]) works
            return self
        return NotImplemented

    def __sub__(self, other: Objective) -> Objective:
        return self + (-1.0) * other

    def __mul__(self, weight: float) -> Objective:
        if not isinstance(weight, (int, float)):
            return NotImplemented
        return Sum([(weight * w, term) for w, term in self.terms()])

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return (-1.0) * self

    def __repr__(self) -> str:
        return f"<objective {self.describe()}>"


class Sum(Objective):
    """A weighted sum of objectives (what ``+``, ``-`` and ``*`` build)."""

    def __init__(self, terms: list[tuple[float, Objective]]):
        self._terms = list(terms)
        self.layers = frozenset().union(*(term.layers for _, term in self._terms))

    def terms(self) -> list[tuple[float, Objective]]:
        return list(self._terms)

    def __call__(self, acts: Activations) -> torch.Tensor:
        return sum(weight * term(acts) for weight, term in self._terms)

    def check(self, shapes: dict[str, tuple[int, ...]], batch: int) -> None:
        for _, term in self._terms:
            term.check(shapes, batch)

    def describe(self) -> str:
        text = ""
        for weight, term in self._terms:
            sign = "-" if weight < 0 else "+"
            factor = "" if abs(weight) == 1 else f"{abs(weight):g}·"
            text += f" {sign} {factor}{term.describe()}"
        return text.removeprefix(" + ").strip()


class UnitObjective(Objective):
    """One unit of one layer per image: ``units[i]`` for image i (one unit: the same for all).

    ``reduce`` turns the layer's output into one value per unit [N, units], which also serves
    to find each unit's highest activation over a dataset.
    """

    kind = "unit"
    dims: tuple[int, ...] = (1, 3)  # output ranks (without batch) this objective accepts

    def __init__(self, layer: str, units: int | Sequence[int]):
        self.layer = layer
        self.layers = frozenset([layer])
        self.units = [int(units)] if isinstance(units, int) else [int(u) for u in units]
        if not self.units:
            raise NnreelError("An objective needs at least one unit.")

    def reduce(self, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def unit_index(self, batch: int, device: torch.device) -> torch.Tensor:
        units = self.units * batch if len(self.units) == 1 else self.units
        return torch.tensor(units, device=device)

    def __call__(self, acts: Activations) -> torch.Tensor:
        values = self.reduce(acts[self.layer])
        rows = torch.arange(len(values), device=values.device)
        return values[rows, self.unit_index(len(values), values.device)]

    def check(self, shapes: dict[str, tuple[int, ...]], batch: int) -> None:
        shape = shapes[self.layer]
        if len(shape) not in self.dims:
            what = "a feature map" if len(shape) == 3 else "a vector"
            raise NnreelError(
                f"Layer {self.layer!r} outputs {what} of shape {list(shape)}; a {self.kind} "
                f"objective needs {' or '.join(_RANK_WORDS[d] for d in self.dims)}."
            )
        check_units(self.layer, self.units, shape[0])
        if len(self.units) not in (1, batch):
            raise NnreelError(
                f"{len(self.units)} units for a batch of {batch} images: give one unit per image "
                "or a single unit for all."
            )

    def describe(self) -> str:
        units = ",".join(map(str, self.units[:6])) + ("…" if len(self.units) > 6 else "")
        return f"{self.kind} {self.layer}[{units}]"


_RANK_WORDS = {1: "a vector (dense or logits layer)", 3: "a feature map (conv or pool layer)"}


def check_units(layer: str, units: Iterable[int], count: int) -> None:
    """Every unit must exist; otherwise name the valid range."""
    for unit in units:
        if not 0 <= unit < count:
            raise UnknownNameError(f"{layer} unit", unit, [f"0 to {count - 1} ({count} units)"])


class Channel(UnitObjective):
    """Mean of one channel's (post-ReLU) feature map: the filter firing anywhere."""

    kind = "channel"
    dims = (3,)

    def reduce(self, output: torch.Tensor) -> torch.Tensor:
        return output.mean(dim=(2, 3))


class Neuron(UnitObjective):
    """One neuron: an element of a dense layer's vector, or a channel's centre position."""

    kind = "neuron"

    def reduce(self, output: torch.Tensor) -> torch.Tensor:
        if output.dim() == 4:
            return output[:, :, output.shape[2] // 2, output.shape[3] // 2]
        return output


class ClassLogit(Neuron):
    """A class score before the softmax: maximising the probability instead would mostly push
    the other classes down."""

    kind = "class"
    dims = (1,)


class DeepDream(Objective):
    """The whole layer: mean of its squared activations (what DeepDream maximises)."""

    def __init__(self, layer: str):
        self.layer = layer
        self.layers = frozenset([layer])

    def __call__(self, acts: Activations) -> torch.Tensor:
        return acts[self.layer].pow(2).flatten(1).mean(dim=1)

    def describe(self) -> str:
        return f"deepdream {self.layer}"


class Diversity(Objective):
    """Minus the mean cosine similarity of an image's Gram matrix (style) at ``layer`` to those
    of the other images of its group: several images of one unit then show different facets.

    ``groups[i]`` is image i's group (say its unit); None puts the whole batch in one group.
    Unlike the unit objectives it couples the images of a group, by design.
    """

    def __init__(self, layer: str, groups: Sequence[int] | None = None):
        self.layer = layer
        self.layers = frozenset([layer])
        self.groups = None if groups is None else [int(g) for g in groups]

    def __call__(self, acts: Activations) -> torch.Tensor:
        out = acts[self.layer]
        batch = out.shape[0]
        features = out.flatten(2) if out.dim() == 4 else out[:, :, None]
        gram = torch.nn.functional.normalize(
            (features @ features.transpose(1, 2)).flatten(1), dim=1
        )
        similarity = gram @ gram.T
        groups = torch.tensor(self.groups or [0] * batch, device=out.device)
        same = (groups[:, None] == groups[None, :]) & ~torch.eye(
            batch, dtype=torch.bool, device=out.device
        )
        others = same.sum(1).clamp(min=1)
        return -(similarity * same).sum(1) / others

    def check(self, shapes: dict[str, tuple[int, ...]], batch: int) -> None:
        if self.groups is not None and len(self.groups) != batch:
            raise NnreelError(f"Diversity has {len(self.groups)} groups for {batch} images.")

    def describe(self) -> str:
        return f"diversity {self.layer}"


class TotalVariation(Objective):
    """Mean of (dx² + dy²)^(beta/2) over the input image: large where neighbours differ. A
    penalty, so subtract it: ``unit - w * total_variation()``."""

    def __init__(self, beta: float = 2.0):
        self.beta = beta

    def __call__(self, acts: Activations) -> torch.Tensor:
        x = acts.image
        dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
        dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
        return (dx * dx + dy * dy).pow(self.beta / 2).flatten(1).mean(dim=1)

    def describe(self) -> str:
        return "tv"


class LpNorm(Objective):
    """(mean |x - centre|^p)^(1/p) of the input image: large for extreme pixels. A penalty."""

    def __init__(self, p: float = 6.0, centre: float = 0.5):
        self.p, self.centre = p, centre

    def __call__(self, acts: Activations) -> torch.Tensor:
        deviation = (acts.image - self.centre).abs().flatten(1)
        return deviation.pow(self.p).mean(dim=1).pow(1 / self.p)

    def describe(self) -> str:
        return f"L{self.p:g}"


def channel(layer: str, units: int | Sequence[int]) -> Channel:
    return Channel(layer, units)


def neuron(layer: str, units: int | Sequence[int]) -> Neuron:
    return Neuron(layer, units)


def class_logit(layer: str, classes: int | Sequence[int]) -> ClassLogit:
    return ClassLogit(layer, classes)


def deepdream(layer: str) -> DeepDream:
    return DeepDream(layer)


def diversity(layer: str, groups: Sequence[int] | None = None) -> Diversity:
    return Diversity(layer, groups)


def total_variation(beta: float = 2.0) -> TotalVariation:
    return TotalVariation(beta)


def lp_norm(p: float = 6.0, centre: float = 0.5) -> LpNorm:
    return LpNorm(p, centre)


def unit_objective(model: Net, layer: str, units: int | Sequence[int]) -> UnitObjective:
    """The natural objective for ``units`` of ``layer``: a channel of a conv or pool layer, a
    class logit of the output layer, a neuron of a dense layer."""
    kind = model.kind_of(layer)
    if kind == "logits":
        return class_logit(layer, units)
    if kind in ("conv", "pool"):
        return channel(layer, units)
    return neuron(layer, units)


def layer_units(model: Net, layer: str) -> int:
    """How many units ``layer`` has (channels of a feature map, entries of a vector)."""
    return layer_shapes(model, [layer])[layer][0]
