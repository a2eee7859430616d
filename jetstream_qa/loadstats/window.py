"""The measured window of a load run and its steady-state goodput with a confidence interval.

Theory of operation. A run's goodput series has three parts: **ramp-up** (from the start of
the run to the first transfer, while users connect; plus ``--js-warmup`` seconds after it
while the users are still being spawned), the **measured window**, and **ramp-down** (from
the last full second before the users were told to stop to the end of the run, while
in-flight transfers are settled). Only the window's per-second samples make the gating
number, so neither our own set-up (file sets, connections) nor the stop is in it; iperf3's
``--omit`` does the same for TCP slow start.

The window is aligned to whole series windows (``window_s``, 1 s by default): it starts at
the first window boundary at or after ``first transfer start + warmup`` and ends at the last
boundary at or before the stop, so every sample in it is a complete second of work. A
transfer cancelled at stop counts the bytes the receiver had acknowledged (``blocksAcked``
of its Transfer structure), spread over the seconds it ran; when a server does not say, its
bytes never count and those seconds would look slow, so the caller then passes as ``stop``
the earlier of the stop and that transfer's start (those seconds are ramp-down).

Where the ramp ends is not always the spawn time: on a disk-backed pair the first seconds
can run from the page cache (measured on the 2-core CI machine at scale 1.0: 1.3-1.8 GB/s for
about 10 s, then 200-300 MB/s once dirty-page write-back throttles; the reference receiver
now bounds its dirty data per file, a server under test may not). With the automatic
warm-up (no ``--js-warmup``) the window's start is moved further by the **MSER-5** rule
(White 1997, "An effective truncation heuristic for bias reduction in simulation output";
the usual warm-up detector of simulation output analysis): cut the samples into batches of
5, and drop the ``d`` leading batches (``d <= k/2``) that minimise
``sum((batch_j - mean)^2) / (k - d)^2`` over the remaining ``k - d`` batches. A stationary
run loses nothing; a run that settles late loses its transient.

Uncertainty: consecutive seconds are correlated (a 1 GiB transfer spreads its bytes over
several seconds), so the samples are not independent and ``s / sqrt(n)`` would be too
narrow. The interval is computed by **non-overlapping batch means** (Law & Kelton,
*Simulation Modeling and Analysis*, ch. 9.5.3): the ``n`` samples are cut into ``b`` batches
of ``m = max(2, ceil(n / 10))`` consecutive seconds, and the interval is
``mean +/- t(0.975, b - 1) * sd(batch means) / sqrt(b)``. Batches of several seconds are far
less correlated than single seconds, and ``b - 1`` degrees of freedom make the t quantile
honest for the few batches a short run has. It was chosen over a block bootstrap because it
is deterministic (no resampling seed), closed-form, and a bootstrap with 10-60 samples
needs a block length just like batch means needs a batch size, with a noisier percentile.
The lag-1 autocorrelation of the batch means is reported: near 0 the batches are
independent enough; clearly positive means the interval is too narrow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MeasuredWindow", "SteadyGoodput", "batch_means", "measured_window",
           "mser_truncation", "steady_goodput", "steady_state", "t_quantile_975"]

_T975: Final = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
"""Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (standard table)."""
CONFIDENCE: Final = 0.95


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table up to 30,
    then ``1.96 + 2.4 / df``, within 0.003 of the exact value for df > 30).

    Raises:
        ValueError: ``df < 1``.
    """
    if df < 1:
        raise ValueError(f"t quantile needs df >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.959964 + 2.4 / df


@dataclass(frozen=True, slots=True)
class MeasuredWindow:
    """Where the gating number comes from (epoch seconds, aligned to series windows).

    ``start``/``end`` bound the window (``end <= start``: empty, ``note`` says why);
    ``first_transfer`` is when the first transfer started; ``stop`` when the users were
    told to stop; ``warmup_s`` the ramp skipped after the first transfer.
    """

    start: float
    end: float
    first_transfer: float | None
    stop: float
    warmup_s: float
    note: str = ""
    transient_s: float = 0.0
    """Seconds MSER-5 removed after the warm-up (automatic warm-up only)."""

    @property
    def duration(self) -> float:
        """Seconds inside the window (0 when empty)."""
        return max(0.0, self.end - self.start)

    def to_dict(self, *, t0: float) -> dict[str, Any]:
        """The report's ``goodput.window``: seconds since ``t0`` (the run's start)."""
        first = None if self.first_transfer is None else self.first_transfer - t0
        return {"startS": round(self.start - t0, 6), "endS": round(self.end - t0, 6),
                "durationS": round(self.duration, 6), "warmupS": self.warmup_s,
                "firstTransferS": None if first is None else round(first, 6),
                "stopS": round(self.stop - t0, 6), "transientS": self.transient_s,
                "rule": "first transfer start + warmup" + (" + MSER-5 transient"
                                                           if self.transient_s else "")
                        + ", to the last full second before stop",
                "note": self.note}

    def trimmed(self, seconds: float) -> MeasuredWindow:
        """This window with its first ``seconds`` left out as a detected transient."""
        return MeasuredWindow(min(self.end, self.start + seconds), self.end,
                              self.first_transfer, self.stop, self.warmup_s, self.note,
                              seconds)


def measured_window(*, first_transfer: float | None, stop: float, warmup_s: float,
                    window_s: float = 1.0) -> MeasuredWindow:
    """The window from ``first_transfer + warmup_s`` (rounded up to a window boundary) to
    ``stop`` (rounded down). Without a transfer, or when the two cross, the window is empty
    and ``note`` says why.

    Raises:
        ValueError: negative ``warmup_s`` or non-positive ``window_s``.
    """
    if warmup_s < 0 or window_s <= 0:
        raise ValueError(f"bad window: warmup {warmup_s}, width {window_s}")
    end = math.floor(stop / window_s) * window_s
    if first_transfer is None:
        return MeasuredWindow(end, end, None, stop, warmup_s, "no transfer started")
    start = math.ceil((first_transfer + warmup_s) / window_s) * window_s
    note = "" if end > start else (f"run too short: no full second between the first "
                                   f"transfer + {warmup_s:g} s warm-up and the stop")
    return MeasuredWindow(start, max(start, end), first_transfer, stop, warmup_s, note)


@dataclass(frozen=True, slots=True)
class SteadyGoodput:
    """Steady-state goodput of one window: mean of its per-second samples (bytes/s) with a
    95 % batch-means confidence interval (``ci_low``/``ci_high`` None with fewer than 2
    batches)."""

    mean: float
    samples: tuple[float, ...]
    batches: tuple[float, ...]
    batch_size: int
    ci_low: float | None
    ci_high: float | None
    batch_lag1: float | None
    state: str = ""
    """:func:`steady_state`'s verdict on the window ("reached", "not reached: ...",
    "unknown: ..."); empty when it was not asked."""

    def to_dict(self) -> dict[str, Any]:
        """The report's ``goodput.steady``."""
        half = None if self.ci_low is None or self.ci_high is None else \
            (self.ci_high - self.ci_low) / 2.0
        return {"meanBytesPerSecond": self.mean, "ciLow": self.ci_low,
                "ciHigh": self.ci_high, "ciHalfWidth": half, "confidence": CONFIDENCE,
                "method": "batch-means", "batchSize": self.batch_size,
                "batchMeans": list(self.batches), "batchLag1": self.batch_lag1,
                "samples": len(self.samples), "steadyState": self.state}


def mser_truncation(samples: Sequence[float], *, batch: int = 5) -> int:
    """Leading samples MSER-``batch`` drops as the transient (a multiple of ``batch``; 0
    with fewer than two full batches). See the module docstring."""
    k = len(samples) // batch
    if k < 2:
        return 0
    means = [sum(samples[i * batch:(i + 1) * batch]) / batch for i in range(k)]
    best, best_d = math.inf, 0
    for d in range(k // 2 + 1):
        rest = means[d:]
        mean = sum(rest) / len(rest)
        score = sum((m - mean) ** 2 for m in rest) / len(rest) ** 2
        if score < best - 1e-12 * abs(best if math.isfinite(best) else 0.0):
            best, best_d = score, d
    return best_d * batch


_T995: Final = (63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169,
                3.106, 3.055, 3.012, 2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845)
"""Two-sided 99 % quantiles of Student's t for 1..20 degrees of freedom (standard table)."""


def steady_state(samples: Sequence[float]) -> str:
    """Whether the window's goodput is the same in its first and second half.

    The window's batch means (:func:`batch_means`) are split into halves and compared with
    Welch's t at 99 % (batches, not seconds, since seconds are correlated). A difference
    means the run is still settling (or drifting) inside the window, so its mean is not a
    steady-state figure however narrow its interval: the usual answer is a longer run.
    Simulated (2,000 seeded stationary windows of 10-57 s at 10 % noise): flagged in
    0.05-1.0 % of them. A page-cache burst over the first ~60 % of the window (500 seeds):
    flagged in 0 % at 10 s, 8 % at 20 s, 69 % at 31 s, 100 % at 57 s -- a short window
    cannot tell a transient from a level, which is why "reached" is not a promise there.

    Returns:
        ``"reached"``, ``"not reached: ..."`` or ``"unknown: ..."`` (with the reason).
    """
    _, batches = batch_means(samples)
    half = len(batches) // 2
    if half < 2:
        return (f"unknown: {len(samples)} s in the window, too short to compare its two "
                "halves (at least 4 batches are needed)")
    first, second = batches[:half], batches[-half:]
    m1, m2 = sum(first) / half, sum(second) / half
    v1 = sum((b - m1) ** 2 for b in first) / (half - 1)
    v2 = sum((b - m2) ** 2 for b in second) / (half - 1)
    se = math.sqrt((v1 + v2) / half)
    if _flat(batches):
        return _FLAT
    if se == 0:
        return "not reached: the two halves differ"
    df = (v1 + v2) ** 2 / ((v1 ** 2 + v2 ** 2) / (half - 1)) if v1 + v2 else 1.0
    t = abs(m1 - m2) / se
    quantile = _T995[min(len(_T995), max(1, int(df))) - 1]
    if t > quantile:
        return (f"not reached: the window's first half averages {m1:.4g} B/s and its second "
                f"{m2:.4g} B/s (Welch t {t:.1f} > {quantile}); run longer")
    return "reached"


_FLAT: Final = ("unknown: every batch of the window has the same goodput, as when the "
                "window lies inside transfers that span it (a transfer's bytes are spread "
                "evenly over the seconds it ran): its seconds cannot show the variation, so "
                "there is no interval; run longer than a transfer takes")


def _flat(batches: Sequence[float]) -> bool:
    """All batch means equal (to rounding): the seconds carry no information on noise."""
    top = max(abs(b) for b in batches) if batches else 0.0
    return len(batches) >= 2 and max(batches) - min(batches) <= 1e-9 * top


def batch_means(samples: Sequence[float]) -> tuple[int, list[float]]:
    """Batch size ``m = max(2, ceil(n / 10))`` (1 for fewer than 4 samples) and the means of
    the ``n // m`` full batches of consecutive samples (a short tail is left out)."""
    n = len(samples)
    size = 1 if n < 4 else max(2, math.ceil(n / 10))
    return size, [sum(samples[i:i + size]) / size for i in range(0, n - size + 1, size)]


def _lag1(values: Sequence[float]) -> float | None:
    if len(values) < 3:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values)
    if var == 0:
        return None
    return sum((values[i] - mean) * (values[i + 1] - mean)
               for i in range(len(values) - 1)) / var


def steady_goodput(samples: Sequence[float]) -> SteadyGoodput | None:
    """Mean and batch-means 95 % interval of the window's per-second samples (see the module
    docstring); None without samples. No interval when the batch means are all equal: such
    a window lies inside transfers spanning it, and a zero-width interval would claim a
    precision the seconds do not have."""
    if not samples:
        return None
    values = [float(v) for v in samples]
    mean = sum(values) / len(values)
    size, batches = batch_means(values)
    low = high = None
    if len(batches) >= 2 and not _flat(batches):
        bmean = sum(batches) / len(batches)
        sd = math.sqrt(sum((b - bmean) ** 2 for b in batches) / (len(batches) - 1))
        half = t_quantile_975(len(batches) - 1) * sd / math.sqrt(len(batches))
        low, high = mean - half, mean + half
    return SteadyGoodput(mean, tuple(values), tuple(batches), size, low, high, _lag1(batches))
