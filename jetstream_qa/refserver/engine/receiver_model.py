"""Values and interfaces of the receive side (sans-IO): transfers, sessions, sinks.

:class:`RxTransfer` is one incoming transfer as ``recv.getTransfersAsync`` reports it (Receive
Transfer structure: ``status`` ``receiving|complete|error``); it survives re-handshakes, and its
status moves only through the table :data:`RX_TRANSITIONS`.
:class:`RxSession` is one keyed session of it. :class:`Sink` / :class:`SinkFactory` are the
storage seam (the engine plugs ``ReceiveStorage`` in; tests plug memory in) and
:class:`CheckpointStore` persists held block ranges.
"""

from __future__ import annotations

import enum
import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jetstream_qa.errors import JetStreamQAError, UsageError
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.transfer_docs import META_INFLATED_LIMIT, parse_meta
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import BLOCK_SIZE, Body, Open, blocks_for, seal_datagram
from jetstream_qa.wire.ranges import RangeSet

__all__ = [
    "RX_TRANSITIONS",
    "Addr",
    "CheckpointStore",
    "RxEvent",
    "RxSession",
    "RxSpec",
    "RxState",
    "RxStatus",
    "RxTiming",
    "RxTransfer",
    "Sink",
    "SinkFactory",
]

Addr = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RxTiming:
    """Receiver timers (seconds)."""

    ack_interval: float = 0.005
    """An ACK goes out at most this long after unacknowledged DATA arrived."""
    keepalive: float = 1.0
    """An ACK goes out at least this often on a session past META (sender liveness)."""
    session_idle: float = 120.0
    takeover_after: float = 1.0
    """A new OPEN may replace a transfer's session silent for this long (else BUSY)."""
    transfer_idle: float = 3600.0
    """A receiving transfer silent this long is dropped (status error)."""
    keep_finished: float = 3600.0
    """Finished transfers stay listed by getTransfersAsync this long."""


@dataclass(frozen=True, slots=True)
class RxSpec:
    """What storage needs to begin a transfer."""

    entries: tuple[Entry, ...]
    destination_path: str
    flags: int
    overwrite_mode: int
    resume: bool
    total_bytes: int
    owner: str | None = None
    """The sending transfer's owner as the sender names it (META ``owner``; None when the
    META is the bare list). It picks the receiver's sandbox mapping; it is not
    authenticated (OURS, ``refserver/sandbox.py``)."""


class Sink(Protocol):
    """The receiver's storage for one transfer; offsets are in the transfer's byte space."""

    def write(self, offset: int, data: memoryview) -> None: ...

    def unwanted(self) -> list[tuple[int, int]]:
        """Byte ranges no one will write (skipped files): acknowledged without data."""
        ...

    def flush(self) -> None: ...

    def finish(self) -> list[dict[str, Any]]: ...

    def abort(self) -> None: ...


class SinkFactory(Protocol):
    def open(self, spec: RxSpec) -> Sink:
        """Begin storage. Raises JetStreamQAError (e.g. InvalidArgument) to refuse."""
        ...


class CheckpointStore(Protocol):
    def load(self, key: tuple[str, int]) -> dict[str, Any] | None: ...

    def save(self, key: tuple[str, int], record: dict[str, Any]) -> None: ...

    def delete(self, key: tuple[str, int]) -> None: ...


class RxState(enum.Enum):
    """Where one session is: receiving META, past it (DATA, FIN), or finished."""

    META = "meta"
    DATA = "data"
    DONE = "done"


class RxStatus(enum.StrEnum):
    """``status`` of a Receive Transfer (vendor API 4.6, S5: ``receiving | complete |
    error``)."""

    RECEIVING = "receiving"
    COMPLETE = "complete"
    ERROR = "error"


class RxEvent(enum.StrEnum):
    """What moves a receive transfer between statuses."""

    STORED = "stored"
    """Every block held, flushed to storage, per-file outcomes known."""
    FAIL = "fail"
    """A write or storage failure, the sender's ABORT, a refusal, idleness, replacement."""


_R, _C, _X = RxStatus.RECEIVING, RxStatus.COMPLETE, RxStatus.ERROR
RX_TRANSITIONS: dict[tuple[RxStatus, RxEvent], RxStatus] = {
    # vendor API 4.6 / S5 example 37: 'receiving', later 'complete' (or 'error')
    (_R, RxEvent.STORED): _C,
    (_R, RxEvent.FAIL): _X,
    # ours: an ended transfer still fails when it is replaced under its id, or when an
    # ABORT arrives on a new session of it (the session re-handshook after completion)
    (_C, RxEvent.FAIL): _X,
    (_X, RxEvent.FAIL): _X,
}


@dataclass(slots=True, eq=False)
class RxTransfer:
    """One incoming transfer (Receive Transfer structure), across sessions."""

    key: tuple[str, int]
    total_bytes: int
    meta_digest: bytes
    meta_length: int
    flags: int
    overwrite_mode: int
    destination_path: str
    checkpoint_s: float
    addr: Addr
    created: float
    cipher: int = 0
    status: RxStatus = RxStatus.RECEIVING
    error: str | None = None
    held: RangeSet = field(default_factory=RangeSet)
    meta_chunks: dict[int, bytes] = field(default_factory=dict)
    """META chunks by offset: memory follows what arrived, never the claimed length."""
    meta_held: RangeSet = field(default_factory=RangeSet)
    sink: Sink | None = None
    results: bytes | None = None
    session: int | None = None
    resumed: bool = False
    finishing: bool = False
    """Every block held; flush and storage outcomes pending (next tick)."""
    bytes_recv: int = 0
    last_recv: float = 0.0
    last_send: float | None = None
    last_error: float | None = None
    ended: float = 0.0
    next_checkpoint: float = 0.0

    @classmethod
    def from_open(cls, key: tuple[str, int], body: Open, addr: Addr, now: float) -> RxTransfer:
        ckpt = body.checkpoint_ms / 1000.0
        return cls(key, body.total_bytes, body.meta_digest, body.meta_length, body.flags,
                   body.overwrite_mode, body.destination_path, ckpt, addr, now,
                   last_recv=now,
                   next_checkpoint=now + ckpt)

    @property
    def total_blocks(self) -> int:
        return blocks_for(self.total_bytes)

    @property
    def meta_prefix(self) -> int:
        return self.meta_held.cumulative

    @property
    def meta_complete(self) -> bool:
        return self.meta_held.total >= self.meta_length

    def add_meta(self, offset: int, chunk: bytes) -> None:
        end = offset + len(chunk)
        if end <= self.meta_length and not self.meta_held.contains(offset, end):
            self.meta_chunks[offset] = chunk
            self.meta_held.add(offset, end)

    def meta_bytes(self) -> bytes:
        """The assembled META (call once :attr:`meta_complete`)."""
        buf = bytearray(self.meta_length)
        for offset in sorted(self.meta_chunks):
            chunk = self.meta_chunks[offset]
            buf[offset:offset + len(chunk)] = chunk
        return bytes(buf)

    @property
    def receiving(self) -> bool:
        """Whether the transfer is still receiving (status ``receiving``)."""
        return self.status is RxStatus.RECEIVING

    def apply(self, event: RxEvent) -> None:
        """Move the status through :data:`RX_TRANSITIONS`.

        Raises:
            UsageError: ``event`` is not allowed in the current status (an engine bug).
        """
        after = RX_TRANSITIONS.get((self.status, event))
        if after is None:
            raise UsageError(f"receive transfer {self.key[1]}: event '{event}' not allowed in "
                             f"status '{self.status}'",
                             details={"status": str(self.status), "event": str(event)})
        self.status = after

    def busy(self, now: float, quiet: float) -> bool:
        """True while a live session carries this transfer (a new OPEN must wait)."""
        return (self.status is RxStatus.RECEIVING and self.session is not None
                and now - self.last_recv < quiet and self.sink is not None)

    def open_storage(self, sinks: SinkFactory) -> str | None:
        """Once META is complete: verify and parse the file list, open storage through
        ``sinks`` and mark the blocks storage will not write as held (``docs/protocol.md``
        5.4). Returns the reason for refusing the transfer, or None."""
        meta = self.meta_bytes()
        self.meta_chunks.clear()
        if hashlib.sha256(meta).digest() != self.meta_digest:
            return "file list does not match its digest"
        try:
            raw = zlib.decompressobj().decompress(meta, META_INFLATED_LIMIT)
            entries, owner = parse_meta(json.loads(raw))
        except (ValueError, zlib.error, JetStreamQAError) as exc:
            return f"unreadable file list: {exc}"
        if sum(e.size for e in entries) != self.total_bytes:
            return "file sizes do not add up to totalBytes"
        spec = RxSpec(tuple(entries), self.destination_path, self.flags, self.overwrite_mode,
                      self.resumed, self.total_bytes, owner)
        try:
            self.sink = sinks.open(spec)
        except JetStreamQAError as exc:
            return exc.message
        for a, b in self.sink.unwanted():
            first, last = -(-a // BLOCK_SIZE), b // BLOCK_SIZE
            if b == self.total_bytes:
                last = self.total_blocks
            self.held.add(first, last)
        return None

    def fail(self, message: str, now: float) -> None:
        """End with status ``error`` and ``message``; storage still open is abandoned
        (partfiles stay, ``docs/protocol.md`` 5.8)."""
        if self.sink is not None and self.status is RxStatus.RECEIVING:
            try:
                self.sink.abort()
            except (JetStreamQAError, OSError):
                pass
        self.apply(RxEvent.FAIL)
        self.error, self.ended, self.last_error = message, now, now

    def checkpoint(self, store: CheckpointStore | None, now: float) -> None:
        """Save the held ranges through ``store`` once storage holds every byte written
        so far (5.10); the next checkpoint falls due ``checkpoint_s`` later. A flush that
        fails skips this checkpoint."""
        self.next_checkpoint = now + self.checkpoint_s
        if store is None or self.sink is None:
            return
        ranges = self.held.ranges()
        try:
            self.sink.flush()
        except (JetStreamQAError, OSError):
            return
        store.save(self.key, self.checkpoint_record(ranges))

    def checkpoint_record(self, ranges: list[tuple[int, int]]) -> dict[str, Any]:
        return {"v": 1, "digest": self.meta_digest.hex(), "totalBytes": self.total_bytes,
                "ranges": [list(r) for r in ranges]}

    def adopt_checkpoint(self, saved: dict[str, Any]) -> bool:
        """Take the held ranges of a checkpoint of this same transfer; False if foreign."""
        try:
            if saved.get("digest") != self.meta_digest.hex() \
                    or saved.get("totalBytes") != self.total_bytes:
                return False
            for a, b in saved.get("ranges", []):
                if isinstance(a, int) and isinstance(b, int) and 0 <= a < b \
                        and b <= self.total_blocks:
                    self.held.add(a, b)
        except (TypeError, ValueError):
            return False
        return True

    def to_json(self, wall_us: Callable[[float], int]) -> dict[str, Any]:
        host, port = self.addr[0], self.addr[1]
        return {"transferId": self.key[1], "destinationPath": self.destination_path,
                "sourceIP": host, "sourcePort": port, "status": self.status.value,
                "totalSize": self.total_bytes,
                "lastErrorTime": None if self.last_error is None else wall_us(self.last_error),
                "lastRecvTime": wall_us(self.last_recv),
                "lastSendTime": None if self.last_send is None else wall_us(self.last_send),
                "errorMessage": self.error, "bytesRecv": self.bytes_recv,
                "sourceServerUid": self.key[0], "effectiveCipher": self.cipher}


@dataclass(slots=True, eq=False)
class RxSession:
    """One handshake's keys and sequence state for a transfer."""

    sid: int
    transfer: RxTransfer
    addr: Addr
    max_datagram: int
    open_body: bytes
    rx: crypto.Protector
    tx: crypto.Protector
    last_recv: float
    state: RxState = RxState.META
    seq: int = 0
    open_ack: bytes = b""
    highest_seq: int = -1
    highest_at: float = 0.0
    received: int = 0
    unacked: int = 0
    last_ack: float = 0.0
    tick_due: float = 0.0
    """When the timers visit this session next while it is quiet (``rx_tables.py``)."""

    def seal(self, body: Body) -> bytes:
        """The next datagram of this session (receiver -> sender) carrying ``body``."""
        seq = self.seq
        self.seq += 1
        return seal_datagram(body, self.sid, seq, self.tx)
