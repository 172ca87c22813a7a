"""Streams: one preallocated ``.npy`` file per recorded quantity, read through memory maps.

A stream holds ``capacity`` snapshots of one fixed shape, plus a sibling ``.steps.npy`` with the
training step of each snapshot. Only the first ``count`` snapshots (from the manifest) are valid;
anything beyond is a snapshot that was being written when the process stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RunError

NPY_MAGIC = b"\x93NUMPY"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


@dataclass
class StreamInfo:
    """A stream as the manifest describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    capacity: int
    count: int = 0
    cadence: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return f"streams/{self.name}.npy"

    @property
    def steps_file(self) -> str:
        return f"streams/{self.name}.steps.npy"

    @property
    def snapshot_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.capacity * self.snapshot_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "capacity": self.capacity,
            "count": self.count,
            "cadence": self.cadence,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, name: str, entry: dict[str, Any]) -> StreamInfo:
        try:
            return cls(
                name=name,
                dtype=str(entry["dtype"]),
                shape=tuple(int(s) for s in entry["shape"]),
                capacity=int(entry["capacity"]),
                count=int(entry["count"]),
                cadence=str(entry.get("cadence", "")),
                meta=dict(entry.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"The manifest entry of stream {name!r} is malformed ({exc}).") from None


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name) or ".." in name:
        raise ValueError(f"Invalid stream name {name!r}: use letters, digits, _ . - and /.")
    return name


def create_arrays(folder: Path, info: StreamInfo) -> tuple[np.memmap, np.memmap]:
    """Preallocate the data and steps files (sparse on disk until written)."""
    data_path = folder / info.file
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data = np.lib.format.open_memmap(
        data_path, mode="w+", dtype=np.dtype(info.dtype), shape=(info.capacity, *info.shape)
    )
    steps = np.lib.format.open_memmap(
        folder / info.steps_file, mode="w+", dtype=np.int64, shape=(info.capacity,)
    )
    steps[:] = -1
    return data, steps


def grow_arrays(folder: Path, info: StreamInfo, capacity: int) -> tuple[np.memmap, np.memmap]:
    """Copy a stream's files into larger ones (``capacity`` snapshots) and swap them in.

    Each file is replaced atomically; until the manifest records the new capacity, readers see
    files larger than it says, which ``open_arrays`` accepts.
    """
    grown = StreamInfo(info.name, info.dtype, info.shape, capacity)
    for relative, dtype, shape in (
        (info.file, np.dtype(info.dtype), (capacity, *info.shape)),
        (info.steps_file, np.dtype(np.int64), (capacity,)),
    ):
        path = folder / relative
        old = np.load(path, mmap_mode="r", allow_pickle=False)
        tmp = path.with_name(f".{path.name}.grow")
        new = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        new[: len(old)] = old
        if relative == grown.steps_file:
            new[len(old) :] = -1
        new.flush()
        del old, new
        tmp.replace(path)
    data, steps = open_arrays(folder, grown, writable=True)
    return data, steps


def open_arrays(folder: Path, info: StreamInfo, writable: bool = False) -> tuple[np.ndarray, ...]:
    """Map a stream's files, checking each against the manifest; errors name the file.

    A file may hold more snapshots than the manifest's capacity (a stream that grew after the
    last commit); only the manifest's count is ever read.
    """
    mode = "r+" if writable else "r"
    expected = {
        info.file: (np.dtype(info.dtype), (info.capacity, *info.shape)),
        info.steps_file: (np.dtype(np.int64), (info.capacity,)),
    }
    arrays = []
    for relative, (dtype, shape) in expected.items():
        path = folder / relative
        if not path.is_file():
            raise RunError(f"{path} is missing: the run is incomplete. Re-train the run.")
        with open(path, "rb") as handle:
            if handle.read(6) != NPY_MAGIC:
                raise RunError(f"{path} is not a .npy file (foreign or overwritten). Re-train.")
        try:
            array = np.load(path, mmap_mode=mode, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise RunError(_describe_bad_npy(path, dtype, shape, exc)) from None
        if array.dtype != dtype or array.shape[1:] != shape[1:] or len(array) < shape[0]:
            raise RunError(
                f"{path} holds {array.dtype} {array.shape}, but the manifest says {dtype} {shape}: "
                "the file does not belong to this run. Re-train the run."
            )
        arrays.append(array)
    return tuple(arrays)


def _describe_bad_npy(path: Path, dtype: np.dtype, shape: tuple[int, ...], exc: Exception) -> str:
    size = path.stat().st_size
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        return (
            f"{path} is truncated: {size:,} bytes on disk, at least {expected:,} expected for "
            f"{dtype} {shape}. The disk may have filled up; re-train the run."
        )
    return f"{path} cannot be read as a .npy array ({exc}). Re-train the run."
