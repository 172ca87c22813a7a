"""Weight contributions in an MLP, and the path of the strongest contributions back to the input.

Seed 002 showed, for one neuron, each of its input neurons' response maps "sized by |w| and
colour-inverted where w < 0". That picture is the *contribution* of each input: its map times
the weight, sign kept. Summed over the inputs, plus the bias, it is the neuron's recorded
pre-activation exactly, so what a scene shows is what the neuron really receives.

The path back from the output follows, at each neuron, the input that contributes most: the
largest mean |w·a| over the plane (seed 002 followed the most contributing neuron). A large
weight on an input that is almost always zero carries nothing; the largest |w| alone is the
rule only when no input maps are given.

Weights use PyTorch's layout: layer ``l``'s matrix is ``[out, in]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.analysis.ranking import ranked
from engine.errors import RunError
from engine.store import Run, schema

INPUT = "input"


def contributions(input_maps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """What each input adds to one neuron: ``input_maps[i] × weights[i]`` (sign kept).

    ``input_maps`` is [n_in, ...] (a response map per input neuron), ``weights`` the neuron's
    incoming weights [n_in]; the result has the shape of ``input_maps``.
    """
    maps = np.asarray(input_maps, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != maps.shape[:1]:
        raise ValueError(f"{len(maps)} input maps but {w.shape} weights")
    return maps * w.reshape((-1,) + (1,) * (maps.ndim - 1))


def ranking(weights: np.ndarray) -> np.ndarray:
    """Input indices by |w|, largest first (near-ties keep index order: ``ranked``)."""
    return ranked(np.abs(np.asarray(weights, dtype=np.float64)))


def strengths(input_maps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """How much each input contributes to one neuron: the mean |w·a| of its contribution over
    every point of its map ([n_in])."""
    parts = contributions(input_maps, weights)
    return np.abs(parts).reshape(len(parts), -1).mean(axis=1)


@dataclass(frozen=True)
class Hop:
    """One neuron on the traced path, with the inputs that feed it."""

    column: int
    """Its column: 1 = the first hidden layer, ``len(weights)`` = the output layer."""
    unit: int
    weights: np.ndarray
    """Its incoming weights [n_in]."""
    bias: float
    scores: np.ndarray | None = None
    """How much each input contributes (``strengths``: mean |w·a|), when its inputs' maps
    were given; else inputs are ranked by |w|."""

    @property
    def order(self) -> np.ndarray:
        """Inputs, strongest first: by contribution, else by |w| (near-ties keep index order)."""
        if self.scores is None:
            return ranking(self.weights)
        return ranked(np.asarray(self.scores, dtype=np.float64))

    @property
    def strongest(self) -> int:
        """The input that contributes most (the largest |w| without maps): the next neuron
        on the path."""
        return int(self.order[0])


def trace(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray] | None = None,
    start: int = 0,
    inputs: Sequence[np.ndarray] | None = None,
) -> list[Hop]:
    """From unit ``start`` of the last layer back to the input, following at each neuron the
    input that contributes most: one ``Hop`` per layer, the output's first.

    ``weights[l]`` is layer ``l``'s [out, in] matrix (layer 0 reads the input); ``inputs[l]``,
    when given, the maps that feed layer ``l`` ([n_in, ...]: x and y for layer 0, then each
    hidden layer's outputs over the plane), and the path follows the largest mean |w·a|;
    without them, the largest |w|. The input that the last hop's ``strongest`` names is an
    input feature (x or y of the plane).
    """
    if not weights:
        raise ValueError("a network needs at least one layer of weights")
    if inputs is not None and len(inputs) != len(weights):
        raise ValueError(f"{len(weights)} layers of weights but {len(inputs)} of input maps")
    unit, hops = int(start), []
    for column in range(len(weights), 0, -1):
        w = np.asarray(weights[column - 1], dtype=np.float32)
        if not 0 <= unit < w.shape[0]:
            raise ValueError(f"layer {column} has {w.shape[0]} units; unit {unit} does not exist")
        bias = 0.0 if biases is None else float(np.asarray(biases[column - 1])[unit])
        scores = None if inputs is None else strengths(inputs[column - 1], w[unit])
        hop = Hop(column, unit, w[unit], bias, scores)
        hops.append(hop)
        unit = hop.strongest
    return hops


def path(hops: Sequence[Hop]) -> list[tuple[int, int]]:
    """The traced neurons as (column, unit), from the output down to the input feature
    (column 0), in the form ``NetworkGraph.highlight_path`` takes."""
    return [(hop.column, hop.unit) for hop in hops] + [(0, hops[-1].strongest)]


def input_maps(extent: Sequence[float], mesh: int) -> np.ndarray:
    """The input neurons' "response" over the plane: x and y themselves ([2, mesh, mesh]),
    on the recorder's grid (row 0 at the top, y = ymax)."""
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    xs = np.linspace(xmin, xmax, mesh, dtype=np.float32)
    ys = np.linspace(ymax, ymin, mesh, dtype=np.float32)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([grid_x, grid_y])


@dataclass(frozen=True)
class MlpWeights:
    """An MLP's recorded weights at every weight snapshot, as float32."""

    names: list[str]
    """Column names: ``input``, then each layer."""
    steps: np.ndarray
    weights: list[np.ndarray]
    """Per layer, [snapshots, out, in]."""
    biases: list[np.ndarray]
    """Per layer, [snapshots, out] (zeros for a layer without bias)."""

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[2], *(w.shape[1] for w in self.weights)]

    def limits(self) -> list[float]:
        """Each layer's largest |w| over all snapshots: a fixed scale, so growth shows."""
        return [float(np.abs(w).max()) or 1.0 for w in self.weights]


def recorded_weights(run: Run) -> MlpWeights:
    """Every layer's weights from a run of an MLP (``weights/<layer>`` streams)."""
    layers = [info for info in run.layers if info.kind != "flatten"]
    others = [f"{i.name} ({i.kind})" for i in layers if i.kind not in schema.DENSE_KINDS]
    if others or not layers:
        raise RunError(
            f"Run {run.name!r} is not an MLP (layers {', '.join(others) or 'none'}): weight "
            "contributions are traced through dense layers only. Train one with "
            "`python -m engine train mlp-ring`."
        )
    steps = run.steps(schema.weights(layers[0].name))
    weights, biases = [], []
    for info in layers:
        name = schema.weights(info.name)
        if not np.array_equal(run.steps(name), steps):
            raise RunError(
                f"Run {run.name!r}: the weight streams were recorded at different steps."
            )
        w = run.read(name).astype(np.float32)
        weights.append(w)
        bias = f"{name}.bias"
        biases.append(run.read(bias).astype(np.float32) if run.has(bias) else np.zeros(w.shape[:2]))
    return MlpWeights([INPUT, *(info.name for info in layers)], steps, weights, biases)
