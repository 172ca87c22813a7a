"""Charts for scenes: value scales (linear or log) with readable tick labels, a plot frame,
curves that grow as a run unfolds, horizontal bars that move in place, and a raster heat map
that fills in over time.

No LaTeX: every label is a ``theme.text``, built once. What changes per frame is geometry (a
polyline's points, a bar's width, a raster's pixels), never text, so a chart animated for
hundreds of frames costs little more than an empty frame.

    chart = Chart(Scale(0, 2), Scale.fit_log(loss), width=6, height=4,
                  x_label="epoch", y_label="loss (log scale)")
    curve = Curve(chart, epochs, loss, color=theme.BAR)        # build after placing the chart
    curve.grow_to(1.5)                                          # drawn up to x = 1.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from manim import (
    DOWN,
    LEFT,
    ORIGIN,
    RIGHT,
    UP,
    Dot,
    Group,
    Line,
    Mobject,
    Rectangle,
    VGroup,
    VMobject,
)

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.widgets import raster_image

NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


# -- scales and ticks -------------------------------------------------------------------------
def nice_step(span: float, count: int) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 × 10^k) giving about ``count`` intervals."""
    if span <= 0:
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(s * power for s in NICE_STEPS if s * power >= raw * 0.999)


def format_tick(value: float) -> str:
    """A tick label a viewer reads at a glance: '0', '0.5', '2,000', '0.001', '10⁻⁵', '2×10⁻⁵'."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)) + 1e-9)
    if -3 <= exponent <= 5:
        decimals = max(0, -exponent + 2)
        text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:,.0f}"
        return text
    mantissa = value / 10.0**exponent
    power = f"10{str(exponent).translate(SUPERSCRIPT)}"
    if abs(mantissa - round(mantissa)) < 1e-6 and round(mantissa) == 1:
        return power
    return f"{mantissa:.2g}×{power}"


def format_value(value: float, digits: int = 3) -> str:
    """A measured value with ``digits`` significant digits: '0.412', '2.3×10⁻⁴'."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 5:
        decimals = max(0, digits - 1 - exponent)
        return f"{value:,.{decimals}f}"
    mantissa = value / 10.0**exponent
    return f"{mantissa:.{digits - 1}f}×10{str(exponent).translate(SUPERSCRIPT)}"


@dataclass(frozen=True)
class Scale:
    """A value axis: [lo, hi] mapped to [0, 1], linearly or on a log scale (lo > 0)."""

    lo: float
    hi: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.hi > self.lo:
            raise ValueError(f"an axis needs hi > lo, got [{self.lo}, {self.hi}]")
        if self.log and self.lo <= 0:
            raise ValueError(f"a log axis needs lo > 0, got {self.lo}")

    @classmethod
    def fit(cls, values: np.ndarray, *, count: int = 5, zero: bool = False) -> Scale:
        """A linear scale with round ends around ``values`` (from zero when ``zero``)."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
        if zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi <= lo:
            hi = lo + (abs(lo) or 1.0)
        step = nice_step(hi - lo, count)
        return cls(math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step)

    @classmethod
    def fit_log(cls, values: np.ndarray) -> Scale:
        """A log scale from the 1-2-5 value just below the smallest positive value to the one
        just above the largest."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v) & (v > 0)]
        if not v.size:
            return cls(0.1, 1.0, log=True)
        lo, hi = _log_floor(float(v.min())), _log_ceil(float(v.max()))
        if hi <= lo:
            hi = _log_ceil(lo * 1.01)
        return cls(lo, hi, log=True)

    def unit(self, values) -> np.ndarray:
        """Values → [0, 1] along the axis (values outside are clipped to the ends)."""
        v = np.asarray(values, dtype=np.float64)
        lo, hi = self.lo, self.hi
        if self.log:
            v = np.log10(np.maximum(v, lo))
            lo, hi = math.log10(lo), math.log10(hi)
        return np.clip((v - lo) / (hi - lo), 0.0, 1.0)

    def ticks(self, count: int = 5) -> list[float]:
        """Tick values inside the axis: round steps, or on a log axis the powers of ten (with
        2 and 5 between them when the axis spans less than two decades)."""
        if not self.log:
            step = nice_step(self.hi - self.lo, count)
            first = math.ceil(self.lo / step - 1e-9)
            last = math.floor(self.hi / step + 1e-9)
            return [round(k * step, 12) for k in range(first, last + 1)]
        decades = math.log10(self.hi / self.lo)
        bases = (1.0,) if decades > 2.5 else (1.0, 2.0, 5.0)
        out = []
        for power in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
            for base in bases:
                value = base * 10.0**power
                if self.lo * 0.999 <= value <= self.hi * 1.001:
                    out.append(value)
        if decades > count + 1:  # too many decades to label: every other one
            out = out[:: math.ceil(len(out) / (count + 1))]
        return out


def _log_floor(value: float) -> float:
    power = 10.0 ** math.floor(math.log10(value))
    return max(b * power for b in (1.0, 2.0, 3.0, 5.0) if b * power <= value * 1.0001)


def _log_ceil(value: float) -> float:
    power = 10.0 ** math.floor(math.log10(value))
    return min(b * power for b in (1.0, 2.0, 3.0, 5.0, 10.0) if b * power >= value * 0.9999)


def use_log(values: np.ndarray, ratio: float = 4.0) -> bool:
    """Whether a positive series spans enough (max/min ≥ ``ratio``) for a log axis to help."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size) and float(v.max() / v.min()) >= ratio


# -- the plot frame ---------------------------------------------------------------------------
Ticks = list[tuple[float, str]]


_EDGE = {0: RIGHT, 1: UP}


def apart(labels: list[Mobject], axis: int, gap: float = 0.12) -> list[Mobject]:
    """The labels of an axis that can be read: in order along ``axis`` (0: x, 1: y), each one
    kept only if it clears the last one kept by ``gap`` (a short log axis puts 5×10⁻⁴ right
    against 0.001); their ticks stay."""
    kept: list[Mobject] = []
    for label in sorted(labels, key=lambda m: m.get_center()[axis]):
        if (
            not kept
            or kept[-1].get_critical_point(_EDGE[axis])[axis] + gap
            <= (label.get_critical_point(-_EDGE[axis])[axis])
        ):
            kept.append(label)
    return kept


class Chart(Group):
    """A plot frame: an x and a y ``Scale`` mapped onto a ``width`` × ``height`` box, with axis
    lines, faint grid lines at the ticks, tick labels and axis titles.

    Place (move) the chart first, then build what is drawn on it (``coord`` reads the box's
    current position). ``x_ticks``/``y_ticks`` override the automatic ticks with
    (value, label) pairs; an empty list draws none.
    """

    def __init__(
        self,
        x: Scale,
        y: Scale,
        *,
        width: float,
        height: float,
        x_label: str = "",
        y_label: str = "",
        x_ticks: Ticks | None = None,
        y_ticks: Ticks | None = None,
        grid: bool = True,
        size: int | None = None,
    ):
        super().__init__()
        size = theme.SMALL if size is None else size
        self.x, self.y = x, y
        self.box = Rectangle(width=width, height=height, stroke_width=0, fill_opacity=0)
        self.add(self.box)
        x_ticks = self._ticks(x) if x_ticks is None else x_ticks
        y_ticks = self._ticks(y) if y_ticks is None else y_ticks
        self.grid = VGroup()
        self.labels = Group()
        x_labels, y_labels = [], []
        for value, label in x_ticks:
            top, bottom = self.coord(value, y.hi), self.coord(value, y.lo)
            if grid:
                self.grid.add(Line(bottom, top, stroke_width=1, color=theme.PANEL))
            tick = Line(bottom, bottom + 0.08 * DOWN, stroke_width=1.5, color=theme.MUTED)
            self.labels.add(tick)
            x_labels.append(theme.text(label, size, theme.MUTED).next_to(tick, DOWN, 0.08))
        for value, label in y_ticks:
            left, right = self.coord(x.lo, value), self.coord(x.hi, value)
            if grid:
                self.grid.add(Line(left, right, stroke_width=1, color=theme.PANEL))
            tick = Line(left, left + 0.08 * LEFT, stroke_width=1.5, color=theme.MUTED)
            self.labels.add(tick)
            y_labels.append(theme.text(label, size, theme.MUTED).next_to(tick, LEFT, 0.08))
        self.labels.add(*apart(x_labels, axis=0), *apart(y_labels, axis=1))
        corner = self.box.get_corner(DOWN + LEFT)
        self.axes = VGroup(
            Line(corner, self.box.get_corner(DOWN + RIGHT), stroke_width=2, color=theme.MUTED),
            Line(corner, self.box.get_corner(UP + LEFT), stroke_width=2, color=theme.MUTED),
        )
        self.add(self.grid, self.axes, self.labels)
        if x_label:
            title = theme.text(x_label, size + 2, theme.MUTED)
            self.add(title.next_to(self.labels if x_ticks else self.axes, DOWN, 0.12))
            title.match_x(self.box)
        if y_label:
            title = theme.text(y_label, size + 2, theme.MUTED)
            self.add(title.next_to(self.box, UP, 0.15).align_to(self.box, LEFT))

    @staticmethod
    def _ticks(scale: Scale) -> Ticks:
        return [(v, format_tick(v)) for v in scale.ticks()]

    def coord(self, x: float, y: float) -> np.ndarray:
        """The frame position of data point (x, y)."""
        return self.coords(np.array([x]), np.array([y]))[0]

    def coords(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Frame positions ([n, 3]) of data points."""
        left, bottom = self.box.get_corner(DOWN + LEFT)[:2]
        u, v = self.x.unit(xs), self.y.unit(ys)
        out = np.zeros((len(u), 3))
        out[:, 0] = left + u * self.box.width
        out[:, 1] = bottom + v * self.box.height
        return out


# -- what is drawn on a chart -----------------------------------------------------------------
def binned(xs: np.ndarray, ys: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``bins`` points: means of consecutive runs of points (a long noisy per-step
    series drawn as one polyline would be a solid band of zigzags, and slow)."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if len(xs) <= bins:
        return xs, ys
    edges = np.linspace(0, len(xs), bins + 1).round().astype(int)
    x = np.add.reduceat(xs, edges[:-1]) / np.diff(edges)
    y = np.add.reduceat(ys, edges[:-1]) / np.diff(edges)
    return x, y


def smoothed(values: np.ndarray, span: float) -> np.ndarray:
    """An exponential moving average over about ``span`` points, debiased at the start (so
    the first points are not pulled towards zero)."""
    v = np.asarray(values, dtype=np.float64)
    alpha = 2.0 / (max(span, 1.0) + 1.0)
    out, mean, weight = np.empty_like(v), 0.0, 0.0
    for i, value in enumerate(v):
        mean = (1 - alpha) * mean + alpha * value
        weight = (1 - alpha) * weight + alpha
        out[i] = mean / weight
    return out


class Curve(VMobject):
    """A data series as one polyline on a chart, drawn up to any x with ``grow_to`` (in an
    updater driven by a ``ValueTracker``: only its points change)."""

    def __init__(
        self,
        chart: Chart,
        xs: np.ndarray,
        ys: np.ndarray,
        *,
        color: str,
        width: float = 3.0,
        opacity: float = 1.0,
        max_points: int = 600,
    ):
        super().__init__(stroke_color=color, stroke_width=width, stroke_opacity=opacity)
        self.xs, ys = binned(xs, ys, max_points)
        self.data = chart.coords(self.xs, ys)
        self.grow_to(self.xs[-1] if len(self.xs) else 0.0)

    def grow_to(self, x: float) -> Curve:
        n = int(np.searchsorted(self.xs, x, side="right"))
        points = self.data[:n]
        if 0 < n < len(self.xs):  # end exactly at x, between two data points
            x0, x1 = self.xs[n - 1], self.xs[n]
            t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            points = np.vstack([points, self.data[n - 1] + t * (self.data[n] - self.data[n - 1])])
        if len(points) < 2:  # nothing to draw yet: a zero-length line
            points = np.repeat(self.data[:1], 2, axis=0)
        self.set_points_as_corners(points)
        return self


class HBars(VGroup):
    """Horizontal bars, one per row of a chart whose y scale is ``Scale(0, rows)`` (row 0 on
    top), from the x axis's low end to each value; ``set_values`` moves them in place by
    rewriting each bar's four corners (cheap enough for every frame). Place the chart first."""

    def __init__(
        self,
        chart: Chart,
        colors: list[str],
        *,
        thickness: float = 0.62,
        opacity: float = 1.0,
    ):
        super().__init__()
        self.chart = chart
        self.rows = len(colors)
        half = chart.box.height / chart.y.hi * thickness / 2
        centres = chart.coords(
            np.full(self.rows, chart.x.lo), self.rows - np.arange(self.rows) - 0.5
        )
        self.left = float(centres[0, 0])
        self.spans = [(float(y) - half, float(y) + half) for y in centres[:, 1]]
        for color in colors:
            bar = Rectangle(width=1.0, height=2 * half, stroke_width=0)
            self.add(bar.set_fill(color, opacity=opacity))
        self.set_values(np.full(self.rows, chart.x.lo))

    def set_values(self, values: np.ndarray) -> HBars:
        ends = self.chart.coords(np.asarray(values, dtype=np.float64), np.zeros(self.rows))[:, 0]
        for bar, end, (low, high) in zip(self, ends, self.spans, strict=True):
            right = max(float(end), self.left + 1e-3)
            bar.set_points_as_corners(
                [
                    [self.left, high, 0],
                    [right, high, 0],
                    [right, low, 0],
                    [self.left, low, 0],
                    [self.left, high, 0],
                ]
            )
        return self


class HeatMap:
    """A [rows, columns] series as one raster filling a chart's box (rows top to bottom),
    revealed left to right with ``show_until``.

    The raster is whole from the start and stays still; a panel-coloured ``cover`` over the
    columns not reached yet shrinks instead. Animate the cover, not the image: a moving
    rectangle costs a fraction of re-compositing a large raster on every frame."""

    def __init__(self, chart: Chart, values: np.ndarray, scale: Scale, cmap: str = "viridis"):
        self.columns = values.shape[1]
        self.image = raster_image(rs.apply_colormap(scale.unit(values), cmap))
        self.image.stretch_to_fit_width(chart.box.width).stretch_to_fit_height(chart.box.height)
        self.image.move_to(chart.box)
        self.left, self.right = chart.box.get_left()[0], chart.box.get_right()[0]
        self.bottom, self.top = chart.box.get_bottom()[1], chart.box.get_top()[1]
        self.cover = Rectangle(stroke_width=0).set_fill(theme.PANEL, opacity=1.0)
        self.show_until(-1)

    def show_until(self, column: int) -> HeatMap:
        """Reveal columns 0 … ``column`` (-1: none)."""
        shown = min(int(column), self.columns - 1) + 1
        x = self.left + (self.right - self.left) * shown / self.columns
        x = min(x, self.right - 1e-4)  # a zero-width cover would have no shape
        self.cover.set_points_as_corners(
            [
                [x, self.top, 0],
                [self.right, self.top, 0],
                [self.right, self.bottom, 0],
                [x, self.bottom, 0],
                [x, self.top, 0],
            ]
        )
        return self


def legend_row(entries: list[tuple[str, str, str]], size: int | None = None) -> Group:
    """A one-line key: (colour, mark, words) per entry, where mark is 'line', 'faint' or
    'dot'."""
    size = theme.SMALL if size is None else size
    row = Group()
    for color, mark, words in entries:
        if mark == "dot":
            swatch = Dot(radius=0.07, color=color)
        else:
            swatch = Line(ORIGIN, 0.4 * RIGHT, color=color, stroke_width=4)
            swatch.set_stroke(opacity=0.4 if mark == "faint" else 1.0)
        row.add(Group(swatch, theme.text(words, size, theme.MUTED)).arrange(RIGHT, buff=0.1))
    return row.arrange(RIGHT, buff=0.35)


def fitted_title(main: str, parts: list[str], width: float) -> Group:
    """``theme.title`` with the subtitle made of ``parts``, dropping parts from the end until
    it is at most ``width`` wide, and never wider than the room beside the step counter in
    the top-right corner."""
    return theme.title(main, theme.SEPARATOR.join(parts), width)


TITLE_WIDTH = 10.1
"""How wide a title may be beside the step counter (frame units)."""
