"""API storm against the embedded pair: request events, unrounded percentiles, outputs,
thresholds and their exit codes."""

from __future__ import annotations

from pathlib import Path

from load_helpers import assert_counts_match_locust, load_report


def test_api_storm_counts_match_locust_and_percentiles_are_unrounded(run_locust, tmp_path: Path
                                                                     ) -> None:
    proc = run_locust(["--headless", "-u", "4", "-r", "4", "-t", "5s", "--js-api-rate", "25",
                       "--csv", "out", "--html", "out.html", "--json-file", "locust",
                       "--js-report", "reports/load.json", "ApiStormUser"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("out_stats.csv", "out.html", "locust.json", "reports/load.json"):
        assert (tmp_path / name).is_file(), name
    report = load_report(tmp_path / "reports/load.json")
    assert report["schema"] == "jetstream-qa/load/1"
    assert report["environment"]["embedded"] is True
    assert report["environment"]["clientGevent"].startswith("cooperative")
    assert_counts_match_locust(report, tmp_path / "locust.json")
    info = report["latency"]["API getServerInfo"]
    assert info["count"] > 50 and info["failures"] == 0 and info["exact"] is True
    assert info["p50"] <= info["p95"] <= info["p99"] <= info["max"]
    assert any(v != round(v) for v in (info["p50"], info["p95"], info["max"]))
    assert info["series"] and {"t", "p50", "p95"} <= set(info["series"][0])
    assert report["goodput"]["totalBytes"] == 0  # the storm moves no data
    assert "password" not in (tmp_path / "reports/load.json").read_text().lower()


def test_failing_threshold_sets_exit_code_and_names_the_check(run_locust, tmp_path: Path
                                                              ) -> None:
    proc = run_locust(["--headless", "-u", "2", "-r", "2", "-t", "3s",
                       "--js-check", "p50(API getServerInfo) < 0.0001ms",
                       "--js-check", "fail_ratio < 0.5",
                       "--js-report", "load.json", "ApiStormUser"])
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "p50(API getServerInfo) < 0.0001ms: FAILED, observed" in proc.stderr
    assert "over the threshold 0.000 ms" in proc.stderr
    checks = load_report(tmp_path / "load.json")["checks"]
    assert [(c["expr"], c["passed"]) for c in checks] == [
        ("p50(API getServerInfo) < 0.0001ms", False), ("fail_ratio < 0.5", True)]
    assert checks[0]["observed"] > checks[0]["threshold"]


def test_passing_thresholds_exit_zero(run_locust, tmp_path: Path) -> None:
    proc = run_locust(["--headless", "-u", "2", "-r", "2", "-t", "3s",
                       "--js-check", "p50(API getServerInfo) < 10s",
                       "--js-check", "count(API getServerInfo) >= 1",
                       "--js-report", "load.json", "ApiStormUser"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(c["passed"] for c in load_report(tmp_path / "load.json")["checks"])


def test_invalid_threshold_is_refused_before_anything_starts(run_locust) -> None:
    proc = run_locust(["--headless", "-u", "1", "-t", "2s", "--js-check", "speed > 3",
                       "ApiStormUser"], timeout=30)
    assert proc.returncode == 2
    assert "invalid --js-check 'speed > 3'" in proc.stderr
