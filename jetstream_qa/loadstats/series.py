"""Time series of a load test: goodput (bytes delivered per second) and latency percentiles.

Both are keyed by whole windows of wall-clock time (``floor(epoch_seconds / window_s)``), so
series recorded on different Locust workers line up and merge by adding bins. A transfer's
bytes are spread uniformly over the windows its ``[start, end]`` interval overlaps: a client
sees a transfer only as a whole, and spreading keeps a 1 GiB file from appearing as a one-second
spike. Totals are exact whatever the spreading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jetstream_qa.loadstats.histogram import Histogram

__all__ = ["GoodputSeries", "LatencySeries"]


def _check_window(window_s: float) -> float:
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number, got {window_s!r}")
    return float(window_s)


class GoodputSeries:
    """Bytes delivered per time window, per scenario.

    Args:
        window_s: keyword-only; window width in seconds (default 1).
    """

    __slots__ = ("_bins", "window_s")

    def __init__(self, *, window_s: float = 1.0) -> None:
        self.window_s = _check_window(window_s)
        self._bins: dict[int, dict[str, float]] = {}

    def add(self, scenario: str, *, start: float, end: float, nbytes: int) -> None:
        """Spread ``nbytes`` delivered by one transfer of ``scenario`` over ``[start, end]``
        (epoch seconds).

        Raises:
            ValueError: ``nbytes < 0`` or ``end < start``.
        """
        if nbytes < 0 or end < start:
            raise ValueError(f"bad transfer: nbytes={nbytes}, start={start}, end={end}")
        first, last = int(start // self.window_s), int(end // self.window_s)
        if first == last or end == start:
            self._add_bin(last, scenario, float(nbytes))
            return
        span = end - start
        for index in range(first, last + 1):
            lo = max(start, index * self.window_s)
            hi = min(end, (index + 1) * self.window_s)
            if hi > lo:
                self._add_bin(index, scenario, nbytes * (hi - lo) / span)

    def _add_bin(self, index: int, scenario: str, amount: float) -> None:
        row = self._bins.setdefault(index, {})
        row[scenario] = row.get(scenario, 0.0) + amount

    def merge(self, other: GoodputSeries) -> None:
        """Add ``other``'s bins (same window width) into this series.

        Raises:
            ValueError: the window widths differ.
        """
        if other.window_s != self.window_s:
            raise ValueError(f"cannot merge windows {other.window_s} s into {self.window_s} s")
        for index, row in other._bins.items():
            for scenario, amount in row.items():
                self._add_bin(index, scenario, amount)

    def total_bytes(self) -> float:
        """Every byte recorded, all scenarios."""
        return sum(sum(row.values()) for row in self._bins.values())

    def samples(self, *, start: float, end: float,
                scenario: str | None = None) -> list[float]:
        """Bytes/s of every window in ``[start, end)`` (epoch s, window-aligned), empty
        windows as 0: the per-second samples of a measured window (one scenario or all)."""
        first, last = round(start / self.window_s), round(end / self.window_s)
        out = []
        for index in range(first, last):
            row = self._bins.get(index, {})
            amount = sum(row.values()) if scenario is None else row.get(scenario, 0.0)
            out.append(amount / self.window_s)
        return out

    def bytes_between(self, start: float, end: float) -> float:
        """Bytes recorded in the windows of ``[start, end)`` (window-aligned epoch s)."""
        first, last = round(start / self.window_s), round(end / self.window_s)
        return sum(sum(row.values()) for index, row in self._bins.items()
                   if first <= index < last)

    def rows(self, *, t0: float, t1: float) -> list[dict[str, Any]]:
        """One row per window from ``t0`` to ``t1`` (epoch s), empty windows included:
        ``{"t": seconds since t0, "bytesPerSecond": x, "byScenario": {name: x}}``.
        Bytes recorded outside ``[t0, t1]`` land in the first or last row."""
        if t1 < t0:
            raise ValueError(f"t1 {t1} before t0 {t0}")
        first, last = int(t0 // self.window_s), int(t1 // self.window_s)
        clamped: dict[int, dict[str, float]] = {}
        for source, data in self._bins.items():
            row = clamped.setdefault(max(first, min(last, source)), {})
            for scenario, amount in data.items():
                row[scenario] = row.get(scenario, 0.0) + amount
        rows: list[dict[str, Any]] = []
        for index in range(first, last + 1):
            rate = {name: amount / self.window_s
                    for name, amount in sorted(clamped.get(index, {}).items())}
            rows.append({"t": round(max(0.0, index * self.window_s - t0), 6),
                         "bytesPerSecond": sum(rate.values()), "byScenario": rate})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``report_to_master``."""
        return {"windowS": self.window_s,
                "bins": [[i, dict(row)] for i, row in sorted(self._bins.items())]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GoodputSeries:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: malformed data.
        """
        try:
            series = cls(window_s=float(data["windowS"]))
            for index, row in data["bins"]:
                for scenario, amount in row.items():
                    series._add_bin(int(index), str(scenario), float(amount))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed goodput series: {exc}") from exc
        return series


class LatencySeries:
    """Per-window latency histograms of one request key (p50/p95 over time).

    Args:
        window_s: keyword-only; window width in seconds.
        raw_limit: keyword-only; raw samples kept per window (buckets beyond).
    """

    __slots__ = ("_raw_limit", "_windows", "window_s")

    def __init__(self, *, window_s: float = 1.0, raw_limit: int = 2000) -> None:
        self.window_s = _check_window(window_s)
        self._raw_limit = raw_limit
        self._windows: dict[int, Histogram] = {}

    def record(self, at: float, value: float) -> None:
        """Add ``value`` observed at epoch second ``at``."""
        index = int(at // self.window_s)
        hist = self._windows.get(index)
        if hist is None:
            hist = self._windows[index] = Histogram(raw_limit=self._raw_limit)
        hist.record(value)

    def merge(self, other: LatencySeries) -> None:
        """Merge ``other``'s windows into this series."""
        for index, hist in other._windows.items():
            mine = self._windows.get(index)
            if mine is None:
                mine = self._windows[index] = Histogram(raw_limit=self._raw_limit)
            mine.merge(hist)

    def rows(self, *, t0: float) -> list[dict[str, Any]]:
        """``[{"t": seconds since t0, "p50": ms, "p95": ms}]`` for windows with samples."""
        return [{"t": round(max(0.0, i * self.window_s - t0), 6),
                 "p50": h.percentile(50), "p95": h.percentile(95)}
                for i, h in sorted(self._windows.items())]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``report_to_master``."""
        return {"windowS": self.window_s,
                "windows": [[i, h.to_dict()] for i, h in sorted(self._windows.items())]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, raw_limit: int = 2000) -> LatencySeries:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: malformed data.
        """
        try:
            series = cls(window_s=float(data["windowS"]), raw_limit=raw_limit)
            for index, hist in data["windows"]:
                series._windows[int(index)] = Histogram.from_dict(hist, raw_limit=raw_limit)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed latency series: {exc}") from exc
        return series
