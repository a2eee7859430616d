"""Data plane, sans-IO: datagram layouts, 256-byte block math and ACK range sets.

Theory of operation
-------------------
A transfer is ONE contiguous byte space: the files of its manifest concatenated in manifest
order, cut into 256-byte blocks (vendor Transfer structure page: ``blockSize`` is "currently
256"; ``totalBlocks`` = ``ceil(totalBytes / 256)``). Every datagram (``docs/protocol.md``
section 5) starts with a 20-byte header -- magic ``b"JQ"``, version, type, 64-bit session id,
64-bit per-direction sequence number -- followed by a type-specific body and, once keys are
established and the cipher is not NONE, a 16-byte authentication tag (``wire/crypto.py``).

This module turns bytes into frozen, self-validating message values and back. Bulk DATA
datagrams are the exception: for speed they are never materialised as objects; the engine
packs :data:`HEADER` and :data:`DATA_PREFIX` into preallocated buffers with the helpers below.
Every decoder raises only :class:`~jetstream_qa.errors.ProtocolError`, whatever the bytes.
"""

from __future__ import annotations

import enum
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from jetstream_qa.errors import ProtocolError

__all__ = [
    "ACK_FIXED",
    "BLOCK_SIZE",
    "DATA_PREFIX",
    "DEFAULT_MAX_DATAGRAM",
    "HEADER",
    "LOOPBACK_MAX_DATAGRAM",
    "MAGIC",
    "MIN_DATAGRAM",
    "NETWORK_MAX_DATAGRAM",
    "NO_RATE_CAP",
    "TAG_SIZE",
    "VERSION",
    "Abort",
    "Ack",
    "DType",
    "Fin",
    "FinAck",
    "Header",
    "Meta",
    "MetaAck",
    "Open",
    "OpenAck",
    "RangeSet",
    "Reject",
    "RejectCode",
    "blocks_for",
    "decode_body",
    "encode_body",
    "max_blocks_per_datagram",
    "pack_header",
    "unpack_header",
]

MAGIC: Final = b"JQ"
VERSION: Final = 1
BLOCK_SIZE: Final = 256
TAG_SIZE: Final = 16
HEADER: Final = struct.Struct(">2sBBQQ")
"""magic(2) version(1) type(1) session id(8) sequence(8): 20 bytes."""
DATA_PREFIX: Final = struct.Struct(">Q")
"""DATA body prefix: index of the first block carried."""
NETWORK_MAX_DATAGRAM: Final = 1400
"""A payload that fits a 1500-byte Ethernet MTU with IPv6 + UDP headers."""
DEFAULT_MAX_DATAGRAM: Final = NETWORK_MAX_DATAGRAM
"""UDP payload bytes per datagram everywhere, loopback included (ours; the vendor does not
document MTU): impairment, loss accounting and packet checks see what a real network sees,
and GSO/GRO batching (refserver/engine/udp_offload.py) keeps loopback fast."""
LOOPBACK_MAX_DATAGRAM: Final = 65000
"""The former loopback default (253 blocks per datagram), kept for benches by option."""
MIN_DATAGRAM: Final = 576
MAX_U64: Final = 2**64 - 1
NO_RATE_CAP: Final = 0
"""``rateCap`` value meaning "this receiver sets no cap" (ACK / OPEN_ACK, protocol.md 5.6)."""


class DType(enum.IntEnum):
    """Datagram types (``docs/protocol.md`` 5.2)."""

    OPEN = 1
    OPEN_ACK = 2
    META = 3
    META_ACK = 4
    DATA = 5
    ACK = 6
    FIN = 7
    FIN_ACK = 8
    ABORT = 9
    REJECT = 10


UNPROTECTED: Final = frozenset({DType.OPEN, DType.OPEN_ACK, DType.REJECT})
"""Types sent in clear whatever the cipher (the handshake and the unknown-session answer)."""


class RejectCode(enum.IntEnum):
    """Why a receiver refused a datagram (REJECT body)."""

    UNKNOWN_SESSION = 1
    CIPHER_TOO_WEAK = 2
    BAD_REQUEST = 3
    BUSY = 4


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise ProtocolError(what)


# --- block math --------------------------------------------------------------------------
def blocks_for(total_bytes: int) -> int:
    """``ceil(total_bytes / 256)``: the number of blocks of a byte space."""
    return -(-total_bytes // BLOCK_SIZE)


def max_blocks_per_datagram(max_datagram: int) -> int:
    """Whole blocks one DATA datagram of at most ``max_datagram`` bytes can carry
    (header, first-block prefix and tag reserved)."""
    room = max_datagram - HEADER.size - DATA_PREFIX.size - TAG_SIZE
    if room < BLOCK_SIZE:
        raise ValueError(f"max datagram {max_datagram} cannot carry one 256-byte block")
    return room // BLOCK_SIZE


# --- header ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Header:
    """The 20-byte header every datagram starts with."""

    dtype: DType
    session: int
    seq: int

    def __post_init__(self) -> None:
        _require(0 <= self.session <= MAX_U64 and 0 <= self.seq <= MAX_U64,
                 "session and sequence are 64-bit unsigned")


def pack_header(dtype: DType, session: int, seq: int) -> bytes:
    """The header bytes of one datagram."""
    return HEADER.pack(MAGIC, VERSION, dtype, session, seq)


_TYPES: Final = {int(t): t for t in DType}


def unpack_header(data: bytes | bytearray | memoryview, length: int | None = None) -> Header:
    """Parse the header of a datagram of ``length`` bytes (default ``len(data)``).

    Raises:
        ProtocolError: too short, wrong magic, unknown version or type.
    """
    n = len(data) if length is None else length
    _require(n >= HEADER.size, f"datagram of {n} bytes is shorter than the header")
    magic, version, dtype, session, seq = HEADER.unpack_from(data)
    _require(magic == MAGIC, "bad magic")
    _require(version == VERSION, f"unsupported data-plane version {version}")
    kind = _TYPES.get(dtype)
    _require(kind is not None, f"unknown datagram type {dtype}")
    assert kind is not None
    return Header(kind, session, seq)


# --- range sets --------------------------------------------------------------------------
class RangeSet:
    """A set of block indices stored as sorted, disjoint, non-adjacent ``[start, end)``
    intervals (two parallel lists searched with ``bisect``): adding a run costs O(log n)
    plus the merge, so 4M blocks received in order stay one interval."""

    __slots__ = ("_ends", "_starts", "total")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.total = 0
        """Number of indices held."""
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> int:
        """Add ``[start, end)``; return how many indices were new."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        if starts and ends[-1] == start:  # fast path: in-order arrival
            ends[-1] = end
            self.total += end - start
            return end - start
        i = bisect_left(ends, start)
        j = bisect_right(starts, end)
        if i == j:
            starts.insert(i, start)
            ends.insert(i, end)
            self.total += end - start
            return end - start
        covered = 0
        for k in range(i, j):
            covered += ends[k] - starts[k]
        new_start = min(start, starts[i])
        new_end = max(end, ends[j - 1])
        starts[i:j] = [new_start]
        ends[i:j] = [new_end]
        added = (new_end - new_start) - covered
        self.total += added
        return added

    def contains(self, start: int, end: int) -> bool:
        """True when every index of ``[start, end)`` is held (True for an empty run)."""
        if end <= start:
            return True
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.contains(index, index + 1)

    def next_missing(self, index: int) -> int:
        """The smallest index >= ``index`` that is not held."""
        i = bisect_right(self._starts, index) - 1
        if i >= 0 and self._ends[i] > index:
            return self._ends[i]
        return index

    def held_until(self, index: int) -> int:
        """The end of the held run starting at ``index`` (``index`` itself if not held)."""
        return self.next_missing(index)

    def next_held(self, index: int) -> int | None:
        """The start of the first held run at or after ``index``, or None."""
        i = bisect_right(self._starts, index) - 1
        if i >= 0 and self._ends[i] > index:
            return index
        i += 1
        return self._starts[i] if i < len(self._starts) else None

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The runs of ``[start, end)`` that are not held, ascending."""
        out: list[tuple[int, int]] = []
        pos = start
        while pos < end:
            pos = self.next_missing(pos)
            if pos >= end:
                break
            nxt = self.next_held(pos)
            stop = end if nxt is None or nxt > end else nxt
            out.append((pos, stop))
            pos = stop
        return out

    @property
    def cumulative(self) -> int:
        """Every index below this is held."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def ranges_above(self, index: int, *, limit: int) -> list[tuple[int, int]]:
        """At most ``limit`` intervals lying wholly above ``index``: the lowest half and
        the highest half when there are more (the newest data is usually highest)."""
        i = bisect_right(self._starts, index)
        n = len(self._starts) - i
        if n <= limit:
            idx: Iterable[int] = range(i, len(self._starts))
        else:
            low = limit - limit // 2
            idx = [*range(i, i + low), *range(len(self._starts) - limit // 2,
                                              len(self._starts))]
        return [(self._starts[k], self._ends[k]) for k in idx]

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.ranges())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and self.ranges() == other.ranges()

    def __repr__(self) -> str:
        return f"RangeSet({self.ranges()!r})"


# --- primitives for bodies ---------------------------------------------------------------
class _Reader:
    """Bounds-checked cursor over a body; every overrun is a ProtocolError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def take(self, n: int) -> bytes:
        _require(0 <= n <= len(self._data) - self._pos, "body truncated")
        out = bytes(self._data[self._pos:self._pos + n])
        self._pos += n
        return out

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        raw = self.take(fmt.size)
        return fmt.unpack(raw)

    def text(self, size_fmt: struct.Struct, limit: int) -> str:
        (n,) = self.unpack(size_fmt)
        _require(n <= limit, f"string of {n} bytes exceeds {limit}")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._pos)

    def end(self) -> None:
        _require(self._pos == len(self._data), "trailing bytes after body")


_U8, _U16, _U32, _U64 = (struct.Struct(f">{c}") for c in "BHIQ")
_RANGE = struct.Struct(">QQ")


def _text(value: str, size_fmt: struct.Struct) -> bytes:
    raw = value.encode("utf-8")
    return size_fmt.pack(len(raw)) + raw


def _ranges_bytes(ranges: tuple[tuple[int, int], ...]) -> bytes:
    return _U16.pack(len(ranges)) + b"".join(_RANGE.pack(a, b) for a, b in ranges)


def _read_ranges(r: _Reader, *, above: int) -> tuple[tuple[int, int], ...]:
    (count,) = r.unpack(_U16)
    out: list[tuple[int, int]] = []
    prev = above
    for _ in range(count):
        a, b = r.unpack(_RANGE)
        _require(prev <= a < b, "ranges must be ascending, disjoint and non-empty")
        out.append((a, b))
        prev = b
    return tuple(out)


def _check_ranges(ranges: tuple[tuple[int, int], ...], above: int) -> None:
    prev = above
    _require(len(ranges) <= 0xFFFF, "too many ranges")
    for a, b in ranges:
        _require(prev <= a < b <= MAX_U64, "ranges must be ascending, disjoint, non-empty")
        prev = b


# --- message bodies ----------------------------------------------------------------------
_OPEN_FIXED = struct.Struct(">QQBBBBIII32s32s32s")
ID_LIMIT: Final = 128
PATH_LIMIT: Final = 4096
META_LIMIT: Final = 64 << 20
"""Largest compressed META a receiver accepts."""


@dataclass(frozen=True, slots=True)
class Open:
    """Sender -> receiver: session setup (``docs/protocol.md`` 5.3)."""

    transfer_id: int
    total_bytes: int
    cipher: int
    flags: int
    overwrite_mode: int
    checkpoint_ms: int
    max_datagram: int
    meta_length: int
    meta_digest: bytes
    ephemeral: bytes
    static: bytes
    server_uid: str
    server_id: str
    destination_path: str

    def __post_init__(self) -> None:
        _require(0 <= self.transfer_id <= MAX_U64, "transferId out of range")
        _require(0 <= self.total_bytes <= 2**62, "totalBytes out of range")
        _require(0 <= self.cipher <= 3, f"cipher {self.cipher} outside 0..3")
        _require(0 <= self.flags <= 15, f"flags {self.flags} outside 0..15")
        _require(0 <= self.overwrite_mode <= 255, "overwrite mode out of range")
        _require(0 <= self.checkpoint_ms <= 0xFFFFFFFF, "checkpoint interval out of range")
        _require(MIN_DATAGRAM <= self.max_datagram <= 65507, "max datagram out of range")
        _require(0 < self.meta_length <= META_LIMIT, "meta length out of range")
        for name in ("meta_digest", "ephemeral", "static"):
            _require(isinstance(getattr(self, name), bytes) and len(getattr(self, name)) == 32,
                     f"{name} must be 32 bytes")
        _require(0 < len(self.server_uid.encode()) <= ID_LIMIT, "serverUid length")
        _require(len(self.server_id.encode()) <= ID_LIMIT, "serverId length")
        _require(len(self.destination_path.encode()) <= PATH_LIMIT, "destination path length")


@dataclass(frozen=True, slots=True)
class OpenAck:
    """Receiver -> sender: its keys, the effective cipher and the blocks already held."""

    ephemeral: bytes
    static: bytes
    cipher: int
    window: int
    cumulative: int
    ranges: tuple[tuple[int, int], ...]
    server_uid: str
    server_id: str
    confirm: bytes
    """16-byte key confirmation over the handshake transcript (``wire/crypto.py``)."""
    rate_cap: int = field(default=NO_RATE_CAP, kw_only=True)
    """bit/s this session may send at (its share of the receiver's incoming allowance);
    :data:`NO_RATE_CAP` = no cap (``docs/protocol.md`` 5.6)."""

    def __post_init__(self) -> None:
        _require(len(self.ephemeral) == 32 and len(self.static) == 32, "keys must be 32 bytes")
        _require(0 <= self.rate_cap <= MAX_U64, "rate cap out of range")
        _require(0 <= self.cipher <= 3, f"cipher {self.cipher} outside 0..3")
        _require(1 <= self.window <= 0xFFFFFFFF, "window out of range")
        _require(0 <= self.cumulative <= MAX_U64, "cumulative out of range")
        _check_ranges(self.ranges, self.cumulative)
        _require(len(self.server_uid.encode()) <= ID_LIMIT, "serverUid length")
        _require(len(self.server_id.encode()) <= ID_LIMIT, "serverId length")
        _require(len(self.confirm) == TAG_SIZE, "confirm must be 16 bytes")

    def unsigned(self) -> bytes:
        """The body without ``confirm`` (what the confirmation covers)."""
        return (self.ephemeral + self.static + _U8.pack(self.cipher) + _U32.pack(self.window)
                + _U64.pack(self.cumulative) + _ranges_bytes(self.ranges)
                + _text(self.server_uid, _U8) + _text(self.server_id, _U8)
                + _U64.pack(self.rate_cap))


@dataclass(frozen=True, slots=True)
class Meta:
    """Sender -> receiver: bytes ``[offset, offset+len(chunk))`` of the compressed file list."""

    offset: int
    chunk: bytes

    def __post_init__(self) -> None:
        _require(self.offset >= 0 and self.offset + len(self.chunk) <= META_LIMIT,
                 "meta chunk outside the meta limit")
        _require(len(self.chunk) > 0, "empty meta chunk")


@dataclass(frozen=True, slots=True)
class MetaAck:
    """Receiver -> sender: contiguous META bytes held; ``ready`` once storage is prepared."""

    held: int
    ready: bool

    def __post_init__(self) -> None:
        _require(0 <= self.held <= META_LIMIT, "meta held out of range")


ACK_FIXED: Final = struct.Struct(">QQQII")


@dataclass(frozen=True, slots=True)
class Ack:
    """Receiver -> sender: blocks held (cumulative + up to N ranges above it)."""

    cumulative: int
    highest_seq: int
    received: int
    delay_us: int
    window: int
    ranges: tuple[tuple[int, int], ...]
    rate_cap: int = field(default=NO_RATE_CAP, kw_only=True)
    """bit/s this session may send at now; :data:`NO_RATE_CAP` = no cap (5.6)."""

    def __post_init__(self) -> None:
        for name in ("cumulative", "highest_seq", "received", "rate_cap"):
            _require(0 <= getattr(self, name) <= MAX_U64, f"{name} out of range")
        _require(0 <= self.delay_us <= 0xFFFFFFFF, "delay out of range")
        _require(1 <= self.window <= 0xFFFFFFFF, "window out of range")
        _check_ranges(self.ranges, self.cumulative)


@dataclass(frozen=True, slots=True)
class Fin:
    """Sender -> receiver: every block is acked; send results from byte ``offset``."""

    offset: int

    def __post_init__(self) -> None:
        _require(0 <= self.offset <= 0xFFFFFFFF, "offset out of range")


@dataclass(frozen=True, slots=True)
class FinAck:
    """Receiver -> sender: bytes ``[offset, ...)`` of the compressed per-file results."""

    total: int
    offset: int
    chunk: bytes

    def __post_init__(self) -> None:
        _require(self.offset >= 0 and self.offset + len(self.chunk) <= self.total
                 <= META_LIMIT, "results chunk outside its total")


@dataclass(frozen=True, slots=True)
class Abort:
    """Either side: the transfer is over with an error (or cancelled)."""

    code: int
    message: str

    def __post_init__(self) -> None:
        _require(0 <= self.code <= 0xFFFF, "code out of range")
        _require(len(self.message.encode()) <= 1024, "message longer than 1024 bytes")


@dataclass(frozen=True, slots=True)
class Reject:
    """Receiver -> sender, in clear: the datagram was refused."""

    code: RejectCode
    message: str

    def __post_init__(self) -> None:
        _require(len(self.message.encode()) <= 512, "message longer than 512 bytes")


Body = Open | OpenAck | Meta | MetaAck | Ack | Fin | FinAck | Abort | Reject
_TYPE_OF: Final[dict[type, DType]] = {
    Open: DType.OPEN, OpenAck: DType.OPEN_ACK, Meta: DType.META, MetaAck: DType.META_ACK,
    Ack: DType.ACK, Fin: DType.FIN, FinAck: DType.FIN_ACK, Abort: DType.ABORT,
    Reject: DType.REJECT,
}


def dtype_of(body: Body) -> DType:
    """The datagram type that carries ``body``."""
    return _TYPE_OF[type(body)]


def encode_body(body: Body) -> bytes:
    """Serialise a message body (without header or tag)."""
    if isinstance(body, Open):
        return (_OPEN_FIXED.pack(body.transfer_id, body.total_bytes, body.cipher, body.flags,
                                 body.overwrite_mode, 0, body.checkpoint_ms, body.max_datagram,
                                 body.meta_length, body.meta_digest, body.ephemeral,
                                 body.static)
                + _text(body.server_uid, _U8) + _text(body.server_id, _U8)
                + _text(body.destination_path, _U16))
    if isinstance(body, OpenAck):
        return body.unsigned() + body.confirm
    if isinstance(body, Meta):
        return _U32.pack(body.offset) + body.chunk
    if isinstance(body, MetaAck):
        return _U32.pack(body.held) + _U8.pack(1 if body.ready else 0)
    if isinstance(body, Ack):
        return (ACK_FIXED.pack(body.cumulative, body.highest_seq, body.received, body.delay_us,
                               body.window) + _ranges_bytes(body.ranges)
                + _U64.pack(body.rate_cap))
    if isinstance(body, Fin):
        return _U32.pack(body.offset)
    if isinstance(body, FinAck):
        return _U32.pack(body.total) + _U32.pack(body.offset) + body.chunk
    if isinstance(body, Abort):
        return _U16.pack(body.code) + body.message.encode("utf-8")
    return _U16.pack(body.code) + body.message.encode("utf-8")


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("message is not UTF-8") from None


def _decode_open(r: _Reader) -> Open:
    (tid, total, cipher, flags, mode, _zero, ckpt, maxd, mlen, digest, eph,
     static) = r.unpack(_OPEN_FIXED)
    uid = r.text(_U8, ID_LIMIT)
    sid = r.text(_U8, ID_LIMIT)
    path = r.text(_U16, PATH_LIMIT)
    r.end()
    return Open(tid, total, cipher, flags, mode, ckpt, maxd, mlen, bytes(digest),
                bytes(eph), bytes(static), uid, sid, path)


def _decode_open_ack(r: _Reader) -> OpenAck:
    eph = r.take(32)
    static = r.take(32)
    (cipher,) = r.unpack(_U8)
    (window,) = r.unpack(_U32)
    (cum,) = r.unpack(_U64)
    ranges = _read_ranges(r, above=cum)
    uid = r.text(_U8, ID_LIMIT)
    sid = r.text(_U8, ID_LIMIT)
    (cap,) = r.unpack(_U64)
    confirm = r.take(TAG_SIZE)
    r.end()
    return OpenAck(eph, static, cipher, window, cum, ranges, uid, sid, confirm, rate_cap=cap)


def _decode_ack(r: _Reader) -> Ack:
    cum, high, received, delay, window = r.unpack(ACK_FIXED)
    ranges = _read_ranges(r, above=cum)
    (cap,) = r.unpack(_U64)
    r.end()
    return Ack(cum, high, received, delay, window, ranges, rate_cap=cap)


def decode_body(dtype: DType, data: bytes | bytearray | memoryview) -> Body:
    """Parse the body of a non-DATA datagram of type ``dtype``.

    Raises:
        ProtocolError: truncated, trailing bytes, a field out of range, or ``dtype`` is DATA
            (DATA bodies are parsed by the engine's fast path).
    """
    r = _Reader(data)
    if dtype is DType.OPEN:
        return _decode_open(r)
    if dtype is DType.OPEN_ACK:
        return _decode_open_ack(r)
    if dtype is DType.ACK:
        return _decode_ack(r)
    if dtype is DType.META:
        (off,) = r.unpack(_U32)
        return Meta(off, r.rest())
    if dtype is DType.META_ACK:
        (held,) = r.unpack(_U32)
        (ready,) = r.unpack(_U8)
        r.end()
        _require(ready in (0, 1), "ready must be 0 or 1")
        return MetaAck(held, ready == 1)
    if dtype is DType.FIN:
        (off,) = r.unpack(_U32)
        r.end()
        return Fin(off)
    if dtype is DType.FIN_ACK:
        (total,) = r.unpack(_U32)
        (off,) = r.unpack(_U32)
        return FinAck(total, off, r.rest())
    if dtype is DType.ABORT:
        (code,) = r.unpack(_U16)
        return Abort(code, _decode_text(r.rest()))
    if dtype is DType.REJECT:
        (code,) = r.unpack(_U16)
        try:
            reason = RejectCode(code)
        except ValueError:
            raise ProtocolError(f"unknown reject code {code}") from None
        return Reject(reason, _decode_text(r.rest()))
    raise ProtocolError(f"{dtype.name} has no generic body decoder")


def check_data(first_block: int, payload_len: int, total_bytes: int) -> int:
    """Validate a DATA run: ``payload_len`` bytes starting at block ``first_block``.

    The run must lie inside the byte space and be whole blocks, except that the final
    block of the transfer may be short. Returns the number of blocks carried.

    Raises:
        ProtocolError: empty, out of range or ragged.
    """
    start = first_block * BLOCK_SIZE
    end = start + payload_len
    _require(payload_len > 0 and end <= total_bytes, "DATA outside the transfer")
    if payload_len % BLOCK_SIZE:
        _require(end == total_bytes, "only the last block of a transfer may be short")
    return -(-payload_len // BLOCK_SIZE)
