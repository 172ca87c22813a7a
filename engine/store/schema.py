"""What a run folder may hold: the grammar of stream names, and the manifest checked as a whole.

A run folder is untrusted input, so a manifest is checked field by field when a run is opened,
before anything reads it: one message names the first field that is wrong. Plain code rather
than a schema library: the checks need cross-field rules (a count within its stream's
capacity) and messages that say what to do, and nnreel has no such library among its
dependencies.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from engine.errors import RunError

# == Stream names ================================================================================
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


# == The manifest ================================================================================

FORMAT = "nnreel-run"
SCHEMA_VERSION = 1
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
    if m.get("parent") is not None:
        _dict(m["parent"], "parent")
    for i, layer in enumerate(_list(m.get("layers", []), "layers")):
        _check_layer(layer, f"layers[{i}]")
    progress = _dict(m["progress"], "progress")
    for key in ("step", "epoch", "epochs", "steps_per_epoch", "total_steps"):
        if key in progress:
            _int(progress[key], f"progress.{key}", low=0)
    streams = _dict(m["streams"], "streams")
    for name, entry in streams.items():
        problem = stream_name_problem(name)
        if problem:
            raise Malformed(f"the stream name {name!r}", problem)
        _check_stream(entry, f"streams[{name!r}]")
    if m.get("checkpoint") is not None:
        _check_checkpoint(m["checkpoint"])


def _check_model(model: Any) -> None:
    model = _dict(model, "model")
    _str(model.get("arch"), "model.arch")
    if "input_shape" in model:
        _shape(model["input_shape"], "model.input_shape", low=1)
    if "num_classes" in model:
        _int(model["num_classes"], "model.num_classes", low=1)
    if "config" in model:
        _dict(model["config"], "model.config")


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
