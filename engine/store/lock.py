"""One writer per run: an exclusive lock on a file in the run folder that holds the writer's PID.

The lock is ``flock``'s: the kernel releases it when its process dies, even of ``kill -9``, so a
stale lock never needs cleaning up — the next writer simply takes it. Readers never lock.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import BinaryIO

from engine.errors import RunBusyError, RunError

try:
    import fcntl
except ImportError:  # Windows has no flock: one writer per run is then up to the user
    fcntl = None

LOCK_FILE = ".writer.lock"
ATTEMPTS = 5
"""Tries before a busy lock is reported: a reader asking who writes (``holder``) holds the
lock for a few microseconds, which must not refuse a writer."""
RETRY_SECONDS = 0.02


class WriterLock:
    """Held by a ``RunWriter`` from ``create``/``reopen`` until ``close``."""

    def __init__(self, handle: BinaryIO | None):
        self._handle = handle

    @classmethod
    def acquire(cls, folder: Path) -> WriterLock:
        """Take the lock of the run at ``folder`` (which exists), or refuse with a message
        naming the PID of the process that holds it."""
        if fcntl is None:
            return cls(None)
        handle = _open(folder, os.O_RDWR | os.O_CREAT)
        for attempt in range(ATTEMPTS):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == ATTEMPTS - 1:
                    pid = _read_pid(handle)
                    handle.close()
                    raise RunBusyError(busy_message(folder, pid)) from None
                time.sleep(RETRY_SECONDS)
        try:
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the PID only names the writer, the lock holds anyway
            pass
        return cls(handle)

    def release(self) -> None:
        """Closing the file releases the lock (a crash releases it the same way)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def holder(folder: Path) -> int | None:
    """The PID of the process writing the run at ``folder``, or None when none is (a run
    whose status says 'running' has then lost its process)."""
    if fcntl is None:
        return None
    try:
        handle = _open(folder, os.O_RDONLY)
    except (RunError, FileNotFoundError):
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(handle) or -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def busy_message(folder: Path, pid: int | None) -> str:
    who = f"process {pid}" if pid and pid > 0 else "another process"
    stop = f" (Ctrl-C in its terminal, or `kill {pid}`)" if pid and pid > 0 else ""
    return (
        f"The run at {folder} is being written by {who}: it is training, or recording into it. "
        f"Wait until that ends, or stop it first{stop}, then run this command again."
    )


def _open(folder: Path, flags: int) -> BinaryIO:
    """The lock file itself, never a symbolic link (it is truncated and written)."""
    path = folder.resolve() / LOCK_FILE
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunError(
                f"{path} is a symbolic link; nnreel follows none out of a run folder. "
                "Delete it (it only marks who writes the run)."
            ) from None
        raise RunError(f"{path} cannot be opened to lock the run ({exc.strerror}).") from None
    return os.fdopen(descriptor, "r+b" if flags & os.O_RDWR else "rb", buffering=0)


def _read_pid(handle: BinaryIO) -> int | None:
    handle.seek(0)
    text = handle.read(32).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
