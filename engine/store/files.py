"""The files of a run folder: every path checked to stay inside it, writes that are atomic, and
a full disk turned into one message instead of a crash.

A run folder is untrusted input (downloaded, shared by a student): a manifest naming
``../../victim`` or a symbolic link pointing out of the folder must never make nnreel read,
write or delete anything outside it.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from engine.errors import DiskFullError, RunError

RESERVE_BYTES = 1024**2
"""Left free by every growth of a run, so that a run stopped by a full disk can still record
that it failed (the manifest is rewritten whole, beside the old one)."""
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def inside(folder: Path, relative: str | Path) -> Path:
    """``folder / relative`` resolved (symbolic links followed), refused unless it stays inside
    ``folder``. Every file the store opens, creates or deletes goes through here."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise RunError(
            f"{folder / relative} leads outside the run folder {folder} (through '..', an "
            "absolute path or a symbolic link). nnreel reads and writes only inside a run "
            "folder: this one was tampered with. Re-train the run, or get an intact copy."
        )
    return path


def free_bytes(folder: Path) -> int:
    """Bytes free on the disk holding ``folder`` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return shutil.disk_usage(".").free


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def disk_full_message(folder: Path, what: str, needed: int | None = None) -> str:
    room = f" ({human_bytes(free_bytes(folder))} free"
    room += f", {human_bytes(needed)} needed)" if needed is not None else ")"
    return (
        f"The disk holding {folder} is full{room}: {what} could not be written. Everything "
        "recorded before is kept and readable. Free some space, then run the command again "
        f"(a training run continues with `python -m engine train --resume {folder}`)."
    )


def ensure_room(folder: Path, nbytes: int, what: str) -> None:
    """Refuse to start writing ``nbytes`` unless they fit with ``RESERVE_BYTES`` to spare."""
    if free_bytes(folder) < nbytes + RESERVE_BYTES:
        raise DiskFullError(disk_full_message(folder, what, nbytes + RESERVE_BYTES))


class disk_full_as_message:
    """An ``OSError`` for a full disk (or quota, or file-size limit) inside becomes one
    ``DiskFullError`` message; other errors pass unchanged. A class, not a generator: it
    wraps every snapshot written, and costs a third as much."""

    def __init__(self, folder: Path, what: str):
        self.folder, self.what = folder, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _) -> bool:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            raise DiskFullError(disk_full_message(self.folder, self.what)) from None
        return False


def preallocate(handle: int, nbytes: int) -> None:
    """Reserve the blocks of a file now, so that a recording that has started never meets a
    full disk halfway (and a copy written through a memory map, as a growing stream is, never
    dies of SIGBUS). Raises ``OSError`` (ENOSPC) at once when the disk has no room.
    Filesystems and systems without ``posix_fallocate`` keep the file sparse."""
    if nbytes <= 0 or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(handle, 0, nbytes)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise
        # EOPNOTSUPP / EINVAL: the filesystem cannot reserve blocks; the file stays sparse.


def write_atomic(path: Path, write: Callable[[BinaryIO], object], durable: bool = True) -> None:
    """Write a file so that a reader (or a kill -9) sees the old or the new one, never a mix:
    ``write(handle)`` fills a sibling, which is then renamed over. ``durable`` also fsyncs
    file and folder, so the new file survives a power cut too (slower; used at checkpoints).
    A failed write leaves no sibling behind (it could hold the last free space)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Put the folder's entries on disk: a file renamed into it survives a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_tensors(folder: Path, name: str, obj: object) -> None:
    """Save ``obj`` (tensors, numbers and dicts only, so that it loads with
    ``weights_only=True``) as the file ``name`` of the run at ``folder``, atomically and
    durably, after checking the disk has room for it."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    save_bytes(folder, name, buffer.getbuffer())


def save_bytes(folder: Path, name: str, data: bytes | memoryview) -> None:
    """Write ``data`` as the file ``name`` of the run at ``folder``, atomically and durably,
    after checking the disk has room for it."""
    ensure_room(folder, len(data), name)
    with disk_full_as_message(folder, name):
        write_atomic(inside(folder, name), lambda handle: handle.write(data))
