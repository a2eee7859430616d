"""Locust through the strict vendor stand-in (tests/vendor_standin) and its binding file
against the embedded pair (issue 11): the users create, wait for and settle transfers only
through the binding (no ``waitForTransfer``: ``getTransfer`` is polled; cancel at stop is the
stand-in's ``abortTransfer``, reached through ``[methods] cancel_transfer``), every transfer
completes and is counted exactly once against the sender's own counters, exit 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from load_helpers import (
    ROOT,
    assert_counts_match_locust,
    locust_cmd,
    locust_env,
    run_bounded,
    written_report,
)

STANDIN = ROOT / "tests" / "vendor_standin"
BINDING = ROOT / "fixtures" / "bindings" / "standin.toml"


def _run(tmp_path: Path, *args: str, timeout: float) -> tuple[dict, Path]:
    env = locust_env()
    env["PYTHONPATH"] = str(STANDIN)
    proc = run_bounded(locust_cmd(
        "--headless", "--js-scale", "0.01", "--js-keep", "--js-client", "vendor",
        "--js-binding", str(BINDING), "--js-report", "reports/load.json", "--json-file",
        "locust", *args), cwd=tmp_path, env=env, timeout=timeout)
    report = written_report(proc, tmp_path / "reports/load.json")
    pair_root = Path(report["environment"]["pairRoot"])
    if proc.returncode != 0:
        shutil.rmtree(pair_root, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return report, pair_root


@pytest.mark.timeout(150)
def test_transfers_complete_and_reconcile_through_the_standin(tmp_path: Path) -> None:
    report, pair_root = _run(tmp_path, "-u", "4", "-r", "4", "-t", "6s", "--stop-timeout",
                             "30", "SmallFilesUser", "LargeFilesUser", "ApiStormUser",
                             timeout=120)
    try:
        assert report["environment"]["clientKind"] == "vendor"
        assert report["settings"]["binding"] == str(BINDING)
        transfers, counters = report["transfers"], report["serverCounters"]
        detail = {"transfers": transfers, "counters": counters, "errors": report["errors"]}
        assert transfers["count"] > 0 and transfers["failures"] == 0, detail
        assert counters["complete"] == counters["transfers"] == transfers["count"], detail
        assert report["goodput"]["totalBytes"] == counters["completeBytes"] > 0, detail
        latency = report["latency"]
        assert "API send.getTransfer (until final)" in latency  # polled: no waitForTransfer
        assert "API send.waitForTransfer" not in latency
        assert_counts_match_locust(report, tmp_path / "locust.json")
    finally:
        shutil.rmtree(pair_root, ignore_errors=True)


@pytest.mark.timeout(150)
def test_force_stopped_transfers_settle_through_the_binding(tmp_path: Path) -> None:
    # no --stop-timeout: running transfers are cancelled at stop through the binding's
    # cancel (the stand-in's abortTransfer) and each one is still counted exactly once
    report, pair_root = _run(tmp_path, "-u", "4", "-r", "4", "-t", "4s", "SmallFilesUser",
                             "LargeFilesUser", timeout=120)
    try:
        transfers, counters = report["transfers"], report["serverCounters"]
        detail = {"transfers": transfers, "counters": counters, "errors": report["errors"]}
        assert transfers["failures"] == 0, detail
        assert counters["complete"] == transfers["count"], detail
        assert counters["transfers"] == transfers["count"] + transfers["cancelledAtStop"], \
            detail
        assert report["goodput"]["totalBytes"] - transfers["cancelledAtStopAckedBytes"] == \
            counters["completeBytes"], detail
    finally:
        shutil.rmtree(pair_root, ignore_errors=True)
