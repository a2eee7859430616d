"""Master + 2 workers on loopback: worker data merges into one report (goodput, unrounded
percentiles) that agrees with Locust's own merged counts and the sender's counters."""

from __future__ import annotations

import subprocess
from pathlib import Path

from load_helpers import (
    assert_counts_match_locust,
    free_port,
    kill_group,
    load_report,
    locust_cmd,
    locust_env,
    run_bounded,
)


def _spawn(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(locust_cmd(*args), cwd=cwd, env=locust_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return -9


def test_master_and_two_workers_merge_stats(tmp_path: Path) -> None:
    port = str(free_port())
    users = ["SmallFilesUser", "ApiStormUser"]
    workers = [_spawn(["--worker", "--master-host", "127.0.0.1", "--master-port", port,
                       "--js-scale", "0.01", *users], tmp_path, tmp_path / f"worker{i}.log")
               for i in range(2)]
    try:
        master = run_bounded(
            locust_cmd("--headless", "--master", "--master-bind-host", "127.0.0.1",
                       "--master-bind-port", port, "--expect-workers", "2",
                       "--expect-workers-max-wait", "30", "-u", "6", "-r", "6", "-t", "10s",
                       "--js-scale", "0.01", "--json-file", "locust",
                       "--js-report", "load.json", *users),
            cwd=tmp_path, env=locust_env(), timeout=90)
    finally:
        codes = [_stop(w) for w in workers]
    logs = "\n".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
    assert master.returncode == 0, master.stderr[-3000:] + logs[-2000:]
    assert codes == [0, 0], logs[-3000:]
    report = load_report(tmp_path / "load.json")
    assert report["environment"]["runner"] == "MasterRunner"
    assert report["environment"]["workers"] == 2
    assert_counts_match_locust(report, tmp_path / "locust.json")
    transfers = report["latency"]["TRANSFER small-files"]
    assert transfers["count"] > 0 and transfers["exact"] is True
    assert transfers["p50"] != round(transfers["p50"])  # unrounded, unlike Locust's
    goodput = report["goodput"]
    assert goodput["totalBytes"] > 0
    transfers = report["transfers"]  # every transfer created is accounted for
    # bytes acknowledged by transfers cancelled at stop count too (merged from the workers)
    assert goodput["totalBytes"] - transfers["cancelledAtStopAckedBytes"] == \
        report["serverCounters"]["completeBytes"]
    assert report["serverCounters"]["transfers"] == \
        transfers["count"] + transfers["cancelledAtStop"], transfers
