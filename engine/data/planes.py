"""Two-class point clouds in the plane, for MLPs whose fit can be drawn over the whole extent.

``ring`` is seed 002's data by default (its ``noise`` and ``spread``: 0.3 each, so the classes
overlap widely; the ``mlp-ring`` preset draws a cleaner ring). The other shapes are drawn in a
[-1, 1]² frame and mapped onto the extent; their ``noise`` is the std of a Gaussian jitter in
that frame (a fraction of the half-width): moons and spiral move their points, xor and
checkerboard blur their labels. ``mask`` learns the inside of any image.

``true_field`` gives, for a dataset's recorded params, a field over the plane whose zero line
is the true boundary between the classes (the Bayes boundary where the classes are noisy): the
line a perfect model would draw, which scenes overlay on the fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.data.core import DEFAULT_EXTENT, Data
from engine.errors import DataError

Extent = tuple[float, float, float, float]
Points = tuple[np.ndarray, np.ndarray]  # float [N, 2] in the [-1, 1] frame, int labels [N]
TRAIN, VAL = 3800, 200  # seed 002: 4,000 points, 200 held out


RING_RADIUS = 0.7


def ring_points(
    n_ring: int, n_disc: int, rng: np.random.Generator, noise: float = 0.3, spread: float = 0.3
) -> Points:
    """A ring of radius 0.7·(1 + N(0, noise)) at a uniform angle around a disc N(0, spread²) per
    axis; seed 002's data with noise = spread = 0.3.

    These are absolute coordinates, not the [-1, 1] frame: the ring is defined in them.
    """
    angle = rng.uniform(0, 2 * np.pi, n_ring)
    radius = RING_RADIUS * (1 + rng.normal(0, noise, n_ring))
    ring = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    disc = rng.normal(0, spread, (n_disc, 2))
    return np.concatenate([disc, ring]), np.repeat([0, 1], [n_disc, n_ring])


def moons_points(n0: int, n1: int, rng: np.random.Generator, noise: float) -> Points:
    """Two interleaved half circles (as scikit-learn's make_moons), centred and scaled to 0.85."""
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], 1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)
    points = (np.concatenate([upper, lower]) - [0.5, 0.25]) * (0.85 / 1.5)
    return _jitter(points, noise, rng), np.repeat([0, 1], [n0, n1])


def spiral_points(n0: int, n1: int, rng: np.random.Generator, noise: float) -> Points:
    """Two arms winding 1.75 turns out to radius 0.9, half a turn apart."""
    arm = np.repeat([0, 1], [n0, n1])
    t = rng.uniform(0.05, 1, n0 + n1)
    angle = 3.5 * np.pi * t + np.pi * arm
    points = 0.9 * t[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _jitter(points, noise, rng), arm


def xor_points(n: int, rng: np.random.Generator, noise: float) -> Points:
    """Points filling the frame, 1 where x and y have opposite signs.

    Labels come from a jittered copy of each point, so the classes mix near the axes while
    every point stays inside the extent.
    """
    points = rng.uniform(-1, 1, (n, 2))
    seen = _jitter(points, noise, rng)
    return points, (seen[:, 0] * seen[:, 1] < 0).astype(np.int64)


def checkerboard_points(n: int, rng: np.random.Generator, noise: float, cells: int) -> Points:
    """Points filling the frame, coloured by a ``cells`` × ``cells`` board (labels jittered as
    in ``xor_points``)."""
    points = rng.uniform(-1, 1, (n, 2))
    seen = _jitter(points, noise, rng)
    square = np.clip(np.floor((seen + 1) / 2 * cells), 0, cells - 1).astype(np.int64)
    return points, square.sum(1) % 2


def _jitter(points: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian jitter of std ``noise``."""
    return points + rng.normal(0, noise, points.shape)


def _to_extent(points: np.ndarray, extent: Extent) -> np.ndarray:
    """Map the [-1, 1]² frame onto ``extent``."""
    xmin, xmax, ymin, ymax = extent
    centre = np.array([xmin + xmax, ymin + ymax]) / 2
    half = np.array([xmax - xmin, ymax - ymin]) / 2
    return centre + points * half


def read_mask(path: str | Path, invert: bool = False) -> np.ndarray:
    """The inside of an image as a bool [H, W] array, row 0 at the top.

    The rule: an image with transparency is inside where it is at least half opaque; any other
    image is inside where it is dark (luminance below 128), as a black shape drawn on white.
    ``invert`` swaps inside and outside (e.g. for a white shape on black).
    """
    try:
        with Image.open(path) as img:
            img.load()
            alpha = _alpha(img)
            grey = np.asarray(img.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # not found, not an image
        raise DataError(
            f"Cannot read the mask image {path}: {exc}. Pass path= an existing PNG, JPEG or "
            "other image that Pillow reads."
        ) from None
    inside = alpha >= 128 if alpha is not None else grey < 128
    inside = ~inside if invert else inside
    if inside.all() or not inside.any():
        raise DataError(
            f"The mask {path} is all {'inside' if inside.any() else 'outside'} under the rule "
            "(opaque where transparent pixels exist, else dark pixels): draw a shape, or pass "
            "invert=True."
        )
    return inside


def _alpha(img: Image.Image) -> np.ndarray | None:
    """The alpha channel, if the image has one that is not fully opaque everywhere."""
    if "A" not in img.getbands() and "transparency" not in img.info:
        return None
    alpha = np.asarray(img.convert("RGBA"))[..., 3]
    return alpha if alpha.min() < 255 else None


def mask_points(n: int, rng: np.random.Generator, inside: np.ndarray) -> Points:
    """Uniform points over the frame, labelled 1 on inside pixels of the mask stretched over it."""
    points = rng.uniform(-1, 1, (n, 2))
    h, w = inside.shape
    col = np.minimum(((points[:, 0] + 1) / 2 * w).astype(np.int64), w - 1)
    row = np.minimum(((1 - points[:, 1]) / 2 * h).astype(np.int64), h - 1)
    return points, inside[row, col].astype(np.int64)


def mask_extent(inside: np.ndarray) -> Extent:
    """The default extent with the image's aspect ratio kept: its longer side spans ±1.5."""
    h, w = inside.shape
    hx, hy = (1.5, 1.5 * h / w) if w >= h else (1.5 * w / h, 1.5)
    return (-hx, hx, -hy, hy)


def _check_extent(extent: Sequence[float] | None, default: Extent = DEFAULT_EXTENT) -> Extent:
    """A valid (xmin, xmax, ymin, ymax), the default when None."""
    if extent is None:
        return default
    values = tuple(float(v) for v in extent)
    if len(values) != 4 or not (values[0] < values[1] and values[2] < values[3]):
        raise DataError(f"extent must be (xmin, xmax, ymin, ymax) with min < max, not {extent}.")
    return values


def _build(
    name: str,
    classes: list[str],
    draw: Callable[[int, np.random.Generator], Points],
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Extent,
    framed: bool = True,
    **params: object,
) -> Data:
    """Draw train + val points (seeded), shuffle, hold out the first ``val_size``, bundle."""
    train = TRAIN if train_size is None else train_size
    val = VAL if val_size is None else val_size
    x, y = draw(train + val, np.random.default_rng([seed, 0]))
    if framed:
        x = _to_extent(x, extent)
    order = np.random.default_rng([seed, 1]).permutation(len(y))
    x = torch.from_numpy(x[order].astype(np.float32))
    y = torch.from_numpy(y[order].astype(np.int64))
    params = {"extent": list(extent), **params}
    return Data(name, "plane", x[val:], y[val:], x[:val], y[:val], classes, params, extent)


def _halves(n: int) -> tuple[int, int]:
    """Class sizes for ``n`` points: as equal as possible."""
    return n - n // 2, n // 2


def _check_noise(noise: float) -> float:
    """A valid jitter std (NaN fails the comparison too)."""
    if not noise >= 0:
        raise DataError(f"noise must be a non-negative standard deviation, not {noise}.")
    return float(noise)


def load_ring(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    noise: float,
    spread: float,
) -> Data:
    """A ring around a disc (seed 002's with the default noise and spread): 2,000 points each
    by default, 200 held out."""
    noise, spread = _check_noise(noise), _check_noise(spread)
    return _build(
        "ring",
        ["disc", "ring"],
        lambda n, rng: ring_points(*_halves(n), rng, noise, spread),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent),
        framed=False,
        noise=noise,
        spread=spread,
    )


def load_moons(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    noise: float,
) -> Data:
    noise = _check_noise(noise)
    return _build(
        "moons",
        ["upper moon", "lower moon"],
        lambda n, rng: moons_points(*_halves(n), rng, noise),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent),
        noise=noise,
    )


def load_spiral(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    noise: float,
) -> Data:
    noise = _check_noise(noise)
    return _build(
        "spiral",
        ["arm A", "arm B"],
        lambda n, rng: spiral_points(*_halves(n), rng, noise),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent),
        noise=noise,
    )


def load_xor(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    noise: float,
) -> Data:
    noise = _check_noise(noise)
    return _build(
        "xor",
        ["same sign", "opposite signs"],
        lambda n, rng: xor_points(n, rng, noise),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent),
        noise=noise,
    )


def load_checkerboard(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    noise: float,
    cells: int,
) -> Data:
    noise = _check_noise(noise)
    if int(cells) != cells or cells < 1:
        raise DataError(f"cells must be a positive whole number, not {cells}.")
    return _build(
        "checkerboard",
        ["dark", "light"],
        lambda n, rng: checkerboard_points(n, rng, noise, int(cells)),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent),
        noise=noise,
        cells=int(cells),
    )


def load_mask(
    *,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    extent: Sequence[float] | None,
    path: str | None,
    invert: bool,
) -> Data:
    """Points uniform over the extent, labelled by the inside of the image at ``path``."""
    if path is None:
        raise DataError('The mask dataset needs an image: load_data("mask", path="shape.png").')
    inside = read_mask(path, bool(invert))
    return _build(
        "mask",
        ["outside", "inside"],
        lambda n, rng: mask_points(n, rng, inside),
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        extent=_check_extent(extent, mask_extent(inside)),
        path=str(path),
        invert=bool(invert),
    )


# -- the true boundary ------------------------------------------------------------------------
CURVE_SAMPLES = 400
"""Points along a moon or a spiral arm when its class density is summed over the curve."""


def true_field(params: Mapping[str, Any], xy: np.ndarray) -> np.ndarray | None:
    """At points ``xy`` ([N, 2], data coordinates) of a dataset recorded with ``params``, a
    value whose sign is the class the true boundary gives them (> 0: class 1), so its zero
    line is that boundary: where the two classes' densities are equal for noisy shapes (ring,
    moons, spiral), the shape's own edge for the others. None when the dataset has no known
    boundary (a mask whose image is gone, a dataset that is not a plane)."""
    name = params.get("name")
    xy = np.asarray(xy, dtype=np.float64)
    if name == "ring":
        return _ring_field(xy, float(params.get("noise", 0.3)), float(params.get("spread", 0.3)))
    frame = _from_extent(xy, tuple(params.get("extent") or DEFAULT_EXTENT))
    noise = max(float(params.get("noise", 0.0)), 0.02)
    if name == "xor":
        return -frame[:, 0] * frame[:, 1]
    if name == "checkerboard":
        cells = int(params.get("cells", 4))
        square = np.clip(np.floor((frame + 1) / 2 * cells), 0, cells - 1).astype(int)
        return np.where(square.sum(1) % 2 == 1, 1.0, -1.0)
    if name in ("moons", "spiral"):
        curves = _moon_curves() if name == "moons" else _spiral_curves()
        density = [_curve_density(frame, curve, noise) for curve in curves]
        return np.log(density[1] + 1e-300) - np.log(density[0] + 1e-300)
    if name == "mask" and params.get("path") and Path(str(params["path"])).is_file():
        inside = read_mask(str(params["path"]), bool(params.get("invert", False)))
        h, w = inside.shape
        col = np.clip(((frame[:, 0] + 1) / 2 * w).astype(int), 0, w - 1)
        row = np.clip(((1 - frame[:, 1]) / 2 * h).astype(int), 0, h - 1)
        return np.where(inside[row, col], 1.0, -1.0)
    return None


def _ring_field(xy: np.ndarray, noise: float, spread: float) -> np.ndarray:
    """log p(ring) − log p(disc) at each point (equal priors): the ring's radius is
    N(0.7, (0.7·noise)²) at a uniform angle, the disc N(0, spread²) per axis."""
    r = np.maximum(np.hypot(xy[:, 0], xy[:, 1]), 1e-6)
    ring_sd, disc_sd = max(RING_RADIUS * noise, 1e-3), max(spread, 1e-3)
    log_ring = -((r - RING_RADIUS) ** 2) / (2 * ring_sd**2) - np.log(ring_sd * r)
    log_disc = -(r**2) / (2 * disc_sd**2) - np.log(disc_sd**2) + 0.5 * np.log(2 * np.pi)
    return log_ring - log_disc


def _from_extent(xy: np.ndarray, extent: Sequence[float]) -> np.ndarray:
    """Data coordinates → the [-1, 1]² frame the shapes are drawn in (``_to_extent`` undone)."""
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    centre = np.array([xmin + xmax, ymin + ymax]) / 2
    half = np.array([xmax - xmin, ymax - ymin]) / 2
    return (xy - centre) / half


def _moon_curves() -> list[np.ndarray]:
    t = np.linspace(0, np.pi, CURVE_SAMPLES)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    return [(curve - [0.5, 0.25]) * (0.85 / 1.5) for curve in (upper, lower)]


def _spiral_curves() -> list[np.ndarray]:
    t = np.linspace(0.05, 1, CURVE_SAMPLES)
    return [
        0.9 * t[:, None] * np.stack([np.cos(a), np.sin(a)], 1)
        for a in (3.5 * np.pi * t, 3.5 * np.pi * t + np.pi)
    ]


def _curve_density(points: np.ndarray, curve: np.ndarray, noise: float) -> np.ndarray:
    """Density at ``points`` of a curve's points jittered by N(0, noise²) (unnormalised,
    the same constant for both classes), in blocks to bound memory."""
    out = np.empty(len(points))
    for start in range(0, len(points), 8192):
        block = points[start : start + 8192, None, :] - curve[None]
        out[start : start + 8192] = np.exp(-(block**2).sum(-1) / (2 * noise**2)).mean(1)
    return out
