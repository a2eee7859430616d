"""What a sender has in flight and what it must send again, sans-IO (``docs/protocol.md`` 5.6).

:class:`Outstanding` chooses the next run of blocks (retransmissions first, then new blocks in
order, skipping what the receiver already holds), remembers every DATA datagram in flight
(sequence, first block, block count, send time), and resolves them from ACKs: a datagram
whose blocks are all held is delivered; one the receiver has overtaken by ``REORDER``
sequence numbers without holding its blocks is lost, and its missing blocks are queued again.
With no ACK progress for a retransmission timeout, only the oldest datagram is resent and the
timeout backs off (F-RTO style), so a stalled receiver costs one datagram, not a window.
"""

from __future__ import annotations

import collections
import itertools

from jetstream_qa.refserver.engine.congestion import Window
from jetstream_qa.wire.data import Ack
from jetstream_qa.wire.ranges import RangeSet

__all__ = ["REORDER", "Outstanding"]

REORDER = 3
"""A datagram is presumed lost once one sent this many sequence numbers later arrived."""


class Outstanding:
    """In-flight datagrams and the retransmission queue of one transfer."""

    def __init__(self, total_blocks: int, max_blocks: int, window: Window) -> None:
        self.total_blocks = total_blocks
        self.max_blocks = max_blocks
        self.window = window
        self.sent_high = 0
        """Blocks below this were sent before (in this or an earlier session)."""
        self.reset(0.0)

    def reset(self, now: float) -> None:
        """Forget what is in flight (a new session starts from the receiver's held set)."""
        self.inflight: collections.deque[tuple[int, int, int, float]] = collections.deque()
        self.retx: collections.deque[tuple[int, int]] = collections.deque()
        self.next_new = 0
        self.progress = now
        self.backoff = 1.0

    def __len__(self) -> int:
        return len(self.inflight)

    def next_run(self, acked: RangeSet) -> tuple[int, int, bool] | None:
        """``(first block, count, is_retransmission)`` of the next DATA run, or None."""
        retx, maxb, total = self.retx, self.max_blocks, self.total_blocks
        while retx:
            a, b = retx[0]
            a = acked.next_missing(a)
            if a >= b:
                retx.popleft()
                continue
            held = acked.next_held(a)
            stop = min(b, a + maxb, held if held is not None else b)
            if stop >= b:
                retx.popleft()
            else:
                retx[0] = (stop, b)
            return a, stop - a, True
        a = acked.next_missing(self.next_new)
        if a >= total:
            return None
        held = acked.next_held(a)
        stop = min(total, a + maxb, held if held is not None else total)
        self.next_new = stop
        return a, stop - a, False

    def next_span(self, acked: RangeSet, count: int) -> tuple[int, int] | None:
        """``[first, stop)``: the new blocks of the next ``count`` DATA runs taken together
        (``max_blocks`` each) when nothing waits for retransmission -- what ``count`` calls
        of :meth:`next_run` would return, up to the first block already held. None when
        no new block is left."""
        assert not self.retx
        total = self.total_blocks
        a = acked.next_missing(self.next_new)
        if a >= total:
            return None
        held = acked.next_held(a)
        stop = min(total, a + self.max_blocks * count, held if held is not None else total)
        self.next_new = stop
        return a, stop

    def sent_span(self, seq: int, first: int, stop: int, now: float) -> int:
        """Record the DATA datagrams of new blocks ``[first, stop)``, ``max_blocks`` each
        and sequence numbers from ``seq`` (as :meth:`sent` for each); returns how many of
        the blocks were sent before."""
        maxb = self.max_blocks
        starts = range(first, stop, maxb)
        d = len(starts)
        if not d:
            return 0
        counts = [maxb] * (d - 1)
        counts.append(stop - starts[-1])
        self.inflight.extend(zip(range(seq, seq + d), starts, counts, itertools.repeat(now)))
        repeated = max(0, min(stop, self.sent_high) - first)
        if stop > self.sent_high:
            self.sent_high = stop
        return repeated

    def sent(self, seq: int, first: int, n: int, again: bool, now: float) -> int:
        """Record a DATA datagram; returns how many of its blocks were sent before."""
        self.inflight.append((seq, first, n, now))
        repeated = n if again else max(0, min(n, self.sent_high - first))
        if first + n > self.sent_high:
            self.sent_high = first + n
        return repeated

    def resolve(self, ack: Ack, acked: RangeSet, now: float) -> None:
        """Settle in-flight datagrams the ACK overtook; feeds RTT and loss to the window."""
        inflight = self.inflight
        high = ack.highest_seq
        limit = high - REORDER
        ok = lost = 0
        while inflight and inflight[0][0] <= high:
            seq, first, n, sent = inflight[0]
            if seq == high:
                self.window.rtt_sample(now - sent - ack.delay_us / 1e6)
            if acked.contains(first, first + n):
                inflight.popleft()
                ok += 1
            elif seq <= limit:
                inflight.popleft()
                self.retx.extend(acked.missing(first, first + n))
                lost += 1
            else:
                break
        if ok or lost:
            self.window.resolved(ok, lost)
            self.progress = now
            self.backoff = 1.0

    def check_timeout(self, acked: RangeSet, now: float) -> None:
        """No ACK progress for the (backed-off) RTO: resend the oldest datagram's blocks."""
        rto = self.window.rto * self.backoff
        inflight = self.inflight
        if not inflight or now - inflight[0][3] < rto or now - self.progress < rto:
            return
        _seq, first, n, _sent = inflight.popleft()
        self.retx.extend(acked.missing(first, first + n))
        self.window.timeout()
        self.progress = now
        self.backoff = min(8.0, self.backoff * 2)

    def deadline(self) -> float | None:
        """When :meth:`check_timeout` could next fire (None when nothing is in flight)."""
        if not self.inflight:
            return None
        return self.inflight[0][3] + self.window.rto * self.backoff
