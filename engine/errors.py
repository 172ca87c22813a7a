"""User-facing errors: each message says what is wrong and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NnreelError(Exception):
    """An error the user can act on; the CLI prints its message alone, without a traceback."""


class RunError(NnreelError):
    """A run folder is missing, corrupt, truncated or lacks what a reader asked for."""


class RunBusyError(RunError):
    """Another process is writing the run (training it, or recording into it)."""


class DiskFullError(RunError):
    """The disk holding a run has no room for what must be written next."""


class DataError(NnreelError):
    """A dataset is missing or malformed."""


class UnknownNameError(NnreelError, KeyError):
    """A name (model, dataset, layer, preset, scene, ...) that is not one of the valid ones."""

    def __init__(self, kind: str, name: object, valid: Iterable[object]):
        self.kind, self.name, self.valid = kind, name, [str(v) for v in valid]
        close = difflib.get_close_matches(str(name), self.valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"Unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(self.valid)}.")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]
