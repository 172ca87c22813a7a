"""The recording schema: what a run folder holds, named in one place.

Every reader and writer of runs (the recorder, the trainer, activation maximisation, pruning, the
scenes, the tests) builds stream names with the functions here and reads the manifest through the
typed records here, so a name or a kind group is never spelt twice. Pure Python: importing it
needs neither torch nor numpy.

Sections, kept apart so that each can grow on its own:
  * stream names — the builders and constants for every recorded quantity;
  * layer kinds — the ``kind`` vocabulary of graph nodes and the groups readers treat alike;
  * typed records — a layer (graph node), the model graph, the model and optimiser descriptions;
  * run folders — ``is_run``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# == stream names ===========================================================================
# Per-step scalars, every training step (step t = after t updates).
TRAIN_LOSS = "train/loss"
TRAIN_ACC = "train/acc"
TRAIN_LR = "train/lr"
TRAIN_SCALARS = (TRAIN_LOSS, TRAIN_ACC, TRAIN_LR)
# Validation, at step 0 and at each epoch's end, in eval() mode.
VAL_LOSS = "val/loss"
VAL_ACC = "val/acc"
# One value per weighted layer (the layer names are in the stream's meta, key "layers").
GRAD_ABS_MEAN = "stats/grad_abs_mean"
WEIGHT_NORM = "stats/weight_norm"
# The fixed probe batch: uint8 images and labels once, the model's class probabilities on it.
PROBE_IMAGES = "probe/images"
PROBE_LABELS = "probe/labels"
PROBE_PROBS = "probe/probs"
# 2-D models: the fitted function over a mesh of the plane, and the held-out points' predictions.
PLANE_PROB = "plane/prob"
PLANE_CLASS = "plane/class"
PLANE_VAL_PROB = "plane/val_prob"

ACTMAX = "actmax"
ACTMAX_PARTS = ("frames", "values", "probabilities", "best", "best_values", "dead")


def acts(layer: str) -> str:
    """The probe batch's real activations at ``layer`` (post-activation), fp16."""
    return f"acts/{layer}"


def weights(layer: str) -> str:
    """The weight tensor that defines ``layer`` (its conv or linear weight), fp16."""
    return f"weights/{layer}"


def bias(layer: str) -> str:
    return f"weights/{layer}.bias"


def plane(layer: str) -> str:
    """2-D models: every unit of ``layer`` over the plane mesh, post-activation."""
    return f"plane/{layer}"


def plane_pre(layer: str) -> str:
    """2-D models: the same units before their activation."""
    return f"plane/{layer}.pre"


def data_x(split: str) -> str:
    """2-D models: the points of a split (``train`` or ``val``), recorded once."""
    return f"data/{split}_x"


def data_y(split: str) -> str:
    return f"data/{split}_y"


def actmax(layer: str, part: str = "") -> str:
    """Activation maximisation of ``layer``: the prefix, or one of its ``ACTMAX_PARTS``."""
    return f"{ACTMAX}/{layer}/{part}" if part else f"{ACTMAX}/{layer}"


def layer_of(stream: str) -> str:
    """The layer a per-layer stream belongs to (``acts/conv1`` → ``conv1``)."""
    rest = stream.split("/", 1)[1]
    return rest.removesuffix(".bias").removesuffix(".pre")


# == layer kinds ============================================================================
# Every node of a recorded model graph has one of these kinds. A node is one meaningful stage:
# a conv or linear layer together with the normalisation and activation applied right after it
# (so its output is the real post-activation map), a pooling, a merge of two branches, ...
NORMALIZE = "normalize"  # input normalisation inside the model
CONV = "conv"
POOL = "pool"
GAP = "gap"  # global average pooling: one value per channel
FLATTEN = "flatten"
DENSE = "dense"  # a hidden fully connected layer
LOGITS = "logits"  # the output layer: raw class scores
ADD = "add"  # a residual merge: the sum of two branches (a skip connection ends here)
CAT = "cat"  # channels of several branches concatenated
NORM = "norm"  # a batch/layer norm that could not be folded into the layer before it
ACT = "act"  # an activation that could not be folded into the layer before it
OP = "op"  # any other operation

KINDS = (NORMALIZE, CONV, POOL, GAP, FLATTEN, DENSE, LOGITS, ADD, CAT, NORM, ACT, OP)

MAP_KINDS = (CONV, POOL, ADD, CAT)
"""Layers whose output is a stack of 2-D feature maps (when their output shape is C×H×W)."""
BOX_KINDS = (*MAP_KINDS, GAP)
"""Layers drawn as boxes: their output has channels (a gap's is 1×1 per channel)."""
DENSE_KINDS = (DENSE, LOGITS)
"""Fully connected layers, drawn as columns of neurons."""
HIDDEN_VECTOR_KINDS = (GAP, DENSE)
"""Hidden layers whose output is a vector (the head before the prediction)."""
WEIGHTED_KINDS = (CONV, DENSE, LOGITS)
"""Layers defined by one weight tensor (recorded under ``weights/``, pruned, ranked)."""
HIDDEN_KINDS = (NORMALIZE, FLATTEN)
"""Never drawn or recorded as layers: input normalisation, and flatten (the fan into the head)."""
RECORDED_KINDS = (CONV, POOL, GAP, DENSE, LOGITS, ADD, CAT)
"""What ``layers="auto"`` records: every conv, linear and pool output after its activation, and
every merge of branches."""


# == typed records ==========================================================================
@dataclass
class LayerInfo:
    """One node of the model graph (a row of the layer table): what it outputs and costs.

    ``inputs`` names the nodes it reads (``"input"`` for the model's input); ``module`` is the
    ``named_modules`` path of the conv or linear module that defines it, when there is one;
    ``node`` the graph node whose output is recorded as this layer's activation.
    """

    name: str
    kind: str
    output_shape: list[int]
    params: int
    macs: int
    inputs: list[str] = field(default_factory=list)
    module: str | None = None
    node: str | None = None

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> LayerInfo:
        return cls(
            name=str(entry["name"]),
            kind=str(entry["kind"]),
            output_shape=[int(s) for s in entry["output_shape"]],
            params=int(entry["params"]),
            macs=int(entry["macs"]),
            inputs=[str(i) for i in entry.get("inputs", [])],
            module=entry.get("module"),
            node=entry.get("node"),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


INPUT = "input"
"""The name edges use for the model's input."""


@dataclass(frozen=True)
class Edge:
    """Data flowing from one node to another. ``skip`` marks the edges of a shortcut: where two
    branches leave one node and meet again in a merge, the shorter branch (a residual
    identity, or one with a downsampling conv) is a skip connection, drawn as an arc."""

    source: str
    target: str
    skip: bool = False


@dataclass
class Graph:
    """The model as a graph: nodes in execution order and the edges between them."""

    nodes: list[LayerInfo]
    edges: list[Edge]

    @classmethod
    def from_layers(cls, layers: list[LayerInfo]) -> Graph:
        """Edges from each node's ``inputs``; a node without them (a schema-1 run, a chain)
        reads the node before it."""
        pairs: list[tuple[str, str]] = []
        previous = INPUT
        for layer in layers:
            pairs += [(source, layer.name) for source in layer.inputs or [previous]]
            previous = layer.name
        skips = _shortcuts(pairs)
        return cls(list(layers), [Edge(a, b, skip=(a, b) in skips) for a, b in pairs])

    def node(self, name: str) -> LayerInfo:
        return next(layer for layer in self.nodes if layer.name == name)

    @property
    def skips(self) -> list[Edge]:
        return [edge for edge in self.edges if edge.skip]

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [layer.to_json() for layer in self.nodes],
            "edges": [[edge.source, edge.target] for edge in self.edges],
        }


def _shortcuts(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges of the shorter branch wherever branches from one fork meet in a merge."""
    inputs: dict[str, list[str]] = {}
    users: dict[str, int] = {}
    for source, target in pairs:
        inputs.setdefault(target, []).append(source)
        users[source] = users.get(source, 0) + 1
    found: set[tuple[str, str]] = set()
    for merge, sources in inputs.items():
        if len(sources) < 2:
            continue
        branches: dict[str, list[list[tuple[str, str]]]] = {}
        for source in sources:
            path, node = [(source, merge)], source
            while users.get(node, 0) == 1 and len(inputs.get(node, [])) == 1:
                path.append((inputs[node][0], node))
                node = inputs[node][0]
            branches.setdefault(node, []).append(path)
        for paths in branches.values():
            lengths = sorted(len(path) for path in paths)
            if len(paths) > 1 and lengths[0] < lengths[1]:
                found.update(min(paths, key=len))
    return found


@dataclass
class OptimizerInfo:
    """How the run was optimised, as captions word it ("Adam, lr 0.001")."""

    name: str
    lr: float | None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelInfo:
    """What a run says about its model (the manifest's ``model`` entry, schema 2).

    ``arch`` is the name captions use. The model can be built again from ``builder`` (a name
    in ``engine.models``' registry and its keyword arguments) or, for any other module, from
    ``program`` (a file in the run: a ``torch.export`` program stored as JSON, whose outputs
    are the logits and every graph node's activation). ``normalize`` is the input
    normalisation the model expects when it is not part of the model: inputs are
    ``(pixels - mean) / std`` for pixels in [0, 1].
    """

    arch: str
    input_shape: list[int]
    num_classes: int
    builder: dict[str, Any] | None = None
    program: str | None = None
    normalize: dict[str, list[float]] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> ModelInfo:
        return cls(
            arch=str(entry.get("arch", "?")),
            input_shape=[int(s) for s in entry.get("input_shape", [])],
            num_classes=int(entry.get("num_classes", 0)),
            builder=entry.get("builder"),
            program=entry.get("program"),
            normalize=entry.get("normalize"),
            config=dict(entry.get("config") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# == run folders ============================================================================
MANIFEST_FILE = "manifest.json"
RUN_FORMAT = "nnreel-run"


def is_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds an nnreel run (a manifest that says so), without raising."""
    import json

    path = Path(folder) / MANIFEST_FILE
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("format") == RUN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False
