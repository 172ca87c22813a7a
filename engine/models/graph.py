"""Any ``nn.Module`` as a graph of layers, and taps that read any layer's real output.

The model is traced with torch.fx (torchvision's node-path tracer, so node names are the ones
``torchvision.models.feature_extraction.get_graph_node_names`` prints). Each conv or linear
node is folded together with the normalisation and activation applied right after it, so a
layer's output is the network's real post-activation map, whether the activation is a module
(``nn.ReLU``, in place or not) or a function (``F.relu``), and the layer notes which
(``LayerInfo.activation``; none for a residual block's last conv, whose output the add takes).
Merges of branches (``x + y``) are layers of their own, and their inputs are the skip
connections.

A tap is a copy of the traced graph that returns the chosen layers' outputs, each cloned the
moment it is computed (an in-place ReLU later on cannot overwrite it), and stops after the
deepest of them. It shares the model's parameters, so it sees the live weights and gradients
flow through it (activation maximisation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torchvision.models.feature_extraction import NodePathTracer

from engine.errors import NnreelError, UnknownNameError
from engine.store import schema
from engine.store.schema import LayerInfo

LOGITS = "logits"
"""The key a tap uses for the model's output."""

# Roles of nodes that are folded into the layer before them.
_NORM, _ACT, _PASS = "fold:norm", "fold:act", "fold:pass"

_MODULE_KINDS: list[tuple[tuple[type, ...], str]] = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d), schema.CONV),
    ((nn.Linear, nn.Bilinear), schema.DENSE),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d), schema.POOL),
    ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d), schema.POOL),
    ((nn.Flatten,), schema.FLATTEN),
    (
        (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d),
        _NORM,
    ),
    (
        (
            nn.ReLU,
            nn.ReLU6,
            nn.LeakyReLU,
            nn.PReLU,
            nn.ELU,
            nn.SELU,
            nn.GELU,
            nn.SiLU,
            nn.Mish,
            nn.Sigmoid,
            nn.Tanh,
            nn.Hardswish,
            nn.Hardtanh,
            nn.Softplus,
            nn.Softmax,
            nn.LogSoftmax,
        ),
        _ACT,
    ),
    ((nn.Dropout, nn.Dropout2d, nn.Identity), _PASS),
]
_ACTIVATION_FUNCTIONS = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "mish": "Mish",
    "elu": "ELU",
    "selu": "SELU",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "hardswish": "Hardswish",
    "softplus": "Softplus",
    "softmax": "Softmax",
    "log_softmax": "LogSoftmax",
}
"""Activation functions (``F.relu``, ``torch.tanh``, ``x.relu_()``) by the name of their module."""
_FUNCTION_KINDS: dict[str, str] = {
    **dict.fromkeys(("conv1d", "conv2d", "conv3d"), schema.CONV),
    "linear": schema.DENSE,
    **dict.fromkeys(("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"), schema.POOL),
    **dict.fromkeys(("adaptive_avg_pool2d", "adaptive_max_pool2d"), schema.POOL),
    **dict.fromkeys(("add", "add_", "iadd", "__add__", "__iadd__"), schema.ADD),
    **dict.fromkeys(("cat", "concat", "concatenate"), schema.CAT),
    **dict.fromkeys(("flatten", "view", "reshape"), schema.FLATTEN),
    **dict.fromkeys(("batch_norm", "layer_norm", "group_norm"), _NORM),
    **dict.fromkeys((*_ACTIVATION_FUNCTIONS, "relu_"), _ACT),
    **dict.fromkeys(("dropout", "contiguous", "clone", "float", "to"), _PASS),
}


class _Tracer(NodePathTracer):
    """torchvision's node-path tracer; a module without children is a leaf too (its forward
    is one step, like a torch.nn layer's), so nnreel's own ``Normalize`` and ``Pool`` and a
    user's parameter-free helpers stay whole."""

    def is_leaf_module(self, m: nn.Module, module_qualname: str) -> bool:
        return super().is_leaf_module(m, module_qualname) or not any(True for _ in m.children())


@dataclass
class _Group:
    """Nodes folded into one layer: the anchor (a conv, a merge, …) and what follows it."""

    kind: str
    nodes: list[fx.Node]
    name: str = ""
    pre: fx.Node | None = None
    """The last node before the folded activation, when there is one."""
    activation: str = ""
    """That activation, as ``torch.nn`` names its module."""

    @property
    def tail(self) -> fx.Node:
        return self.nodes[-1]


@dataclass
class ModelGraph:
    """A traced model: its layers (graph nodes in execution order) and how to tap them."""

    module: nn.Module
    traced: fx.GraphModule
    layers: list[LayerInfo]
    input_shape: tuple[int, ...]
    num_outputs: int
    requested: tuple[str, ...]
    """The names the trace was asked to make layers of (tracing a copy again needs them)."""
    _tails: dict[str, fx.Node] = field(repr=False)
    _pres: dict[str, fx.Node] = field(repr=False)
    _taps: dict[tuple[str, ...], fx.GraphModule] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def layer(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownNameError("layer", name, self.visible_names())

    def visible_names(self) -> list[str]:
        return [info.name for info in self.layers if info.kind not in schema.HIDDEN_KINDS]

    def has_pre(self, name: str) -> bool:
        return name in self._pres

    def is_relu_of_pre(self, name: str) -> bool:
        """Whether ``name``'s output is exactly ReLU of its ``.pre``: the activation is a
        ReLU and nothing (a norm, a dropout) is folded in after it."""
        pre, tail = self._pres.get(name), self._tails.get(name)
        return (
            pre is not None
            and tail.all_input_nodes == [pre]
            and _role(self.traced, tail) == _ACT
            and _activation_name(self.traced, tail) == "ReLU"
        )

    def dense_chain(self) -> list[tuple[str, str, float]] | None:
        """The model as ``(layer, activation, alpha)`` per linear layer when it is a plain
        chain: plain ``nn.Linear`` layers, each followed by at most one activation of
        ``schema.CHAIN_ACTIVATIONS`` (``alpha``: a LeakyReLU's slope, an ELU's alpha),
        dropouts between, nothing else. Its outputs anywhere then follow from its weights
        alone (``engine.store.computed``); None for any other model."""
        chain: list[list] = []
        previous: fx.Node | None = None
        for node in self.traced.graph.nodes:
            if node.op == "output":
                return self._chain_layers(chain) if node.args[0] is previous else None
            if (node.op == "placeholder") != (previous is None):
                return None
            if previous is not None and node.all_input_nodes != [previous]:
                return None
            step = _chain_step(self.traced, node)
            if step is None:
                return None
            if step == _LINEAR:
                chain.append([node.target, None, 0.0])
            elif step != _IDENTITY:  # an activation: one, right after its linear layer
                if not chain or chain[-1][1] is not None:
                    return None
                chain[-1][1:] = step
            previous = node
        return None

    def _chain_layers(self, chain: list[list]) -> list[tuple[str, str, float]] | None:
        by_module = {layer.module: layer.name for layer in self.layers if layer.module}
        if not chain or any(module not in by_module for module, _, _ in chain):
            return None
        return [(by_module[module], act or "", float(alpha)) for module, act, alpha in chain]

    def tap(self, keys: Iterable[str]) -> fx.GraphModule:
        """A module returning ``{key: output}`` for each of ``keys``: a layer name, a layer
        name + ``.pre`` (before its activation), or ``"logits"`` (the model's output)."""
        wanted = tuple(dict.fromkeys(keys))
        if wanted not in self._taps:
            self._taps[wanted] = self._build_tap(wanted)
        return self._taps[wanted]

    def _capture_node(self, key: str) -> fx.Node:
        if key in self._tails:
            return self._tails[key]
        if key.endswith(".pre") and key[:-4] in self._pres:
            return self._pres[key[:-4]]
        raise UnknownNameError("layer", key, self.visible_names())

    def _build_tap(self, keys: tuple[str, ...]) -> fx.GraphModule:
        source = self.traced.graph
        graph = fx.Graph()
        mapping: dict[fx.Node, fx.Node] = {}
        output = graph.graph_copy(source, mapping)
        order = {node: i for i, node in enumerate(source.nodes)}
        captures = {key: self._capture_node(key) for key in keys if key != LOGITS}
        deepest = max((order[n] for n in captures.values()), default=-1)
        outputs: dict[str, fx.Node] = {}
        for key, node in captures.items():
            with graph.inserting_after(mapping[node]):
                outputs[key] = graph.call_function(torch.clone, (mapping[node],))
        if LOGITS in keys:
            outputs[LOGITS] = _first_tensor(output)
        else:  # stop after the deepest layer asked for
            for node in reversed(list(source.nodes)):
                if order[node] > deepest and node.op != "output":
                    copied = mapping[node]
                    if not copied.users:
                        graph.erase_node(copied)
        graph.output({key: outputs[key] for key in keys})
        graph.lint()
        return fx.GraphModule(self.traced, graph)


def _first_tensor(value):
    if isinstance(value, fx.Node):
        return value
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        return _first_tensor(item)
    raise NnreelError("The model returns no tensor.")


# -- tracing ----------------------------------------------------------------------------------
def trace_model(
    model: nn.Module, example: torch.Tensor, requested: Sequence[str] = ()
) -> ModelGraph:
    """Trace ``model`` on ``example`` (a batch of inputs, any size ≥ 1) into a ``ModelGraph``.

    ``requested`` names layers that must be graph nodes of their own: a default layer name, a
    node name (``layer1.0.relu_1``, ``add``), or a module name (``layer1.0``, ``features.3``);
    each ends a layer there, named as asked.
    """
    training = model.training
    model.eval()
    try:
        traced = _trace(model)
        with torch.no_grad():
            ShapeProp(traced).propagate(example)
    finally:
        model.train(training)
    qualnames = traced.meta["qualnames"]
    cuts = {_requested_node(traced, qualnames, name): name for name in requested}
    groups = _fold(traced, qualnames, set(cuts))
    _name(groups, qualnames, traced, cuts)
    outputs = _output_nodes(traced)
    for group in groups:
        if group.kind == schema.DENSE and group.tail in outputs:
            group.kind = schema.LOGITS
    layers = _layer_infos(traced, groups, qualnames)
    return ModelGraph(
        module=model,
        traced=traced,
        layers=layers,
        input_shape=tuple(example.shape[1:]),
        num_outputs=int(_shape(outputs[0])[-1]) if outputs else 0,
        requested=tuple(requested),
        _tails={g.name: g.tail for g in groups},
        _pres={g.name: g.pre for g in groups if g.pre is not None},
    )


def _trace(model: nn.Module) -> fx.GraphModule:
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises many kinds; all mean the same to the user
        raise NnreelError(
            f"nnreel cannot trace {type(model).__name__} with torch.fx ({exc}). Its forward "
            "probably branches on the values of tensors; move that part into a submodule "
            "without children (traced as one step), or record a model without it."
        ) from None
    traced = fx.GraphModule(tracer.root, graph, type(model).__name__)
    traced.meta["qualnames"] = {
        node.name: tracer.node_to_qualname.get(node, node.name) for node in graph.nodes
    }
    return traced


def _requested_node(traced: fx.GraphModule, qualnames: dict[str, str], name: str) -> fx.Node:
    """Where requested layer ``name`` ends: a node or module (``_resolve``), else the layer of
    that default name (``conv0``, which no module is called) as it is folded by default."""
    try:
        return _resolve(traced, qualnames, name)
    except UnknownNameError as exc:
        groups = _fold(traced, qualnames, set())
        _name(groups, qualnames, traced, {})
        for group in groups:
            if group.name == name:
                return group.tail
        valid = dict.fromkeys([*(group.name for group in groups), *exc.valid])
        raise UnknownNameError("layer or node", name, valid) from None


def _resolve(traced: fx.GraphModule, qualnames: dict[str, str], name: str) -> fx.Node:
    """The node where requested layer ``name`` ends (its own node, or a module's last)."""
    by_qualname = {q: n for n, q in qualnames.items()}
    nodes = {node.name: node for node in traced.graph.nodes}
    if name in by_qualname:
        return nodes[by_qualname[name]]
    inside = [n for n, q in qualnames.items() if q.startswith(f"{name}.") and _is_tensor(nodes[n])]
    if inside:
        return nodes[inside[-1]]
    valid = [q for n, q in qualnames.items() if _is_tensor(nodes[n])]
    raise UnknownNameError("layer or node", name, valid)


def _is_tensor(node: fx.Node) -> bool:
    return "tensor_meta" in node.meta and hasattr(node.meta["tensor_meta"], "shape")


def _shape(node: fx.Node) -> tuple[int, ...]:
    return tuple(node.meta["tensor_meta"].shape)


def _role(traced: fx.GraphModule, node: fx.Node) -> str:
    """The node's kind, or a folding role (``fold:…``)."""
    if node.op == "call_module":
        module = traced.get_submodule(node.target)
        own = getattr(module, "kind", None)
        if own in schema.KINDS:
            return own
        for types, kind in _MODULE_KINDS:
            if isinstance(module, types):
                return _refine(kind, node)
        return schema.OP
    if node.op in ("call_function", "call_method"):
        name = getattr(node.target, "__name__", str(node.target))
        kind = _FUNCTION_KINDS.get(name, schema.OP)
        if name == "mean" and len(_shape(node)) == 2:
            kind = schema.GAP
        if kind == schema.ADD and sum(isinstance(a, fx.Node) for a in node.args) < 2:
            kind = schema.OP  # x + 1 is not a merge of branches
        return _refine(kind, node)
    return schema.OP


_LINEAR, _IDENTITY = "linear", "identity"
_CHAIN_MODULES: dict[type, tuple[str, str | None]] = {
    nn.ReLU: ("ReLU", None),
    nn.LeakyReLU: ("LeakyReLU", "negative_slope"),
    nn.ELU: ("ELU", "alpha"),
    nn.Tanh: ("Tanh", None),
    nn.Sigmoid: ("Sigmoid", None),
}
_CHAIN_FUNCTIONS: dict[str, tuple[str, str | None, float]] = {
    "relu": ("ReLU", None, 0.0),
    "leaky_relu": ("LeakyReLU", "negative_slope", 0.01),
    "elu": ("ELU", "alpha", 1.0),
    "tanh": ("Tanh", None, 0.0),
    "sigmoid": ("Sigmoid", None, 0.0),
}


def _chain_step(traced: fx.GraphModule, node: fx.Node) -> str | tuple[str, float] | None:
    """What ``node`` is in a plain chain: ``_LINEAR``; ``_IDENTITY`` (the input, or a dropout:
    identity in eval mode, where planes are taken); an activation as ``(name, alpha)``; None
    when it is anything else."""
    if node.op == "placeholder":
        return _IDENTITY
    if node.op == "call_module":
        module = traced.get_submodule(node.target)
        if type(module).forward is nn.Linear.forward:
            return _LINEAR
        if type(module) in (nn.Dropout, nn.Identity):
            return _IDENTITY
        if type(module) in _CHAIN_MODULES:
            name, attribute = _CHAIN_MODULES[type(module)]
            return name, float(getattr(module, attribute)) if attribute else 0.0
        return None
    if node.op not in ("call_function", "call_method"):
        return None
    found = _CHAIN_FUNCTIONS.get(getattr(node.target, "__name__", str(node.target)).rstrip("_"))
    if found is None:
        return None
    name, keyword, default = found
    extra = [a for a in node.args[1:] if not isinstance(a, bool)]  # F.relu(x, True): inplace
    alpha = node.kwargs.get(keyword, extra[0] if extra else default) if keyword else 0.0
    if (not keyword and extra) or not isinstance(alpha, (int, float)):
        return None
    return name, float(alpha)


def _activation_name(traced: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(traced.get_submodule(node.target)).__name__
    name = getattr(node.target, "__name__", str(node.target)).removesuffix("_")
    return _ACTIVATION_FUNCTIONS.get(name, name)


def _refine(kind: str, node: fx.Node) -> str:
    """Pools to one value per channel are global average pools; a reshape that keeps the
    rank is no flatten."""
    shape = _shape(node)
    if kind == schema.POOL and len(shape) >= 3 and all(s == 1 for s in shape[2:]):
        return schema.GAP
    if kind == schema.FLATTEN:
        inputs = [a for a in node.all_input_nodes if _is_tensor(a)]
        if not inputs or len(_shape(inputs[0])) <= len(shape):
            return schema.OP
    return kind


def _fold(traced: fx.GraphModule, qualnames: dict[str, str], cuts: set[fx.Node]) -> list[_Group]:
    """Group the tensor nodes into layers: each folding node joins the layer of its only
    input when it is that layer's last node and its only consumer."""
    groups: list[_Group] = []
    group_of: dict[fx.Node, _Group] = {}
    for node in traced.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr") or not _is_tensor(node):
            continue
        role = _role(traced, node)
        inputs = [a for a in node.all_input_nodes if _is_tensor(a) and a.op != "get_attr"]
        if role.startswith("fold:"):
            source = inputs[0] if len(inputs) == 1 else None
            group = group_of.get(source)
            users = [u for u in source.users if _is_tensor(u)] if source is not None else []
            if (
                group is not None
                and group.tail is source
                and users == [node]
                and source not in cuts
            ):
                if role == _ACT and group.pre is None:
                    group.pre, group.activation = source, _activation_name(traced, node)
                group.nodes.append(node)
                group_of[node] = group
                continue
            role = {_NORM: schema.NORM, _ACT: schema.ACT}.get(role, schema.OP)
        group = _Group(role, [node])
        groups.append(group)
        group_of[node] = group
    return groups


def _name(
    groups: list[_Group],
    qualnames: dict[str, str],
    traced: fx.GraphModule,
    cuts: dict[fx.Node, str],
) -> None:
    """A layer is named after its first node, or after the module that holds exactly its
    nodes (nnreel's ``conv1_1`` rather than ``conv1_1.conv``); requested layers as asked."""
    modules = {name for name, _ in traced.named_modules() if name}
    owner: dict[str, _Group] = {}
    for group in groups:
        for node in group.nodes:
            owner[node.name] = group
    for group in groups:
        name = qualnames[group.nodes[0].name]
        parent = name.rpartition(".")[0]
        while parent in modules:
            inside = {n for n, q in qualnames.items() if q.startswith(f"{parent}.") and n in owner}
            if any(owner[n] is not group for n in inside):
                break
            name, parent = parent, parent.rpartition(".")[0]
        if name.isdigit():  # a child of an nn.Sequential: "conv0", "fc4" read better than "0"
            name = sequential_name(group.kind, name)
        group.name = cuts.get(group.tail, name)


def sequential_name(kind: str, index: str) -> str:
    """The default name of an ``nn.Sequential``'s child ``index``: its kind and index."""
    return f"{'fc' if kind == schema.DENSE else kind}{index}"


def _output_nodes(traced: fx.GraphModule) -> list[fx.Node]:
    output = next(n for n in traced.graph.nodes if n.op == "output")
    found: list[fx.Node] = []

    def walk(value) -> None:
        if isinstance(value, fx.Node):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(output.args[0])
    return [n for n in found if _is_tensor(n)]


def _layer_infos(
    traced: fx.GraphModule, groups: list[_Group], qualnames: dict[str, str]
) -> list[LayerInfo]:
    group_of = {node: group for group in groups for node in group.nodes}
    counted: set[int] = set()
    layers = []
    for group in groups:
        inputs: list[str] = []
        params = macs = 0
        for node in group.nodes:
            for source in node.all_input_nodes:
                if source in group_of and group_of[source] is not group:
                    inputs.append(group_of[source].name)
                elif source.op == "placeholder":
                    inputs.append(schema.INPUT)
            if node.op == "call_module":
                module = traced.get_submodule(node.target)
                if id(module) not in counted:
                    counted.add(id(module))
                    params += sum(p.numel() for p in module.parameters())
                macs += _macs(module, _shape(node))
        anchor = group.nodes[0]
        weighted = group.kind in schema.WEIGHTED_KINDS and anchor.op == "call_module"
        layers.append(
            LayerInfo(
                name=group.name,
                kind=group.kind,
                output_shape=list(_shape(group.tail)[1:]),
                params=int(params),
                macs=int(macs),
                inputs=list(dict.fromkeys(inputs)),
                module=str(anchor.target) if weighted else None,
                node=qualnames[group.tail.name],
                activation=group.activation,
            )
        )
    return layers


def _macs(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one call for one input, counted as torchinfo counts them:
    each weight and bias once per output position for a convolution, once otherwise."""
    total = 0
    for name, parameter in module.named_parameters(recurse=False):
        if name not in ("weight", "bias"):
            continue
        if isinstance(module, nn.modules.conv._ConvNd):
            positions = 1
            for size in output_shape[2:]:
                positions *= int(size)
            total += parameter.numel() * positions
        else:
            total += parameter.numel()
    return total


def without_normalize(layers: Sequence[LayerInfo]) -> list[LayerInfo]:
    """The layers as the manifest lists them: input normalisation inside the model is a step
    before the first layer, not a layer (what read it now reads the model's input)."""
    dropped = {info.name: info.inputs for info in layers if info.kind == schema.NORMALIZE}
    kept = []
    for info in layers:
        if info.name in dropped:
            continue
        inputs = [i for source in info.inputs for i in dropped.get(source, [source])]
        kept.append(dataclasses.replace(info, inputs=list(dict.fromkeys(inputs))))
    return kept


__all__ = ["LOGITS", "ModelGraph", "trace_model", "without_normalize"]
