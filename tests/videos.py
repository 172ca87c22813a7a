"""Reading what the tests render, and the scene files they test: helpers for the test files
(the fixtures that use them are in ``conftest.py``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def scene_module(name: str) -> ModuleType:
    """Scene file ``name`` run as a module, as nnreel loads it (``scenes/`` is not a package:
    one scene per file, for ``manim``), to test what the scene computes."""
    from engine.video.catalog import scene_class

    return sys.modules[scene_class(name).__module__]


@dataclass(frozen=True)
class Video:
    """A rendered video, decoded: its file, each frame's time, the frames, and its captions."""

    path: Path
    times: np.ndarray
    frames: np.ndarray
    captions: str
    """Every caption, one a line (checked as subtitles first: ``captions.read_captions``)."""


def decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's time and the frames (RGB) of a video."""
    import av

    with av.open(str(path)) as container:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    return np.array([t for t, _ in frames]), np.stack([a for _, a in frames])


def changes(frames: np.ndarray, share: float = 2e-3) -> int:
    """How many frames differ visibly from the one before: more than ``share`` of their pixels
    moved by more than 40 in some channel."""
    moved = np.abs(np.diff(frames.astype(np.int16), axis=0)).max(axis=3) > 40
    return int((moved.mean(axis=(1, 2)) > share).sum())


def tile_colours(image: np.ndarray, k: int, size: tuple[int, int], grid: dict) -> np.ndarray:
    """The colour of each map pixel of tile ``k`` in a ``feature_grid`` image ([h, w, 3])."""
    from engine.scenekit import raster as rs

    scale = grid["scale"]
    x, y, w, h = rs.tile_box(
        k, cols=grid["cols"], size=size, scale=scale, pad=grid["pad"], border=grid["pad"]
    )
    return image[y : y + h : scale, x : x + w : scale]
