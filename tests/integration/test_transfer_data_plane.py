"""Transfers between two real reference servers (EmbeddedPair) driven by the bundled client.

Requirements (docs/protocol.md 5; Transfer structure page): data arrives byte-exact at every
MIN_CIPHER level; counters are real counts (blocksAcked == totalBlocks = ceil(bytes/256),
bytesSent >= totalBytes); queued transfers run in priority order; suspend, resume and cancel
act on the wire; a lossy path costs retransmissions, not correctness; forged datagrams are
counted and never written.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import assert_counters, assert_tree, make_tree, send_tree

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair
from jetstream_qa.relay.background import BackgroundRelay
from jetstream_qa.wire.data import DType, pack_header

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def pair() -> Iterator[EmbeddedPair]:
    with EmbeddedPair() as p:
        yield p


@pytest.fixture
def api(pair: EmbeddedPair) -> Iterator[Any]:
    with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=30) as a:
        a.server.auth(pair.user.name, pair.user.password)
        yield a


SIZES = [0, 1, 255, 256, 257, 100_000, 1_000_003]


@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_data_plane_each_cipher_delivers_byte_exact(tmp_path: Path, api: Any,
                                                    pair: EmbeddedPair, cipher: int) -> None:
    files = make_tree(tmp_path / "src", cipher, SIZES)
    t = send_tree(api, pair, tmp_path / "src", f"c{cipher}", minCipher=cipher)
    assert t["status"] == "complete", t["errorMessage"]
    assert t["effectiveCipher"] == cipher
    assert_counters(t, sum(SIZES))
    assert_tree(pair.receiver.storage_root / f"c{cipher}", files)
    assert sorted(r["outcome"] for r in t["fileResults"]) == ["written"] * len(SIZES)


def test_data_plane_destination_shows_receiver_identity(tmp_path: Path, api: Any,
                                                        pair: EmbeddedPair) -> None:
    make_tree(tmp_path / "src", 1, [5000])
    t = send_tree(api, pair, tmp_path / "src", "ident")
    assert t["status"] == "complete"
    d = api.send.getDestination(t["destinationId"])
    info = JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=10)
    with info as recv_api:
        server = recv_api.server.getServerInfo()
    assert d["lastDestinationServerId"] == server["serverId"]
    assert d["lastDestinationServerUid"] == server["serverUid"]
    assert d["encryptedConnectionState"] == "disconnected"
    assert d["lastSendTime"] and d["lastRecvTime"]


def test_data_plane_receiver_lists_transfer_and_source(tmp_path: Path, api: Any,
                                                       pair: EmbeddedPair) -> None:
    make_tree(tmp_path / "src", 2, [70_000])
    t = send_tree(api, pair, tmp_path / "src", "listed")
    with JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=10) as rapi:
        rapi.server.auth(pair.user.name, pair.user.password)
        rid = rapi.recv.getTransfersAsync()
        transfers = rapi.server.getRequestResult(rid, timeout=10)
        rid = rapi.recv.getSourcesAsync()
        sources = rapi.server.getRequestResult(rid, timeout=10)
    mine = [r for r in transfers if r["transferId"] == t["transferId"]
            and r["destinationPath"] == ""]
    assert mine and mine[0]["status"] == "complete" and mine[0]["totalSize"] == 70_000
    assert any(s["completeTransferCount"] >= 1 for s in sources)


def test_data_plane_without_write_sends_everything_and_writes_nothing(
        tmp_path: Path, api: Any, pair: EmbeddedPair) -> None:
    make_tree(tmp_path / "src", 3, [300_000])
    t = send_tree(api, pair, tmp_path / "src", "nowrite", transferFlags=0)
    assert t["status"] == "complete", t["errorMessage"]
    assert t["blocksSent"] >= t["totalBlocks"] and t["bytesSent"] >= 300_000
    assert not (pair.receiver.storage_root / "nowrite" / "f0.bin").exists()


def test_data_plane_priority_orders_the_destination_queue(tmp_path: Path, api: Any,
                                                          pair: EmbeddedPair) -> None:
    make_tree(tmp_path / "big", 4, [3_000_000])
    make_tree(tmp_path / "small", 5, [10_000])
    dest = api.send.createDestination("127.0.0.1", destinationPort=pair.receiver.recv_port)
    big = api.send.waitForManifest(api.send.createManifest(
        mappings={"/prio-big": str(tmp_path / "big")})["manifestId"], timeout=30)
    small = api.send.waitForManifest(api.send.createManifest(
        mappings={"/prio-small": str(tmp_path / "small")})["manifestId"], timeout=30)
    blocker = api.send.createTransfer(dest["destinationId"], big["manifestId"],
                                      sendRateMax=20_000_000)
    ids = {}
    for prio in (120, 100, 110):
        ids[prio] = api.send.createTransfer(dest["destinationId"], small["manifestId"],
                                            priority=prio, destinationPath=f"p{prio}",
                                            overwriteMode=4)["transferId"]
    done = {p: api.send.waitForTransfer(tid, timeout=120) for p, tid in ids.items()}
    api.send.waitForTransfer(blocker["transferId"], timeout=120)
    assert all(t["status"] == "complete" for t in done.values())
    starts = sorted(done, key=lambda p: done[p]["startTime"])
    assert starts == [100, 110, 120]


def _wait(api: Any, tid: int, pred: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = api.send.getTransfer(tid)
        if pred(t):
            return t
        time.sleep(0.02)
    raise AssertionError(f"condition not reached: {t}")


def test_data_plane_suspend_stops_sending_and_resume_completes(
        tmp_path: Path, api: Any, pair: EmbeddedPair) -> None:
    files = make_tree(tmp_path / "src", 6, [8_000_000])
    t = send_tree(api, pair, tmp_path / "src", "susp", wait=False, minCipher=2,
                  sendRateMax=40_000_000)
    tid = t["transferId"]
    _wait(api, tid, lambda t: t["blocksAcked"] > t["totalBlocks"] // 5)
    assert api.send.suspendTransfer(tid)["status"] == "suspended"
    time.sleep(0.3)  # let in-flight counters settle before sampling twice
    first = api.send.getTransfer(tid)["blocksSent"]
    time.sleep(0.3)
    assert api.send.getTransfer(tid)["blocksSent"] == first
    assert api.send.resumeTransfer(tid)["status"] in ("pending", "sending")
    t = api.send.waitForTransfer(tid, timeout=120)
    assert t["status"] == "complete", t["errorMessage"]
    assert t["blocksAcked"] == t["totalBlocks"]
    assert t["blocksSent"] < 1.5 * t["totalBlocks"]  # resumed, not restarted from zero
    assert_tree(pair.receiver.storage_root / "susp", files)


def test_data_plane_cancel_aborts_at_the_receiver(tmp_path: Path, api: Any,
                                                  pair: EmbeddedPair) -> None:
    make_tree(tmp_path / "src", 7, [8_000_000])
    t = send_tree(api, pair, tmp_path / "src", "cancelled", wait=False,
                  sendRateMax=40_000_000)
    tid = t["transferId"]
    _wait(api, tid, lambda t: t["blocksAcked"] > 0)
    assert api.send.cancelTransfer(tid)["status"] == "cancelled"
    with JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=10) as rapi:
        rapi.server.auth(pair.user.name, pair.user.password)
        deadline = time.monotonic() + 20
        while True:
            rid = rapi.recv.getTransfersAsync()
            recs = [r for r in rapi.server.getRequestResult(rid, timeout=10)
                    if r["destinationPath"] == "" and r["transferId"] == tid]
            if recs and recs[0]["status"] == "error":
                break
            assert time.monotonic() < deadline, recs
            time.sleep(0.05)
    assert not (pair.receiver.storage_root / "cancelled" / "f0.bin").exists()


@pytest.mark.parametrize("cipher", [0, 3])
def test_data_plane_lossy_path_retransmits_and_stays_byte_exact(
        tmp_path: Path, api: Any, pair: EmbeddedPair, cipher: int) -> None:
    files = make_tree(tmp_path / "src", 8, [3_000_000, 77])
    target = (pair.receiver.recv_host, pair.receiver.recv_port)
    with BackgroundRelay(target, loss=0.05, duplicate=0.02, reorder=0.1, seed=cipher) as relay:
        t = send_tree(api, pair, tmp_path / "src", f"lossy{cipher}", port=relay.address[1],
                      minCipher=cipher)
        assert relay.dropped > 0
    assert t["status"] == "complete", t["errorMessage"]
    assert t["blocksRetransmitted"] > 0
    assert t["blocksSent"] >= t["totalBlocks"] + t["blocksRetransmitted"]
    assert_tree(pair.receiver.storage_root / f"lossy{cipher}", files)


def test_data_plane_forged_datagrams_are_rejected_and_never_written(
        tmp_path: Path, api: Any, pair: EmbeddedPair) -> None:
    files = make_tree(tmp_path / "src", 9, [4_000_000])

    def receiver_stats() -> dict[str, Any]:
        with JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=10) as rapi:
            return dict(rapi.server.getServerInfo()["receiver"])

    before = receiver_stats()
    t = send_tree(api, pair, tmp_path / "src", "forged", wait=False, minCipher=1,
                  sendRateMax=80_000_000)
    tid = t["transferId"]
    rng = random.Random(11)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        target = (pair.receiver.recv_host, pair.receiver.recv_port)
        for i in range(3000):
            kind = DType.DATA if i % 2 else rng.choice(list(DType))
            s.sendto(pack_header(kind, rng.getrandbits(64), i) + os.urandom(300), target)
            s.sendto(os.urandom(rng.randint(0, 200)), target)
    t = api.send.waitForTransfer(tid, timeout=120)
    assert t["status"] == "complete", t["errorMessage"]
    assert_tree(pair.receiver.storage_root / "forged", files)
    after = receiver_stats()
    grew = (after["rejectedDatagrams"] - before["rejectedDatagrams"]
            + after["malformedDatagrams"] - before["malformedDatagrams"])
    assert grew > 3000
