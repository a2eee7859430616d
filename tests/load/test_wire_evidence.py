"""``--js-capture``: a load run's wire evidence (load.json ``wire``) against what the run and
the sender reported, and a capture source that fails without failing the run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from load_helpers import written_report

_IPV4_UDP_HEADERS = 28
"""Each captured packet (a GSO super-packet included) carries one IPv4 (20 B) and one UDP
(8 B) header; the sender's ``bytesSent`` counts UDP payload."""
_MAX_WIRE_FACTOR = 1.05
"""Wire bytes / delivered bytes on ``lo``. Measured 1.025 (3 runs, embedded pair, 2
LargeFilesUser, 8 s): the sender's own ``bytesSent / completeBytes`` is 1.022 (its per
datagram header, ~31 B in ~1.3 KB datagrams), IP/UDP headers add 28 B per GSO super-packet
(< 0.1 %) and the receiver's acknowledgements 0.2 %; no retransmission on ``lo``. 1.05 is
twice the measured overhead: the overhead depends on how full the last datagram of each
file is, i.e. on which files the users drew."""


def _captured_run(run_locust: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path,
                  capture: str, *, users: str, seconds: str,
                  timeout: float) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """A successful run of ``users`` LargeFilesUser for ``seconds`` with ``--js-capture
    capture``: its process and load.json (the kept pair's files removed)."""
    proc = run_locust(["--headless", "-u", users, "-r", users, "-t", seconds, "--js-scale",
                       "0.01", "--stop-timeout", "30", "--js-keep", "--js-report",
                       "reports/load.json", "--js-capture", capture, "LargeFilesUser"],
                      timeout=timeout)
    report = written_report(proc, tmp_path / "reports/load.json")
    shutil.rmtree(report["environment"]["pairRoot"], ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, report


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="sniffing lo needs root")
def test_capture_on_lo_accounts_for_every_delivered_byte(run_locust, tmp_path: Path) -> None:
    proc, report = _captured_run(run_locust, tmp_path, "iface:lo", users="2", seconds="6s",
                                 timeout=150)
    wire, counters = report["wire"], report["serverCounters"]
    delivered = report["goodput"]["totalBytes"]
    detail = {k: v for k, v in wire.items() if k != "series"} | {"counters": counters}
    assert "problem" not in wire and not wire["truncated"], detail
    assert wire["side"] == "local" and wire["source"] == "iface:lo"
    total = wire["total"]
    assert delivered > 0 and total["bytes"] >= delivered, detail
    assert total["bytes"] <= delivered * _MAX_WIRE_FACTOR, detail
    # exact: the wire towards the receiver is what the sender says it sent, plus headers
    assert total["toReceiverBytes"] == \
        counters["bytesSent"] + _IPV4_UDP_HEADERS * total["toReceiverPackets"], detail
    assert total["fragments"] == 0, detail
    assert total["largestPacket"] > 1500, detail  # GSO super-packets on lo: bytes, not count
    assert sum(row["bytes"] for row in wire["series"]) == total["bytes"]
    window = wire["window"]
    assert 0 < window["bytes"] <= total["bytes"], detail
    assert window["wireToGoodputRatio"] == pytest.approx(
        window["wireBytesPerSecond"] / report["goodput"]["steady"]["meanBytesPerSecond"])
    assert "jetstream-qa: wire (iface:lo):" in proc.stderr


def test_failing_capture_source_is_recorded_and_the_run_completes(run_locust, tmp_path: Path
                                                                   ) -> None:
    proc, report = _captured_run(run_locust, tmp_path, "file:/nonexistent", users="1",
                                 seconds="3s", timeout=120)
    assert report["transfers"]["count"] > 0
    wire = report["wire"]
    assert wire["source"] == "file:/nonexistent"
    assert "/nonexistent does not exist" in wire["problem"], wire
    assert "total" not in wire and report["problems"] == []
    assert "no evidence" in proc.stderr
