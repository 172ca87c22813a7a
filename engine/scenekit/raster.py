"""Numpy rasters for scenes: colour maps, normalisation, grids of maps, top-k channels.

Everything here turns recorded arrays into plain ``uint8`` RGB images ([H, W, 3]), so a scene
shows a whole layer as one ``ImageMobject`` instead of one mobject per map or per pixel. No
Manim import: these functions are cheap to test and to call once per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.analysis.ranking import ranked
from engine.errors import UnknownNameError
from engine.scenekit import palette

RGB = tuple[int, int, int]


def hex_rgb(code: str) -> RGB:
    code = code.lstrip("#")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


def rgb_hex(rgb) -> str:
    """(r, g, b) → '#rrggbb', as Manim takes colours."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def _lut(anchors: str) -> np.ndarray:
    """A 256-entry lookup table linearly interpolated between evenly spaced anchor colours
    (hex codes separated by spaces)."""
    points = np.array([hex_rgb(c) for c in anchors.split()], dtype=np.float64)
    x = np.linspace(0.0, 1.0, len(points))
    t = np.linspace(0.0, 1.0, 256)
    return (
        np.stack([np.interp(t, x, points[:, i]) for i in range(3)], axis=1).round().astype(np.uint8)
    )


@dataclass(frozen=True, eq=False)
class Colormap:
    """A colour map: a 256-entry lookup table, and whether it is centred on zero. Compared
    and hashed by identity (each is made once: ``colormap``)."""

    name: str
    lut: np.ndarray
    """[256, 3] uint8."""
    diverging: bool


VIRIDIS = Colormap(
    # matplotlib's viridis at 17 even steps: perceptually uniform, dark = low, yellow = high.
    "viridis",
    _lut(
        "440154 48186a 472d7b 424086 3b528b 33638d 2c728e 26828e 21918c "
        "1fa088 28ae80 3fbc73 5ec962 84d44b addc30 d8e219 fde725"
    ),
    diverging=False,
)
COLORMAP_NAMES = ("viridis", "greens", "diverging", "gray")
"""``greens`` (activations: stronger = further from the background), ``diverging`` (blue
negative, red positive, zero = the background's colour: weights, gradients, differences) and
``gray`` follow the palette in use, so zero reads as nothing on its background."""


@lru_cache(maxsize=16)
def _palette_map(name: str, anchors: str) -> Colormap:
    return Colormap(name, _lut(anchors), diverging=name == "diverging")


def colormap(name: str) -> Colormap:
    """A colour map by name, as the palette in use draws it."""
    if name == "viridis":
        return VIRIDIS
    anchors = palette.current().palette.colormaps
    if name not in anchors:
        raise UnknownNameError("colour map", name, COLORMAP_NAMES)
    return _palette_map(name, anchors[name])


def apply_colormap(unit: np.ndarray, cmap: str | Colormap = "viridis") -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB with a trailing axis of 3. NaN maps to 0."""
    lut = (colormap(cmap) if isinstance(cmap, str) else cmap).lut
    index = np.nan_to_num(np.asarray(unit, dtype=np.float32), nan=0.0)
    index = np.clip(index * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return lut[index]


# -- normalisation ----------------------------------------------------------------------------
NORMALISATIONS = ("channel", "layer", "symmetric", "symmetric-channel")
CENTRED = {"channel": "symmetric-channel", "layer": "symmetric"}
"""The diverging normalisation, centred on zero, of each sequential one."""


@dataclass(frozen=True)
class Scaled:
    """Maps scaled to [0, 1], with the value range each map was scaled from."""

    unit: np.ndarray
    """Same shape as the input, float32 in [0, 1]."""
    lo: np.ndarray
    """Per map ([N]); the value shown at the bottom of the colour map."""
    hi: np.ndarray
    """Per map ([N]); the value shown at the top."""
    mode: str

    @property
    def shared(self) -> bool:
        """Whether one scale holds for every map (the layer's), written on its legend."""
        return self.mode in ("layer", "symmetric")

    @property
    def centred(self) -> bool:
        """Whether zero sits at the centre of the colour map (−max … 0 … +max)."""
        return self.mode in CENTRED.values()

    @property
    def label(self) -> str:
        """How the colours were scaled, in words a legend can show."""
        sequential = "max" if np.all(self.lo == 0) else "range"
        return {
            "channel": f"each map scaled to its own {sequential}",
            "layer": f"one scale for the whole layer (its {sequential})",
            "symmetric": "one scale for the layer, 0 at the centre",
            "symmetric-channel": "each map scaled on its own, 0 at the centre",
        }[self.mode]


def normalise(maps: np.ndarray, mode: str = "channel") -> Scaled:
    """Scale N maps ([N, ...]) to [0, 1] for a colour map.

    ``channel``/``layer``: sequential, from 0 (or the minimum, if negative values occur) to the
    maximum of each map / of all maps, so post-ReLU zero is always the bottom colour.
    ``symmetric``/``symmetric-channel``: diverging, ±max|x| so zero sits in the middle; for
    weights and gradients. A constant map (a dead channel) scales to 0 (or 0.5 if diverging).
    """
    if mode not in NORMALISATIONS:
        raise UnknownNameError("normalisation", mode, NORMALISATIONS)
    x = np.asarray(maps, dtype=np.float32)
    n = x.shape[0]
    flat = x.reshape(n, -1) if n else x.reshape(0, 1)
    per_map = mode in ("channel", "symmetric-channel")

    def reduce(fn, values: np.ndarray) -> np.ndarray:
        if per_map:
            return fn(values, axis=1)
        return np.full(n, fn(values) if values.size else 0.0, dtype=np.float32)

    if mode.startswith("symmetric"):
        hi = reduce(np.max, np.abs(flat))
        lo = -hi
    else:
        hi = reduce(np.max, flat)
        lo = np.minimum(reduce(np.min, flat), 0.0)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    shape = (n,) + (1,) * (x.ndim - 1)
    unit = (x - lo.reshape(shape)) / safe.reshape(shape)
    if mode.startswith("symmetric"):
        unit = np.where(span.reshape(shape) > 0, unit, 0.5)
    return Scaled(np.clip(unit, 0.0, 1.0).astype(np.float32), lo, hi, mode)


SMALL_MAP = 16
"""Maps of at most this many pixels (4×4) are too small to each have a scale of their own: a
1×1 map scaled to its own max is just "on"."""
FLAT = 0.1
"""A map whose values span less than this share of its maximum is (nearly) constant."""


def honest_mode(maps: np.ndarray, mode: str) -> str:
    """The normalisation the maps are drawn with. ``auto`` stands for one scale for the whole
    layer where each map on its own scale would hide the magnitudes — small maps, or (nearly)
    constant ones, which their own max paints as uniform squares of the top colour — else each
    map's own. Maps with values below zero (no ReLU after them, e.g. a residual branch before
    its add) get that scale centred on zero (``CENTRED``), for the diverging colour map: on a
    sequential one from 0 their negative half would pass for weak activation."""
    x = np.asarray(maps, dtype=np.float32)
    if mode == "auto":
        mode = "layer" if small_or_flat(x) else "channel"
    return CENTRED.get(mode, mode) if below_zero(x) else mode


def below_zero(maps: np.ndarray) -> bool:
    """Whether any value is negative: maps with no ReLU after them (a residual branch before its
    add, a dense layer without activation), to be drawn and ranked by size either side of 0."""
    return bool((np.asarray(maps) < 0).any())


def small_or_flat(maps: np.ndarray) -> bool:
    """Whether maps are too small, or mostly too flat, to each have a scale of their own."""
    flat = maps.reshape(maps.shape[0], -1)
    if flat.shape[1] <= SMALL_MAP:
        return True
    top = np.abs(flat).max(axis=1)
    live = top > 0
    constant = (flat.max(axis=1) - flat.min(axis=1)) < FLAT * np.where(live, top, 1.0)
    return bool(live.any() and constant[live].mean() > 0.5)


def mode_cmap(mode: str, cmap: str) -> str:
    """The colour map for maps scaled in ``mode``: the diverging one (blue negative, red
    positive) where zero is centred, else ``cmap``."""
    return "diverging" if mode in CENTRED.values() else cmap


# -- choosing channels ------------------------------------------------------------------------
def channel_scores(maps: np.ndarray) -> np.ndarray:
    """Mean |activation| of each map ([N, ...] → [N]): how strongly a channel responds. For
    maps that go below zero a strong channel can average near 0, its halves cancelling; for
    maps ≥ 0 (after a ReLU) this is exactly their mean."""
    x = np.abs(np.asarray(maps, dtype=np.float32))
    return x.reshape(x.shape[0], -1).mean(axis=1)


def top_k(maps: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k most active maps (by mean |activation|), most active first; near-ties
    keep channel order, so the choice is the same on every machine (``ranked``)."""
    return ranked(channel_scores(maps))[: max(0, k)]


def most_active(*maps: np.ndarray) -> str:
    """What ``top_k`` picked from these maps, for a caption (``ranking_words``)."""
    return ranking_words(any(map(below_zero, maps)))


def ranking_words(signed: bool) -> str:
    """How ``top_k`` ranks, for a caption: "most active", said by size (|value|) for maps that
    go below zero (``signed``), as a large negative response counts too."""
    return "most active (by mean |value|)" if signed else "most active"


def silent(maps: np.ndarray) -> np.ndarray:
    """Maps that are zero everywhere ([N] bool): a dead ReLU channel on this input."""
    x = np.asarray(maps, dtype=np.float32)
    return ~np.any(x.reshape(x.shape[0], -1) != 0, axis=1)


# -- composing images -------------------------------------------------------------------------
def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of [H, W, ...] by an integer factor (crisp pixels)."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def resize_nearest(
    image: np.ndarray, shape: tuple[int, int], factor: float | None = None
) -> np.ndarray:
    """Nearest-neighbour resize of [H, W, ...] to ``shape`` (rows, columns), crisp pixels:
    output pixel i shows input pixel ⌊i / factor⌋ (kept inside the image), the factor being
    ``shape / (H, W)`` computed exactly in integers unless given."""
    h, w = image.shape[:2]
    rows, cols = shape
    if factor is None:
        pick_rows, pick_cols = np.arange(rows) * h // rows, np.arange(cols) * w // cols
    else:
        pick_rows = np.minimum((np.arange(rows) / factor).astype(int), h - 1)
        pick_cols = np.minimum((np.arange(cols) / factor).astype(int), w - 1)
    return image[np.ix_(pick_rows, pick_cols)]


def enlarge(image: np.ndarray, factor: float) -> np.ndarray:
    """Nearest-neighbour resize of [H, W, ...] by ``factor`` (any positive number)."""
    h, w = image.shape[:2]
    shape = max(1, round(h * factor)), max(1, round(w * factor))
    return resize_nearest(image, shape, factor)


def fit_square(rgb: np.ndarray, side: int, background: RGB) -> np.ndarray:
    """An RGB image on a ``side``×``side`` tile of ``background``: enlarged by the largest whole
    factor that fits (so pixels stay square and crisp; shrunk only when it must), centred."""
    h, w = rgb.shape[:2]
    factor = side / max(h, w) if max(h, w) > side else max(1, side // max(h, w))
    nh, nw = max(1, int(h * factor)), max(1, int(w * factor))
    tile = np.empty((side, side, 3), dtype=np.uint8)
    tile[:] = background
    top, left = (side - nh) // 2, (side - nw) // 2
    tile[top : top + nh, left : left + nw] = resize_nearest(rgb, (nh, nw), factor)
    return tile


def grid_shape(n: int, aspect: float = 16 / 9, tile_aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) for n tiles whose grid is closest to ``aspect`` (width / height)."""
    if n <= 0:
        return 0, 0
    best, best_cost = (1, n), float("inf")
    for rows in range(1, n + 1):
        cols = -(-n // rows)
        if (rows - 1) * cols >= n:
            continue
        cost = abs(np.log((cols * tile_aspect) / rows / aspect)) + 0.02 * (rows * cols - n)
        if cost < best_cost:
            best, best_cost = (rows, cols), cost
    return best


def tile(
    tiles: np.ndarray,
    *,
    rows: int | None = None,
    cols: int | None = None,
    aspect: float = 16 / 9,
    scale: int = 1,
    pad: int = 1,
    background: RGB = (0, 0, 0),
    borders: np.ndarray | None = None,
    border: int = 1,
) -> np.ndarray:
    """Compose N RGB tiles ([N, h, w, 3] uint8) into one grid image.

    Tiles are upscaled by ``scale`` (nearest) first, so ``pad`` and ``border`` are in output
    pixels. ``borders``, an optional [N, 3] uint8 array, frames each tile in its own colour
    (e.g. to mark silent channels); rows of value (-1) or a None array draw no frame.
    """
    n, h, w = tiles.shape[:3]
    if rows is None and cols is None:
        rows, cols = grid_shape(n, aspect, w / h)
    elif rows is None:
        rows = -(-n // cols)
    elif cols is None:
        cols = -(-n // rows)
    th, tw = h * scale, w * scale
    frame = border if borders is not None else 0
    cell_h, cell_w = th + 2 * frame, tw + 2 * frame
    height = rows * cell_h + (rows + 1) * pad
    width = cols * cell_w + (cols + 1) * pad
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = background
    for i in range(min(n, rows * cols)):
        x, y, _, _ = tile_box(i, cols=cols, size=(h, w), scale=scale, pad=pad, border=frame)
        if frame and borders is not None and np.all(borders[i] >= 0):
            canvas[y - frame : y + th + frame, x - frame : x + tw + frame] = borders[i]
        canvas[y : y + th, x : x + tw] = upscale(tiles[i], scale)
    return canvas


def tile_box(
    index: int, *, cols: int, size: tuple[int, int], scale: int, pad: int, border: int = 0
) -> tuple[int, int, int, int]:
    """Where tile ``index`` of a grid made by ``tile`` lies: (x, y, width, height) in pixels
    of the grid image, its frame excluded (``size``: the tiles' (h, w) before upscaling;
    ``border``: the frame ``tile`` drew, as ``feature_grid`` does with ``mark_silent``)."""
    th, tw = size[0] * scale, size[1] * scale
    r, c = divmod(index, cols)
    y = pad + r * (th + 2 * border + pad) + border
    x = pad + c * (tw + 2 * border + pad) + border
    return x, y, tw, th


def tile_scale(height: int, min_tile: int = 24) -> tuple[int, int]:
    """(scale, pad) for maps ``height`` pixels high: the integer upscaling that makes a tile
    at least ``min_tile`` pixels, and padding about 1/16 of a tile."""
    scale = max(1, -(-min_tile // height))
    return scale, max(1, (height * scale) // 16)


def fit_scale(map_size: int, tile_pixels: float) -> tuple[int, int]:
    """(scale, pad): the largest integer upscaling of a ``map_size``-pixel map that fits
    ``tile_pixels`` output pixels together with its padding and its (silent-channel) frame,
    each a sixteenth of the upscaled map — so tiles stay crisp and never overflow."""
    scale = max(1, int(tile_pixels) // map_size)
    while scale > 1 and scale * map_size + 3 * max(1, scale * map_size // 16) > tile_pixels:
        scale -= 1
    return scale, max(1, scale * map_size // 16)


def feature_grid(
    maps: np.ndarray,
    *,
    cmap: str = "viridis",
    mode: str = "channel",
    rows: int | None = None,
    cols: int | None = None,
    aspect: float = 16 / 9,
    min_tile: int = 24,
    scale: int | None = None,
    pad: int | None = None,
    background: RGB = (0, 0, 0),
    mark_silent: RGB | None = None,
) -> tuple[np.ndarray, Scaled]:
    """Feature maps ([N, H, W]) → one colour-mapped grid image, and how it was scaled.

    Maps are upscaled (by ``scale``, else enough to reach ``min_tile`` pixels) so the padding
    between them stays thin next to the maps; pass the same ``scale`` and ``pad`` to two grids
    to draw them at the same pixel size (a layer and its pooled output). With
    ``mark_silent``, maps that are zero everywhere get a frame in that colour (dead channels
    are marked, not left looking like any other dark map).
    """
    maps = np.asarray(maps, dtype=np.float32)
    scaled = normalise(maps, mode)
    rgb = apply_colormap(scaled.unit, cmap)
    auto_scale, auto_pad = tile_scale(maps.shape[1], min_tile)
    scale = auto_scale if scale is None else scale
    pad = auto_pad if pad is None else pad
    borders = None
    if mark_silent is not None:
        borders = np.full((len(maps), 3), -1, dtype=np.int16)
        borders[silent(maps)] = mark_silent
    image = tile(
        rgb,
        rows=rows,
        cols=cols,
        aspect=aspect,
        scale=scale,
        pad=pad,
        background=background,
        borders=borders,
        border=pad,
    )
    return image, scaled


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A dataset image as uint8 RGB [H, W, 3]: accepts [C, H, W] or [H, W] / [H, W, C], one or
    three channels, uint8 or floats in [0, 1]."""
    x = np.asarray(image)
    if x.dtype != np.uint8:
        x = np.clip(x.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if x.ndim == 2:
        x = x[..., None]
    elif x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[2] not in (1, 3):
        x = np.moveaxis(x, 0, -1)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(x[..., :3])


def gradient_bar(cmap: str = "viridis", length: int = 256, vertical: bool = True) -> np.ndarray:
    """A colour-bar raster: low at the bottom (vertical) or left (horizontal)."""
    ramp = np.linspace(0.0, 1.0, length, dtype=np.float32)
    if vertical:
        return apply_colormap(ramp[::-1, None], cmap)
    return apply_colormap(ramp[None, :], cmap)


# -- RGBA, for rasters redrawn every frame ------------------------------------------------------
def rgba(colours: np.ndarray) -> np.ndarray:
    """Opaque RGBA ([..., 4] uint8) from RGB: rasters made as RGBA skip Manim's conversion."""
    colours = np.asarray(colours, dtype=np.uint8)
    alpha = np.full((*colours.shape[:-1], 1), 255, dtype=np.uint8)
    return np.concatenate([colours, alpha], axis=-1)


@lru_cache(maxsize=16)
def _rgba_lut(cmap: Colormap) -> np.ndarray:
    return rgba(cmap.lut)


def diverging_rgba(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → RGBA through the diverging map (``np.take``: several times faster
    than fancy indexing, for rasters redrawn on every frame)."""
    index = (np.clip(unit, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return np.take(_rgba_lut(colormap("diverging")), index, axis=0)


def packed(colours: np.ndarray) -> np.ndarray:
    """RGBA colours [n, 4] uint8 → [n] uint32, the form ``scatter`` writes."""
    return np.ascontiguousarray(colours, dtype=np.uint8).view(np.uint32).reshape(-1)


def scatter(image: np.ndarray, pixels: np.ndarray, colours: np.ndarray) -> None:
    """Paint ``packed`` RGBA ``colours`` at flat ``pixels`` of an RGBA image, in place."""
    image.view(np.uint32).reshape(-1)[pixels] = colours
