"""nnreel: train real neural networks while recording them, and render the recordings as video.

The package follows the data: ``data`` (datasets) → ``models`` → ``recording`` (any model in
any loop: ``record``) and ``training`` (nnreel's own loop, on the same recorder) → ``store``
(run folders) → ``analysis`` and ``actmax`` (what is computed from a run) → ``scenekit`` (what
scenes are built from) → ``video`` (scenes to MP4 and GIF); ``cli`` is the command line on top.

``from engine import record`` records any PyTorch model in your own training loop;
``engine.render`` is the Python API for videos (``engine.video.render``). Names are imported on
first use, so ``import engine`` stays instant (the command line answers ``--help`` without
importing torch) and never imports Manim.
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
    "render": "engine.video.render",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """The public names, each imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
