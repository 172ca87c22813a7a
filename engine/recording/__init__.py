"""Recording any PyTorch model in any training loop (``record``), the stored model, and what a
run needs to be used again (``load_model``, ``load_run_data``).

Names are imported on first use: ``engine.recording.config`` (plain data, read by the command
line's parsers) must not pull torch in.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "RecordConfig": "engine.recording.config",
    "Recorder": "engine.recording.recorder",
    "TrainingDiverged": "engine.recording.recorder",
    "record": "engine.recording.recorder",
    "load_model": "engine.recording.restore",
    "load_run_data": "engine.recording.restore",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'engine.recording' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
