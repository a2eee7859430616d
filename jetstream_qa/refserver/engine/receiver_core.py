"""The receiving side of the data plane, sans-IO: one endpoint, many sessions.

Theory of operation
-------------------
:class:`ReceiverEndpoint` takes every datagram that reaches the receive port
(:meth:`~ReceiverEndpoint.datagram`, with the time passed in) and returns the datagrams to
answer with. It owns no socket and no clock; file writes and checkpoint files go through the
injected :class:`~jetstream_qa.refserver.engine.receiver_model.SinkFactory` and
:class:`~jetstream_qa.refserver.engine.receiver_model.CheckpointStore`.

A *session* is one OPEN/OPEN_ACK exchange (keys, sequence numbers); a *transfer*
(:class:`~jetstream_qa.refserver.engine.receiver_model.RxTransfer`, keyed by the sender's
``serverUid`` and ``transferId``) outlives its sessions, so a sender that re-handshakes (after
suspend/resume, or after this receiver restarted from a checkpoint) gets OPEN_ACK with the
blocks already held and only sends the rest. Dispatch is the table :data:`_TABLE` (session
state x datagram type); DATA takes a fast path. Any datagram that does not parse is counted
``malformed``; one that fails authentication, replays, names an unknown session or comes
from the wrong address is counted ``rejected``; neither is ever written.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from typing import Any

from jetstream_qa.errors import JetStreamQAError, ProtocolError
from jetstream_qa.refserver.engine import cipher_choice
from jetstream_qa.refserver.engine.bandwidth import session_cap
from jetstream_qa.refserver.engine.receiver_model import (
    Addr,
    CheckpointStore,
    RxSession,
    RxSpec,
    RxState,
    RxTiming,
    RxTransfer,
    SinkFactory,
    parse_meta,
)
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    DATA_PREFIX,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    MAGIC,
    UNPROTECTED,
    VERSION,
    Abort,
    Ack,
    Body,
    DType,
    Fin,
    FinAck,
    Meta,
    MetaAck,
    Open,
    OpenAck,
    Reject,
    RejectCode,
    check_data,
    decode_body,
    seal_datagram,
)

__all__ = ["ReceiverEndpoint"]

Out = list[tuple[bytes, Addr]]
_DATA_HEAD = HEADER.size + DATA_PREFIX.size
MAX_SESSIONS = 1024
MAX_TRANSFERS = 4096
RATE_ACTIVE = 1.0
"""Seconds since a session's last datagram during which it counts as carrying data (ours)."""


class ReceiverEndpoint:
    """All receive-side protocol state of one server (see the module docstring)."""

    def __init__(self, *, static_key: Any, server_uid: str, server_id: str, min_cipher: int,
                 sinks: SinkFactory, checkpoints: CheckpointStore | None = None,
                 window: int = 64, max_datagram: int = DEFAULT_MAX_DATAGRAM,
                 timing: RxTiming | None = None, faults: frozenset[str] = frozenset()) -> None:
        self._static = static_key
        self._static_pub = crypto.public_bytes(static_key)
        self.server_uid, self.server_id = server_uid, server_id
        self.min_cipher = min_cipher
        self._sinks = sinks
        self._checkpoints = checkpoints
        self.window = window
        self.max_datagram = max_datagram
        self.timing = timing or RxTiming()
        self._accept_forged = "accept-forged" in faults
        self._leak_plaintext = "plaintext-when-encrypted" in faults
        self.sessions: dict[int, RxSession] = {}
        self.transfers: dict[tuple[str, int], RxTransfer] = {}
        self.datagrams = self.malformed = self.rejected = 0
        self._reject_budget = 100.0
        self._reject_at = 0.0
        self._live = 1
        self._ack_every = 2
        self.incoming_allowance: float | None = None
        """bit/s accepted in total (set by the shell from the server's bandwidth limits;
        ``None`` = unlimited); shared among the data-carrying sessions (5.6)."""
        self._senders = 0
        self._refresh_shares()

    # --- entry point ------------------------------------------------------------------------
    def datagram(self, buf: bytearray | memoryview, length: int, addr: Addr,
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
        # cadence cached (``_ack_every``, refreshed each tick).
        if length <= _DATA_HEAD:
            self.malformed += 1
            return []
        try:
            n = sess.rx.open(buf, length, _DATA_HEAD, seq)
        except ProtocolError:
            if not self._accept_forged:
                self.rejected += 1
                return []
            n = length - _DATA_HEAD - sess.rx.overhead
        t = sess.transfer
        if t.sink is None:
            return []
        if t.status != "receiving":
            sess.unacked += 1
            if sess.unacked >= self._ack_every:
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
                t.sink.write(first * BLOCK_SIZE, memoryview(buf)[_DATA_HEAD:_DATA_HEAD + n])
            except JetStreamQAError as exc:
                return self._abort_transfer(sess, f"write failed: {exc}", now)
            held.add(first, first + count)
            if held.total >= t.total_blocks:
                return self._complete(sess, now)
        sess.unacked += 1
        if sess.unacked >= self._ack_every:
            return [(self._ack(sess, now), sess.addr)]
        return []

    def _live_sessions(self) -> int:
        """Sessions that still carry data (META or DATA state of a receiving transfer): the
        ones the receive buffer is shared among. Finished sessions that only linger to answer
        FIN (``docs/protocol.md`` 5.7) do not take a share."""
        return sum(1 for s in list(self.sessions.values())
                   if s.state is not RxState.DONE and s.transfer.status == "receiving")

    def _refresh_shares(self, now: float | None = None) -> None:
        """Recompute the per-session window and the ACK cadence (5.5): ``max(2, window /
        (16 x sessions))`` DATA datagrams between ACKs; with ``now``, also the number of
        sessions the incoming allowance is divided among (:meth:`_sending_sessions`)."""
        live = max(1, self._live_sessions())
        self._live = live
        self._ack_every = max(2, self.window // (16 * live))
        if now is not None:
            self._senders = self._sending_sessions(now)

    def _sending_sessions(self, now: float) -> int:
        """Sessions carrying data (5.6): live (as :meth:`_live_sessions`) and heard from
        within ``RATE_ACTIVE`` seconds, so a suspended sender stops holding a share."""
        return sum(1 for s in list(self.sessions.values())
                   if s.state is not RxState.DONE and s.transfer.status == "receiving"
                   and now - max(s.last_recv, s.transfer.last_recv) <= RATE_ACTIVE)

    @property
    def carrying_data(self) -> bool:
        """Whether any session carries data (as of the last tick): "something is incoming"
        for the senders' ``borrowIncomingRate``."""
        return self._senders > 0

    def rate_cap(self, *, joining: bool = False) -> int:
        """The ``rateCap`` for one session: the incoming allowance divided among the
        sessions carrying data (plus one for a ``joining`` session), 0 = no cap (5.6)."""
        return session_cap(self.incoming_allowance, max(1, self._senders + joining))

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
        if not self._make_room(now):
            return self._reject(sid, RejectCode.BUSY, "too many sessions", addr, now,
                                force=True)
        t = self._transfer_for(key, body, addr, now, t)
        return self._open_ack(t, body, raw, sid, addr, now)

    def _transfer_for(self, key: tuple[str, int], body: Open, addr: Addr, now: float,
                      t: RxTransfer | None) -> RxTransfer:
        if t is not None and (t.meta_digest != body.meta_digest
                              or t.total_bytes != body.total_bytes):
            self._drop_transfer(t, "replaced by a different transfer with the same id")
            t = None
        if t is None:
            t = RxTransfer.from_open(key, body, addr, now)
            saved = self._checkpoints.load(key) if self._checkpoints else None
            if saved is not None and t.adopt_checkpoint(saved):
                t.resumed = True
            self.transfers[key] = t
        if t.session is not None:
            self.sessions.pop(t.session, None)
        t.addr = addr
        return t

    def _open_ack(self, t: RxTransfer, body: Open, raw: bytes, sid: int, addr: Addr,
                  now: float) -> Out:
        eph = crypto.generate_ephemeral()
        eph_pub = crypto.public_bytes(eph)
        cipher = cipher_choice.settle(body.cipher, self.min_cipher)
        cum = t.held.cumulative
        limit = max(1, (min(body.max_datagram, self.max_datagram) - 208) // 16)
        ranges = tuple(t.held.ranges_above(cum, limit=min(limit, 4000)))
        draft = OpenAck(eph_pub, self._static_pub, cipher, self._session_window(), cum, ranges,
                        self.server_uid, self.server_id, b"\0" * 16,
                        rate_cap=self.rate_cap(joining=True))
        transcript = raw + draft.unsigned()
        try:
            keys = crypto.derive_keys(
                session=sid, own_static=self._static, own_ephemeral=eph,
                peer_static=body.static, peer_ephemeral=body.ephemeral,
                sender_static=body.static, receiver_static=self._static_pub,
                sender_ephemeral=body.ephemeral, receiver_ephemeral=eph_pub,
                transcript=transcript)
        except ProtocolError:
            self.rejected += 1
            return []
        ack = OpenAck(eph_pub, self._static_pub, cipher, draft.window, cum, ranges,
                      self.server_uid, self.server_id, crypto.confirm_tag(keys, transcript),
                      rate_cap=draft.rate_cap)
        wire = 0 if self._leak_plaintext else cipher  # fault: claims `cipher`, sends clear
        sess = RxSession(sid, t, addr, body.max_datagram, raw,
                         crypto.Protector(wire, keys.sender_to_receiver,
                                          crypto.SENDER_TO_RECEIVER),
                         crypto.Protector(wire, keys.receiver_to_sender,
                                          crypto.RECEIVER_TO_SENDER), now)
        t.session = sid
        t.cipher = cipher
        self.sessions[sid] = sess
        self._refresh_shares()
        sess.open_ack = sess.seal(ack)
        return [(sess.open_ack, addr)]

    def _session_window(self) -> int:
        """This receiver's window (datagrams) for one session: its share of the receive
        buffer among the live sessions plus one share kept free for a session that joins
        (measured: a single session granted the whole buffer overruns it when the disk
        writer stalls the receive thread)."""
        return max(4, self.window // (self._live + 1))

    def _make_room(self, now: float) -> bool:
        if len(self.sessions) >= MAX_SESSIONS:
            stale = [s for s in self.sessions.values()
                     if now - s.last_recv > self.timing.takeover_after]
            stale.sort(key=lambda s: s.last_recv)
            for s in stale[: max(1, len(stale) // 2)]:
                self.sessions.pop(s.sid, None)
        if len(self.transfers) >= MAX_TRANSFERS:
            done = sorted((t for t in self.transfers.values() if t.status != "receiving"),
                          key=lambda t: t.last_recv)
            for t in done[: max(1, len(done) // 2)]:
                self.transfers.pop(t.key, None)
        return len(self.sessions) < MAX_SESSIONS and len(self.transfers) < MAX_TRANSFERS

    def _reject(self, sid: int, code: RejectCode, message: str, addr: Addr, now: float, *,
                force: bool = False) -> Out:
        """A REJECT in clear, rate-limited (100/s, burst 100) so garbage cannot make us
        reflect traffic; ``force`` (answers to a well-formed OPEN) skips the limit."""
        self._reject_budget = min(100.0, self._reject_budget + (now - self._reject_at) * 100)
        self._reject_at = now
        if not force:
            if self._reject_budget < 1:
                return []
            self._reject_budget -= 1
        return [(seal_datagram(Reject(code, message[:500]), sid, 0, None), addr)]

    # --- control datagrams -----------------------------------------------------------------
    def _control(self, sess: RxSession, kind: DType, buf: bytearray | memoryview, length: int,
                 seq: int, now: float) -> Out:
        try:
            if kind in UNPROTECTED:
                n = length - HEADER.size
            else:
                n = sess.rx.open(buf, length, HEADER.size, seq)
        except ProtocolError:
            self.rejected += 1
            return []
        if kind is DType.DATA:
            return []
        try:
            body = decode_body(kind, memoryview(buf)[HEADER.size:HEADER.size + n])
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
        if t.sink is None and t.status == "receiving" and not t.meta_complete:
            t.add_meta(body.offset, body.chunk)
            if t.meta_complete:
                problem = self._begin(t)
                if problem is not None:
                    return self._abort_transfer(sess, problem, now)
        ready = t.sink is not None or t.results is not None
        out = [(sess.seal(MetaAck(t.meta_prefix, ready)), sess.addr)]
        if ready:
            sess.state = RxState.DATA
            if t.held.total >= t.total_blocks and t.results is None and not t.finishing:
                out += self._complete(sess, now)
        return out

    def _begin(self, t: RxTransfer) -> str | None:
        """Verify and parse the file list, open storage; returns an error text or None."""
        meta = t.meta_bytes()
        t.meta_chunks.clear()
        if hashlib.sha256(meta).digest() != t.meta_digest:
            return "file list does not match its digest"
        try:
            raw = zlib.decompressobj().decompress(meta, 256 << 20)
            entries, owner = parse_meta(json.loads(raw))
        except (ValueError, zlib.error, JetStreamQAError) as exc:
            return f"unreadable file list: {exc}"
        if sum(e.size for e in entries) != t.total_bytes:
            return "file sizes do not add up to totalBytes"
        spec = RxSpec(tuple(entries), t.destination_path, t.flags, t.overwrite_mode,
                      t.resumed, t.total_bytes, owner)
        try:
            t.sink = self._sinks.open(spec)
        except JetStreamQAError as exc:
            return exc.message
        for a, b in t.sink.unwanted():
            first, last = -(-a // BLOCK_SIZE), b // BLOCK_SIZE
            if b == t.total_bytes:
                last = t.total_blocks
            t.held.add(first, last)
        return None

    def _on_fin(self, sess: RxSession, body: Body, now: float) -> Out:
        assert isinstance(body, Fin)
        t = sess.transfer
        if t.results is None:
            return [(self._ack(sess, now), sess.addr)]
        room = min(sess.max_datagram, self.max_datagram) - HEADER.size - 8 - 16
        chunk = t.results[body.offset:body.offset + room]
        return [(sess.seal(FinAck(len(t.results), body.offset, chunk)), sess.addr)]

    def _on_abort(self, sess: RxSession, body: Body, now: float) -> Out:
        assert isinstance(body, Abort)
        self._fail(sess.transfer, f"sender aborted: {body.message}", now)
        self.sessions.pop(sess.sid, None)
        return []

    # --- completion and failure ------------------------------------------------------------
    def _complete(self, sess: RxSession, now: float) -> Out:
        """Every block is held: acknowledge at once (so the sender stops retransmitting and
        starts asking with FIN); the slow part (fsync, storage outcomes) runs at the next
        :meth:`tick`, and FIN is answered once results exist."""
        sess.transfer.finishing = True
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
        t.results = zlib.compress(json.dumps(results, separators=(",", ":")).encode())
        t.status = "complete"
        t.ended = now
        if self._checkpoints is not None:
            self._checkpoints.delete(t.key)
        sess.state = RxState.DONE
        # push the first results chunk: the sender need not wait for its next FIN retry
        return [(self._ack(sess, now), sess.addr), *self._on_fin(sess, Fin(0), now)]

    def _abort_transfer(self, sess: RxSession, message: str, now: float) -> Out:
        self._fail(sess.transfer, message, now)
        return [(sess.seal(Abort(2, message[:1000])), sess.addr)]

    def _fail(self, t: RxTransfer, message: str, now: float) -> None:
        if t.sink is not None and t.status == "receiving":
            try:
                t.sink.abort()
            except (JetStreamQAError, OSError):
                pass
        t.status, t.error, t.ended, t.last_error = "error", message, now, now

    def _drop_transfer(self, t: RxTransfer, message: str) -> None:
        if t.session is not None:
            self.sessions.pop(t.session, None)
        self._fail(t, message, t.last_recv)
        self.transfers.pop(t.key, None)

    def _ack(self, sess: RxSession, now: float) -> bytes:
        t = sess.transfer
        held = t.held
        cum = held.cumulative
        room = min(sess.max_datagram, self.max_datagram) - HEADER.size - 42 - 16
        ranges = tuple(held.ranges_above(cum, limit=max(1, min(1024, room // 16))))
        delay = int(max(0.0, now - sess.highest_at) * 1e6) & 0xFFFFFFFF
        sess.unacked = 0
        sess.last_ack = now
        body = Ack(cum, max(0, sess.highest_seq), sess.received, delay,
                   self._session_window(), ranges, rate_cap=self.rate_cap())
        t.last_send = now
        return sess.seal(body)

    # --- timers ----------------------------------------------------------------------------
    def tick(self, now: float) -> Out:
        """Periodic work: ACKs, keep-alives, checkpoints, expiry of idle sessions."""
        out: Out = []
        timing = self.timing
        for sess in list(self.sessions.values()):
            t = sess.transfer
            if now - sess.last_recv > timing.session_idle:
                self.sessions.pop(sess.sid, None)
                continue
            if sess.state is RxState.META:
                continue
            if t.finishing and t.status == "receiving" and t.sink is not None:
                out += self._finalize(sess, now)
                continue
            if (sess.unacked and now - sess.last_ack >= timing.ack_interval) \
                    or now - sess.last_ack >= timing.keepalive:
                out.append((self._ack(sess, now), sess.addr))
            if t.checkpoint_s and t.sink is not None and t.status == "receiving" \
                    and now >= t.next_checkpoint:
                self._checkpoint(t, now)
        self._expire(now)
        self._refresh_shares(now)
        return out

    def _checkpoint(self, t: RxTransfer, now: float) -> None:
        t.next_checkpoint = now + t.checkpoint_s
        if self._checkpoints is None or t.sink is None:
            return
        ranges = t.held.ranges()
        try:
            t.sink.flush()
        except (JetStreamQAError, OSError):
            return
        self._checkpoints.save(t.key, t.checkpoint_record(ranges))

    def _expire(self, now: float) -> None:
        keep = self.timing.keep_finished
        for t in [t for t in self.transfers.values()
                  if t.status != "receiving" and now - t.ended > keep]:
            self.transfers.pop(t.key, None)
        idle = self.timing.transfer_idle
        for t in [t for t in self.transfers.values()
                  if t.status == "receiving" and now - t.last_recv > idle]:
            self._drop_transfer(t, "idle")

    # --- reports ---------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return {"activeTransfers": sum(1 for t in list(self.transfers.values())
                                       if t.status == "receiving"),
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
