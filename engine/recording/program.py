"""A model stored as a ``torch.export`` program, loaded again without unpickling anything.

Used for models nnreel cannot build by name (a user's own class, a torchvision model made in
the user's code). What is stored is a tap of the model — its outputs are the logits and every
graph layer's activation — so activation maximisation, pruning and "this image through the
network" work from the run alone, without the user's source file.

Why not ``torch.export.save``/``load``: its loader unpickles (``torch.load(weights_only=False)``
for pickled weights and as a fallback, ``pickle.loads`` for constants), and a run folder is
untrusted input. So the program's graph is stored as the JSON that torch's own serialiser
writes (``program.json``, no weights), the weights are the run's ordinary state dict
(``model.pt``, loaded with ``weights_only=True``), and tensor constants go to
``program-constants.pt`` (also ``weights_only``). Before torch reads the JSON, every operator
in it must be an ATen operator and every symbolic size a plain arithmetic expression:
torch's deserialiser resolves operator names and ``sympify``-s size expressions, so a
hand-made file could otherwise name any function.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import NnreelError, RunError
from engine.models.graph import LOGITS, ModelGraph, trace_model
from engine.store.files import inside
from engine.store.run import RunWriter
from engine.store.schema import PROGRAM_CONSTANTS_FILE as CONSTANTS_FILE
from engine.store.schema import PROGRAM_FILE

MAX_BATCH = 1 << 16

_ALLOWED_TARGET = re.compile(r"^torch\.ops\.aten\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
_ALLOWED_PLAIN_TARGETS = {"_operator.getitem", "operator.getitem"}
_SYMBOL = re.compile(r"^[a-z]{1,3}\d+$")
_SYMPY_NAMES = {
    "FloorDiv", "CeilDiv", "CleanDiv", "ModularIndexing", "Mod", "PythonMod", "Max", "Min",
    "FloorToInt", "CeilToInt", "TruncToInt", "IntTrueDiv", "FloatTrueDiv", "Abs",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "True", "False", "oo",
}  # fmt: skip
_EXPRESSION = re.compile(r"^[A-Za-z0-9_\s+\-*/%(),.]*$")
_SYMBOL_CALL = re.compile(
    r"Symbol\('([a-z]{1,3}\d+)'(?:, (?:positive|integer|nonnegative)=True)*\)"
)
_DROPPED_METADATA = ("stack_trace", "from_node")
"""Node metadata not needed to run the program (source paths of the user's machine)."""


def export_program(graph: ModelGraph, example: torch.Tensor) -> tuple[bytes, dict[str, Any]]:
    """The JSON of ``graph``'s full tap (logits and every layer) exported for any batch size,
    and its tensor constants. ``example`` is one batch of inputs (eval mode is used)."""
    from torch._export.serde.serialize import serialize

    if example.device.type != "cpu":  # a program for any machine: exported from a CPU copy
        cpu = copy.deepcopy(graph.module).cpu()
        graph = trace_model(cpu, example[:1].cpu(), graph.requested)
        example = example.cpu()
    keys = [LOGITS, *(info.name for info in graph.layers)]
    tap = graph.tap(keys)
    example = example[:1].expand(2, *example.shape[1:]).contiguous()
    training = graph.module.training
    graph.module.eval()
    try:
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        program = torch.export.export(tap, (example,), dynamic_shapes=({0: batch},))
    except Exception as exc:  # export fails in many ways; each means "cannot store it"
        raise NnreelError(
            f"torch.export cannot export {type(graph.module).__name__} ({exc}); the run can "
            "be recorded but not reloaded without your code. Build the model through "
            "engine.models.get_model, or make it exportable."
        ) from None
    finally:
        graph.module.train(training)
    constants = {}
    for name, value in program.constants.items():
        if not isinstance(value, torch.Tensor):
            raise NnreelError(
                f"The model holds a non-tensor constant {name!r}; it cannot be stored."
            )
        constants[name] = value.detach().cpu()
    document = json.loads(serialize(program).exported_program)
    for node in document["graph_module"]["graph"]["nodes"]:
        for key in _DROPPED_METADATA:
            node.get("metadata", {}).pop(key, None)
    return json.dumps(document).encode("utf-8"), constants


def save_program(writer: RunWriter, graph: ModelGraph, example: torch.Tensor) -> str:
    """Write the program files into the writer's run (atomically, checking the disk's room);
    returns the graph file's name."""
    text, constants = export_program(graph, example)
    writer.save_tensors(CONSTANTS_FILE, constants)
    writer.save_bytes(PROGRAM_FILE, text)
    return PROGRAM_FILE


def load_program(folder: Path, state: dict[str, torch.Tensor]) -> nn.Module:
    """The stored program with weights ``state``, as a module mapping inputs to
    ``{"logits": …, layer: …}``. Nothing is unpickled; a file that names anything but ATen
    operators is refused."""
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    path = inside(folder, PROGRAM_FILE)
    try:
        text = path.read_bytes()
        check_program(json.loads(text))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} cannot be read ({exc}). Re-record the run.") from None
    try:
        constants = torch.load(
            inside(folder, CONSTANTS_FILE), map_location="cpu", weights_only=True
        )
    except Exception as exc:
        raise RunError(f"{folder / CONSTANTS_FILE} cannot be loaded ({exc}).") from None
    names = _state_names(json.loads(text))
    missing = [name for name in names if name not in state]
    if missing:
        raise RunError(
            f"The weights of {folder} lack {', '.join(missing[:5])}, which {path} needs: the "
            "weights do not belong to this program. Re-record the run."
        )
    parameters = set(_state_names(json.loads(text), buffers=False))
    weights = {n: nn.Parameter(state[n]) if n in parameters else state[n] for n in names}
    artifact = SerializedArtifact(text, weights, dict(constants), {})
    try:
        program = deserialize(artifact)
    except Exception as exc:
        raise RunError(f"{path} cannot be loaded by this torch ({exc}).") from None
    return program.module()


def _state_names(document: dict[str, Any], buffers: bool = True) -> list[str]:
    """The state-dict keys the program reads: its parameters, and its persistent buffers."""
    signature = document["graph_module"]["signature"]
    names = []
    for spec in signature["input_specs"]:
        for kind in ("parameter", "buffer") if buffers else ("parameter",):
            entry = spec.get(kind)
            if entry and (kind == "parameter" or entry.get("persistent", True)):
                names.append(entry["parameter_name" if kind == "parameter" else "buffer_name"])
    return names


def check_program(document: Any) -> None:
    """Refuse a program JSON that names anything but ATen operators, or holds a size
    expression that is not plain arithmetic over size symbols."""
    if not isinstance(document, dict) or "graph_module" not in document:
        raise RunError("The stored program is not a torch.export program.")
    for target in _values(document, "target"):
        if not (_ALLOWED_TARGET.match(str(target)) or target in _ALLOWED_PLAIN_TARGETS):
            raise RunError(f"The stored program calls {target!r}, which nnreel does not run.")
    ranges = document["graph_module"].get("range_constraints", {})
    for expression in [*_values(document, "expr_str"), *ranges]:
        if not _plain_expression(str(expression)):
            raise RunError(f"The stored program holds a size expression {expression!r}.")


def _plain_expression(text: str) -> bool:
    text = _SYMBOL_CALL.sub(r"\1", text)
    if not _EXPRESSION.match(text) or "__" in text:
        return False
    return all(
        _SYMBOL.match(word) or word in _SYMPY_NAMES
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    )


def _values(node: Any, key: str):
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            else:
                yield from _values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)
