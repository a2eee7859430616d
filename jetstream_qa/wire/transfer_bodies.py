"""Bodies inside a session, sans-IO: META, META_ACK, ACK, FIN, FIN_ACK and ABORT.

``docs/protocol.md`` 5.2 and 5.4-5.8: these travel after the handshake, protected by the
session's cipher (a tag after the body unless it is NONE). Each class is a frozen value that
checks its fields on construction, writes itself with ``encode()``, reads itself with
``decode(reader)``, and names its datagram type in ``dtype`` (``wire/bodies.py`` tables
them). The ``*_room`` / ``*_limit`` helpers say how much variable content (META or results
bytes, held ranges) one datagram of a given size carries next to a body's fixed fields.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final

from jetstream_qa.wire._fields import (
    MAX_U64,
    META_LIMIT,
    NO_RATE_CAP,
    RANGE,
    U8,
    U16,
    U32,
    U64,
    Reader,
    check_ranges,
    ranges_bytes,
    require,
    utf8,
)
from jetstream_qa.wire.header import HEADER, TAG_SIZE, DType

__all__ = [
    "ACK_FIXED",
    "Abort",
    "AbortCode",
    "Ack",
    "Fin",
    "FinAck",
    "Meta",
    "MetaAck",
    "ack_range_limit",
    "fin_ack_room",
    "meta_room",
]


# --- file list ---------------------------------------------------------------------------
def meta_room(max_datagram: int) -> int:
    """META bytes one META datagram of ``max_datagram`` bytes carries (offset and tag
    reserved)."""
    return max_datagram - HEADER.size - U32.size - TAG_SIZE


@dataclass(frozen=True, slots=True)
class Meta:
    """Sender -> receiver: bytes ``[offset, offset+len(chunk))`` of the compressed file list."""

    dtype: ClassVar[DType] = DType.META
    offset: int
    chunk: bytes

    def __post_init__(self) -> None:
        require(self.offset >= 0 and self.offset + len(self.chunk) <= META_LIMIT,
                "meta chunk outside the meta limit")
        require(len(self.chunk) > 0, "empty meta chunk")

    def encode(self) -> bytes:
        return U32.pack(self.offset) + self.chunk

    @classmethod
    def decode(cls, r: Reader) -> Meta:
        (off,) = r.unpack(U32)
        return cls(off, r.rest())


@dataclass(frozen=True, slots=True)
class MetaAck:
    """Receiver -> sender: contiguous META bytes held; ``ready`` once storage is prepared."""

    dtype: ClassVar[DType] = DType.META_ACK
    held: int
    ready: bool

    def __post_init__(self) -> None:
        require(0 <= self.held <= META_LIMIT, "meta held out of range")

    def encode(self) -> bytes:
        return U32.pack(self.held) + U8.pack(1 if self.ready else 0)

    @classmethod
    def decode(cls, r: Reader) -> MetaAck:
        (held,) = r.unpack(U32)
        (ready,) = r.unpack(U8)
        r.end()
        require(ready in (0, 1), "ready must be 0 or 1")
        return cls(held, ready == 1)


# --- acknowledgement ---------------------------------------------------------------------
ACK_FIXED: Final = struct.Struct(">QQQII")
ACK_MAX_RANGES: Final = 1024
"""Most held ranges one ACK carries (5.2: ``min(1024, room/16)``)."""


def ack_range_limit(max_datagram: int) -> int:
    """Held ranges one ACK carries in a datagram of ``max_datagram`` bytes: the room left by
    the header, the fixed fields, the range count, ``rateCap`` and the tag, in ranges (at
    least one, at most :data:`ACK_MAX_RANGES`)."""
    room = max_datagram - HEADER.size - (ACK_FIXED.size + U16.size + U64.size) - TAG_SIZE
    return max(1, min(ACK_MAX_RANGES, room // RANGE.size))


@dataclass(frozen=True, slots=True)
class Ack:
    """Receiver -> sender: blocks held (cumulative + up to N ranges above it)."""

    dtype: ClassVar[DType] = DType.ACK
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
            require(0 <= getattr(self, name) <= MAX_U64, f"{name} out of range")
        require(0 <= self.delay_us <= 0xFFFFFFFF, "delay out of range")
        require(1 <= self.window <= 0xFFFFFFFF, "window out of range")
        check_ranges(self.ranges, self.cumulative)

    def encode(self) -> bytes:
        return (ACK_FIXED.pack(self.cumulative, self.highest_seq, self.received,
                               self.delay_us, self.window)
                + ranges_bytes(self.ranges) + U64.pack(self.rate_cap))

    @classmethod
    def decode(cls, r: Reader) -> Ack:
        cum, high, received, delay, window = r.unpack(ACK_FIXED)
        ranges = r.ranges(above=cum)
        (cap,) = r.unpack(U64)
        r.end()
        return cls(cum, high, received, delay, window, ranges, rate_cap=cap)


# --- results -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fin:
    """Sender -> receiver: every block is acked; send results from byte ``offset``."""

    dtype: ClassVar[DType] = DType.FIN
    offset: int

    def __post_init__(self) -> None:
        require(0 <= self.offset <= 0xFFFFFFFF, "offset out of range")

    def encode(self) -> bytes:
        return U32.pack(self.offset)

    @classmethod
    def decode(cls, r: Reader) -> Fin:
        (off,) = r.unpack(U32)
        r.end()
        return cls(off)


_FIN_ACK_FIXED = struct.Struct(">II")
"""FIN_ACK ``total u32, offset u32`` before the chunk."""


def fin_ack_room(max_datagram: int) -> int:
    """Results bytes one FIN_ACK of ``max_datagram`` bytes carries."""
    return max_datagram - HEADER.size - _FIN_ACK_FIXED.size - TAG_SIZE


@dataclass(frozen=True, slots=True)
class FinAck:
    """Receiver -> sender: bytes ``[offset, ...)`` of the compressed per-file results."""

    dtype: ClassVar[DType] = DType.FIN_ACK
    total: int
    offset: int
    chunk: bytes

    def __post_init__(self) -> None:
        require(self.offset >= 0 and self.offset + len(self.chunk) <= self.total
                <= META_LIMIT, "results chunk outside its total")

    def encode(self) -> bytes:
        return _FIN_ACK_FIXED.pack(self.total, self.offset) + self.chunk

    @classmethod
    def decode(cls, r: Reader) -> FinAck:
        total, off = r.unpack(_FIN_ACK_FIXED)
        return cls(total, off, r.rest())


# --- endings -----------------------------------------------------------------------------
class AbortCode(enum.IntEnum):
    """Why a side ended a transfer (ABORT body, 5.2: "1 cancelled, 2 error")."""

    CANCELLED = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Abort:
    """Either side: the transfer is over with an error (or cancelled). ``code`` is any u16
    on the wire; :class:`AbortCode` names the two the protocol defines."""

    dtype: ClassVar[DType] = DType.ABORT
    code: int
    message: str

    def __post_init__(self) -> None:
        require(0 <= self.code <= 0xFFFF, "code out of range")
        require(len(self.message.encode()) <= 1024, "message longer than 1024 bytes")

    def encode(self) -> bytes:
        return U16.pack(self.code) + self.message.encode("utf-8")

    @classmethod
    def decode(cls, r: Reader) -> Abort:
        (code,) = r.unpack(U16)
        return cls(code, utf8(r.rest()))
