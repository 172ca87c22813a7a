"""A conv layer's arithmetic read out of any model's graph: the convolution, the BatchNorm
right after it (folded into its kernel and bias) and the activation after that.

Two dialects of graph hold a model here: the torch.fx trace of a live module (nnreel's own
networks, torchvision's, a user's class), where layers are ``call_module`` nodes, and a run's
stored ``torch.export`` program, where they are ATen calls on ``get_attr`` parameters. Both are
read the same way: find the node that applies the conv module, follow its only consumer
through a BatchNorm, and name the activation; every parameter comes from the graph itself, so
what is shown is what the network computes.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

from engine.errors import RunError

_CONV_OPS = {"conv2d", "convolution"}
_NORM_OPS = {"batch_norm", "_native_batch_norm_legit_no_training"}
_RELU_NAMES = {"relu", "relu_"}


@dataclass(frozen=True)
class ConvChain:
    """One conv as the network computes it, in float64: ``activation(conv(x) · scale + shift)``
    with any BatchNorm already folded into ``weight`` and ``bias``."""

    input_node: fx.Node
    """The node whose output the conv reads (its value is the conv's real input)."""
    weight: torch.Tensor
    """[out, in, kh, kw] the kernels, BatchNorm folded in."""
    bias: torch.Tensor
    """[out] the biases, BatchNorm folded in."""
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    batchnorm: bool
    activation: str
    """``"ReLU"``, the name of another activation, or ``""`` when none follows."""


def conv_chain(graph: fx.GraphModule, module: str) -> ConvChain:
    """The conv that applies the parameters of ``module`` (a ``named_modules`` path) in
    ``graph``, with the BatchNorm and activation that follow it."""
    node = _conv_node(graph, module)
    weight, bias, stride, padding, dilation, groups = _conv_parameters(graph, node)
    after = _only_user(node)
    norm = _batchnorm(graph, after) if after is not None else None
    if norm is not None:
        scale, shift = norm
        weight = weight * scale[:, None, None, None]
        bias = bias * scale + shift
        after = _only_user(after)
        if after is not None and after.target is operator.getitem:  # ATen's (out, mean, var)
            after = _only_user(after)
    return ConvChain(
        input_node=node.args[0],
        weight=weight,
        bias=bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        batchnorm=norm is not None,
        activation=_activation(graph, after) if after is not None else "",
    )


def node_value(graph: fx.GraphModule, node: fx.Node, x: torch.Tensor) -> torch.Tensor:
    """What ``node`` computes when ``graph`` runs on ``x``, copied the moment it is computed
    (an in-place operation further on cannot change it)."""
    captured: list[torch.Tensor] = []

    class Capture(fx.Interpreter):
        def run_node(self, n: fx.Node):
            out = super().run_node(n)
            if n is node:
                captured.append(out.detach().clone())
            return out

    with torch.no_grad():
        Capture(graph).run(x)
    return captured[0]


# -- reading the graph --------------------------------------------------------------------------
def _op_name(node: fx.Node) -> str:
    """``conv2d`` for ``torch.ops.aten.conv2d.default``, ``relu`` for ``F.relu``, …"""
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    return getattr(packet or target, "__name__", str(target))


def _attribute(graph: fx.GraphModule, node: object) -> torch.Tensor | None:
    """The tensor a ``get_attr`` node reads (a parameter or buffer), else None."""
    if isinstance(node, fx.Node) and node.op == "get_attr":
        value = operator.attrgetter(node.target)(graph)
        return value if isinstance(value, torch.Tensor) else None
    return None


def _conv_node(graph: fx.GraphModule, module: str) -> fx.Node:
    weight = f"{module}.weight"
    for node in graph.graph.nodes:
        if node.op == "call_module" and node.target == module:
            return node
        if node.op == "call_function" and _op_name(node) in _CONV_OPS:
            source = node.args[1]
            if isinstance(source, fx.Node) and source.op == "get_attr" and source.target == weight:
                return node
    raise RunError(f"The model's graph has no node that applies the conv {module!r}.")


def _conv_parameters(graph: fx.GraphModule, node: fx.Node):
    """Weight, bias (zeros when it has none), stride, padding, dilation and groups."""
    if node.op == "call_module":
        conv = graph.get_submodule(node.target)
        if not isinstance(conv, nn.Conv2d) or conv.padding_mode != "zeros":
            raise RunError(f"{node.target} is not a 2-D convolution with zero padding.")
        weight, bias = conv.weight, conv.bias
        settings = (conv.stride, conv.padding, conv.dilation, conv.groups)
    else:
        args = list(node.args) + [None] * 9
        weight, bias = _attribute(graph, args[1]), _attribute(graph, args[2])
        if _op_name(node) == "convolution":  # (…, stride, padding, dilation, transposed, _, groups)
            if args[6]:
                raise RunError("A transposed convolution is not shown by the operations scene.")
            settings = (args[3], args[4], args[5], args[8])
        else:  # conv2d(input, weight, bias, stride=1, padding=0, dilation=1, groups=1)
            settings = (args[3] or 1, args[4] or 0, args[5] or 1, args[6] or 1)
        if weight is None or weight.dim() != 4:
            raise RunError(f"{node.name} is not a 2-D convolution.")
    stride, dilation = _pair(settings[0]), _pair(settings[2])
    padding = settings[1]
    if isinstance(padding, str):  # "valid", or "same": what each side is padded by
        spans = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:], strict=True)]
        if padding == "same" and any(span % 2 for span in spans):
            raise RunError(f"{node.name} pads one side more than the other ('same').")
        padding = [span // 2 for span in spans] if padding == "same" else 0
    padding = _pair(padding)
    weight = weight.detach().double()
    bias = bias.detach().double() if bias is not None else torch.zeros(len(weight)).double()
    return weight, bias, stride, padding, dilation, int(settings[3])


def _pair(value) -> tuple[int, ...]:
    values = tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)
    return values * 2 if len(values) == 1 else values


def _only_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _batchnorm(graph: fx.GraphModule, node: fx.Node) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The per-channel ``scale`` and ``shift`` of an eval-mode BatchNorm at ``node`` (None when
    ``node`` is no BatchNorm): ``γ (z − μ) / σ + β`` is ``z · scale + shift``."""
    if node.op == "call_module":
        norm = graph.get_submodule(node.target)
        if not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None:
            return None
        gamma, beta, mean, var, eps = (
            norm.weight, norm.bias, norm.running_mean, norm.running_var, norm.eps
        )  # fmt: skip
    elif node.op == "call_function" and _op_name(node) in _NORM_OPS:
        args = list(node.args) + [None] * 9
        gamma, beta, mean, var = (_attribute(graph, a) for a in args[1:5])
        eps = args[7] if _op_name(node) == "batch_norm" else args[6]
        if mean is None or var is None or not isinstance(eps, (int, float)):
            return None
    else:
        return None
    mean, var = mean.detach().double(), var.detach().double()
    scale = 1 / torch.sqrt(var + float(eps))
    if gamma is not None:
        scale = scale * gamma.detach().double()
    shift = -mean * scale + (beta.detach().double() if beta is not None else 0.0)
    return scale, shift


def _activation(graph: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(graph.get_submodule(node.target)).__name__
    if node.op in ("call_function", "call_method"):
        name = _op_name(node)
        return "ReLU" if name in _RELU_NAMES else name
    return ""
