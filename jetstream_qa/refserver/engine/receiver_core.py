"""The receiving side of the data plane, sans-IO: one endpoint, many sessions.

Theory of operation
-------------------
:class:`ReceiverEndpoint` takes every datagram that reaches the receive port
(:meth:`~ReceiverEndpoint.receive`, with the time passed in) and returns the datagrams to
answer with. It owns no socket and no clock; file writes and checkpoint files go through the
injected :class:`~jetstream_qa.refserver.engine.receiver_model.SinkFactory` and
:class:`~jetstream_qa.refserver.engine.receiver_model.CheckpointStore`.

A *session* is one OPEN/OPEN_ACK exchange (keys, sequence numbers); a *transfer*
(:class:`~jetstream_qa.refserver.engine.receiver_model.RxTransfer`, keyed by the sender's
``serverUid`` and ``transferId``) outlives its sessions, so a sender that re-handshakes (after
suspend/resume, or after this receiver restarted from a checkpoint) gets OPEN_ACK with the
blocks already held and only sends the rest. Dispatch is the table :data:`_TABLE` (session
state x datagram type); DATA takes a fast path, and a coalesced read (UDP GRO) of many
DATA datagrams :meth:`~ReceiverEndpoint.receive_run` (``rx_batch.py``: groups of contiguous
blocks at once, with the ACKs and counters of handling them one by one).
A datagram that does not parse is counted ``malformed``; one that fails authentication,
replays, names an unknown session or comes from the wrong address ``rejected``; neither is
ever written. A transfer's status moves through ``receiver_model.RX_TRANSITIONS``.

Beside it: ``rx_handshake.py`` computes the answer to an OPEN (keys, OPEN_ACK), ``rx_shares.py``
divides the receive window and the incoming allowance among the sessions, and
``reject_limit.py`` bounds how often garbage is answered with REJECT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jetstream_qa.errors import JetStreamQAError, ProtocolError
from jetstream_qa.refserver.engine.receiver_model import (
    Addr,
    CheckpointStore,
    RxEvent,
    RxSession,
    RxState,
    RxStatus,
    RxTiming,
    SinkFactory,
)
from jetstream_qa.refserver.engine.reject_limit import RejectLimiter
from jetstream_qa.refserver.engine.rx_batch import DATA_HEAD, RunReceiver
from jetstream_qa.refserver.engine.rx_handshake import Offer, RxIdentity, accept_open
from jetstream_qa.refserver.engine.rx_shares import Shares, ack_cadence
from jetstream_qa.refserver.engine.rx_tables import RxTables
from jetstream_qa.refserver.engine.transfer_docs import encode_results
from jetstream_qa.wire.crypto import DatagramRejected
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    DATA_PREFIX,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    MAGIC,
    VERSION,
    Abort,
    AbortCode,
    Ack,
    Body,
    DType,
    Fin,
    FinAck,
    Meta,
    MetaAck,
    Open,
    Reject,
    RejectCode,
    ack_range_limit,
    check_data,
    decode_body,
    fin_ack_room,
    open_body,
    seal_datagram,
)

__all__ = ["ReceiverEndpoint"]

Out = list[tuple[bytes, Addr]]
ABORT_MESSAGE_LIMIT = 1000
"""Characters of a failure reason sent in ABORT (the body allows 1024 bytes, 5.2)."""
REJECT_MESSAGE_LIMIT = 500
"""Characters of a refusal reason sent in REJECT (the body allows 512 bytes, 5.2)."""
_RECEIVING = RxStatus.RECEIVING


class ReceiverEndpoint(RunReceiver):
    """All receive-side protocol state of one server (see the module docstring)."""

    def __init__(self, *, static_key: Any, server_uid: str, server_id: str, min_cipher: int,
                 sinks: SinkFactory, checkpoints: CheckpointStore | None = None,
                 window: int = 64, max_datagram: int = DEFAULT_MAX_DATAGRAM,
                 timing: RxTiming | None = None, faults: frozenset[str] = frozenset()) -> None:
        self.identity = RxIdentity(static_key, server_uid, server_id, min_cipher, max_datagram)
        self._sinks = sinks
        self._checkpoints = checkpoints
        self.max_datagram = max_datagram
        self.timing = timing or RxTiming()
        self._accept_forged = "accept-forged" in faults
        self._leak_plaintext = "plaintext-when-encrypted" in faults
        self.tables = RxTables(self.timing, checkpoints)
        self.sessions = self.tables.sessions
        self.transfers = self.tables.transfers
        self.datagrams = self.malformed = self.rejected = 0
        self.tick_soon = False
        """A transfer holds every block: the shell should :meth:`tick` (finishing it) now."""
        self._rejects = RejectLimiter()
        self.shares = Shares(window)

    # --- entry point ------------------------------------------------------------------------
    def receive(self, buf: bytearray | memoryview, length: int, addr: Addr,
                now: float) -> Out:
        """Handle one received datagram held in ``buf[:length]`` (modified in place)."""
        self.datagrams += 1
        if length < HEADER.size:
            self.malformed += 1
            return []
        magic, version, dtype, sid, seq = HEADER.unpack_from(buf)
        if magic != MAGIC or version != VERSION:
            self.malformed += 1
            return []
        sess = self.sessions.get(sid)
        if dtype == DType.DATA and sess is not None and sess.addr == addr:
            return self._data(sess, buf, length, seq, now)
        try:
            kind = DType(dtype)
        except ValueError:
            self.malformed += 1
            return []
        if sess is None:
            if kind is DType.OPEN:
                return self._open(buf, length, sid, addr, now)
            self.rejected += 1
            return self._reject(sid, RejectCode.UNKNOWN_SESSION, "unknown session", addr, now)
        if sess.addr != addr:
            self.rejected += 1
            return []
        return self._control(sess, kind, buf, length, seq, now)

    def _data(self, sess: RxSession, buf: bytearray | memoryview, length: int, seq: int,
              now: float) -> Out:
        # The hot path (one call per DATA datagram): no allocation, no dataclass, the ACK
        # cadence cached (``shares.ack_every``, refreshed each tick).
        if length <= DATA_HEAD:
            self.malformed += 1
            return []
        try:
            n = sess.rx.open(buf, length, DATA_HEAD, seq)
        except ProtocolError:
            if not self._accept_forged:
                self.rejected += 1
                return []
            n = length - DATA_HEAD - sess.rx.overhead
        return self._deliver(sess, buf, length, n, seq, now)

    def _deliver(self, sess: RxSession, buf: bytearray | memoryview, length: int, n: int,
                 seq: int, now: float) -> Out:
        """An authenticated DATA datagram of ``length`` bytes carrying ``n`` body bytes
        after its prefix (opened in place): write, record, count towards the next ACK."""
        t = sess.transfer
        if t.sink is None:
            return []
        if t.status is not _RECEIVING:
            self.tables.wake(sess)
            sess.unacked += 1
            if sess.unacked >= self.shares.ack_every:
                return [(self._ack(sess, now), sess.addr)]
            return []
        (first,) = DATA_PREFIX.unpack_from(buf, HEADER.size)
        try:
            count = check_data(first, n, t.total_bytes)
        except ProtocolError:
            self.malformed += 1
            return []
        sess.received += 1
        if seq > sess.highest_seq:
            sess.highest_seq, sess.highest_at = seq, now
        t.last_recv = now
        t.bytes_recv += length
        held = t.held
        if not held.contains(first, first + count):
            try:
                t.sink.write(first * BLOCK_SIZE, memoryview(buf)[DATA_HEAD:DATA_HEAD + n])
            except JetStreamQAError as exc:
                return self._abort_transfer(sess, f"write failed: {exc}", now)
            held.add(first, first + count)
            if held.total >= t.total_blocks:
                return self._complete(sess, now)
        sess.unacked += 1
        if sess.unacked >= ack_cadence(self.shares.ack_every, sess.received):
            return [(self._ack(sess, now), sess.addr)]
        return []

    # --- shares (rx_shares.py) --------------------------------------------------------------
    @property
    def incoming_allowance(self) -> float | None:
        """bit/s accepted in total (set by the shell from the server's bandwidth limits;
        ``None`` = unlimited); shared among the data-carrying sessions (5.6)."""
        return self.shares.incoming_allowance

    @incoming_allowance.setter
    def incoming_allowance(self, value: float | None) -> None:
        self.shares.incoming_allowance = value

    @property
    def carrying_data(self) -> bool:
        """Whether any session carries data (as of the last tick)."""
        return self.shares.carrying_data

    def rate_cap(self, *, joining: bool = False) -> int:
        """The ``rateCap`` for one session (``Shares.rate_cap``)."""
        return self.shares.rate_cap(joining=joining)

    # --- handshake --------------------------------------------------------------------------
    def _open(self, buf: bytearray | memoryview, length: int, sid: int, addr: Addr,
              now: float) -> Out:
        raw = bytes(buf[HEADER.size:length])
        try:
            body = decode_body(DType.OPEN, raw)
        except ProtocolError:
            self.malformed += 1
            return []
        assert isinstance(body, Open)
        key = (body.server_uid, body.transfer_id)
        t = self.transfers.get(key)
        if t is not None and t.busy(now, self.timing.takeover_after):
            return self._reject(sid, RejectCode.BUSY, "transfer has a live session", addr, now,
                                force=True)
        if not self.tables.make_room(now):
            return self._reject(sid, RejectCode.BUSY, "too many sessions", addr, now,
                                force=True)
        t = self.tables.transfer_for(key, body, addr, now, t)
        offer = Offer(self.shares.session_window(), self.rate_cap(joining=True),
                      self._leak_plaintext)
        sess = accept_open(self.identity, t, body, raw, sid, addr, now, offer)
        if sess is None:
            self.rejected += 1
            return []
        self.tables.add_session(sess)
        self.shares.refresh(self.tables.busy.values())
        return [(sess.open_ack, addr)]

    def _reject(self, sid: int, code: RejectCode, message: str, addr: Addr, now: float, *,
                force: bool = False) -> Out:
        """A REJECT in clear, rate-limited (``reject_limit.py``) so garbage cannot make us
        reflect traffic; ``force`` (answers to a well-formed OPEN) skips the limit."""
        if not self._rejects.allow(now, force=force):
            return []
        reject = Reject(code, message[:REJECT_MESSAGE_LIMIT])
        return [(seal_datagram(reject, sid, 0, None), addr)]

    # --- control datagrams -----------------------------------------------------------------
    def _control(self, sess: RxSession, kind: DType, buf: bytearray | memoryview, length: int,
                 seq: int, now: float) -> Out:
        try:  # (DATA never comes here: :meth:`receive` sends it down the fast path)
            body = open_body(buf, length, kind, seq, sess.rx)
        except DatagramRejected:
            self.rejected += 1
            return []
        except ProtocolError:
            self.malformed += 1
            return []
        handler = _TABLE.get((sess.state, kind))
        if handler is None:
            return []
        sess.last_recv = now
        return handler(self, sess, body, now)

    def _on_open_again(self, sess: RxSession, body: Body, now: float) -> Out:
        """A retried OPEN of this session: answer with the same OPEN_ACK."""
        return [(sess.open_ack, sess.addr)] if sess.open_ack else []

    def _on_meta(self, sess: RxSession, body: Body, now: float) -> Out:
        assert isinstance(body, Meta)
        t = sess.transfer
        if t.sink is None and t.receiving and not t.meta_complete:
            t.add_meta(body.offset, body.chunk)
            if t.meta_complete:
                problem = t.open_storage(self._sinks)
                if problem is not None:
                    return self._abort_transfer(sess, problem, now)
        ready = t.sink is not None or t.results is not None
        out = [(sess.seal(MetaAck(t.meta_prefix, ready)), sess.addr)]
        if ready:
            sess.state = RxState.DATA
            if t.held.total >= t.total_blocks and t.results is None and not t.finishing:
                out += self._complete(sess, now)
        return out

    def _on_fin(self, sess: RxSession, body: Body, now: float) -> Out:
        assert isinstance(body, Fin)
        t = sess.transfer
        if t.results is None:
            return [(self._ack(sess, now), sess.addr)]
        room = fin_ack_room(min(sess.max_datagram, self.max_datagram))
        chunk = t.results[body.offset:body.offset + room]
        return [(sess.seal(FinAck(len(t.results), body.offset, chunk)), sess.addr)]

    def _on_abort(self, sess: RxSession, body: Body, now: float) -> Out:
        assert isinstance(body, Abort)
        sess.transfer.fail(f"sender aborted: {body.message}", now)
        self.sessions.pop(sess.sid, None)
        return []

    # --- completion and failure ------------------------------------------------------------
    def _complete(self, sess: RxSession, now: float) -> Out:
        """Every block is held: acknowledge at once (so the sender stops retransmitting and
        starts asking with FIN); the slow part (fsync, storage outcomes) runs at the next
        :meth:`tick` (``tick_soon``), and FIN is answered once results exist."""
        sess.transfer.finishing = self.tick_soon = True
        return [(self._ack(sess, now), sess.addr)]

    def _finalize(self, sess: RxSession, now: float) -> Out:
        t = sess.transfer
        t.finishing = False
        assert t.sink is not None
        try:
            t.sink.flush()  # ours: "complete" means the data is on storage (fsync)
            results = t.sink.finish()
        except (JetStreamQAError, OSError) as exc:
            return self._abort_transfer(sess, f"finishing failed: {exc}", now)
        t.results = encode_results(results)
        t.apply(RxEvent.STORED)
        t.ended = now
        if self._checkpoints is not None:
            self._checkpoints.delete(t.key)
        sess.state = RxState.DONE
        # push the first results chunk: the sender need not wait for its next FIN retry
        return [(self._ack(sess, now), sess.addr), *self._on_fin(sess, Fin(0), now)]

    def _abort_transfer(self, sess: RxSession, message: str, now: float) -> Out:
        sess.transfer.fail(message, now)
        abort = Abort(AbortCode.ERROR, message[:ABORT_MESSAGE_LIMIT])
        return [(sess.seal(abort), sess.addr)]

    def _ack(self, sess: RxSession, now: float) -> bytes:
        t = sess.transfer
        held = t.held
        cum = held.cumulative
        limit = ack_range_limit(min(sess.max_datagram, self.max_datagram))
        ranges = tuple(held.ranges_above(cum, limit=limit))
        delay = int(max(0.0, now - sess.highest_at) * 1e6) & 0xFFFFFFFF
        sess.unacked = 0
        sess.last_ack = now
        body = Ack(cum, max(0, sess.highest_seq), sess.received, delay,
                   self.shares.session_window(), ranges, rate_cap=self.rate_cap())
        t.last_send = now
        return sess.seal(body)

    # --- timers ----------------------------------------------------------------------------
    def tick(self, now: float) -> Out:
        """Periodic work: ACKs, keep-alives, checkpoints, expiry of idle sessions (only the
        sessions with a timer due: ``rx_tables.py``)."""
        out: Out = []
        tables = self.tables
        self.tick_soon = False
        for sess in tables.due_sessions(now):
            self._timers(sess, now, out)
            tables.rest(sess)
        tables.expire(now)
        self.shares.refresh(tables.busy.values(), now)
        return out

    def _timers(self, sess: RxSession, now: float, out: Out) -> None:
        timing, t = self.timing, sess.transfer
        if now - sess.last_recv > timing.session_idle:
            self.sessions.pop(sess.sid, None)
            return
        if sess.state is RxState.META:
            return
        if t.finishing and t.receiving and t.sink is not None:
            out += self._finalize(sess, now)
            return
        if (sess.unacked and now - sess.last_ack >= timing.ack_interval) \
                or now - sess.last_ack >= timing.keepalive:
            out.append((self._ack(sess, now), sess.addr))
        if t.checkpoint_s and t.sink is not None and t.receiving \
                and now >= t.next_checkpoint:
            t.checkpoint(self._checkpoints, now)

    # --- reports ---------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return {"activeTransfers": self.tables.active_transfers(),
                "rejectedDatagrams": self.rejected, "malformedDatagrams": self.malformed,
                "datagramsReceived": self.datagrams, "sessions": len(self.sessions)}

    def transfer_list(self, to_wall_us: Callable[[float], int]) -> list[dict[str, Any]]:
        return [t.to_json(to_wall_us) for t in list(self.transfers.values())]


_Handler = Callable[[ReceiverEndpoint, RxSession, Body, float], Out]
_M, _D, _F = RxState.META, RxState.DATA, RxState.DONE
_TABLE: dict[tuple[RxState, DType], _Handler] = {
    **{(s, DType.OPEN): ReceiverEndpoint._on_open_again for s in (_M, _D, _F)},
    **{(s, DType.META): ReceiverEndpoint._on_meta for s in (_M, _D, _F)},
    **{(s, DType.FIN): ReceiverEndpoint._on_fin for s in (_D, _F)},
    **{(s, DType.ABORT): ReceiverEndpoint._on_abort for s in (_M, _D)},
}
