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
read through the injected :class:`Source`, protection) into the shell's buffer. Block data
comes from new blocks in order, or from the retransmission queue filled by loss detection:
a datagram is presumed lost when the receiver reports a sequence number ``REORDER`` higher,
or when it is older than the retransmission timeout.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from jetstream_qa.errors import ProtocolError
from jetstream_qa.refserver.engine.bandwidth import pacing_rate, rate_from_wire
from jetstream_qa.refserver.engine.congestion import TokenBucket, Window
from jetstream_qa.refserver.engine.outstanding import Outstanding
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    DATA_PREFIX,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    MAGIC,
    TAG_SIZE,
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
    blocks_for,
    decode_body,
    encode_body,
    max_blocks_per_datagram,
    seal_datagram,
    unpack_header,
)
from jetstream_qa.wire.ranges import RangeSet

__all__ = ["SendSpec", "SenderSession", "SenderState", "Source", "Timing"]

ABORT_CANCELLED = 1
ABORT_ERROR = 2


class Source(Protocol):
    """Where DATA bytes come from: the transfer's byte space."""

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with bytes ``[offset, offset+len(view))`` of the transfer."""


class SenderState(enum.Enum):
    OPENING = "opening"
    META = "meta"
    DATA = "data"
    CLOSING = "closing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Timing:
    """Timers of a sender (seconds)."""

    open_retry: float = 0.25
    open_retry_max: float = 2.0
    open_give_up: float = 60.0
    """OPEN is retried with backoff this long (receiver down) before the transfer fails."""
    peer_timeout: float = 5.0
    """Silence of the receiver (no datagram) in META/DATA/CLOSING: re-handshake."""
    control_retry: float = 0.2
    """META and FIN retransmission interval."""


@dataclass(frozen=True, slots=True)
class SendSpec:
    """Everything a sender announces in OPEN (``docs/protocol.md`` 5.3)."""

    transfer_id: int
    total_bytes: int
    cipher: int
    flags: int
    overwrite_mode: int
    checkpoint_ms: int
    meta: bytes
    """The zlib-compressed JSON file list (5.4)."""
    destination_path: str
    server_uid: str
    server_id: str
    static_key: X25519PrivateKey
    peer_static: bytes | None = None
    """The destination's pinned ``destinationPublicKey`` (raw 32 bytes), if configured."""
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    leak_plaintext: bool = False
    """Fault ``plaintext-when-encrypted``: protect nothing while claiming the cipher."""


class SenderSession:
    """Protocol state of one transfer on the sending server (see the module docstring)."""

    def __init__(self, spec: SendSpec, source: Source, *, rate_bps: float | None = None,
                 timing: Timing | None = None,
                 session_factory: Callable[[], int] = lambda: secrets.randbits(64)) -> None:
        self.spec = spec
        self.timing = timing or Timing()
        self._source = source
        self._zero_copy: Callable[[int, int], memoryview | None] | None = getattr(
            source, "view", None)
        self._new_session = session_factory
        self.total_blocks = blocks_for(spec.total_bytes)
        self._meta_digest = hashlib.sha256(spec.meta).digest()
        self._meta_chunk = spec.max_datagram - HEADER.size - 4 - TAG_SIZE
        self.state = SenderState.OPENING
        self.error: str | None = None
        self.results: list[dict[str, str]] | None = None
        self.peer_uid: str | None = None
        self.peer_id: str | None = None
        self.cipher: int = spec.cipher
        self.acked = RangeSet()
        self.window = Window()
        self.out = Outstanding(self.total_blocks, max_blocks_per_datagram(spec.max_datagram),
                               self.window)
        self.local_rate = rate_bps
        """This server's own cap (sendRateMax, outgoing allowance); see :meth:`set_rate`."""
        self.peer_rate: float | None = None
        """The receiver's advertised ``rateCap`` (OPEN_ACK / ACK), ``None`` = no cap."""
        self.bucket = TokenBucket(rate_bps)
        # counters (Transfer structure)
        self.blocks_sent = self.blocks_retransmitted = 0
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
        self.out.reset(now)
        self._peer_window = 64
        self._set_peer_rate(None)
        self._results = bytearray()
        self._results_total: int | None = None
        self.last_recv = now

    @property
    def connection_state(self) -> str:
        """``encryptedConnectionState`` of the destination (Destination structure)."""
        if self.state is SenderState.OPENING:
            return "negotiating"
        if self.state in (SenderState.DONE, SenderState.FAILED):
            return "disconnected"
        return "connected"

    @property
    def blocks_acked(self) -> int:
        return self.acked.total

    @property
    def finished(self) -> bool:
        return self.state in (SenderState.DONE, SenderState.FAILED)

    def _open(self) -> Open:
        s = self.spec
        return Open(s.transfer_id, s.total_bytes, s.cipher, s.flags, s.overwrite_mode,
                    s.checkpoint_ms, s.max_datagram, len(s.meta), self._meta_digest,
                    crypto.public_bytes(self._ephemeral), crypto.public_bytes(s.static_key),
                    s.server_uid, s.server_id, s.destination_path)

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
        self.local_rate = rate_bps
        self.bucket.set_rate(pacing_rate(rate_bps, self.peer_rate))

    def _set_peer_rate(self, rate_bps: float | None) -> None:
        if rate_bps != self.peer_rate:
            self.peer_rate = rate_bps
            self.bucket.set_rate(pacing_rate(self.local_rate, rate_bps))

    def _count_out(self, length: int) -> None:
        self.packets_sent += 1
        self.bytes_sent += length

    def start(self, now: float) -> list[bytes]:
        """Begin (or begin again): the first OPEN."""
        self._reset_session(now)
        self.state = SenderState.OPENING
        return self._send_open(now)

    def _send_open(self, now: float) -> list[bytes]:
        body = self._open()
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
            if header.dtype in UNPROTECTED:
                length = len(buf) - HEADER.size
            elif self._rx is None:
                return []
            else:
                length = self._rx.open(buf, len(buf), HEADER.size, header.seq)
            body = decode_body(header.dtype, memoryview(buf)[HEADER.size:HEADER.size + length])
        except ProtocolError:
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
        s = self.spec
        if s.peer_static is not None and body.static != s.peer_static:
            return self._fail("destination public key does not match destinationPublicKey")
        if body.cipher < s.cipher:
            return self._fail(f"receiver chose cipher {body.cipher} below {s.cipher}")
        transcript = self._open_body + body.unsigned()
        try:
            keys = crypto.derive_keys(
                session=self.session, own_static=s.static_key, own_ephemeral=self._ephemeral,
                peer_static=body.static, peer_ephemeral=body.ephemeral,
                sender_static=crypto.public_bytes(s.static_key), receiver_static=body.static,
                sender_ephemeral=crypto.public_bytes(self._ephemeral),
                receiver_ephemeral=body.ephemeral, transcript=transcript)
        except ProtocolError:
            return []
        if not hmac.compare_digest(crypto.confirm_tag(keys, transcript), body.confirm):
            return []  # forged or corrupted OPEN_ACK: keep retrying OPEN
        self.cipher = body.cipher
        wire_cipher = 0 if s.leak_plaintext else body.cipher
        self._tx = crypto.Protector(wire_cipher, keys.sender_to_receiver,
                                    crypto.SENDER_TO_RECEIVER)
        self._rx = crypto.Protector(wire_cipher, keys.receiver_to_sender,
                                    crypto.RECEIVER_TO_SENDER)
        self.peer_uid, self.peer_id = body.server_uid, body.server_id
        self._peer_window = body.window
        self._set_peer_rate(rate_from_wire(body.rate_cap))
        self.acked = RangeSet([(0, body.cumulative), *body.ranges])
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
        acked = self.acked
        if body.cumulative:
            acked.add(0, min(body.cumulative, self.total_blocks))
        for a, b in body.ranges:
            acked.add(a, min(b, self.total_blocks))
        self._peer_window = body.window
        self._set_peer_rate(rate_from_wire(body.rate_cap))
        self.out.resolve(body, acked, now)
        if self.state is SenderState.DATA:
            return self._maybe_close(now)
        return []

    def _maybe_close(self, now: float) -> list[bytes]:
        if self.acked.total >= self.total_blocks:
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
            raw = zlib.decompressobj().decompress(bytes(self._results), 256 << 20)
            results = json.loads(raw)
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise ValueError("results must be a list of objects")
        except (ValueError, zlib.error):
            return self._fail("receiver sent unreadable per-file results")
        self.results = results
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
            self.out.check_timeout(self.acked, now)
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
            out.append(self._datagram(Abort(ABORT_CANCELLED, "cancelled by the sender")))
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

        The hot path of the sender (one call per DATA datagram): locals only, no allocation
        besides the lent view."""
        if self.state is not SenderState.DATA:
            return 0, None
        tx, out = self._tx, self.out
        if tx is None or len(out.inflight) >= self.window.limit(self._peer_window):
            return 0, None
        bucket = self.bucket
        if bucket.rate_bps is not None and bucket.delay(self.spec.max_datagram, now):
            return 0, None
        run = out.next_run(self.acked)
        if run is None:
            return 0, None
        first, n, again = run
        seq = self._seq
        self._seq = seq + 1
        offset = first * BLOCK_SIZE
        nbytes = n * BLOCK_SIZE
        if offset + nbytes > self.spec.total_bytes:
            nbytes = self.spec.total_bytes - offset
        _DATA_HEAD.pack_into(buf, 0, MAGIC, VERSION, _DATA, self.session, seq, first)
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
        self.packets_sent += 1
        self.bytes_sent += wire
        self.last_send = now
        return length, extra


_DATA: Final = int(DType.DATA)
_DATA_HEAD: Final = struct.Struct(HEADER.format + DATA_PREFIX.format.lstrip(">"))
"""Header and first-block prefix of a DATA datagram, packed in one call."""
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
