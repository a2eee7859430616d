"""The sending side of one transfer, sans-IO: datagrams and times in, datagrams out.

Theory of operation
-------------------
:class:`SenderSession` walks the table :data:`_TABLE` (state x incoming datagram type ->
handler) of ``docs/protocol.md`` 5.3-5.8::

    OPENING -OPEN_ACK-> META -META_ACK(ready)-> DATA -all acked-> CLOSING -FIN_ACK-> DONE
       ^                                                               |
       +-- REJECT(unknown session) / peer silent ``peer_timeout`` -----+
    any state: ABORT -> FAILED; OPENING past ``open_give_up`` -> FAILED

A datagram whose (state, type) is not in the table is ignored (late or duplicated UDP is
normal). The shell calls :meth:`start`, :meth:`receive`, :meth:`tick` and, as long as it
returns a length, :meth:`fill_data`, which writes the next DATA datagram (header, block data
read through the injected ``sender_model.Source``, protection) into the shell's buffer; the
engine's shell calls :meth:`fill_run` instead, which writes a GSO batch of them at once
(the same datagrams, ``data_pump.py``). Block data
comes from new blocks in order, or from the retransmission queue filled by loss detection:
a datagram is presumed lost when the receiver reports a sequence number ``REORDER`` higher,
or when it is older than the retransmission timeout.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from jetstream_qa.errors import ProtocolError
from jetstream_qa.refserver.engine import tx_handshake
from jetstream_qa.refserver.engine.data_pump import DataPump
from jetstream_qa.refserver.engine.sender_model import (
    FINISHED,
    SenderState,
    SendSpec,
    Source,
    Timing,
)
from jetstream_qa.refserver.engine.transfer_docs import decode_results
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    Abort,
    AbortCode,
    Ack,
    Body,
    DType,
    Fin,
    FinAck,
    Meta,
    MetaAck,
    OpenAck,
    Reject,
    RejectCode,
    encode_body,
    meta_room,
    open_body,
    seal_datagram,
    unpack_header,
)
from jetstream_qa.wire.ranges import RangeSet

__all__ = ["SenderSession"]


class SenderSession:
    """Protocol state of one transfer on the sending server (see the module docstring)."""

    def __init__(self, spec: SendSpec, source: Source, *, rate_bps: float | None = None,
                 timing: Timing | None = None,
                 session_factory: Callable[[], int] = lambda: secrets.randbits(64)) -> None:
        self.spec = spec
        self.timing = timing or Timing()
        self.pump = DataPump(spec, source, rate_bps)
        self.total_blocks = self.pump.total_blocks
        self.window = self.pump.window
        self.out = self.pump.out
        self.bucket = self.pump.bucket
        self._new_session = session_factory
        self._meta_digest = hashlib.sha256(spec.meta).digest()
        self._meta_chunk = meta_room(spec.max_datagram)
        self.state = SenderState.OPENING
        self.error: str | None = None
        self.results: list[dict[str, str]] | None = None
        self.peer_uid: str | None = None
        self.peer_id: str | None = None
        self.cipher: int = spec.cipher
        # counters (Transfer structure; the block counters are the pump's)
        self.packets_sent = self.packets_recv = self.bytes_sent = self.bytes_recv = 0
        self.last_send = self.last_recv = 0.0
        self._reset_session(0.0)

    # --- session (re)establishment ------------------------------------------------------
    def _reset_session(self, now: float) -> None:
        self.session = self._new_session()
        self._seq = 0
        self._ephemeral = crypto.generate_ephemeral()
        self._open_body: bytes | None = None
        self._tx: crypto.Protector | None = None
        self._rx: crypto.Protector | None = None
        self._open_since = now
        self._next_open = now
        self._open_backoff = self.timing.open_retry
        self._meta_held = 0
        self._next_control = now
        self.pump.reset(now)
        self._results = bytearray()
        self._results_total: int | None = None
        self.last_recv = now

    @property
    def connection_state(self) -> str:
        """``encryptedConnectionState`` of the destination (Destination structure)."""
        if self.state is SenderState.OPENING:
            return "negotiating"
        if self.state in FINISHED:
            return "disconnected"
        return "connected"

    @property
    def acked(self) -> RangeSet:
        """Blocks the receiver holds (as far as this sender knows)."""
        return self.pump.acked

    @property
    def blocks_acked(self) -> int:
        return self.pump.acked.total

    @property
    def blocks_sent(self) -> int:
        return self.pump.blocks_sent

    @property
    def blocks_retransmitted(self) -> int:
        return self.pump.blocks_retransmitted

    @property
    def peer_rate(self) -> float | None:
        """The receiver's advertised ``rateCap`` (``None`` = no cap)."""
        return self.pump.peer_rate

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    # --- output helpers -------------------------------------------------------------------
    def _datagram(self, body: Body) -> bytes:
        seq = self._seq
        self._seq += 1
        datagram = seal_datagram(body, self.session, seq, self._tx)
        self._count_out(len(datagram))
        return datagram

    def set_rate(self, rate_bps: float | None) -> None:
        """Set this server's own cap (bit/s, ``None`` = unlimited); the pacing rate is
        ``min(own cap, the receiver's rateCap)`` (``docs/protocol.md`` 5.6)."""
        self.pump.set_rate(rate_bps)

    def _count_out(self, length: int) -> None:
        self.packets_sent += 1
        self.bytes_sent += length

    def start(self, now: float) -> list[bytes]:
        """Begin (or begin again): the first OPEN."""
        self._reset_session(now)
        self.state = SenderState.OPENING
        return self._send_open(now)

    def _send_open(self, now: float) -> list[bytes]:
        body = tx_handshake.open_body(self.spec, self._ephemeral, self._meta_digest)
        self._open_body = encode_body(body)
        self._next_open = now + self._open_backoff
        self._open_backoff = min(self.timing.open_retry_max, self._open_backoff * 2)
        return [self._datagram(body)]

    # --- input ----------------------------------------------------------------------------
    def receive(self, data: bytes | bytearray | memoryview, now: float) -> list[bytes]:
        """Handle one datagram from the receiver; returns datagrams to send.

        Malformed, unauthenticated or unexpected datagrams are ignored (returns [])."""
        if self.finished:
            return []
        buf = bytearray(data)
        try:
            header = unpack_header(buf)
            if header.session != self.session:
                return []
            body = open_body(buf, len(buf), header.dtype, header.seq, self._rx)
        except ProtocolError:  # malformed, or rejected (DatagramRejected)
            return []
        handler = _TABLE.get((self.state, header.dtype))
        if handler is None:
            return []
        self.packets_recv += 1
        self.bytes_recv += len(buf)
        self.last_recv = now
        return handler(self, body, now)

    def _on_open_ack(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, OpenAck) and self._open_body is not None
        problem = tx_handshake.refusal(self.spec, body)
        if problem is not None:
            return self._fail(problem)
        keys = tx_handshake.session_keys(self.spec, self.session, self._ephemeral,
                                         self._open_body, body)
        if keys is None:
            return []  # forged or corrupted OPEN_ACK: keep retrying OPEN
        self._tx, self._rx = keys
        self.cipher = body.cipher
        self.peer_uid, self.peer_id = body.server_uid, body.server_id
        self.pump.start(body)
        self.state = SenderState.META
        return self._send_meta(now)

    def _send_meta(self, now: float, *, burst: int = 16) -> list[bytes]:
        meta = self.spec.meta
        out: list[bytes] = []
        pos = self._meta_held
        while pos < len(meta) and len(out) < burst:
            chunk = meta[pos:pos + self._meta_chunk]
            out.append(self._datagram(Meta(pos, chunk)))
            pos += len(chunk)
        self._next_control = now + self.timing.control_retry
        return out

    def _on_meta_ack(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, MetaAck)
        if body.ready:
            self.state = SenderState.DATA
            return self._maybe_close(now)
        if body.held > self._meta_held:
            self._meta_held = min(body.held, len(self.spec.meta))
            return self._send_meta(now)
        return []

    def _on_ack(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, Ack)
        self.pump.on_ack(body, now)
        if self.state is SenderState.DATA:
            return self._maybe_close(now)
        return []

    def _maybe_close(self, now: float) -> list[bytes]:
        if self.pump.all_acked:
            self.state = SenderState.CLOSING
            self.out.reset(now)
            return self._send_fin(now)
        return []

    def _send_fin(self, now: float) -> list[bytes]:
        self._next_control = now + self.timing.control_retry
        return [self._datagram(Fin(len(self._results)))]

    def _on_fin_ack(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, FinAck)
        if body.offset == len(self._results):
            self._results += body.chunk
            self._results_total = body.total
        if self._results_total is not None and len(self._results) >= self._results_total:
            return self._finish_results()
        return self._send_fin(now)

    def _finish_results(self) -> list[bytes]:
        try:
            self.results = decode_results(bytes(self._results))
        except ProtocolError as exc:
            return self._fail(exc.message)
        self.state = SenderState.DONE
        return []

    def _on_abort(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, Abort)
        return self._fail(f"receiver aborted: {body.message}")

    def _on_reject(self, body: Body, now: float) -> list[bytes]:
        assert isinstance(body, Reject)
        if body.code is RejectCode.UNKNOWN_SESSION:
            if self.state is SenderState.OPENING:
                return []
            return self.start(now)  # receiver restarted: new handshake, resume from OPEN_ACK
        if body.code is RejectCode.BUSY:
            return []
        return self._fail(f"receiver refused the transfer: {body.message}")

    def fail(self, message: str) -> None:
        """End the transfer with ``message`` (a local error, e.g. a source file vanished)."""
        self._fail(message)

    def _fail(self, message: str) -> list[bytes]:
        self.state = SenderState.FAILED
        self.error = message
        return []

    # --- timers ---------------------------------------------------------------------------
    def tick(self, now: float) -> list[bytes]:
        """Run timers: OPEN retries and give-up, META/FIN retransmission, RTO, peer silence."""
        st = self.state
        if st is SenderState.OPENING:
            if now - self._open_since > self.timing.open_give_up:
                return self._fail(f"no answer from the receiver within "
                                  f"{self.timing.open_give_up:g} s")
            return self._send_open(now) if now >= self._next_open else []
        if self.finished:
            return []
        if now - self.last_recv > self.timing.peer_timeout:
            return self.start(now)
        if st is SenderState.META and now >= self._next_control:
            return self._send_meta(now)
        if st is SenderState.CLOSING and now >= self._next_control:
            return self._send_fin(now)
        if st is SenderState.DATA:
            self.out.check_timeout(self.pump.acked, now)
        return []

    def next_wakeup(self, now: float) -> float:
        """The latest time the shell should call :meth:`tick` (or retry sending) again."""
        if self.state is SenderState.OPENING:
            return self._next_open
        wake = now + 0.02
        if self.state in (SenderState.META, SenderState.CLOSING):
            wake = min(wake, self._next_control)
        elif (deadline := self.out.deadline()) is not None:
            wake = min(wake, deadline)
        return wake

    def cancel(self) -> list[bytes]:
        """Abandon the transfer; returns the ABORT to send (if a session is established)."""
        out: list[bytes] = []
        if self._tx is not None and not self.finished:
            out.append(self._datagram(Abort(AbortCode.CANCELLED, "cancelled by the sender")))
        self._fail("cancelled")
        return out

    # --- data -----------------------------------------------------------------------------
    def fill_data(self, buf: bytearray, now: float) -> int:
        """Write the next DATA datagram into ``buf``; return its length, or 0 when nothing
        may be sent now (window full, rate cap, nothing left)."""
        n, extra = self.fill_parts(buf, now)
        if extra is not None:
            buf[n:n + len(extra)] = extra
            n += len(extra)
        return n

    def fill_parts(self, buf: bytearray, now: float) -> tuple[int, memoryview | None]:
        """Like :meth:`fill_data`, but at MIN_CIPHER_NONE with a source that lends views
        (synthetic content) the payload is not copied: the datagram is ``buf[:n]`` followed
        by the returned view (send both with one ``sendmsg``). Above NONE a lent view is
        encrypted straight into ``buf`` (no plaintext copy).

        One call per DATA datagram (the bytes: :meth:`DataPump.fill`)."""
        tx = self._tx
        if self.state is not SenderState.DATA or tx is None:
            return 0, None
        length, extra, wire = self.pump.fill(buf, now, self.session, self._seq, tx)
        if length:
            self._seq += 1
            self.packets_sent += 1
            self.bytes_sent += wire
            self.last_send = now
        return length, extra

    def fill_run(self, slots: memoryview, stride: int, limit: int,
                 now: float) -> list[tuple[int, memoryview | None]]:
        """Up to ``limit`` DATA datagrams at once, datagram ``j`` in ``slots`` at
        ``j * stride``, each ``(n, extra)`` as :meth:`fill_parts` returns it; the same
        datagrams as that many :meth:`fill_parts` calls (``DataPump.fill_run``). Empty when
        nothing may be sent now."""
        tx = self._tx
        if self.state is not SenderState.DATA or tx is None:
            return []
        parts, wire = self.pump.fill_run(slots, stride, limit, now, self.session, self._seq,
                                         tx)
        if parts:
            self._seq += len(parts)
            self.packets_sent += len(parts)
            self.bytes_sent += wire
            self.last_send = now
        return parts


_Handler = Callable[[SenderSession, Body, float], list[bytes]]
_O, _M, _D, _C = SenderState.OPENING, SenderState.META, SenderState.DATA, SenderState.CLOSING
_TABLE: dict[tuple[SenderState, DType], _Handler] = {
    (_O, DType.OPEN_ACK): SenderSession._on_open_ack,
    (_O, DType.REJECT): SenderSession._on_reject,
    (_M, DType.META_ACK): SenderSession._on_meta_ack,
    (_M, DType.ACK): SenderSession._on_ack,
    (_D, DType.ACK): SenderSession._on_ack,
    (_D, DType.META_ACK): SenderSession._on_meta_ack,
    (_C, DType.ACK): SenderSession._on_ack,
    (_C, DType.FIN_ACK): SenderSession._on_fin_ack,
    **{(s, DType.ABORT): SenderSession._on_abort for s in (_O, _M, _D, _C)},
    **{(s, DType.REJECT): SenderSession._on_reject for s in (_M, _D, _C)},
}
