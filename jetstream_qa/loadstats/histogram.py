"""A mergeable, unrounded distribution of samples (latencies in ms, throughputs in B/s).

Theory of operation. Locust rounds response times before it stores them (two significant
digits above 100 ms), so its percentiles cannot back a threshold like "p95 < 50 ms" near the
edge, and they cannot be merged exactly. :class:`Histogram` keeps two views of the same
samples:

- the raw samples, exactly as recorded, while there are at most ``raw_limit`` of them; then
  every percentile is exact (nearest-rank definition, see :meth:`Histogram.percentile`);
- a sparse log-linear histogram (HDR-like): a sample ``v > 0`` with ``v = m * 2**e``
  (``0.5 <= m < 1``) falls in bucket ``e * SUB_BUCKETS + floor((m - 0.5) * 2 * SUB_BUCKETS)``,
  so each bucket is at most ``1 / SUB_BUCKETS`` (about 0.1 %) wide relative to its value.
  Buckets are counters, so merging is addition and never loses precision beyond the bucket.

Merging concatenates raw samples while the total stays under the limit; once either side has
dropped its raw samples, or the total exceeds the limit, the merged histogram answers from the
buckets alone (relative error below ``1 / (2 * SUB_BUCKETS)``, clamped to the exact min/max).
The serialised form (:meth:`Histogram.to_dict`) is plain JSON/msgpack data, so Locust workers
can ship a histogram to the master inside ``report_to_master``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["DEFAULT_RAW_LIMIT", "SUB_BUCKETS", "Histogram"]

SUB_BUCKETS: Final = 1024
"""Buckets per power of two: relative bucket width <= 1/1024 (~0.1 %)."""
DEFAULT_RAW_LIMIT: Final = 200_000
"""Raw samples kept (exact percentiles) before answering from buckets only."""


def _bucket_of(value: float) -> int:
    mantissa, exponent = math.frexp(value)
    sub = min(int((mantissa - 0.5) * 2 * SUB_BUCKETS), SUB_BUCKETS - 1)
    return exponent * SUB_BUCKETS + sub


def _bucket_mid(key: int) -> float:
    exponent, sub = divmod(key, SUB_BUCKETS)
    width = 0.5 / SUB_BUCKETS
    return math.ldexp(0.5 + (sub + 0.5) * width, exponent)


class Histogram:
    """Accumulates non-negative float samples; exact percentiles while small, ~0.05 % after.

    Args:
        raw_limit: keyword-only; how many raw samples to keep before relying on buckets.

    Raises:
        ValueError: on a negative, NaN or infinite sample (``record``), or malformed data
            (``from_dict``).
    """

    __slots__ = ("_buckets", "_raw", "_raw_limit", "_zero", "count", "max", "min", "sum")

    def __init__(self, *, raw_limit: int = DEFAULT_RAW_LIMIT) -> None:
        if raw_limit < 0:
            raise ValueError(f"raw_limit must be >= 0, got {raw_limit}")
        self._raw_limit = raw_limit
        self._raw: list[float] | None = []
        self._buckets: dict[int, int] = {}
        self._zero = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    # --- recording ----------------------------------------------------------------------
    def record(self, value: float) -> None:
        """Add one sample (a finite number >= 0)."""
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"histogram sample must be finite and >= 0, got {value!r}")
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if value == 0.0:
            self._zero += 1
        else:
            key = _bucket_of(value)
            self._buckets[key] = self._buckets.get(key, 0) + 1
        if self._raw is not None:
            if len(self._raw) < self._raw_limit:
                self._raw.append(value)
            else:
                self._raw = None

    def record_many(self, values: Iterable[float]) -> None:
        """Add every sample of ``values``."""
        for value in values:
            self.record(value)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s samples to this histogram (``other`` is left unchanged)."""
        if other.count == 0:
            return
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self._zero += other._zero
        for key, n in other._buckets.items():
            self._buckets[key] = self._buckets.get(key, 0) + n
        if self._raw is None or other._raw is None:
            self._raw = None
        elif len(self._raw) + len(other._raw) <= self._raw_limit:
            self._raw.extend(other._raw)
        else:
            self._raw = None

    # --- reading ------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """True while every recorded sample is kept, i.e. percentiles are exact."""
        return self._raw is not None

    @property
    def mean(self) -> float | None:
        """Arithmetic mean, or None when empty."""
        return self.sum / self.count if self.count else None

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile: the smallest sample with at least ``p`` % of
        samples at or below it (``p`` in 0..100; 0 gives the minimum). None when empty.

        Raises:
            ValueError: ``p`` outside 0..100.
        """
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be within 0..100, got {p!r}")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * self.count))
        if self._raw is not None:
            return sorted(self._raw)[rank - 1]
        return self._bucket_percentile(rank)

    def _bucket_percentile(self, rank: int) -> float:
        if rank <= self._zero:
            return 0.0
        seen = self._zero
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen >= rank:
                return min(max(_bucket_mid(key), self.min), self.max)
        return self.max

    def percentiles(self, ps: Iterable[float]) -> dict[str, float | None]:
        """``{"p50": x, ...}`` for each ``p`` (formatted without a trailing ``.0``)."""
        return {f"p{p:g}": self.percentile(p) for p in ps}

    # --- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/msgpack-safe) that :meth:`from_dict` turns back into an equal
        histogram."""
        return {
            "count": self.count,
            "sum": self.sum,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "zero": self._zero,
            "buckets": [[k, n] for k, n in sorted(self._buckets.items())],
            "raw": None if self._raw is None else list(self._raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, raw_limit: int = DEFAULT_RAW_LIMIT
                  ) -> Histogram:
        """Rebuild a histogram from :meth:`to_dict` output.

        Raises:
            ValueError: the data is inconsistent (counts do not add up, bad types).
        """
        try:
            hist = cls(raw_limit=raw_limit)
            hist.count = int(data["count"])
            hist.sum = float(data["sum"])
            hist._zero = int(data["zero"])
            hist._buckets = {int(k): int(n) for k, n in data["buckets"]}
            raw = data["raw"]
            hist._raw = None if raw is None or len(raw) > raw_limit else [float(v) for v in raw]
            if hist.count:
                hist.min, hist.max = float(data["min"]), float(data["max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed histogram data: {exc}") from exc
        if hist._zero + sum(hist._buckets.values()) != hist.count or (
            hist._raw is not None and len(hist._raw) != hist.count
        ):
            raise ValueError("malformed histogram data: counts do not add up")
        return hist

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        mine, theirs = self.to_dict(), other.to_dict()
        for data in (mine, theirs):
            if data["raw"] is not None:
                data["raw"].sort()
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, exact={self.exact})"
