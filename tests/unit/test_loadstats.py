"""Load statistics: unrounded, mergeable percentiles; goodput series; recorder deltas; report."""

from __future__ import annotations

import json
import math
import random

import pytest

from jetstream_qa.loadstats import (
    GoodputSeries,
    Histogram,
    LoadRecorder,
    RunMetrics,
    build_load_report,
)
from jetstream_qa.loadstats.histogram import SUB_BUCKETS


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


# --- histogram -------------------------------------------------------------------------
def test_histogram_percentiles_are_exact_and_unrounded_while_raw() -> None:
    values = [12.3456, 0.0123, 7.77777, 150.4321, 33.3]
    hist = Histogram()
    hist.record_many(values)
    assert hist.exact
    assert hist.percentile(50) == 12.3456
    assert hist.percentile(100) == 150.4321  # Locust would report 150
    assert hist.percentile(0) == 0.0123
    assert hist.mean == pytest.approx(sum(values) / 5)


def test_histogram_empty_answers_none() -> None:
    assert Histogram().percentile(95) is None
    assert Histogram().mean is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_histogram_rejects_bad_samples(bad: float) -> None:
    with pytest.raises(ValueError):
        Histogram().record(bad)


def test_histogram_rejects_percentile_outside_range() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        Histogram().percentile(101)


def test_histogram_bucket_mode_stays_within_relative_error() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(2, 1.5) for _ in range(5000)] + [0.0] * 10
    hist = Histogram(raw_limit=100)
    hist.record_many(values)
    assert not hist.exact
    for p in (1, 50, 90, 95, 99, 99.9, 100):
        exact = _nearest_rank(values, p)
        got = hist.percentile(p)
        assert got is not None
        assert abs(got - exact) <= exact / SUB_BUCKETS + 1e-12, (p, got, exact)
    assert hist.percentile(0.1) == 0.0


def test_merged_histograms_equal_one_histogram_of_all_samples() -> None:
    rng = random.Random(1)
    parts = [[rng.uniform(0.1, 500) for _ in range(300)] for _ in range(3)]
    merged = Histogram()
    for part in parts:
        worker = Histogram()
        worker.record_many(part)
        merged.merge(Histogram.from_dict(json.loads(json.dumps(worker.to_dict()))))
    whole = Histogram()
    whole.record_many(v for part in parts for v in part)
    assert merged == whole
    everything = [v for part in parts for v in part]
    assert merged.percentile(95) == _nearest_rank(everything, 95)


def test_merge_beyond_raw_limit_falls_back_to_buckets_consistently() -> None:
    a, b = Histogram(raw_limit=10), Histogram(raw_limit=10)
    a.record_many(range(1, 8))
    b.record_many(range(8, 15))
    a.merge(b)
    assert not a.exact
    assert a.count == 14
    assert a.percentile(50) == pytest.approx(7, rel=1 / SUB_BUCKETS)
    assert (a.min, a.max) == (1, 14)


def test_from_dict_rejects_inconsistent_counts() -> None:
    hist = Histogram()
    hist.record_many([1.0, 2.0])
    data = hist.to_dict()
    data["count"] = 3
    with pytest.raises(ValueError, match="add up"):
        Histogram.from_dict(data)


# --- goodput series --------------------------------------------------------------------
def test_goodput_spreads_a_transfer_over_the_windows_it_spans() -> None:
    series = GoodputSeries()
    series.add("large", start=100.5, end=102.5, nbytes=2000)
    rows = series.rows(t0=100.0, t1=103.0)
    assert [r["bytesPerSecond"] for r in rows] == [500.0, 1000.0, 500.0, 0.0]
    assert [r["t"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    assert series.total_bytes() == pytest.approx(2000)


def test_goodput_keeps_scenarios_apart_and_merges_by_adding() -> None:
    w1, w2 = GoodputSeries(), GoodputSeries()
    w1.add("small", start=10.0, end=10.2, nbytes=100)
    w2.add("small", start=10.1, end=10.3, nbytes=50)
    w2.add("large", start=10.0, end=10.9, nbytes=1000)
    w1.merge(GoodputSeries.from_dict(w2.to_dict()))
    (row,) = w1.rows(t0=10.0, t1=10.99)
    assert row["byScenario"] == {"large": 1000.0, "small": 150.0}
    assert row["bytesPerSecond"] == 1150.0


def test_goodput_rejects_negative_interval() -> None:
    with pytest.raises(ValueError):
        GoodputSeries().add("x", start=2.0, end=1.0, nbytes=1)


def test_goodput_refuses_to_merge_different_windows() -> None:
    with pytest.raises(ValueError, match="merge"):
        GoodputSeries(window_s=1).merge(GoodputSeries(window_s=10))


# --- recorder + report -----------------------------------------------------------------
def _worker(seed: int) -> LoadRecorder:
    rng = random.Random(seed)
    rec = LoadRecorder()
    for i in range(200):
        rec.record_request("API", "getServerInfo", rng.uniform(0.2, 9.0), at=1000.0 + i / 50,
                           error="ConnectionClosed" if i % 50 == 0 else None)
    rec.record_transfer("small", start=1000.0, end=1002.0, nbytes=4096 * (seed + 1), ok=True,
                        transfer_id=f"{seed}-1")
    rec.record_transfer("small", start=1001.0, end=1003.0, nbytes=99, ok=False,
                        transfer_id=f"{seed}-2")
    rec.note_transfer_id(f"{seed}-3")
    rec.note_cancelled_at_stop()
    return rec


def test_recorder_deltas_merge_to_the_same_numbers_as_one_process() -> None:
    master = LoadRecorder()
    for seed in (1, 2):
        worker = _worker(seed)
        first = worker.drain()
        assert worker.request_count == 0  # drained
        master.merge(json.loads(json.dumps(first)))
    single = LoadRecorder()
    for seed in (1, 2):
        single.merge(_worker(seed).to_dict())
    assert master.to_dict() == single.to_dict()
    assert master.request_count == 400
    assert master.failure_count == 8
    assert master.delivered_bytes == 4096 * 2 + 4096 * 3
    assert master.transfers == 4 and master.transfer_failures == 2
    assert master.transfer_ids == {"1-1", "1-2", "1-3", "2-1", "2-2", "2-3"}
    assert master.cancelled_at_stop == 2
    assert master.errors[("API getServerInfo", "ConnectionClosed")] == 8


def test_recorder_rejects_foreign_delta() -> None:
    with pytest.raises(ValueError):
        LoadRecorder().merge({"schema": "other"})


def test_report_has_the_shared_shape_and_consistent_goodput() -> None:
    rec = LoadRecorder()
    rec.merge(_worker(1).to_dict())
    metrics = RunMetrics(rec, started=999.5, ended=1004.5,
                         server_counters={"bytesSent": 9000, "blocksSent": 40,
                                          "blocksRetransmitted": 2})
    report = build_load_report(metrics, environment={"host": "x"}, settings={"users": 1},
                               checks=[])
    assert report["schema"] == "jetstream-qa/load/1"
    goodput = report["goodput"]
    assert goodput["totalBytes"] == 8192
    assert goodput["elapsedS"] == 5.0
    assert goodput["meanBytesPerSecond"] == pytest.approx(8192 / 5.0)
    assert sum(r["bytesPerSecond"] for r in goodput["series"]) == pytest.approx(8192)
    assert goodput["byScenario"]["small"]["totalBytes"] == pytest.approx(8192)
    lat = report["latency"]["API getServerInfo"]
    assert lat["count"] == 200 and lat["failures"] == 4
    assert lat["p95"] == rec.requests["API getServerInfo"].latency.percentile(95)
    assert lat["series"] and set(lat["series"][0]) == {"t", "p50", "p95"}
    assert report["transfers"]["count"] == 2 and report["transfers"]["failures"] == 1
    assert report["transfers"]["cancelledAtStop"] == 1
    assert report["transfers"]["throughputBytesPerSecond"]["p50"] == pytest.approx(4096)
    assert report["errors"] == [{"name": "API getServerInfo", "error": "ConnectionClosed",
                                 "occurrences": 4}]
    assert metrics.retransmit_ratio() == pytest.approx(0.05)
    json.dumps(report)  # JSON-ready
