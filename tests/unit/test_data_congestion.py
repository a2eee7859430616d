"""Rate cap, congestion window and loss detection (docs/protocol.md 5.6), with virtual time."""

from __future__ import annotations

import pytest

from jetstream_qa.refserver.engine.congestion import MIN_CWND, TokenBucket, Window
from jetstream_qa.refserver.engine.outstanding import REORDER, Outstanding
from jetstream_qa.wire.data import Ack
from jetstream_qa.wire.ranges import RangeSet


def test_token_bucket_caps_the_rate() -> None:
    bucket = TokenBucket(8_000_000, burst_bytes=10_000)  # 1 MB/s
    sent, now = 0, 0.0
    while now < 1.0:
        if bucket.delay(1000, now) == 0.0:
            bucket.consume(1000)
            sent += 1000
        else:
            now += 0.0005
    assert 1_000_000 <= sent <= 1_000_000 + 10_000 + 1000


def test_token_bucket_unlimited_never_waits() -> None:
    assert TokenBucket(None).delay(10**9, 0.0) == 0.0


def test_window_tolerates_light_random_loss_and_backs_off_on_heavy_loss() -> None:
    w = Window(cwnd=100.0, slow_start=False)
    w.resolved(96, 4)  # 4% loss: not congestion
    assert w.cwnd == pytest.approx(125.0)
    w.resolved(75, 50)  # one epoch (~cwnd datagrams) at 40% loss: shrink by that share
    assert w.cwnd == pytest.approx(125.0 * 0.6)
    w.timeout()
    assert w.cwnd == pytest.approx(125.0 * 0.6 / 2)
    for _ in range(20):
        w.timeout()
    assert w.cwnd == MIN_CWND


def test_window_limit_is_the_smaller_of_cwnd_and_receiver_window() -> None:
    w = Window(cwnd=50.0)
    assert w.limit(20) == 20 and w.limit(500) == 50


def _ack(high: int, held: RangeSet) -> Ack:
    cum = held.cumulative
    return Ack(cum, high, high + 1, 0, 64, tuple(held.ranges_above(cum, limit=100)))


def test_outstanding_declares_loss_after_reorder_threshold() -> None:
    out = Outstanding(total_blocks=100, max_blocks=10, window=Window())
    held = RangeSet()
    for seq in range(6):
        first, n, again = out.next_run(held)  # type: ignore[misc]
        assert (first, n, again) == (seq * 10, 10, False)
        out.sent(seq, first, n, again, 0.0)
    held.add(10, 60)  # datagram 0 (blocks 0..9) lost, 1..5 arrived
    out.resolve(_ack(5, held), held, 0.01)
    assert 5 - REORDER >= 0
    assert list(out.retx) == [(0, 10)]
    assert out.next_run(held) == (0, 10, True)
    assert len(out) == 0  # 1..5 delivered, 0 lost: nothing left in flight


def test_outstanding_timeout_resends_only_the_oldest_and_backs_off() -> None:
    w = Window()
    out = Outstanding(total_blocks=100, max_blocks=10, window=w)
    held = RangeSet()
    for seq in range(4):
        run = out.next_run(held)
        assert run is not None
        out.sent(seq, run[0], run[1], run[2], 0.0)
    out.check_timeout(held, 0.1)  # before the RTO (0.5 s without samples)
    assert not out.retx
    out.check_timeout(held, 0.6)
    assert list(out.retx) == [(0, 10)] and len(out) == 3 and out.backoff == 2.0
    out.check_timeout(held, 0.7)  # backed off: nothing more yet
    assert list(out.retx) == [(0, 10)]


def test_outstanding_counts_blocks_sent_before_a_rehandshake_as_repeated() -> None:
    out = Outstanding(total_blocks=100, max_blocks=10, window=Window())
    held = RangeSet()
    for seq in range(3):
        run = out.next_run(held)
        assert run is not None
        assert out.sent(seq, run[0], run[1], run[2], 0.0) == 0
    out.reset(1.0)  # new session; the receiver held nothing
    run = out.next_run(held)
    assert run == (0, 10, False)
    assert out.sent(10, 0, 10, False, 1.0) == 10
