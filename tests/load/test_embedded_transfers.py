"""Transfers through the embedded pair: byte-exact delivery, goodput equal to what the
destination really received, cross-checked against the sender's own counters."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

from load_helpers import assert_counts_match_locust, written_report

_DELIVERED = re.compile(r"^(small|large)-files-\d{5}\.bin$")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def test_embedded_pair_transfers_byte_exact_with_exact_goodput(run_locust, tmp_path: Path
                                                               ) -> None:
    # --stop-timeout: running transfers finish at the end instead of being cancelled, so the
    # destination holds exactly the completed transfers' files
    proc = run_locust(["--headless", "-u", "8", "-r", "4", "-t", "20s", "--js-scale", "0.01",
                       "--stop-timeout", "30", "--js-keep", "--js-report", "reports/load.json",
                       "--csv", "out", "--html", "out.html", "--json-file", "locust",
                       "--js-check", "fail_ratio < 0.05",
                       "SmallFilesUser", "LargeFilesUser", "MixedUser", "ApiStormUser"],
                      timeout=150)
    report = written_report(proc, tmp_path / "reports/load.json")
    pair_root = Path(report["environment"]["pairRoot"])
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        for name in ("out_stats.csv", "out.html", "locust.json"):
            assert (tmp_path / name).is_file(), name
        _check_delivery(report, pair_root)
        assert_counts_match_locust(report, tmp_path / "locust.json")
    finally:
        shutil.rmtree(pair_root, ignore_errors=True)


def test_force_stopped_users_count_every_transfer_exactly_once(run_locust, tmp_path: Path
                                                                ) -> None:
    # no --stop-timeout: Locust kills the users at the end wherever they are, also between
    # the sender creating a transfer and the client reading its id; the run still accounts
    # for every transfer it created, from the sender's own records
    proc = run_locust(["--headless", "-u", "6", "-r", "6", "-t", "5s", "--js-scale", "0.01",
                       "--js-keep", "--js-report", "reports/load.json", "--json-file", "locust",
                       "SmallFilesUser", "LargeFilesUser", "MixedUser"], timeout=120)
    report = written_report(proc, tmp_path / "reports/load.json")
    pair_root = Path(report["environment"]["pairRoot"])
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        transfers = report["transfers"]
        assert transfers["failures"] == 0, report["errors"]
        storage = pair_root / "receiver" / "storage"
        cancelled = [storage / path for path in transfers["cancelledAtStopPaths"]]
        assert len(cancelled) == transfers["cancelledAtStop"]
        delivered = [p for p in _delivered_files(report, pair_root)
                     if not any(c in p.parents for c in cancelled)]
        delivered_bytes = sum(p.stat().st_size for p in delivered)
        counters = report["serverCounters"]
        detail = {"counters": counters, "transfers": transfers}
        partial = transfers["cancelledAtStopAckedBytes"]  # acknowledged before the cancel
        assert report["goodput"]["totalBytes"] - partial == delivered_bytes \
            == counters["completeBytes"], detail
        assert 0 <= partial <= counters["totalBytes"] - counters["completeBytes"], detail
        assert counters["complete"] == transfers["count"], detail
        assert counters["transfers"] == transfers["count"] + transfers["cancelledAtStop"], detail
        assert_counts_match_locust(report, tmp_path / "locust.json")
    finally:
        shutil.rmtree(pair_root, ignore_errors=True)


def _delivered_files(report: dict, pair_root: Path) -> list[Path]:
    dest_root = pair_root / "receiver" / "storage" / "jsqa-load" / report["environment"]["runId"]
    delivered = [p for p in dest_root.rglob("*") if p.is_file() and _DELIVERED.match(p.name)]
    assert delivered, f"nothing delivered under {dest_root}"
    return delivered


def _check_delivery(report: dict, pair_root: Path) -> None:
    delivered = _delivered_files(report, pair_root)
    delivered_bytes = sum(p.stat().st_size for p in delivered)

    goodput = report["goodput"]
    assert goodput["totalBytes"] == delivered_bytes, (report["transfers"], report["errors"])
    elapsed = _seconds(report["endedAt"]) - _seconds(report["startedAt"])
    assert abs(goodput["meanBytesPerSecond"] - delivered_bytes / elapsed) \
        <= 0.02 * delivered_bytes / elapsed
    assert abs(sum(r["bytesPerSecond"] for r in goodput["series"]) - delivered_bytes) \
        <= 0.02 * delivered_bytes  # 1 s windows
    assert set(goodput["byScenario"]) <= {"small-files", "large-files", "mixed"}

    counters = report["serverCounters"]
    detail = {"counters": counters, "transfers": report["transfers"],
              "errors": report["errors"]}
    assert counters["completeBytes"] == delivered_bytes, detail
    assert counters["bytesSent"] >= delivered_bytes
    assert counters["complete"] == \
        report["transfers"]["count"] - report["transfers"]["failures"], detail
    assert counters["transfers"] == counters["complete"], detail  # none cancelled or failed
    assert report["transfers"]["cancelledAtStop"] == 0, detail
    assert report["transfers"]["cancelledAtStopPaths"] == [], detail

    sources = {p.name: p for p in (pair_root / "sources").rglob("*.bin")}
    for path in sorted(delivered)[:: max(1, len(delivered) // 25)]:  # ~25 spot checks
        assert _sha256(path) == _sha256(sources[path.name]), path
    assert report["transfers"]["throughputBytesPerSecond"]["p50"] > 0
    assert report["latency"]["TRANSFER small-files"]["exact"] is True
