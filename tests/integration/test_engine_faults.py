"""The data-plane faults (refserver/faults.py) really break what they name.

The meta-tests prove the suites catch each fault; these prove the engine implements them, so
a suite passing against a faulty server would be a real miss.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair
from jetstream_qa.relay.background import BackgroundRelay

pytestmark = pytest.mark.timeout(180)


def _run(pair: EmbeddedPair, src: Path, dest: str, port: int | None = None,
         **kw: Any) -> dict[str, Any]:
    with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=30) as api:
        api.server.auth(pair.user.name, pair.user.password)
        m = api.send.waitForManifest(
            api.send.createManifest(mappings={f"/{dest}": str(src)})["manifestId"], timeout=30)
        d = api.send.createDestination("127.0.0.1",
                                       destinationPort=port or pair.receiver.recv_port)
        t = api.send.createTransfer(d["destinationId"], m["manifestId"], **kw)
        return dict(api.send.waitForTransfer(t["transferId"], timeout=120))


def _source(tmp_path: Path, size: int, seed: int) -> tuple[Path, bytes]:
    src = tmp_path / "src"
    src.mkdir()
    data = random.Random(seed).randbytes(size)
    (src / "f.bin").write_bytes(data)
    return src, data


def test_fault_corrupt_block_flips_one_bit_of_the_first_block(tmp_path: Path) -> None:
    src, data = _source(tmp_path, 200_000, 1)
    with EmbeddedPair(receiver_args=["--fault", "corrupt-block"]) as pair:
        t = _run(pair, src, "corrupt")
        got = (pair.receiver.storage_root / "corrupt" / "f.bin").read_bytes()
    assert t["status"] == "complete"
    diff = [i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b]
    assert len(diff) == 1 and bin(got[diff[0]] ^ data[diff[0]]).count("1") == 1


def test_fault_plaintext_when_encrypted_puts_file_bytes_on_the_wire(tmp_path: Path) -> None:
    src, data = _source(tmp_path, 100_000, 2)
    with EmbeddedPair(faults=["plaintext-when-encrypted"]) as pair, BackgroundRelay(
            (pair.receiver.recv_host, pair.receiver.recv_port), capture=50) as relay:
        t = _run(pair, src, "leak", port=relay.address[1], minCipher=3)
        captured = b"".join(relay.captured)
    assert t["status"] == "complete" and t["effectiveCipher"] == 3
    # claims AES-256, sends clear: the first DATA datagram (5 blocks at the 1,400-byte
    # default) carries the file's first 1,280 bytes as they are
    assert data[:1280] in captured


def test_without_fault_encrypted_data_never_appears_on_the_wire(tmp_path: Path) -> None:
    src, data = _source(tmp_path, 100_000, 3)
    with EmbeddedPair() as pair, BackgroundRelay(
            (pair.receiver.recv_host, pair.receiver.recv_port), capture=50) as relay:
        t = _run(pair, src, "sealed", port=relay.address[1], minCipher=2)
        captured = b"".join(relay.captured)
    assert t["status"] == "complete"
    assert all(data[i:i + 32] not in captured for i in range(0, len(data) - 32, 997))


def test_fault_counters_lie_reports_more_acked_than_sent(tmp_path: Path) -> None:
    src, _data = _source(tmp_path, 50_000, 4)
    with EmbeddedPair(sender_args=["--fault", "counters-lie"]) as pair:
        t = _run(pair, src, "lies")
    assert t["blocksAcked"] > t["blocksSent"]
