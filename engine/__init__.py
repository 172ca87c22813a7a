"""nnreel engine: train networks while recording them into run folders.

``from engine import record`` records any PyTorch model in your own training loop (see
``engine.recording``). Names are imported on first use, so ``import engine`` stays light (the
command line answers ``--help`` without importing torch) and never imports Manim.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "record": "engine.recording",
    "Recorder": "engine.recording",
    "RecordConfig": "engine.recording",
    "load_model": "engine.recording",
    "get_model": "engine.models",
    "Run": "engine.store",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
