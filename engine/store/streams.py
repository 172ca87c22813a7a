"""Streams: one preallocated ``.npy`` file per recorded quantity, read through memory maps and
written with ``pwrite``.

A stream holds ``capacity`` snapshots of one fixed shape, plus a sibling ``.steps.npy`` with the
training step of each snapshot. Only the first ``count`` snapshots (from the manifest) are valid;
anything beyond is a snapshot that was being written when the process stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RunError
from engine.store.files import inside, preallocate, sync_folder

NPY_MAGIC = b"\x93NUMPY"


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


def stream_paths(folder: Path, info: StreamInfo) -> tuple[Path, Path]:
    """The data and steps files of a stream, checked to lie inside the run folder."""
    return inside(folder, info.file), inside(folder, info.steps_file)


def create_arrays(folder: Path, info: StreamInfo) -> StreamFiles:
    """Create the data and steps files with every block reserved on disk (see
    ``preallocate``), and keep them open to write; the steps start at -1, "not recorded". On
    failure neither file is left."""
    data_path, steps_path = stream_paths(folder, info)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    files = {
        data_path: (np.dtype(info.dtype), (info.capacity, *info.shape), None),
        steps_path: (np.dtype(np.int64), (info.capacity,), -1),
    }
    opened: list[tuple[int, int]] = []
    try:
        for path, (dtype, shape, fill) in files.items():
            path.unlink(missing_ok=True)  # a link left there is replaced, never written through
            opened.append(_new_array_file(path, dtype, shape, fill))
    except BaseException:
        for descriptor, _ in opened:
            os.close(descriptor)
        for path in files:
            path.unlink(missing_ok=True)
        raise
    return StreamFiles(info, steps_path, opened)


def _new_array_file(path: Path, dtype: np.dtype, shape: tuple[int, ...], fill) -> tuple[int, int]:
    """A new .npy file of ``shape``, every block reserved; its values are ``fill``, or zeros
    (what a reserved block reads as) when None. Returns its open descriptor and where its
    data begins."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o644)
    try:
        with open(descriptor, "r+b", closefd=False) as handle:
            np.lib.format.write_array_header_1_0(handle, {**header, "shape": shape})
            offset = handle.tell()
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            os.ftruncate(descriptor, offset + nbytes)
            preallocate(descriptor, offset + nbytes)
            if fill is not None:
                handle.write(np.full(shape, fill, dtype).tobytes())
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, offset


def grow_arrays(folder: Path, info: StreamInfo, capacity: int) -> None:
    """Copy a stream's files into larger, preallocated ones (``capacity`` snapshots) and swap
    them in, each with one atomic rename (open ``StreamFiles`` keep writing the old ones).

    Until the manifest records the new capacity, its files hold more snapshots than it says,
    which ``open_arrays`` accepts (only the counted ones are read): a kill at any moment leaves
    a readable run. The new files and their names are on disk before any manifest counts on
    them, so a power cut leaves one too.
    """
    old_arrays = open_arrays(folder, info)
    paths = stream_paths(folder, info)
    for path, old, dtype, shape, unwritten in zip(
        paths,
        old_arrays,
        (np.dtype(info.dtype), np.dtype(np.int64)),
        ((capacity, *info.shape), (capacity,)),
        (0, -1),  # the steps of snapshots not yet recorded are -1
        strict=True,
    ):
        tmp = path.with_name(f".{path.name}.grow.tmp")
        tmp.unlink(missing_ok=True)  # never written through a link planted there
        try:
            new = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            with open(tmp, "r+b") as handle:
                preallocate(handle.fileno(), os.fstat(handle.fileno()).st_size)
            new[: len(old)] = old
            new[len(old) :] = unwritten
            new.flush()
            del new
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(path)
    sync_folder(paths[0].parent)  # the data went with new.flush(); now the renames
    del old_arrays


class StreamFiles:
    """A writer's handle on one stream: snapshots go into its files with ``os.pwrite``.

    Not through a memory map: on ext4 the first store into each page of a shared map faults
    into the filesystem, which made writing a small model's plane snapshots about three times
    slower than ``pwrite`` (``python -m bench.store_bench``); and a write that meets a full
    disk raises ``OSError`` here, where a map would kill the process with SIGBUS. Readers map
    the same files and see every write at once (one page cache).
    """

    def __init__(self, info: StreamInfo, steps_path: Path, files: list[tuple[int, int]]):
        """``files``: the open data and steps files, each with where its snapshot 0 begins
        (``create_arrays`` makes them; ``open`` opens those of an existing stream)."""
        self.info = info
        self._steps_path = steps_path
        self._dtype, self._shape = np.dtype(info.dtype), info.shape
        self._snapshot_bytes = info.snapshot_bytes
        self._files = files

    @classmethod
    def open(cls, folder: Path, info: StreamInfo, durable: int | None = None) -> StreamFiles:
        """Open a stream's files to write them, after the checks a reader makes (a count
        lowered to ``durable`` after a power loss, see ``open_arrays``)."""
        stream = cls(info, folder / info.steps_file, [])
        try:
            for path, dtype, shape in _expected(folder, info):
                offset = _checked_header(path, dtype, shape)
                descriptor = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
                stream._files.append((descriptor, offset))
            if durable is not None:
                info.count = readable_count(info, stream._read_steps(info.count), durable)
            stream.steps(info.count)  # checked like a reader checks them
        except BaseException:
            stream.close()
            raise
        return stream

    def write(self, start: int, steps: np.ndarray, values: np.ndarray) -> None:
        """Snapshots ``start, start + 1, ...``: the data first, then their steps."""
        n = len(steps)
        data = np.asarray(values, self._dtype)
        if data.shape != (n, *self._shape):
            data = np.broadcast_to(data, (n, *self._shape))  # as assigning into an array would
        (data_file, data_at), (steps_file, steps_at) = self._files
        _write_all(data_file, data, data_at + start * self._snapshot_bytes)
        _write_all(steps_file, np.asarray(steps, np.int64), steps_at + start * 8)

    def steps(self, count: int) -> np.ndarray:
        """The steps of the first ``count`` snapshots, checked (recorded, in order)."""
        steps = self._read_steps(count)
        _check_steps(self._steps_path, steps, count)
        return steps

    def _read_steps(self, count: int) -> np.ndarray:
        descriptor, offset = self._files[1]
        return np.frombuffer(os.pread(descriptor, 8 * count, offset), np.int64)

    def sync(self) -> None:
        """Put what was written on disk (it survives a power cut from here)."""
        for descriptor, _ in self._files:
            os.fsync(descriptor)

    def close(self) -> None:
        for descriptor, _ in self._files:
            os.close(descriptor)
        self._files = []


def _write_all(descriptor: int, array: np.ndarray, offset: int) -> None:
    data = np.ascontiguousarray(array)
    written = os.pwrite(descriptor, data, offset)
    if written < data.nbytes:  # a short write (a signal, a nearly full disk): the rest
        rest = memoryview(data).cast("B")[written:]
        while rest:
            written = os.pwrite(descriptor, rest, offset + data.nbytes - len(rest))
            rest = rest[written:]


def open_arrays(
    folder: Path, info: StreamInfo, durable: int | None = None
) -> tuple[np.ndarray, ...]:
    """Map a stream's files, checking each against the manifest and the steps of its
    ``count`` snapshots (recorded, in order); every error names the file.

    A file may hold more snapshots than the manifest's capacity (a stream that grew after the
    last commit); only the manifest's ``capacity`` of them are mapped. Given ``durable`` (the
    stream's count when the run was last synced to disk), a stream whose last counted
    snapshots never reached the disk has its ``info.count`` lowered to it (``readable_count``).
    """
    arrays = tuple(_map(path, dtype, shape) for path, dtype, shape in _expected(folder, info))
    if durable is not None:
        info.count = readable_count(info, arrays[1], durable)
    _check_steps(folder / info.steps_file, arrays[1], info.count)
    return arrays


def readable_count(info: StreamInfo, steps: np.ndarray, durable: int) -> int:
    """How many snapshots of a stream can be read: the manifest's count, or ``durable``
    when some counted snapshots are missing from the file while the first ``durable`` are
    whole.

    A commit between checkpoints swaps the manifest without waiting for the disk (that is
    what keeps it cheap): when the machine stops (a power cut, a crash, a preempted cloud
    machine) the new manifest may reach the disk while the snapshots it counts do not. Those
    read back as never recorded (step -1, as the file was created). The snapshots up to the
    last checkpoint were synced before it was saved, so the run reads as it was there, and a
    resume from that checkpoint records the rest again.
    """
    lost = durable < info.count and _recorded(steps, info.count) < info.count
    return durable if lost and _recorded(steps, durable) == durable else info.count


def _recorded(steps: np.ndarray, count: int) -> int:
    """How many of the first ``count`` snapshots were recorded, before the first that was
    not (step -1: a new file's steps are synced before any manifest counts a snapshot of it,
    so a power cut leaves either a snapshot's step or -1, never another number)."""
    missing = np.flatnonzero(np.asarray(steps[:count]) < 0)
    return int(missing[0]) if len(missing) else count


def _expected(folder: Path, info: StreamInfo) -> list[tuple[Path, np.dtype, tuple[int, ...]]]:
    """The data and steps files of a stream, with the dtype and shape each must hold."""
    data_path, steps_path = stream_paths(folder, info)
    return [
        (data_path, np.dtype(info.dtype), (info.capacity, *info.shape)),
        (steps_path, np.dtype(np.int64), (info.capacity,)),
    ]


def _map(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """Memory-map one .npy file, read-only, after checking its header (``_checked_header``)."""
    offset = _checked_header(path, dtype, shape)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _checked_header(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> int:
    """Where the data of one .npy file begins, after reading its header alone: nothing is
    unpickled, and a file that does not match what the manifest says is refused with what is
    wrong."""
    if not path.is_file():
        raise RunError(f"{path} is missing: the run is incomplete. Re-train the run.")
    with open(path, "rb") as handle:
        if handle.read(6) != NPY_MAGIC:
            raise RunError(f"{path} is not a .npy file (foreign or overwritten). Re-train.")
        handle.seek(0)
        try:
            version = np.lib.format.read_magic(handle)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            found_shape, fortran, found_dtype = read_header(handle)
        except Exception as exc:  # numpy's parser of garbage raises many kinds (tokenize, …)
            raise RunError(f"{path} has a damaged .npy header ({exc}). Re-train the run.") from None
        offset = handle.tell()
    if found_dtype.hasobject:
        raise RunError(
            f"{path} holds Python objects (a pickle), which nnreel never loads: it was not "
            "written by nnreel and may be malicious. Delete the run, or get it from a source "
            "you trust."
        )
    found_shape = tuple(found_shape)
    grown = len(found_shape) == len(shape) and found_shape[1:] == shape[1:]
    if found_dtype != dtype or not grown or found_shape[0] < shape[0] or fortran:
        order = ", Fortran order" if fortran else ""
        raise RunError(
            f"{path} holds {found_dtype} {tuple(found_shape)}{order}, but the manifest says "
            f"{dtype} {shape}: the file does not belong to this run. Re-train the run."
        )
    size = path.stat().st_size
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        raise RunError(
            f"{path} is truncated: {size:,} bytes on disk, {expected:,} expected for "
            f"{dtype} {shape}. The disk may have filled up; re-train the run."
        )
    return offset


def _check_steps(path: Path, steps: np.ndarray, count: int) -> None:
    """The first ``count`` snapshots must have been recorded (step ≥ 0), in order."""
    counted = np.asarray(steps[:count])
    unrecorded = np.flatnonzero(counted < 0)
    if len(unrecorded):
        raise RunError(
            f"{path} has no snapshot {int(unrecorded[0])}, yet the manifest counts {count}, "
            "and its last checkpoint too: the manifest was edited or the file damaged. Re-train "
            "the run, or get an intact copy of it."
        )
    backwards = np.flatnonzero(np.diff(counted) < 0)
    if len(backwards):
        k = int(backwards[0])
        raise RunError(
            f"{path} goes back in time: snapshot {k + 1} is at step {int(counted[k + 1])}, "
            f"after step {int(counted[k])}. The file was damaged or edited; re-train the run."
        )
