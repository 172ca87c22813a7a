"""nnreel: train real neural networks while recording them, and render the recordings as video.

The package follows the data: ``data`` (datasets) → ``models`` → ``training`` (the loop and
its recorder) → ``store`` (run folders) → ``analysis`` and ``actmax`` (what is computed from a
run) → ``scenekit`` (what scenes are built from) → ``video`` (scenes to MP4 and GIF); ``cli``
is the command line on top. ``engine.render`` is the Python API (``engine.video.render``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["render"]


def __getattr__(name: str) -> Any:
    """``engine.render``, loaded on first use: importing ``engine`` stays instant."""
    if name == "render":
        from engine.video.render import render

        return render
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
