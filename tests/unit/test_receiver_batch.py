"""A coalesced read handled as a run gives exactly what handling each datagram gives.

Requirement (issue 13; docs/protocol.md 5.2, 5.5, 5.9): ``ReceiverEndpoint.receive_run`` on
a GRO read (datagrams of one segment size back to back, the last perhaps shorter) must
leave the receiver as ``receive`` on each datagram in order would: the same
datagrams/rejected/malformed counters, the same bytes written, the same held blocks, the
same answers (ACK contents included) -- whatever the read holds: a gap, duplicate blocks,
a replayed or forged datagram, another session's datagram in the middle, a short last
datagram, the transfer's completion, an ACK falling due mid-run, a failing write.

Two receivers with the same keys (deterministic ephemeral keys) take the same handshake;
then one gets each read datagram by datagram, the other as one run, and everything they
hold or answer is compared. In memory, no sockets, the real cores.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from test_data_simulation import MemorySink, MemorySinks, MemorySource, make_spec

from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import BLOCK_SIZE, HEADER

ADDR = ("127.0.0.1", 40000)
DATA = random.Random(21).randbytes(40 * 5 * BLOCK_SIZE + 700)
"""40 full 1,400-byte datagrams (5 blocks each) and a short last one."""
NOW = 100.0


class FailingSinks(MemorySinks):
    """Memory sinks whose ``fail_at``-th write (counted from 0) raises."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    def open(self, spec: Any) -> MemorySink:
        sink = super().open(spec)
        writes = [0]
        inner = sink.write

        def write(offset: int, data: memoryview) -> None:
            writes[0] += 1
            if writes[0] - 1 == self.fail_at:
                raise JetStreamQAError("disk full")
            inner(offset, data)

        sink.write = write  # type: ignore[method-assign]
        return sink


Pair = tuple[ReceiverEndpoint, ReceiverEndpoint, MemorySinks, MemorySinks, list[bytes]]


def _pair(monkeypatch: pytest.MonkeyPatch, cipher: int, *, window: int = 64,
          sinks: Callable[[], MemorySinks] = MemorySinks, data: bytes = DATA) -> Pair:
    """Two receivers in the same state after one handshake, and the sender's DATA
    datagrams of ``data``."""
    fixed = crypto.generate_ephemeral()
    monkeypatch.setattr(crypto, "generate_ephemeral", lambda: fixed)
    static = crypto.generate_ephemeral()
    one, run = sinks(), sinks()
    a, b = (ReceiverEndpoint(static_key=static, server_uid="rx", server_id="rx",
                             min_cipher=0, sinks=s, window=window, max_datagram=1400)
            for s in (one, run))
    tx = SenderSession(make_spec(data, cipher=cipher), MemorySource(data),
                       session_factory=lambda: 77)
    now = NOW - 1.0
    queue = tx.start(now)
    while tx.state is not SenderState.DATA:
        assert now < NOW, f"handshake stuck in {tx.state}"
        answers = []
        for d in queue:
            answers += [o for o, _ in a.receive(bytearray(d), len(d), ADDR, now)]
            b.receive(bytearray(d), len(d), ADDR, now)
        queue = [d for o in answers for d in tx.receive(o, now)] + tx.tick(now)
        now += 0.01
    tx.window.cwnd = tx.pump.peer_window = 10**6  # every datagram now: not about pacing
    datagrams, buf = [], bytearray(1500)
    while n := tx.fill_data(buf, NOW):
        datagrams.append(bytes(buf[:n]))
    assert len(datagrams) == -(-len(data) // (5 * BLOCK_SIZE))
    return a, b, one, run, datagrams


def _state(rx: ReceiverEndpoint, sinks: MemorySinks) -> dict[str, Any]:
    sess = next(iter(rx.sessions.values()))
    t = sess.transfer
    return {"counters": (rx.datagrams, rx.rejected, rx.malformed),
            "data": bytes(sinks.sinks[0].data), "writes": sinks.sinks[0].writes,
            "held": t.held.ranges(),
            "session": (sess.received, sess.highest_seq, sess.highest_at, sess.unacked,
                        sess.seq, sess.last_ack),
            "transfer": (t.status, t.error, t.bytes_recv, t.last_recv, t.finishing)}


def _feed(pair: Pair, reads: list[list[bytes]]) -> tuple[int, int]:
    """Each read datagram by datagram to the first receiver, as one run to the second;
    answers and state must match after every read. Returns how many datagrams the run
    path sent one by one (``_deliver`` calls) and how many reads it took as runs."""
    a, b, one, run, _ = pair
    calls = [0]
    deliver = b._deliver

    def counting(*args: Any) -> Any:
        calls[0] += 1
        return deliver(*args)

    b._deliver = counting  # type: ignore[method-assign]
    for i, read in enumerate(reads):
        assert all(len(d) == len(read[0]) for d in read[:-1]), "not a GRO read"
        now = NOW + i * 0.001
        expected = [o for d in read for o in a.receive(bytearray(d), len(d), ADDR, now)]
        got = b.receive_run(bytearray(b"".join(read)), sum(map(len, read)), len(read[0]),
                            ADDR, now)
        assert got == expected, f"answers differ after read {i}"
        assert _state(b, run) == _state(a, one), f"state differs after read {i}"
    return calls[0], len(reads)


def _forge(d: bytes, at: int) -> bytes:
    bad = bytearray(d)
    bad[at] ^= 0x40
    return bytes(bad)


def _other_session(d: bytes) -> bytes:
    bad = bytearray(d)
    bad[4:12] = (12345).to_bytes(8, "big")
    return bytes(bad)


CIPHERS = [0, 1, 3]


@pytest.mark.parametrize("cipher", CIPHERS)
def test_plain_reads_are_handled_as_runs(monkeypatch: pytest.MonkeyPatch,
                                         cipher: int) -> None:
    pair = _pair(monkeypatch, cipher)
    d = pair[4]
    one_by_one, _ = _feed(pair, [d[0:20], d[20:41]])
    assert one_by_one == 1  # only the transfer's completing datagram (it is the short one)
    assert bytes(pair[3].sinks[0].data) == DATA
    assert pair[1].transfers[("sender-uid", 7)].finishing


READS_OUT_OF_ORDER: dict[str, Callable[[list[bytes]], list[list[bytes]]]] = {
    "gap-and-late-fill":
        lambda d: [d[0:5] + d[6:15], [d[5]], d[15:25] + d[26:33], d[33:41], [d[25]]],
    # a datagram twice in one read (a replay above NONE), then a read overlapping held
    # blocks, then one wholly held
    "duplicate-and-already-held-blocks":
        lambda d: [[*d[0:4], d[3], *d[4:10]], d[8:16], d[2:7], d[16:41]],
}


@pytest.mark.parametrize("reads", READS_OUT_OF_ORDER.values(), ids=READS_OUT_OF_ORDER.keys())
@pytest.mark.parametrize("cipher", CIPHERS)
def test_reads_out_of_order_end_byte_exact(monkeypatch: pytest.MonkeyPatch, cipher: int,
                                           reads: Callable[[list[bytes]], list[list[bytes]]],
                                           ) -> None:
    pair = _pair(monkeypatch, cipher)
    _feed(pair, reads(pair[4]))
    assert bytes(pair[3].sinks[0].data) == DATA


@pytest.mark.parametrize("cipher", CIPHERS)
def test_foreign_and_forged_datagrams_in_the_middle(monkeypatch: pytest.MonkeyPatch,
                                                    cipher: int) -> None:
    pair = _pair(monkeypatch, cipher)
    d = pair[4]
    reads = [[*d[0:3], _other_session(d[3]), *d[4:10]],
             [*d[10:13], _forge(d[13], 200), *d[14:20]],  # body byte: bad tag above NONE
             [*d[20:22], _forge(d[22], 0), *d[23:30]],  # bad magic: malformed
             d[30:41]]
    _feed(pair, reads)
    a = pair[0]
    assert a.rejected >= 1 and a.malformed >= 1
    if cipher:
        assert a.rejected >= 2  # the forged body


@pytest.mark.parametrize("cipher", CIPHERS)
def test_replayed_read(monkeypatch: pytest.MonkeyPatch, cipher: int) -> None:
    pair = _pair(monkeypatch, cipher)
    d = pair[4]
    _feed(pair, [d[0:12], d[0:12], d[12:41]])
    assert (pair[0].rejected == 12) is (cipher != 0)


@pytest.mark.parametrize("cipher", CIPHERS)
def test_acks_fall_due_mid_run_with_the_same_contents(monkeypatch: pytest.MonkeyPatch,
                                                      cipher: int) -> None:
    pair = _pair(monkeypatch, cipher, window=64)  # an ACK every 4 datagrams
    d = pair[4]
    assert pair[1].shares.ack_every == 4
    one_by_one, _ = _feed(pair, [d[0:7], d[7:30], d[30:41]])
    assert one_by_one == 1


@pytest.mark.parametrize("received", [0, 40, 100, 8180])
def test_start_up_acks_fall_due_mid_run_with_the_same_contents(
        monkeypatch: pytest.MonkeyPatch, received: int) -> None:
    """The start-up cadence (every received/16, up to window/16 = 512) moves within a run:
    chunks are cut where it falls due, one by one."""
    pair = _pair(monkeypatch, 3, window=8192)
    for rx in pair[:2]:
        next(iter(rx.sessions.values())).received = received
    d = pair[4]
    _feed(pair, [d[0:17], d[17:40], [d[40]]])


@pytest.mark.parametrize("cipher", [0, 3])
@pytest.mark.parametrize("fail_at", [0, 5, 12])
def test_failing_write_ends_the_transfer_at_the_same_datagram(
        monkeypatch: pytest.MonkeyPatch, cipher: int, fail_at: int) -> None:
    pair = _pair(monkeypatch, cipher, sinks=lambda: FailingSinks(fail_at))
    d = pair[4]
    _feed(pair, [d[0:3], d[3:20], d[20:41]])
    t = pair[1].transfers[("sender-uid", 7)]
    assert t.error == "write failed: disk full"


def test_a_read_of_other_types_or_sessions_goes_one_by_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pair = _pair(monkeypatch, 3)
    d = pair[4]
    one_by_one, _ = _feed(pair, [[_other_session(x) for x in d[0:5]], d[0:5]])
    assert one_by_one == 0  # the foreign read never reached DATA handling; then a run
    assert pair[0].rejected == 5 and pair[0].sessions.get(12345) is None
    assert HEADER.size == 20


@pytest.mark.parametrize("cipher", CIPHERS)
def test_completion_inside_a_run(monkeypatch: pytest.MonkeyPatch, cipher: int) -> None:
    pair = _pair(monkeypatch, cipher)
    d = pair[4]
    _feed(pair, [[d[40]], d[0:20], d[20:40]])  # the 40th full datagram completes it
    assert pair[1].transfers[("sender-uid", 7)].finishing
    assert bytes(pair[3].sinks[0].data) == DATA


def test_sequence_numbers_out_of_order_over_contiguous_blocks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # At NONE nothing authenticates the header: a sender may number a run of contiguous
    # blocks in any order; the highest sequence number must still be the one ACKed.
    pair = _pair(monkeypatch, 0)
    d = [bytearray(x) for x in pair[4]]
    d[8][12:20], d[9][12:20] = d[9][12:20], d[8][12:20]
    _feed(pair, [[bytes(x) for x in d[0:10]], [bytes(x) for x in d[10:41]]])
