"""Bodies of the handshake, sans-IO: OPEN, OPEN_ACK and REJECT (``docs/protocol.md`` 5.2-5.3).

These are the three types that travel in clear whatever the cipher: the session's keys are
not agreed yet (OPEN, OPEN_ACK), or there is no session to key them (REJECT). Each class is
a frozen value that checks its fields on construction, writes itself with ``encode()``, reads
itself with ``decode(reader)``, and names its datagram type in ``dtype``
(``wire/bodies.py`` tables them).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final

from jetstream_qa.errors import ProtocolError
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
    text_bytes,
    utf8,
)
from jetstream_qa.wire.header import MAX_DATAGRAM, MIN_DATAGRAM, TAG_SIZE, DType

__all__ = ["Open", "OpenAck", "Reject", "RejectCode", "open_ack_range_limit"]

ID_LIMIT: Final = 128
"""Longest ``serverUid`` / ``serverId`` in bytes."""
PATH_LIMIT: Final = 4096
KEY_SIZE: Final = 32
"""Bytes of an X25519 public key and of the META digest (SHA-256)."""


# --- session setup -----------------------------------------------------------------------
_OPEN_FIXED = struct.Struct(">QQBBBBIII32s32s32s")


@dataclass(frozen=True, slots=True)
class Open:
    """Sender -> receiver: session setup (``docs/protocol.md`` 5.3)."""

    dtype: ClassVar[DType] = DType.OPEN
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
        require(0 <= self.transfer_id <= MAX_U64, "transferId out of range")
        require(0 <= self.total_bytes <= 2**62, "totalBytes out of range")
        require(0 <= self.cipher <= 3, f"cipher {self.cipher} outside 0..3")
        require(0 <= self.flags <= 15, f"flags {self.flags} outside 0..15")
        require(0 <= self.overwrite_mode <= 255, "overwrite mode out of range")
        require(0 <= self.checkpoint_ms <= 0xFFFFFFFF, "checkpoint interval out of range")
        require(MIN_DATAGRAM <= self.max_datagram <= MAX_DATAGRAM,
                "max datagram out of range")
        require(0 < self.meta_length <= META_LIMIT, "meta length out of range")
        for name in ("meta_digest", "ephemeral", "static"):
            require(isinstance(getattr(self, name), bytes)
                    and len(getattr(self, name)) == KEY_SIZE, f"{name} must be 32 bytes")
        require(0 < len(self.server_uid.encode()) <= ID_LIMIT, "serverUid length")
        require(len(self.server_id.encode()) <= ID_LIMIT, "serverId length")
        require(len(self.destination_path.encode()) <= PATH_LIMIT, "destination path length")

    def encode(self) -> bytes:
        return (_OPEN_FIXED.pack(self.transfer_id, self.total_bytes, self.cipher, self.flags,
                                 self.overwrite_mode, 0, self.checkpoint_ms,
                                 self.max_datagram, self.meta_length, self.meta_digest,
                                 self.ephemeral, self.static)
                + text_bytes(self.server_uid, U8) + text_bytes(self.server_id, U8)
                + text_bytes(self.destination_path, U16))

    @classmethod
    def decode(cls, r: Reader) -> Open:
        (tid, total, cipher, flags, mode, _zero, ckpt, maxd, mlen, digest, eph,
         static) = r.unpack(_OPEN_FIXED)
        uid = r.text(U8, ID_LIMIT)
        sid = r.text(U8, ID_LIMIT)
        path = r.text(U16, PATH_LIMIT)
        r.end()
        return cls(tid, total, cipher, flags, mode, ckpt, maxd, mlen, bytes(digest),
                   bytes(eph), bytes(static), uid, sid, path)


OPEN_ACK_RESERVED: Final = 208
"""Bytes of a datagram an OPEN_ACK keeps for everything but its held ranges
(``docs/protocol.md`` 5.2: "at most ``(min(maxDatagram) - 208) / 16``, capped 4000"). The
fixed fields and the header take 125 of them, leaving 83 for the two ids: enough for our
32-character ``serverUid`` and a server name up to 51 bytes. Known debt: ids of the full 128
bytes each could make a full-length OPEN_ACK pass ``maxDatagram``."""
OPEN_ACK_MAX_RANGES: Final = 4000


def open_ack_range_limit(max_datagram: int) -> int:
    """Held ranges one OPEN_ACK carries in a datagram of ``max_datagram`` bytes (at least
    one, at most :data:`OPEN_ACK_MAX_RANGES`)."""
    return min(max(1, (max_datagram - OPEN_ACK_RESERVED) // RANGE.size), OPEN_ACK_MAX_RANGES)


@dataclass(frozen=True, slots=True)
class OpenAck:
    """Receiver -> sender: its keys, the effective cipher and the blocks already held."""

    dtype: ClassVar[DType] = DType.OPEN_ACK
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
        require(len(self.ephemeral) == KEY_SIZE and len(self.static) == KEY_SIZE,
                "keys must be 32 bytes")
        require(0 <= self.rate_cap <= MAX_U64, "rate cap out of range")
        require(0 <= self.cipher <= 3, f"cipher {self.cipher} outside 0..3")
        require(1 <= self.window <= 0xFFFFFFFF, "window out of range")
        require(0 <= self.cumulative <= MAX_U64, "cumulative out of range")
        check_ranges(self.ranges, self.cumulative)
        require(len(self.server_uid.encode()) <= ID_LIMIT, "serverUid length")
        require(len(self.server_id.encode()) <= ID_LIMIT, "serverId length")
        require(len(self.confirm) == TAG_SIZE, "confirm must be 16 bytes")

    def unsigned(self) -> bytes:
        """The body without ``confirm`` (what the confirmation covers)."""
        return (self.ephemeral + self.static + U8.pack(self.cipher) + U32.pack(self.window)
                + U64.pack(self.cumulative) + ranges_bytes(self.ranges)
                + text_bytes(self.server_uid, U8) + text_bytes(self.server_id, U8)
                + U64.pack(self.rate_cap))

    def encode(self) -> bytes:
        return self.unsigned() + self.confirm

    @classmethod
    def decode(cls, r: Reader) -> OpenAck:
        eph = r.take(KEY_SIZE)
        static = r.take(KEY_SIZE)
        (cipher,) = r.unpack(U8)
        (window,) = r.unpack(U32)
        (cum,) = r.unpack(U64)
        ranges = r.ranges(above=cum)
        uid = r.text(U8, ID_LIMIT)
        sid = r.text(U8, ID_LIMIT)
        (cap,) = r.unpack(U64)
        confirm = r.take(TAG_SIZE)
        r.end()
        return cls(eph, static, cipher, window, cum, ranges, uid, sid, confirm, rate_cap=cap)



# --- refusal ----------------------------------------------------------------------------
class RejectCode(enum.IntEnum):
    """Why a receiver refused a datagram (REJECT body, 5.2; 2 is reserved)."""

    UNKNOWN_SESSION = 1
    CIPHER_TOO_WEAK = 2
    BAD_REQUEST = 3
    BUSY = 4


@dataclass(frozen=True, slots=True)
class Reject:
    """Receiver -> sender, in clear: the datagram was refused."""

    dtype: ClassVar[DType] = DType.REJECT
    code: RejectCode
    message: str

    def __post_init__(self) -> None:
        require(len(self.message.encode()) <= 512, "message longer than 512 bytes")

    def encode(self) -> bytes:
        return U16.pack(self.code) + self.message.encode("utf-8")

    @classmethod
    def decode(cls, r: Reader) -> Reject:
        (code,) = r.unpack(U16)
        try:
            reason = RejectCode(code)
        except ValueError:
            raise ProtocolError(f"unknown reject code {code}") from None
        return cls(reason, utf8(r.rest()))
