"""Noise-aware comparison of a metric against a baseline (pure; no pytest, no locust).

Theory of operation (``docs/review.md`` "Baselines" restates it for readers of the report):
each metric is a list of samples, one per repeated load run (``--repeat N``). A new value is
compared with the baseline's *spread*, not with a single number:

1. ``band = max(k * 1.4826 * pooled MAD, rel_floor * |median(baseline)|, abs_floor)`` where
   the pooled MAD is the median absolute deviation of every sample from its own side's median
   (1.4826 * MAD estimates the standard deviation of normal noise and is robust to outliers;
   pooling both sides steadies the estimate when each has only 3-5 runs; the floors stop runs
   with one sample or zero spread from flagging every wobble);
2. the metric *moved* when ``|median(current) - median(baseline)| > band``;
3. when both sides have at least ``min_test_samples`` samples, a move also needs a two-sided
   Mann-Whitney U test with ``p < alpha`` (exact distribution when there are no ties and the
   samples are small, normal approximation with tie correction otherwise), so a few noisy runs
   cannot carry a median across the band alone; with 2 or 3 baseline samples (too few for
   the test) a move also needs the new median to lie outside the range of the baseline's own
   runs;
4. a move in the metric's worse direction is a REGRESSION, in its better one an IMPROVEMENT.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from jetstream_qa.errors import UsageError

__all__ = [
    "Direction",
    "MetricComparison",
    "Movement",
    "compare_samples",
    "mad",
    "mann_whitney_u",
    "median",
    "pooled_mad",
]

MAD_TO_SIGMA = 1.4826
"""Scale factor making the MAD a consistent estimator of sigma for normal data."""


class Direction(enum.Enum):
    """Which way is better for a metric."""

    HIGHER = "higher"
    LOWER = "lower"


class Movement(enum.Enum):
    """Outcome of comparing a metric with its baseline."""

    REGRESSION = "REGRESSION"
    IMPROVEMENT = "IMPROVEMENT"
    UNCHANGED = "UNCHANGED"
    NEW = "NEW"
    """No baseline samples for this metric."""
    MISSING = "MISSING"
    """The baseline has the metric, this run does not."""


def median(values: Sequence[float]) -> float:
    """Median of ``values``.

    Raises:
        UsageError: ``values`` is empty.
    """
    if not values:
        raise UsageError("median of no values")
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled); 0 for one value."""
    m = median(values)
    return median([abs(v - m) for v in values])


def pooled_mad(a: Sequence[float], b: Sequence[float]) -> float:
    """Median absolute deviation of each sample from its own side's median, both sides pooled.

    Raises:
        UsageError: both samples empty.
    """
    residuals: list[float] = []
    for side in (a, b):
        if side:
            m = median(side)
            residuals.extend(abs(v - m) for v in side)
    return median(residuals)


@lru_cache(maxsize=256)
def _exact_u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """Number of arrangements giving each U = 0..n1*n2 (no ties), by recurrence."""
    # f(n1, n2, u) = f(n1-1, n2, u-n2) + f(n1, n2-1, u)
    table = [[[0] * (n1 * n2 + 1) for _ in range(n2 + 1)] for _ in range(n1 + 1)]
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            if i == 0 or j == 0:
                table[i][j][0] = 1
                continue
            for u in range(i * j + 1):
                a = table[i - 1][j][u - j] if u - j >= 0 else 0
                b = table[i][j - 1][u] if u <= (i * (j - 1)) else 0
                table[i][j][u] = a + b
    return tuple(table[n1][n2])


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test of ``a`` against ``b``.

    Returns:
        ``(U_a, p)``: U statistic of ``a`` and the two-sided p-value. Exact when there are no
        ties and ``len(a) + len(b) <= 40``; otherwise the normal approximation with tie and
        continuity correction.

    Raises:
        UsageError: either sample is empty.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise UsageError("Mann-Whitney U needs two non-empty samples")
    ranks, ties = _ranks([*a, *b])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    if not ties and n1 + n2 <= 40:
        counts = _exact_u_counts(n1, n2)
        total = sum(counts)
        u_small = round(min(u1, n1 * n2 - u1))
        p = 2.0 * sum(counts[: u_small + 1]) / total
        return u1, min(1.0, p)
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:
        return u1, 1.0
    z = (abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(var)
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return u1, min(1.0, p)


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """Result of :func:`compare_samples` for one metric (all fields JSON-ready)."""

    movement: Movement
    baseline_median: float | None
    current_median: float | None
    band: float | None
    relative_change: float | None
    p_value: float | None
    method: str


def compare_samples(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    better: Direction,
    k: float = 3.0,
    rel_floor: float = 0.10,
    abs_floor: float = 0.0,
    alpha: float = 0.05,
    min_test_samples: int = 4,
) -> MetricComparison:
    """Decide whether ``current`` regressed or improved against ``baseline`` (see module doc).

    Args:
        baseline: samples of the stored baseline (one per repeated run).
        current: samples of this run.
        better: which direction is an improvement.
        k: band width in robust standard deviations.
        rel_floor: smallest band as a fraction of the baseline median.
        abs_floor: smallest band in the metric's unit.
        alpha: significance level of the rank test.
        min_test_samples: samples each side needs before the rank test is applied.

    Raises:
        UsageError: a negative ``k``, floor or an ``alpha`` outside (0, 1).
    """
    if k < 0 or rel_floor < 0 or abs_floor < 0 or not 0 < alpha < 1:
        raise UsageError(f"bad comparison parameters k={k} floors={rel_floor},{abs_floor}")
    if not current:
        b_med = median(baseline) if baseline else None
        return MetricComparison(Movement.MISSING, b_med, None, None, None, None, "none")
    c_med = median(current)
    if not baseline:
        return MetricComparison(Movement.NEW, None, c_med, None, None, None, "none")
    b_med = median(baseline)
    band = max(k * MAD_TO_SIGMA * pooled_mad(baseline, current), rel_floor * abs(b_med),
               abs_floor)
    delta = c_med - b_med
    rel = delta / abs(b_med) if b_med else None
    p_value = None
    method = "band"
    moved = abs(delta) > band
    if len(baseline) >= min_test_samples and len(current) >= min_test_samples:
        _, p_value = mann_whitney_u(current, baseline)
        method = "band+mann-whitney"
        moved = moved and p_value < alpha
    elif len(baseline) > 1:
        # Too few runs for a rank test: the new median must also leave the range the
        # baseline's own runs covered, so one slow baseline run cannot make the band narrow
        # and an ordinary run look like a regression.
        method = "band+range"
        moved = moved and not min(baseline) <= c_med <= max(baseline)
    if not moved:
        movement = Movement.UNCHANGED
    elif (delta < 0) == (better is Direction.HIGHER):
        movement = Movement.REGRESSION
    else:
        movement = Movement.IMPROVEMENT
    return MetricComparison(movement, b_med, c_med, band, rel, p_value, method)
