"""A run of DATA datagrams filled at once is what filling them one by one gives.

Requirement (issue 13; docs/protocol.md 5.5-5.6): ``SenderSession.fill_run`` must produce the
same datagrams (bytes, sequence numbers, blocks) and leave the same sending state (in-flight
records, next new block, block/packet/byte counters, retransmission accounting, pacing) as
calling ``fill_parts`` the same number of times -- with blocks already held in the middle
of the byte space, retransmissions queued, the congestion window or the receiver's window
limiting, a rate cap, the short end of the transfer, a lent (synthetic) source or one read
into the buffer, and a source that fails mid-run. Two senders with the same keys take the
same handshake; one fills one by one, the other in runs. Also: the sans-IO simulation over
a lossy, duplicating, reordering channel stays byte-exact when the sender fills in runs.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from test_data_simulation import Channel, MemorySinks, MemorySource, make_spec, simulate

from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.file_source import FileSource, SourceError
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import BLOCK_SIZE, Ack

ADDR = ("127.0.0.1", 40000)
SIZE = 300 * 5 * BLOCK_SIZE + 300
DATA = random.Random(8).randbytes(SIZE)
STRIDE = 1500


class FailingSource(MemorySource):
    """Reads fail from byte ``fail_from`` on (a source file that shrank)."""

    def __init__(self, data: bytes, fail_from: int) -> None:
        super().__init__(data)
        self.fail_from = fail_from

    def read_into(self, offset: int, view: memoryview) -> None:
        if offset + len(view) > self.fail_from:
            raise SourceError("source file 'f' is shorter than its manifest size")
        super().read_into(offset, view)


def _sender(monkeypatch: pytest.MonkeyPatch, cipher: int, source: str,
            fail_from: int = SIZE + 1) -> SenderSession:
    """A sender in DATA state after a handshake with deterministic keys."""
    fixed = crypto.generate_ephemeral()
    monkeypatch.setattr(crypto, "generate_ephemeral", lambda: fixed)
    src: Any = (FileSource([(None, SIZE)], read=False) if source == "lent"
                else FailingSource(DATA, fail_from))
    spec = make_spec(DATA, cipher=cipher, static=fixed)
    if source == "lent":
        spec = dataclasses.replace(spec, flags=0)
    rx = ReceiverEndpoint(static_key=fixed, server_uid="rx", server_id="rx", min_cipher=0,
                          sinks=MemorySinks(), window=4096, max_datagram=1400)
    tx = SenderSession(spec, src, session_factory=lambda: 99)
    now = 0.0
    queue = tx.start(now)
    while tx.state is not SenderState.DATA:
        assert now < 5.0, f"handshake stuck in {tx.state}"
        answers = [o for d in queue for o, _ in rx.receive(bytearray(d), len(d), ADDR, now)]
        queue = [d for a in answers for d in tx.receive(a, now)] + tx.tick(now)
        now += 0.01
    return tx


def _state(tx: SenderSession) -> dict[str, Any]:
    p = tx.pump
    return {"seq": tx._seq, "counters": (tx.packets_sent, tx.bytes_sent, tx.last_send,
                                         p.blocks_sent, p.blocks_retransmitted),
            "inflight": list(p.out.inflight), "retx": list(p.out.retx),
            "next": (p.out.next_new, p.out.sent_high), "bucket": p.bucket._tokens,
            "state": (tx.state, tx.error)}


def _one_by_one(tx: SenderSession, limit: int, now: float) -> list[bytes]:
    out, buf = [], bytearray(STRIDE)
    for _ in range(limit):
        n, extra = tx.fill_parts(buf, now)
        if not n:
            break
        out.append(bytes(buf[:n]) + (bytes(extra) if extra is not None else b""))
    return out


def _as_run(tx: SenderSession, limit: int, now: float) -> list[bytes]:
    slots = memoryview(bytearray(STRIDE * limit))
    parts = tx.fill_run(slots, STRIDE, limit, now)
    return [bytes(slots[j * STRIDE:j * STRIDE + n]) + (bytes(e) if e is not None else b"")
            for j, (n, e) in enumerate(parts)]


def _compare(a: SenderSession, b: SenderSession, steps: list[tuple[int, float]]) -> int:
    """Fill ``limit`` at ``now`` for each step on both; returns datagrams compared."""
    total = 0
    for i, (limit, now) in enumerate(steps):
        try:
            want: list[bytes] | str = _one_by_one(a, limit, now)
        except JetStreamQAError as exc:
            want = exc.message
        try:
            got: list[bytes] | str = _as_run(b, limit, now)
        except JetStreamQAError as exc:
            got = exc.message
        assert got == want, f"datagrams differ at step {i}"
        assert _state(b) == _state(a), f"state differs after step {i}"
        total += len(want) if isinstance(want, list) else 0
    return total


def _both(monkeypatch: pytest.MonkeyPatch, cipher: int, source: str,
          **kw: Any) -> tuple[SenderSession, SenderSession]:
    return _sender(monkeypatch, cipher, source, **kw), _sender(monkeypatch, cipher, source,
                                                                **kw)


def _apply(a: SenderSession, b: SenderSession, fn: Any) -> None:
    fn(a)
    fn(b)


def _unlimited(a: SenderSession, b: SenderSession) -> None:
    """Neither the congestion window nor the receiver's window limits either sender."""
    _apply(a, b, lambda t: setattr(t.window, "cwnd", 1e6))
    _apply(a, b, lambda t: setattr(t.pump, "peer_window", 10**6))


@pytest.mark.parametrize("source", ["lent", "read"])
@pytest.mark.parametrize("cipher", [0, 1, 3])
def test_runs_equal_one_by_one_to_the_end(monkeypatch: pytest.MonkeyPatch, cipher: int,
                                          source: str) -> None:
    a, b = _both(monkeypatch, cipher, source)
    _unlimited(a, b)
    n = _compare(a, b, [(46, 1.0)] * 8)
    assert n == 301  # 300 full datagrams and the short end, then nothing


@pytest.mark.parametrize("cipher", [0, 3])
def test_held_blocks_retransmissions_and_windows(monkeypatch: pytest.MonkeyPatch,
                                                 cipher: int) -> None:
    a, b = _both(monkeypatch, cipher, "lent")
    _apply(a, b, lambda t: setattr(t.pump, "peer_window", 40))  # the receiver's window
    _compare(a, b, [(46, 1.0), (46, 1.0)])  # 40, then the window is full
    # an ACK: datagrams 0-29 held except 3 and 17 (lost: retransmitted first), and blocks
    # far ahead held already (a resumed transfer): the span must stop before them
    ack = Ack(15, 30, 28, 0, 64, ((20, 85), (90, 150), (400, 460)))
    _apply(a, b, lambda t: t.pump.on_ack(ack, 1.1))
    _compare(a, b, [(46, 1.2), (46, 1.2), (10, 1.3), (46, 1.3)])
    _apply(a, b, lambda t: setattr(t.window, "cwnd", 7.0))  # congestion window limits
    _apply(a, b, lambda t: t.pump.on_ack(Ack(460, 60, 60, 0, 4096, ()), 1.4))
    _compare(a, b, [(46, 1.5), (46, 1.5)])


def test_a_rate_cap_paces_runs_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _both(monkeypatch, 3, "lent")
    _unlimited(a, b)
    _apply(a, b, lambda t: t.set_rate(80e6))  # 10 MB/s: a 128 KiB burst, then paced
    assert _compare(a, b, [(46, 2.0 + i * 0.001) for i in range(10)]) > 46


@pytest.mark.parametrize("cipher", [0, 3])
def test_a_failing_source_ends_the_run_where_one_by_one_fails(
        monkeypatch: pytest.MonkeyPatch, cipher: int) -> None:
    fail_from = 57 * 5 * BLOCK_SIZE + 10  # inside datagram 57
    a, b = _both(monkeypatch, cipher, "read", fail_from=fail_from)
    _unlimited(a, b)
    # one by one: 46, then 11 and the error; as runs: 46, then 11, then the error
    assert len(_one_by_one(a, 46, 1.0)) == 46
    assert len(_as_run(b, 46, 1.0)) == 46
    with pytest.raises(SourceError):
        _one_by_one(a, 46, 1.0)
    assert len(_as_run(b, 46, 1.0)) == 11
    with pytest.raises(SourceError):
        _as_run(b, 46, 1.0)
    # the datagrams before the failure were counted alike
    assert _state(a)["counters"] == _state(b)["counters"]


def fill_runs(tx: SenderSession, now: float) -> list[bytes]:
    """A run of up to 8 DATA datagrams (``SenderSession.fill_run``), for ``simulate``."""
    return _as_run(tx, 8, now)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("cipher", [0, 3])
def test_simulation_with_runs_is_byte_exact_under_loss(seed: int, cipher: int) -> None:
    data = random.Random(seed).randbytes(200_003)
    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx-uid",
                          server_id="rx-id", min_cipher=0, sinks=sinks, window=64,
                          max_datagram=1400)
    tx = SenderSession(make_spec(data, cipher=cipher, entries=[Entry("f", len(data), 0)]),
                       MemorySource(data))
    up = Channel(seed, loss=0.05, dup=0.03, reorder=0.2)
    down = Channel(seed + 1000, loss=0.05, dup=0.03, reorder=0.2)
    simulate(tx, rx, up, down, limit_s=120.0, fill=fill_runs)
    assert tx.state is SenderState.DONE, tx.error
    assert bytes(sinks.sinks[0].data) == data
    assert tx.blocks_retransmitted > 0


@pytest.mark.parametrize("cipher", [0, 3])
def test_a_span_stops_before_held_blocks_and_resumes_after(
        monkeypatch: pytest.MonkeyPatch, cipher: int) -> None:
    a, b = _both(monkeypatch, cipher, "lent")
    _unlimited(a, b)
    # the receiver already holds blocks 103-130 and 200-201 (a resumed transfer):
    # runs stop short before them (a 3-block datagram) and go on after them
    _apply(a, b, lambda t: (t.pump.acked.add(103, 131), t.pump.acked.add(200, 202)))
    assert _compare(a, b, [(46, 1.0)] * 3) == 138
    held = [r for r in b.pump.out.inflight if r[1] < 131 and r[1] + r[2] > 103]
    assert held == [], "a datagram carried held blocks"


@pytest.mark.parametrize("cipher", [0, 3])
def test_blocks_sent_in_an_earlier_session_count_as_retransmitted(
        monkeypatch: pytest.MonkeyPatch, cipher: int) -> None:
    a, b = _both(monkeypatch, cipher, "lent")
    _unlimited(a, b)
    _compare(a, b, [(46, 1.0), (20, 1.0)])
    # a new session (receiver restarted) that holds only the first 100 blocks: the next
    # 230 blocks go again and count as retransmitted
    _apply(a, b, lambda t: t.pump.out.reset(2.0))
    _apply(a, b, lambda t: t.pump.acked.add(0, 100))
    _compare(a, b, [(46, 2.0), (46, 2.0)])
    assert b.blocks_retransmitted == 330 - 100
