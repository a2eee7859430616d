"""reports/load.json: the merged recorder turned into the shared report shape.

Shape (``/tmp/brief.md``, "Shared facts"; schema ``jetstream-qa/load/1``)::

    {"schema", "environment", "settings", "startedAt", "endedAt", "problems": [str],
     "goodput": {"totalBytes", "elapsedS", "meanBytesPerSecond", "series": [...],
                 "window": {"startS", "endS", "durationS", "warmupS", "firstTransferS",
                            "stopS", "rule", "note"},
                 "steady": {"meanBytesPerSecond", "ciLow", "ciHigh", "ciHalfWidth",
                            "confidence", "method", "batchSize", "batchMeans",
                            "batchLag1", "samples", "steadyState"} | null,
                 "rampUp": {"startS", "endS", "bytes", "meanBytesPerSecond"},
                 "rampDown": {"startS", "endS", "bytes", "meanBytesPerSecond"},
                 "byScenario": {name: {"totalBytes", "meanBytesPerSecond",
                                       "steadyBytesPerSecond"}}},
     "transfers": {"count", "failures", "cancelledAtStop", "cancelledAtStopPaths",
                   "cancelledAtStopAckedBytes",
                   "throughputBytesPerSecond": {p50, p90, p95, p99, min, max}},
     "latency": {"<type> <name>": {count, failures, p50, p90, p95, p99, max, series}},
     "errors": [{name, error, occurrences}], "serverCounters": {...}, "checks": [...]}

Latencies are milliseconds, unrounded (the recorder's own histograms, not Locust's rounded
ones). ``goodput.meanBytesPerSecond`` is ``totalBytes / elapsedS`` where ``elapsedS`` is
``endedAt - startedAt`` (ramp-up and ramp-down included: kept for comparison only).
``goodput.steady`` is the gating number: the mean of the per-second samples inside
``goodput.window`` with its batch-means confidence interval (:mod:`.window`); seconds are
relative to ``startedAt``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping
from typing import Any, Final

from jetstream_qa.loadstats.histogram import Histogram
from jetstream_qa.loadstats.recorder import LoadRecorder
from jetstream_qa.loadstats.window import (
    MeasuredWindow,
    SteadyGoodput,
    measured_window,
    mser_truncation,
    steady_goodput,
    steady_state,
)

__all__ = ["REPORT_SCHEMA", "RunMetrics", "build_load_report", "iso"]

REPORT_SCHEMA: Final = "jetstream-qa/load/1"
_PS: Final = (50, 90, 95, 99)


def iso(epoch_s: float) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2026-11-27T07:00:00.123456+00:00``."""
    return _dt.datetime.fromtimestamp(epoch_s, tz=_dt.UTC).isoformat(timespec="microseconds")


class RunMetrics:
    """The metrics thresholds read (:class:`~.thresholds.MetricSource`), over a recorder.

    Args:
        recorder: the merged recorder of the run.
        started, ended: keyword-only; epoch seconds of the run's start and end.
        stop: keyword-only; epoch second the users were told to stop (default ``ended``).
        warmup_s: keyword-only; ramp skipped after the first transfer start.
        detect_transient: keyword-only; also drop the transient MSER-5 finds after the
            warm-up (the automatic warm-up, :func:`.window.mser_truncation`).
        server_counters: keyword-only; summed counters of the run's transfers (may be empty).
    """

    def __init__(self, recorder: LoadRecorder, *, started: float, ended: float,
                 stop: float | None = None, warmup_s: float = 0.0,
                 detect_transient: bool = False,
                 server_counters: Mapping[str, Any] | None = None) -> None:
        if ended < started:
            raise ValueError(f"run ends ({ended}) before it starts ({started})")
        self.recorder = recorder
        self.started, self.ended = started, ended
        self.server_counters = dict(server_counters or {})
        self.window: MeasuredWindow = measured_window(
            first_transfer=recorder.first_transfer_start,
            stop=min(ended, stop if stop is not None else ended,
                     recorder.first_cancelled_start or ended), warmup_s=warmup_s,
            window_s=recorder.goodput.window_s)
        untrimmed = recorder.goodput.samples(start=self.window.start, end=self.window.end)
        state = steady_state(untrimmed)
        if detect_transient and self.window.duration > 0:
            cut = mser_truncation(untrimmed)
            if cut:
                self.window = self.window.trimmed(cut * recorder.goodput.window_s)
        steady = steady_goodput(
            recorder.goodput.samples(start=self.window.start, end=self.window.end))
        self.steady: SteadyGoodput | None = \
            dataclasses.replace(steady, state=state) if steady else None

    @property
    def elapsed(self) -> float:
        """Seconds from start to end."""
        return self.ended - self.started

    def scenario_bytes(self) -> dict[str, float]:
        """Bytes delivered per scenario over the whole run."""
        totals: dict[str, float] = {}
        for row in self.recorder.goodput.to_dict()["bins"]:
            for scenario, amount in row[1].items():
                totals[scenario] = totals.get(scenario, 0.0) + amount
        return totals

    def goodput(self, scenario: str | None) -> float | None:
        """Steady-state bytes/s (mean over the measured window) of one scenario or all; the
        whole-run mean when the window is empty; None before any time elapsed."""
        if self.window.duration > 0:
            samples = self.recorder.goodput.samples(start=self.window.start,
                                                    end=self.window.end, scenario=scenario)
            return sum(samples) / len(samples)
        if self.elapsed <= 0:
            return None
        if scenario is None:
            return self.recorder.delivered_bytes / self.elapsed
        total = self.scenario_bytes().get(scenario)
        return None if total is None else total / self.elapsed

    def latency(self, key: str, stat: str) -> float | None:
        """``stat`` (``pNN``, ``avg``, ``min``, ``max``) of ``key``'s response times, ms."""
        stats = self.recorder.requests.get(key)
        if stats is None or stats.count == 0:
            return None
        hist = stats.latency
        if stat == "avg":
            return hist.mean
        if stat in ("min", "max"):
            return float(getattr(hist, stat))
        return hist.percentile(float(stat[1:]))

    def count(self, key: str) -> int:
        """Events of ``key`` (0 when never seen)."""
        stats = self.recorder.requests.get(key)
        return 0 if stats is None else stats.count

    def fail_ratio(self, key: str | None) -> float | None:
        """Failed / all events of ``key`` (or of every kind); None without events."""
        if key is None:
            total, failed = self.recorder.request_count, self.recorder.failure_count
        else:
            stats = self.recorder.requests.get(key)
            total, failed = (0, 0) if stats is None else (stats.count, stats.failures)
        return failed / total if total else None

    def throughput_percentile(self, p: float) -> float | None:
        """Per-transfer throughput percentile, bytes/s."""
        return self.recorder.throughput.percentile(p)

    def retransmit_ratio(self) -> float | None:
        """Server-side ``blocksRetransmitted / blocksSent`` of the run's transfers."""
        sent = self.server_counters.get("blocksSent")
        if not sent:
            return None
        return float(self.server_counters.get("blocksRetransmitted", 0)) / float(sent)


def _summary(hist: Histogram) -> dict[str, float | None]:
    out = hist.percentiles(_PS)
    out["min"] = hist.min if hist.count else None
    out["max"] = hist.max if hist.count else None
    return out


def _part(metrics: RunMetrics, start: float, end: float) -> dict[str, Any]:
    """Bytes and mean rate of ``[start, end)`` (a ramp), seconds since the run's start."""
    span = max(0.0, end - start)
    nbytes = metrics.recorder.goodput.bytes_between(start, end) if span else 0.0
    return {"startS": round(max(0.0, start - metrics.started), 6),
            "endS": round(end - metrics.started, 6),
            "bytes": nbytes, "meanBytesPerSecond": nbytes / span if span else None}


def _goodput(metrics: RunMetrics) -> dict[str, Any]:
    rec, elapsed, window = metrics.recorder, metrics.elapsed, metrics.window
    w = rec.goodput.window_s
    run_start = (metrics.started // w) * w
    run_end = (metrics.ended // w + 1) * w  # the window holding the end, included
    by_scenario = {}
    for name, total in sorted(metrics.scenario_bytes().items()):
        by_scenario[name] = {
            "totalBytes": total, "meanBytesPerSecond": total / elapsed if elapsed else None,
            "steadyBytesPerSecond": metrics.goodput(name) if window.duration else None}
    return {
        "totalBytes": rec.delivered_bytes,
        "elapsedS": elapsed,
        "meanBytesPerSecond": rec.delivered_bytes / elapsed if elapsed > 0 else None,
        "window": window.to_dict(t0=metrics.started),
        "steady": metrics.steady.to_dict() if metrics.steady else None,
        "rampUp": _part(metrics, run_start, window.start),
        "rampDown": _part(metrics, window.end, max(window.end, run_end)),
        "series": rec.goodput.rows(t0=metrics.started, t1=metrics.ended),
        "byScenario": by_scenario,
    }


def build_load_report(metrics: RunMetrics, *, environment: Mapping[str, Any],
                      settings: Mapping[str, Any], checks: list[dict[str, Any]],
                      problems: list[str] | None = None) -> dict[str, Any]:
    """The reports/load.json document (see the module docstring for the shape)."""
    rec = metrics.recorder
    latency = {}
    for key, stats in sorted(rec.requests.items()):
        entry: dict[str, Any] = {"count": stats.count, "failures": stats.failures}
        entry.update(stats.latency.percentiles(_PS))
        entry["max"] = stats.latency.max
        entry["mean"] = stats.latency.mean
        entry["exact"] = stats.latency.exact
        entry["series"] = rec.latency_series[key].rows(t0=metrics.started)
        latency[key] = entry
    return {
        "schema": REPORT_SCHEMA,
        "environment": dict(environment),
        "settings": dict(settings),
        "startedAt": iso(metrics.started),
        "endedAt": iso(metrics.ended),
        "problems": list(problems or ()),
        "goodput": _goodput(metrics),
        "transfers": {"count": rec.transfers, "failures": rec.transfer_failures,
                      "cancelledAtStop": rec.cancelled_at_stop,
                      "cancelledAtStopPaths": sorted(rec.cancelled_at_stop_paths),
                      "cancelledAtStopAckedBytes": rec.acked_at_stop_bytes,
                      "throughputBytesPerSecond": _summary(rec.throughput)},
        "latency": latency,
        "errors": [{"name": key, "error": error, "occurrences": n}
                   for (key, error), n in sorted(rec.errors.items(), key=lambda kv: -kv[1])],
        "serverCounters": dict(metrics.server_counters),
        "checks": list(checks),
    }
