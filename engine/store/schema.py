"""The recording schema: what a run folder holds, named and checked in one place.

Every reader and writer of runs (the recorder, the trainer, activation maximisation, pruning, the
scenes, the tests) builds stream names with the functions here and reads the manifest through the
typed records here, so a name or a kind group is never spelt twice. A run folder is also
untrusted input, so the same module says what a valid one is: the grammar every stream name
follows, and the manifest checked field by field when a run is opened, before anything reads
it (one message names the first field that is wrong). Pure Python: importing it needs neither
torch nor numpy.

Sections, kept apart so that each can grow on its own:
  * stream names — the builders and constants for every recorded quantity, and their grammar;
  * layer kinds — the ``kind`` vocabulary of graph nodes and the groups readers treat alike;
  * typed records — a layer (graph node), the model graph, the model and optimiser descriptions;
  * run folders — the files a run holds, ``is_run``;
  * the manifest — its versions and its validation (plain code rather than a schema library:
    the checks need cross-field rules, such as a count within its stream's capacity, and
    messages that say what to do).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RunError

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

# Families of per-layer streams: ``<family>/<layer>...`` (a reader may test a name's family).
ACTS = "acts"
WEIGHTS = "weights"
PLANE = "plane"
PARAMS = "params"
ACTMAX = "actmax"
ACTMAX_PARTS = ("frames", "values", "probabilities", "best", "best_values", "dead")


def acts(layer: str) -> str:
    """The probe batch's real activations at ``layer`` (post-activation), fp16."""
    return f"{ACTS}/{layer}"


def weights(layer: str) -> str:
    """The weight tensor that defines ``layer`` (its conv or linear weight), fp16."""
    return f"{WEIGHTS}/{layer}"


def bias(layer: str) -> str:
    return f"{WEIGHTS}/{layer}.bias"


def plane(layer: str) -> str:
    """2-D models: every unit of ``layer`` over the plane mesh, post-activation. A plain
    MLP's are computed from its ``params`` (``PLANE_FUNCTION``); a stored one is left out when
    the activation is a ReLU: readers derive it from ``plane_pre`` (``relu_source``)."""
    return f"{PLANE}/{layer}"


def plane_pre(layer: str) -> str:
    """2-D models: the same units before their activation."""
    return f"{PLANE}/{layer}.pre"


RELU_OF = "relu_of"
"""Meta key of a ``plane_pre`` stream whose layer ends in a ReLU: its value names the
post-activation stream that was not stored, because ReLU of the recorded values is exactly it
(ReLU commutes with fp16 rounding), at half the bytes to write."""


def relu_source(name: str, streams: dict[str, Any]) -> str | None:
    """The stored stream that ``name`` is the ReLU of, when ``name`` itself was not stored."""
    if name in streams or not name.startswith(f"{PLANE}/"):
        return None
    source = f"{name}.pre"
    meta = getattr(streams.get(source), "meta", None) or {}
    return source if meta.get(RELU_OF) == name else None


def params(layer: str) -> str:
    """2-D models whose planes are computed (``PLANE_FUNCTION``): ``layer``'s weight in fp32
    at every snapshot, from which every ``plane/`` stream follows."""
    return f"{PARAMS}/{layer}"


def params_bias(layer: str) -> str:
    return f"{PARAMS}/{layer}.bias"


PLANE_FUNCTION = "plane_function"
"""Manifest key of a 2-D model that is a plain chain of linear layers and elementwise
activations: its ``plane/`` streams are not stored but computed when read, from the ``params/``
streams (exactly what the model computes on the mesh; a snapshot costs a few hundred bytes
instead of the whole plane). ``{"extent": [xmin, xmax, ymin, ymax], "mesh": r, "layers":
[{"layer": name, "activation": one of CHAIN_ACTIVATIONS, "alpha": number}, …]}``, the layers
in order from the input; ``alpha`` is a LeakyReLU's slope or an ELU's alpha."""
CHAIN_ACTIVATIONS = ("", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid")
"""The activations a computed plane applies itself (``""``: none, the logits)."""
MAX_COMPUTED_MESH = 1024


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


# -- the grammar of every stream name ---------------------------------------------------------
# A stream ``a/b/c`` lives in ``streams/a/b/c.npy`` and ``streams/a/b/c.steps.npy``, so its name
# is a relative path: it must not climb out (``..``), start at the root, hide (``.x``) or take
# the name of another stream's steps file (``c.steps``).

NAME_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
MAX_NAME_LENGTH = 200
MAX_NAME_SEGMENTS = 8
STEPS_SUFFIX = ".steps"


def stream_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a stream name, or None when it is valid."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    segments = name.split("/")
    if len(segments) > MAX_NAME_SEGMENTS:
        return f"has more than {MAX_NAME_SEGMENTS} parts"
    for segment in segments:
        if not NAME_SEGMENT.fullmatch(segment):
            return (
                f"has the part {segment!r}: parts are letters, digits, _ . - (not first: . -), "
                "separated by single '/'"
            )
    if segments[-1].endswith(STEPS_SUFFIX):
        return f"ends in {STEPS_SUFFIX!r}, the suffix of steps files"
    return None


def check_stream_name(name: str) -> str:
    """``name`` when it is a valid stream name; ``ValueError`` otherwise (a writer's bug)."""
    problem = stream_name_problem(name)
    if problem:
        raise ValueError(f"Invalid stream name {name!r}: it {problem}.")
    return name


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
MERGE_KINDS = (ADD, CAT)
"""Layers where branches meet (a skip connection ends at an add)."""
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
    ``activation`` is the activation that output is taken after, as ``torch.nn`` names its
    module (``"ReLU"``, ``"GELU"``); ``""`` when it is taken before any (a residual block's
    last conv, summed with the skip connection before its ReLU); None when the run does not
    say (recorded before nnreel noted it).
    """

    name: str
    kind: str
    output_shape: list[int]
    params: int
    macs: int
    inputs: list[str] = field(default_factory=list)
    module: str | None = None
    node: str | None = None
    activation: str | None = None

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
            activation=entry.get("activation"),
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


# == run folders ===========================================================================
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pt"
"""The final weights (a state dict)."""
CHECKPOINT_FILE = "checkpoint.pt"
"""The latest training state; its weights under ``"model"``."""
CHECKPOINT_MANIFEST = "manifest"
"""The key under which a checkpoint keeps the manifest that names it (its JSON as bytes): a
commit after the checkpoint replaces the manifest without a sync, and on a filesystem that
does not keep a file replaced that way whole (XFS), a power cut can leave it empty."""
INIT_FILE = "init.pt"
"""The weights a derived run (a pruned network) starts from."""
PROGRAM_FILE = "program.json"
"""A model nnreel cannot build by name, as a ``torch.export`` program (graph only, as JSON)."""
PROGRAM_CONSTANTS_FILE = "program-constants.pt"
"""The program's tensor constants."""
STREAMS_FOLDER = "streams"
FORMAT = "nnreel-run"


def is_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds an nnreel run (a manifest that says so), without raising."""
    import json

    path = Path(folder) / MANIFEST_FILE
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("format") == FORMAT
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


# == The manifest ================================================================================

SCHEMA_VERSION = 2
"""1: the first format. 2: layers carry ``inputs``/``module``/``node`` (the model graph), the
model entry says how to build it again (``builder`` or ``program``), and the manifest names the
``optimizer``. Both are read."""
REQUIRED_KEYS = ("format", "schema", "name", "status", "model", "dataset", "streams", "progress")
STATUSES = ("running", "interrupted", "finished", "failed")
STREAM_DTYPES = (
    "bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
    "float16", "float32", "float64",
)  # fmt: skip
MAX_DIM = 2**31
MAX_ELEMENTS = 2**48
MAX_RANK = 8


class Malformed(Exception):
    """A field of the manifest is wrong; ``where`` names it."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where} {problem}")


def validate_manifest(manifest: Any, path: Path) -> dict[str, Any]:
    """``manifest`` (parsed JSON) when it is a manifest nnreel can read safely; otherwise one
    ``RunError`` naming the field that is wrong."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunError(f"{path} is not an nnreel run manifest (no 'format': '{FORMAT}').")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise RunError(f"{path} is incomplete: it lacks {', '.join(missing)}. Re-train the run.")
    schema = manifest["schema"]
    if _is_int(schema) and schema > SCHEMA_VERSION:
        raise RunError(
            f"{path} has schema {schema}, newer than this nnreel understands "
            f"({SCHEMA_VERSION}). Upgrade nnreel to read it."
        )
    try:
        _check_manifest(manifest)
    except Malformed as exc:
        raise RunError(
            f"{path} is malformed: {exc}. It was damaged or edited by hand; re-train the run, "
            "or get an intact copy of it."
        ) from None
    return manifest


def _check_manifest(m: dict[str, Any]) -> None:
    _int(m["schema"], "schema", low=1)
    _str(m["name"], "name")
    if m["status"] not in STATUSES:
        raise Malformed("status", f"is {_show(m['status'])}, not one of {', '.join(STATUSES)}")
    if "message" in m:
        _str(m["message"], "message", empty=True)
    for key in ("created", "updated"):
        if key in m:
            _str(m[key], key)
    if "size_bytes" in m:
        _int(m["size_bytes"], "size_bytes", low=0)
    _check_model(m["model"])
    _check_dataset(m["dataset"])
    for key in ("hparams", "recording"):
        if key in m:
            _dict(m[key], key)
    if "budget_bytes" in m:
        _int(m["budget_bytes"], "budget_bytes", low=0)
    if m.get("optimizer") is not None:
        _check_optimizer(m["optimizer"])
    if m.get("parent") is not None:
        _dict(m["parent"], "parent")
    for i, layer in enumerate(_list(m.get("layers", []), "layers")):
        _check_layer(layer, f"layers[{i}]")
    progress = _dict(m["progress"], "progress")
    for key in ("step", "epoch"):
        if key in progress:
            _int(progress[key], f"progress.{key}", low=0)
    for key in ("epochs", "steps_per_epoch", "total_steps"):  # None: a loop of unknown length
        if progress.get(key) is not None:
            _int(progress[key], f"progress.{key}", low=0)
    streams = _dict(m["streams"], "streams")
    for name, entry in streams.items():
        problem = stream_name_problem(name)
        if problem:
            raise Malformed(f"the stream name {name!r}", problem)
        _check_stream(entry, f"streams[{name!r}]")
    if m.get("checkpoint") is not None:
        _check_checkpoint(m["checkpoint"])
    if m.get(PLANE_FUNCTION) is not None:
        _check_plane_function(m[PLANE_FUNCTION])


def _check_model(model: Any) -> None:
    model = _dict(model, "model")
    _str(model.get("arch"), "model.arch")
    if "input_shape" in model:
        _shape(model["input_shape"], "model.input_shape", low=1)
    if "num_classes" in model:
        _int(model["num_classes"], "model.num_classes", low=1)
    if "config" in model:
        _dict(model["config"], "model.config")
    if model.get("builder") is not None:
        builder = _dict(model["builder"], "model.builder")
        _str(builder.get("name"), "model.builder.name")
        _dict(builder.get("kwargs", {}), "model.builder.kwargs")
    if model.get("program") is not None and model["program"] != PROGRAM_FILE:
        raise Malformed("model.program", f"is {_show(model['program'])}, not {PROGRAM_FILE!r}")
    if model.get("normalize") is not None:
        normalize = _dict(model["normalize"], "model.normalize")
        for key in ("mean", "std"):
            for i, value in enumerate(_list(normalize.get(key), f"model.normalize.{key}")):
                _number(value, f"model.normalize.{key}[{i}]")


def _check_optimizer(optimizer: Any) -> None:
    optimizer = _dict(optimizer, "optimizer")
    _str(optimizer.get("name"), "optimizer.name")
    if optimizer.get("lr") is not None:
        _number(optimizer["lr"], "optimizer.lr")
    _dict(optimizer.get("settings", {}), "optimizer.settings")


def _check_dataset(dataset: Any) -> None:
    dataset = _dict(dataset, "dataset")
    for key in ("name", "kind"):
        if key in dataset:
            _str(dataset[key], f"dataset.{key}")
    for i, name in enumerate(_list(dataset.get("classes", []), "dataset.classes")):
        _str(name, f"dataset.classes[{i}]")
    if dataset.get("params") is not None:
        _dict(dataset["params"], "dataset.params")
    for key in ("mean", "std", "extent"):
        if dataset.get(key) is not None:
            for i, value in enumerate(_list(dataset[key], f"dataset.{key}")):
                _number(value, f"dataset.{key}[{i}]")


def _check_layer(layer: Any, where: str) -> None:
    layer = _dict(layer, where)
    for key in ("name", "kind"):
        _str(layer.get(key), f"{where}.{key}")
    _shape(layer.get("output_shape"), f"{where}.output_shape", low=0)
    for key in ("params", "macs"):
        _int(layer.get(key), f"{where}.{key}", low=0)
    for i, source in enumerate(_list(layer.get("inputs", []), f"{where}.inputs")):
        _str(source, f"{where}.inputs[{i}]")
    for key in ("module", "node"):
        if layer.get(key) is not None:
            _str(layer[key], f"{where}.{key}")
    if layer.get("activation") is not None:
        _str(layer["activation"], f"{where}.activation", empty=True)


def _check_stream(entry: Any, where: str) -> None:
    entry = _dict(entry, where)
    if entry.get("dtype") not in STREAM_DTYPES:
        raise Malformed(
            f"{where}.dtype", f"is {_show(entry.get('dtype'))}, not a numeric type nnreel records"
        )
    shape = _shape(entry.get("shape"), f"{where}.shape", low=0)
    capacity = _int(entry.get("capacity"), f"{where}.capacity", low=0)
    if math.prod(shape) * max(capacity, 1) > MAX_ELEMENTS:
        raise Malformed(f"{where}.shape", f"and capacity ask for over {MAX_ELEMENTS:,} values")
    count = _int(entry.get("count"), f"{where}.count", low=0)
    if count > capacity:
        raise Malformed(
            f"{where}.count", f"is {count}, above the stream's capacity ({capacity} snapshots)"
        )
    if "cadence" in entry:
        _str(entry["cadence"], f"{where}.cadence", empty=True)
    if "meta" in entry:
        _dict(entry["meta"], f"{where}.meta")


def _check_plane_function(entry: Any) -> None:
    """Its own fields; whether its ``params/`` streams chain up is checked where the planes
    are computed (``engine.store.computed``)."""
    entry = _dict(entry, PLANE_FUNCTION)
    extent = _list(entry.get("extent"), f"{PLANE_FUNCTION}.extent")
    if len(extent) != 4:
        raise Malformed(f"{PLANE_FUNCTION}.extent", "is not [xmin, xmax, ymin, ymax]")
    xmin, xmax, ymin, ymax = (
        _number(v, f"{PLANE_FUNCTION}.extent[{i}]") for i, v in enumerate(extent)
    )
    if not (xmin < xmax and ymin < ymax):
        raise Malformed(f"{PLANE_FUNCTION}.extent", f"is {extent}, an empty rectangle")
    mesh = _int(entry.get("mesh"), f"{PLANE_FUNCTION}.mesh", low=2)
    if mesh > MAX_COMPUTED_MESH:
        raise Malformed(f"{PLANE_FUNCTION}.mesh", f"is {mesh}, above {MAX_COMPUTED_MESH}")
    layers = _list(entry.get("layers"), f"{PLANE_FUNCTION}.layers")
    if not layers:
        raise Malformed(f"{PLANE_FUNCTION}.layers", "is empty")
    for i, layer in enumerate(layers):
        where = f"{PLANE_FUNCTION}.layers[{i}]"
        layer = _dict(layer, where)
        name = _str(layer.get("layer"), f"{where}.layer")
        problem = stream_name_problem(params(name))
        if problem:
            raise Malformed(f"{where}.layer", f"makes a stream name that {problem}")
        if layer.get("activation") not in CHAIN_ACTIVATIONS:
            raise Malformed(
                f"{where}.activation",
                f"is {_show(layer.get('activation'))}, not one of {CHAIN_ACTIVATIONS}",
            )
        _number(layer.get("alpha", 0.0), f"{where}.alpha")


def _check_checkpoint(checkpoint: Any) -> None:
    checkpoint = _dict(checkpoint, "checkpoint")
    _str(checkpoint.get("file"), "checkpoint.file")
    _int(checkpoint.get("step"), "checkpoint.step", low=0)
    for name, count in _dict(checkpoint.get("counts", {}), "checkpoint.counts").items():
        _int(count, f"checkpoint.counts[{name!r}]", low=0)


# -- one value each -----------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(value: Any, where: str, low: int) -> int:
    if not _is_int(value):
        raise Malformed(where, f"is {_show(value)}, not a whole number")
    if value < low:
        raise Malformed(where, f"is {value}, below {low}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Malformed(where, f"is {_show(value)}, not a finite number")
    return value


def _str(value: Any, where: str, empty: bool = False) -> str:
    if not isinstance(value, str) or not (value or empty):
        raise Malformed(where, f"is {_show(value)}, not a non-empty string")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(where, f"is {_show(value)}, not an object ({{...}})")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed(where, f"is {_show(value)}, not a list")
    return value


def _shape(value: Any, where: str, low: int) -> tuple[int, ...]:
    dims = _list(value, where)
    if len(dims) > MAX_RANK:
        raise Malformed(where, f"has {len(dims)} dimensions, more than {MAX_RANK}")
    for i, dim in enumerate(dims):
        _int(dim, f"{where}[{i}]", low=low)
        if dim >= MAX_DIM:
            raise Malformed(f"{where}[{i}]", f"is {dim}, too large")
    return tuple(dims)
