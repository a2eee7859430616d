"""The embedded pair end to end through the control plane: a real transfer lands under the
receiver's storage root, both sides report it, the event log records it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def test_transfer_between_pair(ref_pair, api, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(bytes(range(256)) * 40 + b"tail")
    (tmp_path / "d" / "empty").mkdir()
    sender = api(ref_pair.sender, ref_pair.user)
    receiver = api(ref_pair.receiver, ref_pair.user)
    m = sender.send.createManifest({"batch": str(tmp_path / "d")})
    m = sender.send.waitForManifest(m["manifestId"], timeout=20)
    d = sender.send.createDestination(ref_pair.receiver.recv_host,
                                      destinationPort=ref_pair.receiver.recv_port)
    since = time.time_ns() // 1000
    t = sender.send.createTransfer(d["destinationId"], m["manifestId"],
                                   destinationPath="/incoming")
    done = sender.send.waitForTransfer(t["transferId"], timeout=60)
    if done["status"] != "complete":
        pytest.fail(f"transfer did not complete: {done['status']} {done['errorMessage']}")
    landed = ref_pair.receiver.storage_root / "incoming" / "batch" / "a.bin"
    assert landed.read_bytes() == (tmp_path / "d" / "a.bin").read_bytes()
    assert (ref_pair.receiver.storage_root / "incoming" / "batch" / "empty").is_dir()
    assert done["bytesSent"] >= 10244 and done["blocksAcked"] <= done["blocksSent"]
    assert done["requestTime"] <= done["startTime"] <= done["endTime"]
    statuses = [e["status"] for e in sender.server.getEventLog(since=since)
                if e["_event"] == "transferUpdated" and e["transferId"] == t["transferId"]]
    assert statuses[-1] == "complete" and "sending" in statuses
    recv_list = receiver.server.getRequestResult(receiver.recv.getTransfersAsync(), timeout=10)
    assert t["transferId"] in {r["transferId"] for r in recv_list}
