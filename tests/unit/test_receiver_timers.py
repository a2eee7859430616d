"""The receiver's timers visit only what is due (refserver/engine/rx_tables.py).

Requirement: expiry of finished and idle transfers happens on the same tick as a full scan of
every transfer on every tick would do it; a finished session still sends its keep-alive ACK
at least once a second (docs/protocol.md 5.5), still answers duplicate DATA within the ACK
interval and still expires after ``session_idle``; and a tick visits the busy sessions plus
the quiet ones whose timer is due, not every session the receiver lists (measured: with
~1,900 transfers a minute the every-tick scans took a third of the receiving server's time).
"""

from __future__ import annotations

import random

from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.receiver_model import (
    RxEvent,
    RxSession,
    RxState,
    RxTiming,
    RxTransfer,
)
from jetstream_qa.refserver.engine.rx_tables import RxTables
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import DATA_PREFIX, HEADER, MAGIC, VERSION, DType, Open
from jetstream_qa.wire.header import unpack_header

ADDR = ("127.0.0.1", 40000)
TICK = 0.005
TIMING = RxTiming(keepalive=1.0, session_idle=4.0, transfer_idle=3.0, keep_finished=2.0)


def _transfer(tid: int, now: float) -> RxTransfer:
    body = Open(tid, 1000, 0, 3, 4, 0, 1400, 10, bytes(32), bytes(32), bytes(32), "uid", "id",
                "")
    return RxTransfer.from_open(("uid", tid), body, ADDR, now)


def _finished_session(sid: int, now: float) -> RxSession:
    """A session whose transfer is stored, as the endpoint leaves it after FIN (5.7)."""
    t = _transfer(sid, now)
    t.apply(RxEvent.STORED)
    t.ended = now
    clear = crypto.Protector(0, None, crypto.SENDER_TO_RECEIVER)
    return RxSession(sid, t, ADDR, 1400, b"", clear, clear, now, state=RxState.DONE,
                     last_ack=now)


def _naive_expire(transfers: dict[tuple[str, int], RxTransfer], now: float) -> None:
    """The rule as a full scan (what every tick did before)."""
    for t in [t for t in transfers.values()
              if not t.receiving and now - t.ended > TIMING.keep_finished]:
        transfers.pop(t.key)
    for t in [t for t in transfers.values()
              if t.receiving and now - t.last_recv > TIMING.transfer_idle]:
        t.fail("idle", t.last_recv)
        transfers.pop(t.key)


def test_expiry_happens_on_the_tick_a_full_scan_would_expire() -> None:
    rng = random.Random(7)
    tables = RxTables(TIMING, None)
    twins: dict[tuple[str, int], RxTransfer] = {}  # the same transfers under the naive rule
    now, tid = 0.0, 0
    for _ in range(4000):  # 20 s of ticks: opens, data, ends, silence, in random order
        now += TICK
        roll = rng.random()
        if roll < 0.05:
            tid += 1
            tables.transfers[("uid", tid)] = _transfer(tid, now)
            twins[("uid", tid)] = _transfer(tid, now)
        elif roll < 0.15 and tables.transfers:
            key = rng.choice(list(tables.transfers))
            a, b = tables.transfers[key], twins[key]
            if a.receiving and rng.random() < 0.3:
                for t in (a, b):
                    t.apply(RxEvent.STORED)
                    t.ended = now
            elif a.receiving:
                a.last_recv = b.last_recv = now
            elif a.status.value == "complete" and rng.random() < 0.2:
                a.fail("replaced", now)
                b.fail("replaced", now)
        tables.expire(now)
        _naive_expire(twins, now)
        assert set(tables.transfers) == set(twins), f"at {now:.3f} s"
    assert tid > 100 and len(twins) < tid  # the walk opened many and expired some


def _endpoint() -> ReceiverEndpoint:
    return ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx",
                            server_id="rx", min_cipher=0, sinks=None,  # type: ignore[arg-type]
                            timing=TIMING)


def _acks(out: list[tuple[bytes, tuple[str, int]]]) -> list[int]:
    return [unpack_header(data).session for data, _ in out
            if unpack_header(data).dtype is DType.ACK]


def test_a_finished_session_keeps_its_keepalive_and_idle_expiry() -> None:
    rx = _endpoint()
    sess = _finished_session(1, 0.0)
    rx.tables.add_session(sess)
    sent_at, now, gone_at = [], 0.0, None
    while now < TIMING.session_idle + 1.0:
        now += TICK
        if _acks(rx.tick(now)):
            sent_at.append(now)
        if gone_at is None and 1 not in rx.sessions:
            gone_at = now
    gaps = [b - a for a, b in zip([0.0, *sent_at], sent_at, strict=False)]
    # keep-alives at ~1, 2 and 3 s (the tick's float drift makes each up to a tick late, as
    # with a scan of every session), then the idle expiry at 4 s comes before the fourth
    assert len(sent_at) == 3 and max(gaps) <= TIMING.keepalive + TICK, sent_at
    assert gone_at is not None and 0 < gone_at - TIMING.session_idle <= 2 * TICK, gone_at
    assert 1 not in rx.tables.busy


def test_duplicate_data_on_a_finished_session_is_acknowledged_within_the_ack_interval() -> None:
    rx = _endpoint()
    sess = _finished_session(1, 0.0)
    rx.tables.add_session(sess)
    rx.tick(0.1)  # filed as quiet: the next timer is its keep-alive at 1.0
    assert 1 not in rx.tables.busy
    sess.transfer.sink = object()  # type: ignore[assignment]  # storage was opened
    late = bytearray(HEADER.pack(MAGIC, VERSION, DType.DATA, 1, 9) + DATA_PREFIX.pack(0)
                     + bytes(100))  # a retransmission of block 0 the sender sent too late
    assert rx.receive(late, len(late), ADDR, 0.1) == []  # one DATA: below the ACK cadence
    assert _acks(rx.tick(0.1 + TIMING.ack_interval)) == [1]


def test_a_tick_visits_the_busy_and_the_due_sessions_only() -> None:
    tables = RxTables(TIMING, None)
    for sid in range(1000):  # finished sessions, their keep-alives spread over a second
        sess = _finished_session(sid, 0.0)
        sess.last_ack = sid / 1000.0
        tables.add_session(sess)
        tables.rest(sess)
    live = _finished_session(5000, 0.0)
    live.transfer.status = live.transfer.status.RECEIVING
    tables.add_session(live)
    tables.rest(live)
    visits = []
    now = 0.0
    for _ in range(200):  # one second of ticks
        now += TICK
        due = tables.due_sessions(now)
        visits.append(len(due))
        for sess in due:
            if sess is not live and now - sess.last_ack >= TIMING.keepalive:
                sess.last_ack = now  # the keep-alive went out
            tables.rest(sess)
    assert sum(visits) - len(visits) <= 1000 + 10  # each quiet one about once, the live one always
    assert max(visits) <= 1 + 10  # never the whole table in one tick
