"""Chart geometry for inline SVG, computed server-side from the review document.

The template draws ``<svg>`` elements from the plain values built here (pixel coordinates,
tick labels, colours); no markup is produced in Python, so autoescaping covers every label.
Charts need no script and no network: they render even with JavaScript disabled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PALETTE", "Chart", "Line", "Tick", "fmt_bytes_rate", "fmt_ms", "line_chart", "thin"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: pixel position and label."""

    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    """One polyline of a chart."""

    label: str
    color: str
    points: str
    dashed: bool = False
    markers: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded x range of a chart (pixels), e.g. the measured window."""

    x0: float
    x1: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template needs to draw one chart."""

    chart_id: str
    title: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[Line, ...]
    x_label: str
    y_label: str
    empty: bool
    bands: tuple[Band, ...] = ()


def fmt_bytes_rate(value: float) -> str:
    """``12.3 MB/s`` style (decimal units)."""
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} B/s"


def fmt_ms(value: float) -> str:
    """``12.3 ms`` / ``1.2 s``."""
    return f"{value / 1000:.3g} s" if abs(value) >= 1000 else f"{value:.3g} ms"


MAX_POINTS = 1200
"""Lines with more points (hour-long soak runs) are thinned to about this many, keeping each
bucket's extreme sample so spikes stay visible."""


def thin(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS
         ) -> list[tuple[float, float]]:
    """At most ~``limit`` points: per bucket of consecutive points, the one farthest from the
    bucket mean (spikes and dips survive), plus the last point."""
    if len(points) <= limit:
        return list(points)
    size = -(-len(points) // limit)
    out = []
    for i in range(0, len(points), size):
        bucket = points[i:i + size]
        mean = sum(p[1] for p in bucket) / len(bucket)
        out.append(max(bucket, key=lambda p: abs(p[1] - mean)))
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _ticks(lo: float, hi: float, target: int) -> list[float]:
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step) * step
    out: list[float] = []
    v = first
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(v, 12))
        v += step
    return out


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]], bool]],
    *,
    x_label: str = "",
    y_label: str = "",
    y_format: str = "rate",
    x_categories: Sequence[str] = (),
    width: int = 720,
    height: int = 260,
    lines_per_color: int = 1,
    bands: Sequence[tuple[float, float, str]] = (),
) -> Chart:
    """Lay out a line chart.

    Args:
        chart_id: DOM id of the ``<svg>``.
        title: caption.
        series: ``(label, [(x, y), ...], dashed)`` per line; empty lines are skipped.
        x_label / y_label: axis captions.
        y_format: ``rate`` (bytes/s), ``ms`` or ``plain``.
        x_categories: when given, x values are indexes into these labels.
        lines_per_color: consecutive lines sharing a colour (e.g. p50 and p95 of one name).
        bands: ``(x_from, x_to, label)`` ranges shaded behind the lines (clipped to the
            axis), e.g. the measured window of a load run.
        width / height: SVG size in pixels.
    """
    left, right, top, bottom = 70, 12, 12, 36
    pts = [p for _, s, _ in series for p in s]
    if not pts:
        return Chart(chart_id, title, width, height, left, top, width - right, height - bottom,
                     (), (), (), x_label, y_label, True)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x_lo, x_hi = (0.0, float(len(x_categories) - 1)) if x_categories else (min(xs), max(xs))
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    y_hi = max(max(ys), 0.0)
    y_hi = y_hi * 1.08 if y_hi > 0 else 1.0
    y_lo = min(min(ys), 0.0)
    x0, x1, y0, y1 = left, width - right, height - bottom, top

    def px(x: float) -> float:
        return round(x0 + (x - x_lo) / (x_hi - x_lo) * (x1 - x0), 1)

    def py(y: float) -> float:
        return round(y0 - (y - y_lo) / (y_hi - y_lo) * (y0 - y1), 1)

    fmt = {"rate": fmt_bytes_rate, "ms": fmt_ms}.get(y_format, lambda v: f"{v:.3g}")
    y_ticks = tuple(Tick(py(v), fmt(v)) for v in _ticks(y_lo, y_hi, 5))
    if x_categories:
        x_ticks = tuple(Tick(px(i), c) for i, c in enumerate(x_categories))
    else:
        x_ticks = tuple(Tick(px(v), f"{v:g}") for v in _ticks(x_lo, x_hi, 8))
    lines = []
    for i, (label, s, dashed) in enumerate(series):
        if not s:
            continue
        coords = [(px(x), py(y)) for x, y in thin(s)]
        lines.append(
            Line(
                label=label,
                color=PALETTE[(i // max(lines_per_color, 1)) % len(PALETTE)],
                points=" ".join(f"{x},{y}" for x, y in coords),
                dashed=dashed,
                markers=tuple(coords) if len(coords) <= 12 else (),
            )
        )
    shaded = tuple(Band(px(max(a, x_lo)), px(min(b, x_hi)), label)
                   for a, b, label in bands if min(b, x_hi) > max(a, x_lo))
    return Chart(chart_id, title, width, height, x0, y1, x1, y0, x_ticks, y_ticks, tuple(lines),
                 x_label, y_label, False, shaded)
