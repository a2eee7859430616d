"""k6-style thresholds: parsing with units, evaluation, and failure messages that say by how
much."""

from __future__ import annotations

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.loadstats import LoadRecorder, RunMetrics, evaluate_checks, parse_check


@pytest.mark.parametrize(
    ("expr", "metric", "arg", "op", "threshold"),
    [
        ("goodput >= 200MiB/s", "goodput", None, ">=", 200 * 1024**2),
        ("goodput(small) > 1.5 GB/s", "goodput", "small", ">", 1.5e9),
        ("goodput >= 800Mbit/s", "goodput", None, ">=", 100e6),
        ("goodput >= 1000", "goodput", None, ">=", 1000.0),
        ("p95(API send.createTransfer) < 50ms", "p95", "API send.createTransfer", "<", 50.0),
        ("p99.9(API getServerInfo) <= 2s", "p99.9", "API getServerInfo", "<=", 2000.0),
        ("p50(API getServerInfo)<250us", "p50", "API getServerInfo", "<", 0.25),
        ("fail_ratio < 0.01", "fail_ratio", None, "<", 0.01),
        ("fail_ratio(TRANSFER small) < 1%", "fail_ratio", "TRANSFER small", "<", 0.01),
        ("count(TRANSFER large) >= 3", "count", "TRANSFER large", ">=", 3.0),
        ("p90(throughput) > 10MiB/s", "p90", "throughput", ">", 10 * 1024**2),
        ("retransmit_ratio < 5%", "retransmit_ratio", None, "<", 0.05),
    ],
)
def test_parse_check(expr: str, metric: str, arg: str | None, op: str,
                     threshold: float) -> None:
    check = parse_check(expr)
    assert (check.metric, check.arg, check.op) == (metric, arg, op)
    assert check.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("goodput", "expected 'METRIC OP NUMBER"),
        ("goodput >= 5ms", "unit 'ms' does not fit a rate"),
        ("p95 < 5ms", "needs a request key"),
        ("latency < 5", "unknown metric 'latency'"),
        ("p150(API x) < 5", "percentile above 100"),
        ("fail_ratio < 0.1MiB/s", "does not fit a ratio"),
    ],
)
def test_parse_check_rejects_with_a_message_naming_the_expression(expr: str,
                                                                  message: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid --js-check") as info:
        parse_check(expr)
    assert message in str(info.value)
    assert repr(expr) in str(info.value)


def _metrics() -> RunMetrics:
    rec = LoadRecorder()
    for i in range(1, 101):  # latencies 1..100 ms, 2 failures
        rec.record_request("API", "send.createTransfer", float(i), at=10.0,
                           error="NotFound" if i <= 2 else None)
    rec.record_transfer("small", start=10.0, end=12.0, nbytes=100 * 1024**2, ok=True)
    return RunMetrics(rec, started=10.0, ended=20.0,
                      server_counters={"blocksSent": 1000, "blocksRetransmitted": 30})


def test_passing_and_failing_checks_report_observed_values() -> None:
    checks = [parse_check(e) for e in (
        "p95(API send.createTransfer) < 96ms",
        "p95(API send.createTransfer) < 50ms",
        "goodput >= 200MiB/s",
        "fail_ratio < 0.01",
        "retransmit_ratio < 5%",
        "count(TRANSFER small) >= 1",
    )]
    results = evaluate_checks(checks, _metrics())
    assert [r.passed for r in results] == [True, False, False, False, True, False]
    assert results[0].observed == 95.0
    assert results[1].detail == ("p95(API send.createTransfer) < 50ms: FAILED, observed "
                                 "95.000 ms, 45.000 ms (90.0 %) over the threshold 50.000 ms")
    assert results[2].observed == pytest.approx(10 * 1024**2)
    assert "190.000 MiB/s (95.0 %) under the threshold 200.000 MiB/s" in results[2].detail
    assert results[3].observed == pytest.approx(0.02)
    assert results[4].observed == pytest.approx(0.03)
    assert results[5].to_dict()["observed"] == 0.0


def test_a_check_on_a_metric_without_samples_fails_and_says_so() -> None:
    (result,) = evaluate_checks([parse_check("p95(API nothing) < 1ms")], _metrics())
    assert not result.passed and result.observed is None
    assert "no samples for API nothing" in result.detail
