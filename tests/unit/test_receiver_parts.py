"""The receiver's parts on their own (docs/protocol.md 5.2-5.6, vendor API 4.6).

Requirement: a receive transfer's status moves only through its table (receiving, then
complete or error) and an event the table lacks is refused naming status and event; REJECTs
are answered at most 100 a second after a burst of 100, answers to a well-formed OPEN always;
the receive window and ACK cadence are shared among the sessions still carrying data.
"""

from __future__ import annotations

from typing import Any

import pytest

from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.engine.receiver_model import (
    RX_TRANSITIONS,
    RxEvent,
    RxSession,
    RxState,
    RxStatus,
    RxTransfer,
)
from jetstream_qa.refserver.engine.reject_limit import BURST, RATE, RejectLimiter
from jetstream_qa.refserver.engine.rx_shares import RATE_ACTIVE, Shares
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import Open

ADDR = ("127.0.0.1", 40000)


def _transfer(tid: int = 1) -> RxTransfer:
    body = Open(tid, 1000, 0, 3, 4, 0, 1400, 10, bytes(32), bytes(32), bytes(32), "uid", "id",
                "")
    return RxTransfer.from_open(("uid", tid), body, ADDR, 0.0)


def _session(sid: int, t: RxTransfer, state: RxState, last_recv: float) -> RxSession:
    clear = crypto.Protector(0, None, crypto.SENDER_TO_RECEIVER)
    return RxSession(sid, t, ADDR, 1400, b"", clear, clear, last_recv, state=state)


# --- status table ----------------------------------------------------------------------------
def test_a_transfer_receives_then_completes() -> None:
    t = _transfer()
    assert t.status is RxStatus.RECEIVING and t.receiving
    t.apply(RxEvent.STORED)
    assert t.status is RxStatus.COMPLETE and not t.receiving
    assert t.to_json(lambda _s: 0)["status"] == "complete"


@pytest.mark.parametrize("before", list(RxStatus))
def test_failing_ends_in_error_from_every_status(before: RxStatus) -> None:
    t = _transfer()
    t.status = before
    t.fail("sender aborted: x", 5.0)
    assert (t.status, t.error, t.ended, t.last_error) == (RxStatus.ERROR, "sender aborted: x",
                                                         5.0, 5.0)


@pytest.mark.parametrize("before", [RxStatus.COMPLETE, RxStatus.ERROR])
def test_an_ended_transfer_cannot_be_stored_again(before: RxStatus) -> None:
    t = _transfer()
    t.status = before
    with pytest.raises(UsageError) as info:
        t.apply(RxEvent.STORED)
    assert info.value.details == {"status": before.value, "event": "stored"}
    assert t.status is before


def test_the_table_names_only_known_statuses_and_events() -> None:
    assert {s for s, _ in RX_TRANSITIONS} | set(RX_TRANSITIONS.values()) == set(RxStatus)
    assert {e for _, e in RX_TRANSITIONS} == set(RxEvent)


# --- reject limiter --------------------------------------------------------------------------
def test_rejects_come_in_a_burst_then_at_the_rate() -> None:
    limiter = RejectLimiter()
    now = 1000.0
    allowed = sum(limiter.allow(now) for _ in range(int(BURST) + 50))
    assert allowed == BURST
    assert limiter.allow(now + 0.5 / RATE) is False  # half a token earned: not yet
    assert limiter.allow(now + 1.5 / RATE) is True  # one and a half earned in all


def test_an_answer_to_a_well_formed_open_is_never_held_back() -> None:
    limiter = RejectLimiter()
    for _ in range(int(BURST)):
        limiter.allow(50.0)
    assert limiter.allow(50.0) is False
    assert all(limiter.allow(50.0, force=True) for _ in range(10))


# --- shares ----------------------------------------------------------------------------------
def test_the_window_is_shared_among_live_sessions_with_one_share_free() -> None:
    shares = Shares(256)
    assert (shares.live, shares.session_window(), shares.ack_every) == (1, 128, 16)
    live = [_session(i, _transfer(i), RxState.DATA, 0.0) for i in range(3)]
    finished = _session(9, _transfer(9), RxState.DONE, 0.0)  # lingers to answer FIN
    shares.refresh([*live, finished])
    assert (shares.live, shares.session_window(), shares.ack_every) == (3, 64, 5)


def test_only_recent_senders_share_the_allowance() -> None:
    shares = Shares(64)
    shares.incoming_allowance = 9_000_000
    now = 100.0
    recent = _session(1, _transfer(1), RxState.DATA, now - RATE_ACTIVE)
    quiet = _session(2, _transfer(2), RxState.DATA, now - 2 * RATE_ACTIVE)
    failed = _transfer(3)
    failed.fail("idle", now)
    sessions: list[Any] = [recent, quiet, _session(3, failed, RxState.DATA, now)]
    shares.refresh(sessions, now)
    assert shares.senders == 1 and shares.carrying_data
    assert shares.rate_cap() == 9_000_000
    assert shares.rate_cap(joining=True) == 4_500_000
    shares.refresh([], now)
    assert not shares.carrying_data
