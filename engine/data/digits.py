"""Procedurally drawn handwritten-style digits: the offline default dataset.

Each digit is a few stroke skeletons (polylines and arcs) in a glyph box one unit tall. Every
image draws one skeleton through its own random pen: size, aspect, slant, rotation, position, a
smooth warp and per-point wobble, a stroke width that varies along the stroke, then blur, ink
level and noise. Strokes are rendered as the exact coverage of round-capped thick segments
computed from distance fields over the whole batch at once, which anti-aliases like
supersampling would, costs under 0.1 ms per image (one CPU thread) and needs no fonts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from engine.data.core import Data

SIDE = 28
CLASSES = [str(d) for d in range(10)]
_STEP = 0.14  # arc sampling step in glyph units: chords of most arcs stay within 0.2 px


@dataclass(frozen=True)
class Glyph:
    """One way of writing a digit: points in glyph units (y down, height 1) and their segments."""

    label: int
    points: np.ndarray  # float32 [P, 2]
    segments: np.ndarray  # int64 [S, 2], indices into points
    strokes: np.ndarray  # int64 [P], the stroke each point belongs to


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> list[tuple]:
    """Points along an elliptical arc from angle ``a0`` to ``a1`` (degrees, counter-clockwise
    as seen on screen, 0 = right, 90 = top)."""
    t0, t1 = np.radians(a0), np.radians(a1)
    length = abs(t1 - t0) * (rx + ry) / 2
    t = np.linspace(t0, t1, max(2, int(np.ceil(length / _STEP)) + 1))
    return list(zip(cx + rx * np.cos(t), cy - ry * np.sin(t), strict=True))


def _curve(p0: tuple, p1: tuple, p2: tuple) -> list[tuple]:
    """Points along the quadratic Bézier curve from ``p0`` to ``p2`` pulled towards ``p1``."""
    a, b, c = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    length = np.linalg.norm(b - a) + np.linalg.norm(c - b)
    t = np.linspace(0, 1, max(2, int(np.ceil(length / _STEP)) + 1))[:, None]
    return [tuple(q) for q in (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t**2 * c]


def _glyph(label: int, *strokes: list[tuple]) -> Glyph:
    """Join strokes (each a list of points) into one glyph's point and segment arrays."""
    points, segments, ids = [], [], []
    for k, stroke in enumerate(strokes):
        start = len(points)
        points.extend(stroke)
        ids.extend([k] * len(stroke))
        segments.extend((i, i + 1) for i in range(start, start + len(stroke) - 1))
    return Glyph(label, np.array(points, np.float32), np.array(segments, np.int64), np.array(ids))


def _glyphs() -> list[Glyph]:
    """Every skeleton, a few per digit where people commonly write it differently."""
    return [
        _glyph(0, _arc(0, 0, 0.3, 0.5, 100, 470)),
        _glyph(0, _arc(0, 0, 0.26, 0.5, 80, 440)),
        _glyph(1, [(0.02, -0.5), (0.0, 0.5)]),
        _glyph(1, [(-0.2, -0.3), (0.05, -0.5), (0.02, 0.5)]),
        _glyph(1, [(-0.2, -0.3), (0.05, -0.5), (0.02, 0.5)], [(-0.18, 0.5), (0.22, 0.5)]),
        _glyph(2, [*_arc(0, -0.23, 0.27, 0.27, 160, -20), (-0.3, 0.5), (0.32, 0.5)]),
        _glyph(
            2,
            [
                *_arc(0, -0.23, 0.27, 0.27, 150, -40),
                *_arc(-0.05, 0.38, 0.1, 0.1, 150, 300),
                (0.32, 0.5),
            ],
        ),
        _glyph(3, _arc(0, -0.25, 0.25, 0.25, 150, -90), _arc(0, 0.24, 0.28, 0.26, 90, -150)),
        _glyph(
            3, [(-0.25, -0.5), (0.25, -0.5), (-0.02, -0.05)], _arc(0, 0.23, 0.27, 0.27, 95, -150)
        ),
        _glyph(4, [(-0.22, -0.5), (-0.3, 0.12), (0.32, 0.12)], [(0.15, -0.45), (0.15, 0.5)]),
        _glyph(4, [(0.15, 0.5), (0.15, -0.5), (-0.32, 0.15), (0.32, 0.15)]),
        _glyph(
            5,
            [(-0.22, -0.5), (-0.26, -0.04), *_arc(0, 0.2, 0.28, 0.3, 125, -150)],
            [(-0.22, -0.5), (0.27, -0.5)],
        ),
        _glyph(6, [*_arc(0.35, 0.2, 0.62, 0.7, 100, 180), *_arc(0, 0.22, 0.27, 0.28, 180, 530)]),
        _glyph(
            6,
            [*_curve((0.2, -0.5), (-0.25, -0.2), (-0.2, 0.28)), *_arc(0, 0.28, 0.2, 0.2, 180, 530)],
        ),
        _glyph(7, [(-0.22, -0.47), (0.25, -0.5), (0.08, 0.5)]),
        _glyph(
            7,
            [
                *_curve((-0.3, -0.42), (0, -0.55), (0.3, -0.5)),
                *_curve((0.3, -0.5), (0.15, 0), (0, 0.5))[1:],
            ],
        ),
        _glyph(7, [(-0.3, -0.5), (0.3, -0.5), (-0.05, 0.5)]),
        _glyph(7, [(-0.3, -0.5), (0.3, -0.5), (-0.05, 0.5)], [(-0.12, 0.02), (0.25, 0.02)]),
        _glyph(
            7,
            [
                (-0.3, -0.4),
                (-0.28, -0.5),
                (0.3, -0.5),
                *_curve((0.3, -0.5), (0.05, -0.05), (-0.05, 0.5)),
            ],
        ),
        _glyph(8, _arc(0, -0.26, 0.22, 0.24, 0, 360), _arc(0, 0.24, 0.27, 0.26, 0, 360)),
        _glyph(
            8,
            [
                *_arc(0, -0.26, 0.22, 0.24, 20, 270),
                *_arc(0, 0.24, 0.27, 0.26, 90, -270),
                *_arc(0, -0.26, 0.22, 0.24, 270, 380),
            ],
        ),
        _glyph(9, _arc(0, -0.22, 0.26, 0.27, 0, 360), [(0.26, -0.22), (0.2, 0.5)]),
        _glyph(9, [*_arc(0, -0.22, 0.26, 0.27, -10, 360), *_arc(-0.1, 0.2, 0.36, 0.3, 0, -100)]),
    ]


GLYPHS = _glyphs()


def _pick_glyphs(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A glyph index per image, uniform over the variants of its label."""
    variants = [[i for i, g in enumerate(GLYPHS) if g.label == d] for d in range(10)]
    counts = np.array([len(v) for v in variants])
    offsets = np.array([v[0] for v in variants])  # variants of a digit are listed together
    return offsets[labels] + (rng.random(len(labels)) * counts[labels]).astype(np.int64)


def _pens(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image handwriting: the affine pen pose, a smooth warp, stroke width and ink."""
    return {
        "height": rng.uniform(14.5, 19.5, n),  # glyph height in pixels, like a font size
        "aspect": rng.uniform(0.75, 1.3, n),
        "slant": np.clip(rng.normal(0.0, 0.2, n), -0.5, 0.5),
        "angle": np.radians(rng.normal(0.0, 7.0, n)),
        "shift": rng.normal(0.0, 0.8, (n, 2)).clip(-2.0, 2.0),
        "radius": rng.uniform(1.0, 1.9, n),  # stroke half-width in pixels
        "warp_amp": rng.uniform(0.0, 0.09, (n, 2)),
        "warp_dir": rng.normal(0.0, 1.0, (n, 2, 2)) * rng.uniform(3.0, 7.0, (n, 2, 1)),
        "warp_phase": rng.uniform(0, 2 * np.pi, (n, 2)),
        "blur": rng.uniform(0.0, 0.4, n),
        "ink": rng.uniform(0.9, 1.0, n),
        "noise": rng.uniform(0.0, 0.025, n),
    }


def _pose(glyph: Glyph, pen: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Glyph points of each image in pixel coordinates: warped, strokes nudged apart,
    wobbled, then posed."""
    p = glyph.points[None].astype(np.float64)  # [1, P, 2]
    phase = np.einsum("npk,nck->npc", p.repeat(len(pen["height"]), 0), pen["warp_dir"])
    p = p + pen["warp_amp"][:, None] * np.sin(phase + pen["warp_phase"][:, None])
    p = p + rng.normal(0.0, 0.025, (len(p), glyph.strokes.max() + 1, 2))[:, glyph.strokes]
    p = p + rng.normal(0.0, 0.012, p.shape)
    x = p[..., 0] * pen["aspect"][:, None] - p[..., 1] * pen["slant"][:, None]
    y = p[..., 1]
    cos, sin = np.cos(pen["angle"])[:, None], np.sin(pen["angle"])[:, None]
    h = pen["height"][:, None]
    centre = SIDE / 2 + pen["shift"]
    return np.stack(
        [centre[:, :1] + h * (cos * x - sin * y), centre[:, 1:] + h * (sin * x + cos * y)], -1
    )


def _coverage(points: torch.Tensor, radii: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Ink coverage [n, SIDE*SIDE] of round-capped segments whose width varies along them.

    Coverage is 0.5 + (radius - distance) clipped to [0, 1]: a one-pixel ramp at the edge,
    which is what box-filtered supersampling converges to. The [n, pixels, segments] work is
    done in place, as it dominates the cost.
    """
    grid = torch.arange(SIDE, dtype=torch.float32) + 0.5
    py, px = (g.reshape(1, -1, 1) for g in torch.meshgrid(grid, grid, indexing="ij"))
    a, b = points[:, segments[:, 0]], points[:, segments[:, 1]]  # [n, S, 2]
    ax, ay = a[..., 0].unsqueeze(1), a[..., 1].unsqueeze(1)  # [n, 1, S]
    ex, ey = (b[..., 0] - a[..., 0]).unsqueeze(1), (b[..., 1] - a[..., 1]).unsqueeze(1)
    ra = radii[:, segments[:, 0]].unsqueeze(1)
    dr = radii[:, segments[:, 1]].unsqueeze(1) - ra
    dx, dy = px - ax, py - ay  # [n, HW, S]
    t = torch.addcmul(dx * ex, dy, ey).div_(ex * ex + ey * ey + 1e-6).clamp_(0, 1)
    dist = torch.hypot(dx.sub_(t * ex), dy.sub_(t * ey))  # to the nearest point of the segment
    return t.mul_(dr).add_(ra).sub_(dist).amax(dim=2).add_(0.5).clamp_(0, 1)


def render(labels: np.ndarray, rng: np.random.Generator, chunk: int = 256) -> torch.Tensor:
    """Draw one digit per label: uint8 [N, 1, SIDE, SIDE], white ink on black."""
    with _one_thread():
        return _render(labels, rng, chunk)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one torch thread: these small elementwise chunks gain little from a second
    thread, and on a busy 2-core machine the threads' waiting made generation 5-10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _render(labels: np.ndarray, rng: np.random.Generator, chunk: int) -> torch.Tensor:
    n = len(labels)
    glyph_of = _pick_glyphs(labels, rng)
    pens = _pens(n, rng)
    ink = torch.zeros(n, SIDE * SIDE)
    for g, glyph in enumerate(GLYPHS):
        idx = np.flatnonzero(glyph_of == g)
        pen = {k: v[idx] for k, v in pens.items()}
        points = torch.from_numpy(_pose(glyph, pen, rng)).float()
        widths = rng.uniform(0.85, 1.15, (len(idx), len(glyph.points)))
        radii = torch.from_numpy(pen["radius"][:, None] * widths).float()
        segments = torch.from_numpy(glyph.segments)
        for s in range(0, len(idx), chunk):
            rows = torch.from_numpy(idx[s : s + chunk])
            ink[rows] = _coverage(points[s : s + chunk], radii[s : s + chunk], segments)
    return _finish(ink.view(n, 1, SIDE, SIDE), pens, rng)


def _finish(
    ink: torch.Tensor, pens: dict[str, np.ndarray], rng: np.random.Generator
) -> torch.Tensor:
    """Blur, ink level and sensor noise, then quantise to uint8.

    The blur is written as shifted sums rather than ``conv2d`` so that the result is bit-identical
    whatever the thread count or CPU kernel.
    """
    blurred = _blur_axis(_blur_axis(ink, 2), 3)
    mix = torch.from_numpy(pens["blur"]).float().view(-1, 1, 1, 1)
    level = torch.from_numpy(pens["ink"]).float().view(-1, 1, 1, 1)
    noise = torch.from_numpy(rng.standard_normal(ink.shape, dtype=np.float32))
    sigma = torch.from_numpy(pens["noise"]).float().view(-1, 1, 1, 1)
    img = torch.lerp(ink, blurred, mix) * level + noise * sigma
    return (img.clamp_(0, 1) * 255).round_().to(torch.uint8)


def _blur_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The [1/4, 1/2, 1/4] binomial filter along ``dim``, zero outside the image."""
    pad = torch.zeros_like(x.narrow(dim, 0, 1))
    before = torch.cat([pad, x.narrow(dim, 0, x.shape[dim] - 1)], dim)
    after = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), pad], dim)
    return 0.5 * x + 0.25 * (before + after)


def load_digits(*, seed: int, train_size: int | None, val_size: int | None) -> Data:
    """12,000 training and 2,000 validation digits, balanced over the ten classes.

    Train and validation images come from independent streams of ``seed``, so the first k
    training images do not depend on the validation size.
    """
    splits = []
    for stream, size in enumerate(_sizes(train_size, val_size)):
        rng = np.random.default_rng([seed, stream])
        labels = rng.permutation(np.arange(size) % 10)
        splits.append((render(labels, rng), torch.from_numpy(labels)))
    (x_train, y_train), (x_val, y_val) = splits
    return Data("digits", "image", x_train, y_train, x_val, y_val, list(CLASSES), {})


def _sizes(train_size: int | None, val_size: int | None) -> tuple[int, int]:
    return (
        12_000 if train_size is None else train_size,
        2_000 if val_size is None else val_size,
    )
