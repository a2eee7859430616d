"""Memory-to-memory transfers through the impairment relay (throughput under loss), and a
load shape chosen on the command line."""

from __future__ import annotations

from pathlib import Path

from load_helpers import load_report


def test_memory_transfers_under_loss_retransmit_and_still_deliver(run_locust, tmp_path: Path
                                                                  ) -> None:
    proc = run_locust(["--headless", "-u", "2", "-r", "2", "-t", "6s", "--js-scale", "0.01",
                       "--js-loss", "0.05", "--js-delay-ms", "1", "--js-report", "load.json",
                       "--js-check", "retransmit_ratio < 50%", "MemoryUser"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = load_report(tmp_path / "load.json")
    assert report["settings"]["impairment"] == {"loss": 0.05, "delayMs": 1.0}
    counters = report["serverCounters"]
    assert counters["blocksRetransmitted"] > 0  # 5 % of datagrams were dropped
    partial = report["transfers"]["cancelledAtStopAckedBytes"]  # acknowledged, at stop
    assert report["goodput"]["totalBytes"] - partial == counters["completeBytes"] > 0
    (check,) = report["checks"]
    assert check["passed"] and 0 < check["observed"] < 0.5
    assert set(report["goodput"]["byScenario"]) == {"memory"}


def test_step_shape_from_the_command_line(run_locust, tmp_path: Path) -> None:
    proc = run_locust(["--headless", "-u", "4", "-r", "4", "-t", "4s", "--js-shape", "step",
                       "--csv", "out", "--csv-full-history", "--js-report", "load.json",
                       "ApiStormUser"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = load_report(tmp_path / "load.json")
    assert report["settings"]["shape"] == "step"
    assert 3.5 <= report["goodput"]["elapsedS"] <= 8
    history = (tmp_path / "out_stats_history.csv").read_text().splitlines()
    header = history[0].split(",")
    column = header.index("User Count")
    counts = {int(line.split(",")[column]) for line in history[1:]}
    assert {1, 2, 3} & counts and max(counts) <= 4  # stepped up, never above the peak
