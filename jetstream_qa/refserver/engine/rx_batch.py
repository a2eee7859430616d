"""Reading a coalesced run of DATA datagrams as columns, sans-IO (issue 13).

Theory of operation
-------------------
A GRO read (``udp_offload.py``) holds ``count`` wire datagrams of one flow back to back, all
``segment`` bytes long except perhaps the last. Handling each in Python costs microseconds
of interpreter work that the kernel has just saved us, so the receiver first reads the
fixed fields of every full-size datagram of the read in one C-level pass: a
``struct.Struct`` exactly ``segment`` bytes long (header, first-block prefix, then padding
over the rest) walked with ``iter_unpack`` gives one row per datagram, and the rows turned
into columns are checked with ``tuple.count`` -- every magic, version and type the expected
one, every session id the same. :func:`run_columns` returns the columns only when the whole
run is that plain case; anything else (a foreign or malformed datagram anywhere in it) and
the caller handles the read datagram by datagram, exactly as without batching.

:func:`contiguous` then cuts the (authenticated) datagrams into groups whose block runs
follow each other without a gap, and :class:`RunReceiver` (the half of
``receiver_core.ReceiverEndpoint`` that takes coalesced reads) writes and records each group
at once: one check that none of its blocks is held and that it neither leaves the byte space
nor completes the transfer, one ``RangeSet.add``, the counters once, and at most one ACK at
its end (groups are cut where the ACK cadence falls due, so every ACK carries what it
would carry one by one). Authentication stays per datagram (``Protector.open_run``, the
replay window marked once for consecutive new sequence numbers). Nothing here decides what a
datagram means: whatever is not the plain case goes to the endpoint's per-datagram methods.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.refserver.engine.receiver_model import Addr, RxSession, RxStatus
from jetstream_qa.refserver.engine.rx_shares import Shares, ack_cadence
from jetstream_qa.refserver.engine.udp_offload import split
from jetstream_qa.wire.data import BLOCK_SIZE, DATA_PREFIX, HEADER, MAGIC, VERSION, DType

__all__ = ["DATA_HEAD", "RunColumns", "RunReceiver", "contiguous", "run_columns"]

Out = list[tuple[bytes, Addr]]
_RECEIVING = RxStatus.RECEIVING

DATA_HEAD: Final = HEADER.size + DATA_PREFIX.size
"""Header and first-block prefix of a DATA datagram (28 bytes; the prefix is associated
data, never encrypted: it is readable before authentication)."""
_DATA: Final = int(DType.DATA)
_ROWS: dict[int, struct.Struct] = {}

RunColumns = tuple[int, tuple[int, ...], tuple[int, ...]]
"""``(session id, sequence numbers, first blocks)`` of the full-size datagrams of a run."""


def _row(segment: int) -> struct.Struct:
    """The Struct that reads one ``segment``-byte DATA datagram's fixed fields."""
    row = _ROWS.get(segment)
    if row is None:
        fmt = HEADER.format + DATA_PREFIX.format.lstrip(">") + f"{segment - DATA_HEAD}x"
        row = _ROWS[segment] = struct.Struct(fmt)
    return row


def run_columns(buf: bytearray | memoryview, count: int, segment: int) -> RunColumns | None:
    """The columns of the ``count`` datagrams of ``segment`` bytes at the start of ``buf``
    when every one is a DATA datagram of our version and all name the same session; None
    otherwise (including ``count < 2`` or a segment too short to carry a DATA body)."""
    if count < 2 or segment <= DATA_HEAD:
        return None
    rows = _row(segment).iter_unpack(memoryview(buf)[:count * segment])
    magics, versions, types, sids, seqs, firsts = zip(*rows, strict=True)
    if magics.count(MAGIC) != count or versions.count(VERSION) != count \
            or types.count(_DATA) != count or sids.count(sids[0]) != count:
        return None
    return sids[0], seqs, firsts


def contiguous(firsts: Sequence[int], blocks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of ``firsts`` in which each datagram's first block
    follows the previous datagram's ``blocks`` blocks (one comparison when the whole run
    is contiguous, the common case)."""
    n = len(firsts)
    if not n:
        return []
    f0 = firsts[0]
    if list(firsts) == list(range(f0, f0 + n * blocks, blocks)):
        return [(0, n)]
    out, start = [], 0
    for i in range(1, n):
        if firsts[i] != firsts[i - 1] + blocks:
            out.append((start, i))
            start = i
    out.append((start, n))
    return out


class RunReceiver:
    """The run half of ``receiver_core.ReceiverEndpoint`` (which inherits it): a coalesced
    read handled as a run, falling back on the endpoint's per-datagram methods."""

    sessions: dict[int, RxSession]
    shares: Shares
    datagrams: int
    rejected: int
    _accept_forged: bool

    if TYPE_CHECKING:  # provided by ReceiverEndpoint
        def receive(self, buf: bytearray | memoryview, length: int, addr: Addr,
                    now: float) -> Out: ...

        def _deliver(self, sess: RxSession, buf: bytearray | memoryview, length: int,
                     n: int, seq: int, now: float) -> Out: ...

        def _ack(self, sess: RxSession, now: float) -> bytes: ...

        def _abort_transfer(self, sess: RxSession, message: str, now: float) -> Out: ...

    def receive_run(self, buf: bytearray | memoryview, length: int, segment: int, addr: Addr,
                    now: float) -> Out:
        """Handle the coalesced read ``buf[:length]`` (modified in place): wire datagrams of
        ``segment`` bytes back to back, the last perhaps shorter (``udp_offload.py``).

        The outcome -- counters, bytes written, held blocks, ACKs and their contents -- is
        that of :meth:`receive` on each datagram in order. The plain case (DATA of one known
        session from ``addr``, authentic, blocks that follow each other and none held yet,
        not completing the transfer) is read as columns (``rx_batch.py``) and written and
        recorded a group at a time, cut where an ACK falls due; every other datagram goes
        through the per-datagram path (the short last datagram always does)."""
        view = memoryview(buf)
        full = length // segment if segment > 0 else 0
        cols = run_columns(view, full, segment)
        sess = None if cols is None else self.sessions.get(cols[0])
        if cols is None or sess is None or sess.addr != addr or self._accept_forged:
            return self._one_by_one(view, 0, length, segment, addr, now)
        n = segment - DATA_HEAD - sess.rx.overhead
        if n <= 0 or n % BLOCK_SIZE:
            return self._one_by_one(view, 0, length, segment, addr, now)
        self.datagrams += full
        seqs: Sequence[int] = cols[1]
        firsts: Sequence[int] = cols[2]
        offs: Sequence[int] = range(0, full * segment, segment)
        if sess.rx.cipher:
            seqs, firsts, offs = self._open_run(sess, view, segment, seqs, firsts, offs)
        out: Out = []
        for a, b in contiguous(firsts, n // BLOCK_SIZE):
            out += self._deliver_group(sess, view, offs[a:b], seqs[a:b], firsts[a], n,
                                       segment, now)
        return out + self._one_by_one(view, full * segment, length, segment, addr, now)

    def _one_by_one(self, view: memoryview, start: int, length: int, segment: int,
                    addr: Addr, now: float) -> Out:
        """:meth:`receive` on each datagram of ``view[start:length]``."""
        out: Out = []
        for off, k in split(length, segment, start):
            out += self.receive(view[off:off + k], k, addr, now)
        return out

    def _open_run(self, sess: RxSession, view: memoryview, segment: int,
                  seqs: Sequence[int], firsts: Sequence[int], offs: Sequence[int],
                  ) -> tuple[Sequence[int], Sequence[int], Sequence[int]]:
        """Authenticate and decrypt each datagram in place (replay window included); the
        columns of the authentic ones. A datagram that fails is counted ``rejected``."""
        bad = sess.rx.open_run(view, offs, segment, DATA_HEAD, seqs)
        self.rejected += len(bad)
        if not bad:
            return seqs, firsts, offs
        dropped = set(bad)
        keep = [i for i in range(len(offs)) if i not in dropped]
        return ([seqs[i] for i in keep], [firsts[i] for i in keep], [offs[i] for i in keep])

    def _deliver_group(self, sess: RxSession, view: memoryview, offs: Sequence[int],
                       seqs: Sequence[int], first: int, n: int, length: int,
                       now: float) -> Out:
        """Deliver authentic datagrams whose runs follow each other from block ``first``,
        in chunks that end where the ACK cadence (:func:`ack_cadence`) falls due."""
        out: Out = []
        t = sess.transfer
        blocks = n // BLOCK_SIZE
        pos, m = 0, len(offs)
        while pos < m:
            take = min(m - pos, self._until_ack(sess))
            start = first + pos * blocks
            stop = start + take * blocks
            held = t.held
            nxt = held.next_held(start)
            if t.sink is None or t.status is not _RECEIVING \
                    or stop * BLOCK_SIZE > t.total_bytes or (nxt is not None and nxt < stop) \
                    or held.total + (stop - start) >= t.total_blocks:
                for k in range(pos, pos + take):  # not the plain case: as one by one
                    off = offs[k]
                    out += self._deliver(sess, view[off:off + length], length, n, seqs[k], now)
            else:
                out += self._write_group(sess, view, offs[pos:pos + take],
                                         seqs[pos:pos + take], start, n, length, now)
            pos += take
        return out

    def _until_ack(self, sess: RxSession) -> int:
        """How many more DATA datagrams make the next ACK of ``sess`` fall due (one by one,
        each counts as received first, then the cadence is checked: the same here)."""
        shared, received, unacked = self.shares.ack_every, sess.received, sess.unacked
        k = max(1, ack_cadence(shared, received + 1) - unacked)
        while unacked + k < (due := ack_cadence(shared, received + k)):
            k = due - unacked  # the cadence grows by 1 per 16 received: a few steps at most
        return k

    def _write_group(self, sess: RxSession, view: memoryview, offs: Sequence[int],
                     seqs: Sequence[int], first: int, n: int, length: int, now: float) -> Out:
        """Write a chunk of the plain case and record it once (held range, counters, at
        most one ACK, at its end). A failed write ends the transfer where the per-datagram
        path would: the datagrams before it count, the rest go one by one."""
        t = sess.transfer
        sink = t.sink
        assert sink is not None
        blocks = n // BLOCK_SIZE
        done = 0
        try:
            for off in offs:
                body = off + DATA_HEAD
                sink.write((first + done * blocks) * BLOCK_SIZE, view[body:body + n])
                done += 1
        except JetStreamQAError as exc:
            self._record(sess, seqs[:done + 1], length, now)
            t.held.add(first, first + done * blocks)
            sess.unacked += done
            out = self._abort_transfer(sess, f"write failed: {exc}", now)
            for k in range(done + 1, len(offs)):
                off = offs[k]
                out += self._deliver(sess, view[off:off + length], length, n, seqs[k], now)
            return out
        self._record(sess, seqs, length, now)
        t.held.add(first, first + done * blocks)
        sess.unacked += done
        if sess.unacked >= ack_cadence(self.shares.ack_every, sess.received):
            return [(self._ack(sess, now), sess.addr)]
        return []

    @staticmethod
    def _record(sess: RxSession, seqs: Sequence[int], length: int, now: float) -> None:
        """Count ``len(seqs)`` received DATA datagrams of ``length`` bytes."""
        k = len(seqs)
        sess.received += k
        top = max(seqs)
        if top > sess.highest_seq:
            sess.highest_seq, sess.highest_at = top, now
        t = sess.transfer
        t.last_recv = now
        t.bytes_recv += length * k
