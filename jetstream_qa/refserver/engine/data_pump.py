"""What a sender puts in DATA datagrams and how fast, sans-IO (``docs/protocol.md`` 5.5-5.6).

Theory of operation
-------------------
:class:`DataPump` holds the data side of one sending transfer: the blocks the receiver
acknowledged (:class:`~jetstream_qa.wire.ranges.RangeSet`), what is in flight and must go
again (``outstanding.py``), the congestion window and the pacing (``congestion.py``: the
smaller of this server's own cap and the receiver's ``rateCap``). ``sender_core.SenderSession``
owns the protocol around it -- states, keys, sequence numbers -- and asks for DATA
datagrams once the session is in DATA state.

:meth:`fill` writes one datagram: header, first-block prefix and block bytes (read through
the :class:`~.sender_model.Source`, or lent by it without a copy) into the caller's buffer,
protected. :meth:`fill_run` is the hot path (issue 13): it writes the datagrams of one GSO
batch into the caller's slots in one call. In the bulk of a transfer -- no rate cap, nothing
queued for retransmission -- the window is checked once, the next new blocks are taken as
spans (``Outstanding.next_span``: up to the first block the receiver already holds, then on
after it), the source lends one view per span (or is read per datagram), each datagram is
packed and sealed in its slot, and each span is recorded in flight at once
(``Outstanding.sent_span``). Paced or retransmitting, it calls :meth:`fill` per datagram, so
the token bucket and the retransmission queue see exactly the one-by-one sequence. Either
way the datagrams, sequence numbers and counters are those of :meth:`fill` called until it
returns nothing (``tests/unit/test_sender_batch.py`` compares them).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from typing import Final

from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.refserver.engine.bandwidth import pacing_rate, rate_from_wire
from jetstream_qa.refserver.engine.congestion import TokenBucket, Window
from jetstream_qa.refserver.engine.outstanding import Outstanding
from jetstream_qa.refserver.engine.sender_model import SendSpec, Source
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    DATA_PREFIX,
    HEADER,
    MAGIC,
    VERSION,
    Ack,
    DType,
    OpenAck,
    blocks_for,
    max_blocks_per_datagram,
)
from jetstream_qa.wire.ranges import RangeSet

__all__ = ["DataPump"]

INITIAL_PEER_WINDOW: Final = 64
"""Datagrams in flight allowed before the receiver's first window arrives."""
_DATA: Final = int(DType.DATA)
_DATA_HEAD: Final = struct.Struct(HEADER.format + DATA_PREFIX.format.lstrip(">"))
"""Header and first-block prefix of a DATA datagram, packed in one call."""
_NOTHING: Final = (0, None, 0)


class DataPump:
    """The data side of one sending transfer (see the module docstring)."""

    def __init__(self, spec: SendSpec, source: Source, rate_bps: float | None) -> None:
        self.total_bytes = spec.total_bytes
        self.max_datagram = spec.max_datagram
        self.total_blocks = blocks_for(spec.total_bytes)
        self._source = source
        self._zero_copy: Callable[[int, int], memoryview | None] | None = getattr(
            source, "view", None)
        self.acked = RangeSet()
        self.window = Window()
        self.out = Outstanding(self.total_blocks, max_blocks_per_datagram(spec.max_datagram),
                               self.window)
        self.peer_window = INITIAL_PEER_WINDOW
        self.local_rate = rate_bps
        """This server's own cap (sendRateMax, outgoing allowance); see :meth:`set_rate`."""
        self.peer_rate: float | None = None
        """The receiver's advertised ``rateCap`` (OPEN_ACK / ACK), ``None`` = no cap."""
        self.bucket = TokenBucket(rate_bps)
        self.blocks_sent = self.blocks_retransmitted = 0
        self._source_error: JetStreamQAError | None = None

    # --- rate -----------------------------------------------------------------------------
    def set_rate(self, rate_bps: float | None) -> None:
        """Set this server's own cap (bit/s, ``None`` = unlimited); the pacing rate is
        ``min(own cap, the receiver's rateCap)`` (``docs/protocol.md`` 5.6)."""
        self.local_rate = rate_bps
        self.bucket.set_rate(pacing_rate(rate_bps, self.peer_rate))

    def set_peer_rate(self, rate_bps: float | None) -> None:
        """Take the receiver's ``rateCap`` (``None`` = no cap)."""
        if rate_bps != self.peer_rate:
            self.peer_rate = rate_bps
            self.bucket.set_rate(pacing_rate(self.local_rate, rate_bps))

    # --- what the receiver holds ----------------------------------------------------------
    def reset(self, now: float) -> None:
        """A new session begins: nothing in flight, the receiver's window and cap unknown."""
        self.out.reset(now)
        self.peer_window = INITIAL_PEER_WINDOW
        self.set_peer_rate(None)

    def start(self, ack: OpenAck) -> None:
        """The session is keyed: the blocks the receiver already holds count as acked."""
        self.peer_window = ack.window
        self.set_peer_rate(rate_from_wire(ack.rate_cap))
        self.acked = RangeSet([(0, ack.cumulative), *ack.ranges])

    def on_ack(self, ack: Ack, now: float) -> None:
        """Take an ACK: held blocks, the receiver's window and cap, losses and deliveries."""
        acked = self.acked
        if ack.cumulative:
            acked.add(0, min(ack.cumulative, self.total_blocks))
        for a, b in ack.ranges:
            acked.add(a, min(b, self.total_blocks))
        self.peer_window = ack.window
        self.set_peer_rate(rate_from_wire(ack.rate_cap))
        self.out.resolve(ack, acked, now)

    @property
    def all_acked(self) -> bool:
        return self.acked.total >= self.total_blocks

    # --- DATA -----------------------------------------------------------------------------
    def fill(self, buf: bytearray, now: float, session: int, seq: int,
             tx: crypto.Protector) -> tuple[int, memoryview | None, int]:
        """Write DATA datagram ``seq`` of ``session`` into ``buf``, protected by ``tx``.

        Returns ``(length, extra, wire)``: the datagram is ``buf[:length]`` followed by
        ``extra`` when not None (at MIN_CIPHER_NONE a lent view is not copied; send both
        with one ``sendmsg``), ``wire`` bytes in all. ``(0, None, 0)`` when nothing may be
        sent now (window full, rate cap, nothing left); ``seq`` is then unused."""
        out = self.out
        if len(out.inflight) >= self.window.limit(self.peer_window):
            return _NOTHING
        bucket = self.bucket
        if bucket.rate_bps is not None and bucket.delay(self.max_datagram, now):
            return _NOTHING
        run = out.next_run(self.acked)
        if run is None:
            return _NOTHING
        first, n, again = run
        offset = first * BLOCK_SIZE
        nbytes = n * BLOCK_SIZE
        if offset + nbytes > self.total_bytes:
            nbytes = self.total_bytes - offset
        _DATA_HEAD.pack_into(buf, 0, MAGIC, VERSION, _DATA, session, seq, first)
        head = _DATA_HEAD.size
        lend = self._zero_copy
        view = lend(offset, nbytes) if lend is not None else None
        extra = None
        if view is None:
            self._source.read_into(offset, memoryview(buf)[head:head + nbytes])
            length = wire = tx.seal(buf, head, nbytes, seq)
        elif tx.cipher == 0:
            extra, length, wire = view, head, head + nbytes
        else:
            length = wire = tx.seal_from(buf, head, view, seq)
        bucket.consume(wire)
        self.blocks_sent += n
        # loss, timeout, or blocks sent before a re-handshake (receiver restarted)
        self.blocks_retransmitted += out.sent(seq, first, n, again, now)
        return length, extra, wire

    def fill_run(self, slots: memoryview, stride: int, limit: int, now: float, session: int,
                 seq: int, tx: crypto.Protector) -> tuple[list[tuple[int, memoryview | None]],
                                                          int]:
        """Write up to ``limit`` DATA datagrams, sequence numbers from ``seq``, into
        ``slots`` (datagram ``j`` at ``j * stride``; each as :meth:`fill` returns it).

        Returns ``([(length, extra), ...], wire bytes in all)``; an empty list when nothing
        may be sent now. The same datagrams as calling :meth:`fill` until it returns
        nothing or ``limit`` are reached. Unpaced and with nothing to retransmit (the bulk
        of a transfer), the run is one span of new blocks: one window check, one span
        lookup, one lent view or one read per datagram into its slot, and one record of
        the span in flight (``Outstanding.sent_span``); otherwise :meth:`fill` per
        datagram. A source that fails mid-run (``SourceError``) ends the run there: the
        datagrams before it are returned and the error is raised by the next call."""
        error = self._source_error
        if error is not None:
            self._source_error = None
            raise error
        out = self.out
        if self.bucket.rate_bps is not None or out.retx:
            return self._fill_each(slots, stride, limit, now, session, seq, tx)
        k = min(limit, self.window.limit(self.peer_window) - len(out.inflight))
        parts: list[tuple[int, memoryview | None]] = []
        wire = 0
        while len(parts) < k and self._source_error is None:
            span = out.next_span(self.acked, k - len(parts))
            if span is None:
                break
            first, stop = span
            j = len(parts)
            wire += self._build(slots, stride, j, first, stop, session, seq + j, tx, parts)
            done = min(stop, first + (len(parts) - j) * out.max_blocks)
            self.blocks_sent += done - first
            self.blocks_retransmitted += out.sent_span(seq + j, first, done, now)
        return parts, wire

    def _fill_each(self, slots: memoryview, stride: int, limit: int, now: float,
                   session: int, seq: int, tx: crypto.Protector,
                   ) -> tuple[list[tuple[int, memoryview | None]], int]:
        parts: list[tuple[int, memoryview | None]] = []
        total = 0
        for j in range(limit):
            length, extra, wire = self.fill(slots[j * stride:(j + 1) * stride],  # type: ignore[arg-type]
                                            now, session, seq + j, tx)
            if not length:
                break
            parts.append((length, extra))
            total += wire
        return parts, total

    def _build(self, slots: memoryview, stride: int, j0: int, first: int, stop: int,
               session: int, seq: int, tx: crypto.Protector,
               parts: list[tuple[int, memoryview | None]]) -> int:
        """Append to ``parts`` the datagrams of blocks ``[first, stop)`` (``max_blocks``
        each, the last perhaps fewer), sequence numbers from ``seq``, in the slots from
        ``j0`` on; returns their wire bytes. Stops early at a ``SourceError`` (kept for the
        next call)."""
        maxb, head = self.out.max_blocks, _DATA_HEAD.size
        start, end = first * BLOCK_SIZE, min(stop * BLOCK_SIZE, self.total_bytes)
        step = maxb * BLOCK_SIZE
        pack = _DATA_HEAD.pack_into
        for j, block in enumerate(range(first, stop, maxb)):
            pack(slots, (j0 + j) * stride, MAGIC, VERSION, _DATA, session, seq + j, block)
        lend = self._zero_copy
        whole = lend(start, end - start) if lend is not None else None
        if whole is not None:  # lent: no copy at NONE, encrypted straight from the view
            bodies = [whole[o:o + step] for o in range(0, end - start, step)]
            if tx.cipher == 0:
                parts.extend(zip(itertools.repeat(head), bodies))
                return end - start + head * len(bodies)
            offs = range(j0 * stride, (j0 + len(bodies)) * stride, stride)
            lengths = tx.seal_run(slots, offs, head, bodies, seq)
            parts.extend(zip(lengths, itertools.repeat(None)))
            return sum(lengths)
        wire = 0
        try:
            for j, offset in enumerate(range(start, end, step)):
                base = (j0 + j) * stride
                nbytes = min(step, end - offset)
                self._source.read_into(offset, slots[base + head:base + head + nbytes])
                length = tx.seal(slots[base:base + stride], head, nbytes, seq + j)
                parts.append((length, None))
                wire += length
        except JetStreamQAError as exc:  # the source's SourceError
            self._source_error = exc
        return wire
