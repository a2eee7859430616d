"""Sender and receiver protocol cores back to back in memory, over a seeded lossy channel.

No sockets, no threads, a virtual clock: every run is deterministic for its seed.
Requirement (docs/protocol.md 5): whatever the channel drops, duplicates or reorders, the
receiver ends with exactly the sender's bytes and both sides agree the transfer is complete.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.receiver_model import RxSpec
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState, SendSpec
from jetstream_qa.refserver.engine.transfer_docs import encode_entries
from jetstream_qa.wire import crypto

SENDER_ADDR = ("127.0.0.1", 40000)
RECEIVER_ADDR = ("127.0.0.1", 8886)


class MemorySource:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_into(self, offset: int, view: memoryview) -> None:
        view[:] = self.data[offset:offset + len(view)]


@dataclass
class MemorySink:
    size: int
    data: bytearray = field(init=False)
    writes: int = 0
    finished: bool = False
    skip: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = bytearray(self.size)

    def write(self, offset: int, data: memoryview) -> None:
        self.data[offset:offset + len(data)] = data
        self.writes += 1

    def unwanted(self) -> list[tuple[int, int]]:
        return list(self.skip)

    def flush(self) -> None:
        pass

    def finish(self) -> list[dict[str, Any]]:
        self.finished = True
        return [{"destPath": "f", "outcome": "written", "detail": ""}]

    def abort(self) -> None:
        pass


class MemorySinks:
    def __init__(self) -> None:
        self.sinks: list[MemorySink] = []
        self.specs: list[RxSpec] = []

    def open(self, spec: RxSpec) -> MemorySink:
        sink = MemorySink(spec.total_bytes)
        self.sinks.append(sink)
        self.specs.append(spec)
        return sink


class Channel:
    """Seeded impairment: drop, duplicate and reorder datagrams, with a fixed latency."""

    def __init__(self, seed: int, *, loss: float = 0.0, dup: float = 0.0,
                 reorder: float = 0.0, latency: float = 0.001) -> None:
        self.rng = random.Random(seed)
        self.loss, self.dup, self.reorder, self.latency = loss, dup, reorder, latency
        self.queue: list[tuple[float, int, bytes]] = []
        self.n = 0
        self.dropped = 0

    def put(self, data: bytes, now: float) -> None:
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < self.dup else 1
        for _ in range(copies):
            delay = self.latency
            if self.rng.random() < self.reorder:
                delay += self.rng.random() * 0.004
            self.n += 1
            self.queue.append((now + delay, self.n, data))

    def due(self, now: float) -> list[bytes]:
        self.queue.sort()
        out = []
        while self.queue and self.queue[0][0] <= now:
            out.append(self.queue.pop(0)[2])
        return out


def make_spec(data: bytes, *, cipher: int, max_datagram: int = 1400,
              entries: list[Entry] | None = None,
              static: Any = None) -> SendSpec:
    entries = entries or [Entry("f", len(data), 0)]
    meta = zlib.compress(json.dumps(encode_entries(entries)).encode())
    return SendSpec(transfer_id=7, total_bytes=len(data), cipher=cipher, flags=3,
                    overwrite_mode=4, checkpoint_ms=0, meta=meta, destination_path="",
                    server_uid="sender-uid", server_id="sender-id",
                    static_key=static or crypto.generate_ephemeral(),
                    max_datagram=max_datagram)


def fill_one_by_one(tx: SenderSession, now: float) -> list[bytes]:
    """Up to 8 DATA datagrams, filled one at a time (``SenderSession.fill_data``)."""
    buf = bytearray(70000)
    out = []
    for _ in range(8):
        n = tx.fill_data(buf, now)
        if not n:
            break
        out.append(bytes(buf[:n]))
    return out


def simulate(tx: SenderSession, rx: ReceiverEndpoint, up: Channel, down: Channel, *,
             limit_s: float,
             fill: Callable[[SenderSession, float], list[bytes]] = fill_one_by_one) -> None:
    """Run sender and receiver cores back to back over the two channels, in simulated time
    (0.5 ms steps), until the sender finishes or ``limit_s`` of simulated time passes; each
    step the sender sends the DATA datagrams ``fill`` gives."""
    now = 0.0
    for d in tx.start(now):
        up.put(d, now)
    buf = bytearray(70000)
    while not tx.finished and now < limit_s:
        now += 0.0005
        for d in up.due(now):
            buf[:len(d)] = d
            for out, _addr in rx.receive(buf, len(d), SENDER_ADDR, now):
                down.put(out, now)
        for out, _addr in rx.tick(now):
            down.put(out, now)
        for d in down.due(now):
            for out in tx.receive(d, now):
                up.put(out, now)
        for out in tx.tick(now):
            up.put(out, now)
        for d in fill(tx, now):
            up.put(d, now)


def run(data: bytes, *, cipher: int, channel_seed: int = 1, loss: float = 0.0,
        dup: float = 0.0, reorder: float = 0.0, max_datagram: int = 1400,
        receiver_min: int = 0, limit_s: float = 120.0,
        ) -> tuple[SenderSession, ReceiverEndpoint, MemorySinks]:
    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx-uid",
                          server_id="rx-id", min_cipher=receiver_min, sinks=sinks,
                          window=64, max_datagram=max_datagram)
    tx = SenderSession(make_spec(data, cipher=cipher, max_datagram=max_datagram),
                       MemorySource(data))
    up = Channel(channel_seed, loss=loss, dup=dup, reorder=reorder)
    down = Channel(channel_seed + 1000, loss=loss, dup=dup, reorder=reorder)
    simulate(tx, rx, up, down, limit_s=limit_s)
    return tx, rx, sinks


DATA = random.Random(5).randbytes(200_003)


@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_simulation_clean_channel_delivers_byte_exact(cipher: int) -> None:
    tx, rx, sinks = run(DATA, cipher=cipher)
    assert tx.state is SenderState.DONE, tx.error
    assert bytes(sinks.sinks[0].data) == DATA
    assert tx.blocks_acked == tx.total_blocks == -(-len(DATA) // 256)
    assert tx.blocks_retransmitted == 0
    assert tx.results == [{"destPath": "f", "outcome": "written", "detail": ""}]
    assert rx.rejected == 0 and rx.malformed == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("cipher", [0, 3])
def test_simulation_lossy_reordering_duplicating_channel_delivers_byte_exact(
        seed: int, cipher: int) -> None:
    tx, _rx, sinks = run(DATA, cipher=cipher, channel_seed=seed, loss=0.05, dup=0.03,
                        reorder=0.2)
    assert tx.state is SenderState.DONE, tx.error
    assert bytes(sinks.sinks[0].data) == DATA
    assert tx.blocks_retransmitted > 0
    assert tx.blocks_sent >= tx.total_blocks + tx.blocks_retransmitted


def test_simulation_heavy_loss_still_completes() -> None:
    tx, _rx, sinks = run(DATA, cipher=2, channel_seed=9, loss=0.30)
    assert tx.state is SenderState.DONE, tx.error
    assert bytes(sinks.sinks[0].data) == DATA


def test_simulation_empty_transfer_completes_without_data() -> None:
    tx, _rx, sinks = run(b"", cipher=3)
    assert tx.state is SenderState.DONE, tx.error
    assert tx.blocks_sent == 0 and sinks.sinks[0].finished


def test_simulation_receiver_min_cipher_raises_the_session_cipher() -> None:
    """The receiver never runs a session below its own minCipher: OPEN_ACK names the raised
    level and both directions are then protected at it."""
    tx, _rx, sinks = run(DATA, cipher=1, receiver_min=2)
    assert tx.state is SenderState.DONE, tx.error
    assert tx.cipher == 2
    assert bytes(sinks.sinks[0].data) == DATA


def test_simulation_datagram_protected_below_the_session_cipher_is_rejected() -> None:
    """A DATA datagram sealed at a weaker level than the session's is counted, not written."""
    from jetstream_qa.wire.data import DATA_PREFIX, HEADER, DType, pack_header

    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="u",
                          server_id="i", min_cipher=3, sinks=sinks)
    tx = SenderSession(make_spec(DATA, cipher=0), MemorySource(DATA))
    buf = bytearray(70000)
    pending = tx.start(0.0)
    now = 0.0
    while tx.state is not SenderState.DATA:
        now += 0.001
        for d in pending:
            buf[:len(d)] = d
            replies = rx.receive(buf, len(d), SENDER_ADDR, now)
            pending = [o for r, _a in replies for o in tx.receive(r, now)]
        pending += tx.tick(now)
    forged = pack_header(DType.DATA, tx.session, 10_000) + DATA_PREFIX.pack(0) + DATA[:256]
    buf[:len(forged)] = forged
    assert HEADER.size + 8 + 256 == len(forged)
    before = rx.rejected
    rx.receive(buf, len(forged), SENDER_ADDR, now)
    assert rx.rejected == before + 1
    assert sinks.sinks[0].writes == 0


def test_simulation_large_file_list_crosses_in_many_meta_chunks_under_loss() -> None:
    """META (5.4) is chunked and retransmitted like data: 3000 entries over a lossy path."""
    rng = random.Random(3)
    sizes = [rng.randint(0, 300) for _ in range(3000)]
    entries = [Entry(f"d/{rng.randbytes(8).hex()}-{i}", n, i) for i, n in enumerate(sizes)]
    data = rng.randbytes(sum(sizes))
    spec = make_spec(data, cipher=3, entries=entries)
    assert len(spec.meta) > 10 * 1360  # many META datagrams at 1400 bytes
    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="u",
                          server_id="i", min_cipher=0, sinks=sinks, max_datagram=1400)
    tx = SenderSession(spec, MemorySource(data))
    up, down = Channel(4, loss=0.1), Channel(5, loss=0.1)
    simulate(tx, rx, up, down, limit_s=120.0)
    assert tx.state is SenderState.DONE, tx.error
    assert [e.dest_path for e in sinks.specs[0].entries] == [e.dest_path for e in entries]
    assert bytes(sinks.sinks[0].data) == data
