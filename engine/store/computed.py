"""Plane streams that a run computes when they are read instead of storing them.

A 2-D model that is a plain chain of linear layers and elementwise activations (seed 002's MLP)
is its weights: what any of its neurons outputs anywhere on the plane follows from them exactly.
Such a run records every layer's fp32 weight and bias at each snapshot (``schema.params``) and
says so in its manifest (``schema.PLANE_FUNCTION``); ``Run`` reads its ``plane/`` streams by
evaluating the chain on the mesh here, and its ``weights/`` streams are those parameters. A
snapshot then costs the recording a few hundred bytes instead of the whole plane (every neuron
on every mesh point), and readers get the model's own fp32 values rather than an fp16 copy.
Pure numpy: the store depends on no model code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import RunError
from engine.store.schema import (
    PLANE_CLASS,
    PLANE_FUNCTION,
    PLANE_PROB,
    PLANE_VAL_PROB,
    bias,
    params,
    params_bias,
    plane,
    plane_pre,
    weights,
)
from engine.store.streams import StreamInfo

MAX_COMPUTED_VALUES = 1 << 27
"""Values one computed snapshot may hold (every unit on every mesh point: 512 MB in fp32), so
that a manifest cannot make a reader allocate without bound."""

Params = Sequence[tuple[np.ndarray, np.ndarray | None]]
"""Each layer's weight (units × inputs) and bias (or None), at one snapshot."""


def plane_mesh(extent: Sequence[float], resolution: int) -> np.ndarray:
    """Points of a resolution×resolution grid, row 0 at the top (largest y), as float32
    [H*W, 2]: the points the recorder evaluates and a computed plane is evaluated on."""
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    xs = np.linspace(xmin, xmax, resolution, dtype=np.float32)
    ys = np.linspace(ymax, ymin, resolution, dtype=np.float32)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits [N, K]: a single logit is P(class 1) by its sigmoid."""
    if logits.shape[1] == 1:
        p = _sigmoid(logits[:, 0])
        return np.stack([1 - p, p], axis=1)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1)  # no overflow warning for large |x|


ACTIVATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "": lambda x, alpha: x,
    "ReLU": lambda x, alpha: np.maximum(x, 0),
    "LeakyReLU": lambda x, alpha: np.where(x >= 0, x, alpha * x),
    "ELU": lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
    "Tanh": lambda x, alpha: np.tanh(x),
    "Sigmoid": lambda x, alpha: _sigmoid(x),
}
"""``schema.CHAIN_ACTIVATIONS`` as numpy computes them, ``alpha`` a LeakyReLU's slope or an
ELU's alpha (the defaults of ``torch.nn``'s modules: 0.01 and 1)."""


@dataclass(frozen=True)
class ChainLayer:
    """One linear layer of the chain and the activation after it."""

    name: str
    kind: str
    activation: str
    alpha: float
    units: int
    has_bias: bool


@dataclass(frozen=True)
class PlaneFunction:
    """The chain a run's ``plane/`` streams are computed from, checked against its streams."""

    extent: tuple[float, float, float, float]
    mesh: int
    layers: tuple[ChainLayer, ...]

    @classmethod
    def of(cls, manifest: dict[str, Any], streams: dict[str, StreamInfo]) -> PlaneFunction | None:
        """The run's plane function (None when its planes are stored): the manifest's entry,
        with every layer's ``params/`` streams present and of shapes that chain from the two
        coordinates of the plane to the logits. ``RunError`` naming what does not fit."""
        entry = manifest.get(PLANE_FUNCTION)
        if entry is None:
            return None
        kinds = {layer.get("name"): layer.get("kind") for layer in manifest.get("layers", [])}
        layers, inputs = [], 2
        for i, layer in enumerate(entry["layers"]):
            name = layer["layer"]
            weight = _stream(streams, params(name), f"{PLANE_FUNCTION}.layers[{i}]")
            if len(weight.shape) != 2 or weight.shape[1] != inputs or weight.shape[0] < 1:
                raise _mismatch(f"{params(name)} has shape {list(weight.shape)}", inputs)
            units = weight.shape[0]
            offset = streams.get(params_bias(name))
            if offset is not None and offset.shape != (units,):
                raise _mismatch(f"{offset.name} has shape {list(offset.shape)}", units)
            last = i == len(entry["layers"]) - 1
            kind = kinds.get(name) or ("logits" if last else "dense")
            activation, alpha = layer["activation"], float(layer.get("alpha", 0.0))
            layers.append(ChainLayer(name, kind, activation, alpha, units, offset is not None))
            inputs = units
        function = cls(tuple(float(v) for v in entry["extent"]), int(entry["mesh"]), tuple(layers))
        values = function.mesh**2 * sum(layer.units for layer in layers)
        if values > MAX_COMPUTED_VALUES:
            raise RunError(
                f"{PLANE_FUNCTION} asks for {values:,} values per snapshot (a {function.mesh} "
                f"mesh), more than {MAX_COMPUTED_VALUES:,}: the manifest was damaged or edited."
            )
        clash = sorted((set(function.names()) | set(function.aliases())) & set(streams))
        if clash:
            raise RunError(f"{clash[0]} is both stored and computed: the manifest was edited.")
        return function

    @functools.cached_property
    def mesh_points(self) -> np.ndarray:
        """The mesh the planes are computed on (made once: every snapshot reads it)."""
        return plane_mesh(self.extent, self.mesh)

    @property
    def classes(self) -> int:
        units = self.layers[-1].units
        return 2 if units == 1 else units

    def names(self) -> list[str]:
        """The stream names the function computes."""
        return list(self._layout(val_points=0))

    def streams(self, stored: dict[str, StreamInfo], val_points: int) -> dict[str, StreamInfo]:
        """The computed streams as readers see them (``val_points``: the held-out points in
        ``data/val_x``): a snapshot wherever every layer's parameters have one."""
        sources = self.sources()
        count = min(stored[name].count for name in sources)
        first = stored[sources[0]]
        found = {
            name: StreamInfo(name, dtype, shape, first.capacity, count, first.cadence, meta)
            for name, (shape, dtype, meta) in self._layout(val_points).items()
        }
        for alias, source in self.aliases().items():
            info = stored[source]
            meta = {**info.meta, "computed": True}
            shape, capacity = info.shape, info.capacity
            found[alias] = StreamInfo(alias, info.dtype, shape, capacity, count, info.cadence, meta)
        return found

    def aliases(self) -> dict[str, str]:
        """``weights/`` streams read from the parameters (the chain's layers' weights are
        those, recorded once, in fp32)."""
        found = {}
        for layer in self.layers:
            found[weights(layer.name)] = params(layer.name)
            if layer.has_bias:
                found[bias(layer.name)] = params_bias(layer.name)
        return found

    def _layout(self, val_points: int) -> dict[str, tuple[tuple[int, ...], str, dict[str, Any]]]:
        """Each computed stream's shape, dtype and meta, as stored planes have them."""
        r, k = self.mesh, self.classes
        meta = {"extent": list(self.extent), "mesh": r, "computed": True}
        found = {
            PLANE_PROB: ((k, r, r), "float32", meta),
            PLANE_CLASS: ((r, r), "uint8", meta),
            PLANE_VAL_PROB: ((val_points, k), "float32", {"computed": True}),
        }
        for layer in self.layers:
            layer_meta = {**meta, "layer": layer.name, "kind": layer.kind}
            found[plane(layer.name)] = ((layer.units, r, r), "float32", layer_meta)
            if layer.activation:
                found[plane_pre(layer.name)] = ((layer.units, r, r), "float32", layer_meta)
        return found

    def sources(self) -> list[str]:
        """The stored streams the planes are computed from."""
        return [
            name
            for layer in self.layers
            for name in (params(layer.name), params_bias(layer.name))[: 1 + layer.has_bias]
        ]

    def pair(self, arrays: Sequence[np.ndarray]) -> Params:
        """One snapshot's ``sources()`` arrays, in that order, as (weight, bias) pairs."""
        found, parts = [], iter(arrays)
        for layer in self.layers:
            weight = next(parts)
            found.append((weight, next(parts) if layer.has_bias else None))
        return found

    def outputs(self, weights: Params, points: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output at ``points`` [N, 2] (and its ``.pre``, before the
        activation) as [N, units] float32, for one snapshot's ``weights``."""
        found: dict[str, np.ndarray] = {}
        x = points.astype(np.float32, copy=False)
        for layer, (weight, offset) in zip(self.layers, weights, strict=True):
            pre = x @ weight.astype(np.float32, copy=False).T
            if offset is not None:
                pre += offset.astype(np.float32, copy=False)
            x = ACTIVATIONS[layer.activation](pre, layer.alpha).astype(np.float32, copy=False)
            found[f"{layer.name}.pre"], found[layer.name] = pre, x
        return found

    def snapshot(self, name: str, weights: Params, val_points: np.ndarray) -> np.ndarray:
        """Stream ``name`` at one snapshot whose parameters are ``weights``."""
        logits = self.layers[-1].name
        if name == PLANE_VAL_PROB:
            return probabilities(self.outputs(weights, val_points)[logits])
        r = self.mesh
        found = self.outputs(weights, self.mesh_points)
        if name not in (PLANE_PROB, PLANE_CLASS):
            values = found[name.split("/", 1)[1]]  # plane/LAYER or plane/LAYER.pre
        elif name == PLANE_PROB:
            values = probabilities(found[logits])
        else:  # the class is read from fp32 probabilities, as the recorder's was
            return probabilities(found[logits]).argmax(axis=1).astype(np.uint8).reshape(r, r)
        return np.ascontiguousarray(values.T).reshape(-1, r, r)


def _stream(streams: dict[str, StreamInfo], name: str, where: str) -> StreamInfo:
    if name not in streams:
        raise RunError(f"{where} names {name!r}, a stream the run lacks: the manifest was edited.")
    info = streams[name]
    if not info.dtype.startswith("float"):
        raise RunError(f"{name} holds {info.dtype}, not the floats of a layer's parameters.")
    return info


def _mismatch(what: str, expected: int) -> RunError:
    return RunError(
        f"{what}, which does not take the {expected} values of the layer before it: "
        f"{PLANE_FUNCTION} does not chain up, the manifest was damaged or edited."
    )
