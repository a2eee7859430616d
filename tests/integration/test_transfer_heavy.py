"""Heavy data-plane checks (``-m heavy``): 1 GiB per cipher, and a million hostile datagrams.

Requirements: a 1 GiB transfer is byte-exact at each MIN_CIPHER level with exact counters;
1,000,000 random, forged, replayed and mutated datagrams sent to the receive port during
concurrent transfers never stop the receiver, are counted, and the transfers still complete
byte-exact (DESIGN.md: "it must survive hostile input").
"""

from __future__ import annotations

import hashlib
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair
from jetstream_qa.relay.background import BackgroundRelay
from jetstream_qa.wire.data import DType, pack_header

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(1800)]
GIB = 1 << 30


@pytest.fixture(scope="module")
def pair() -> Iterator[EmbeddedPair]:
    with EmbeddedPair() as p:
        yield p


def _write_random(path: Path, size: int, seed: int) -> str:
    """Write ``size`` seeded random bytes; return their SHA-256."""
    rng = random.Random(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = rng.randbytes(min(left, 8 << 20))
            digest.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _send(api: Any, src: Path, dest: str, port: int, **kw: Any) -> int:
    m = api.send.createManifest(mappings={f"/{dest}": str(src)})
    m = api.send.waitForManifest(m["manifestId"], timeout=60)
    d = api.send.createDestination("127.0.0.1", destinationPort=port)
    return int(api.send.createTransfer(d["destinationId"], m["manifestId"], **kw)["transferId"])


@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_heavy_one_gib_per_cipher_is_byte_exact(tmp_path: Path, pair: EmbeddedPair,
                                                cipher: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    expected = _write_random(src / "gib.bin", GIB, cipher)
    with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=60) as api:
        api.server.auth(pair.user.name, pair.user.password)
        tid = _send(api, src, f"gib{cipher}", pair.receiver.recv_port, minCipher=cipher)
        t = api.send.waitForTransfer(tid, timeout=1500)
    assert t["status"] == "complete", t["errorMessage"]
    assert t["effectiveCipher"] == cipher
    assert t["totalBlocks"] == GIB // 256 == t["blocksAcked"]
    assert t["bytesSent"] >= GIB and t["blocksSent"] >= t["totalBlocks"]
    out = pair.receiver.storage_root / f"gib{cipher}" / "gib.bin"
    try:
        assert _sha256(out) == expected
    finally:
        out.unlink(missing_ok=True)
        (src / "gib.bin").unlink()


def _flood(target: tuple[str, int], captured: list[bytes], count: int, seed: int) -> None:
    """Random bytes, forged headers, replays and bit-flipped copies of real datagrams."""
    rng = random.Random(seed)
    kinds = list(DType)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        for i in range(count):
            mode = i % 4
            if mode == 0:
                data = rng.randbytes(rng.randint(0, 1400))
            elif mode == 1:
                data = pack_header(rng.choice(kinds), rng.getrandbits(64), i) \
                    + rng.randbytes(rng.randint(0, 600))
            elif mode == 2 and captured:
                data = rng.choice(captured)  # replay as is
            else:
                base = bytearray(rng.choice(captured)) if captured else bytearray(64)
                for _ in range(rng.randint(1, 3)):
                    base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
                data = bytes(base)
            try:
                s.sendto(data, target)
            except OSError:
                time.sleep(0.001)  # buffer full: let the receiver drain


def test_heavy_million_hostile_datagrams_during_concurrent_transfers(
        tmp_path: Path, pair: EmbeddedPair) -> None:
    target = (pair.receiver.recv_host, pair.receiver.recv_port)
    digests, tids = {}, {}

    def stats() -> dict[str, int]:
        with JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=30) as rapi:
            return dict(rapi.server.getServerInfo()["receiver"])

    before = stats()
    with BackgroundRelay(target, capture=2000) as relay, \
            JetStream().api("127.0.0.1", pair.sender.api_port, timeout=60) as api:
        api.server.auth(pair.user.name, pair.user.password)
        for cipher in (0, 1, 3):
            src = tmp_path / f"src{cipher}"
            src.mkdir()
            digests[cipher] = _write_random(src / "f.bin", 96 << 20, 100 + cipher)
            port = relay.address[1] if cipher == 1 else target[1]
            tids[cipher] = _send(api, src, f"hostile{cipher}", port, minCipher=cipher,
                                 sendRateMax=60_000_000)
        deadline = time.monotonic() + 30
        while len(relay.captured) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        _flood(target, list(relay.captured), 1_000_000, seed=3)
        results = {c: api.send.waitForTransfer(tid, timeout=900) for c, tid in tids.items()}
    for cipher, t in results.items():
        assert t["status"] == "complete", (cipher, t["errorMessage"])
        out = pair.receiver.storage_root / f"hostile{cipher}" / "f.bin"
        assert _sha256(out) == digests[cipher], cipher
    after = stats()
    bad = (after["rejectedDatagrams"] - before["rejectedDatagrams"]
           + after["malformedDatagrams"] - before["malformedDatagrams"])
    assert bad >= 500_000  # most of the flood reached the port and was counted
    assert after["malformedDatagrams"] > before["malformedDatagrams"]
    assert after["rejectedDatagrams"] > before["rejectedDatagrams"]
