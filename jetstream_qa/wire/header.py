"""Data-plane header and block math, sans-IO (``docs/protocol.md`` 5.1-5.2).

Every datagram starts with a 20-byte header -- magic ``b"JQ"``, version, type, 64-bit session
id, 64-bit per-direction sequence number. A transfer is one byte space cut into 256-byte
blocks (vendor Transfer structure page: ``blockSize`` is "currently 256"; ``totalBlocks`` =
``ceil(totalBytes / 256)``); a DATA body is the index of its first block then a run of them.
This module holds the header layout, the datagram types, and the arithmetic of blocks and
datagram sizes. Bulk DATA is never materialised as objects: the engine packs :data:`HEADER`
and :data:`DATA_PREFIX` into preallocated buffers and checks each run with
:func:`check_data`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from jetstream_qa.wire._fields import MAX_U64, require

__all__ = [
    "BLOCK_SIZE",
    "DATA_PREFIX",
    "DEFAULT_MAX_DATAGRAM",
    "HEADER",
    "LOOPBACK_MAX_DATAGRAM",
    "MAGIC",
    "MAX_DATAGRAM",
    "MIN_DATAGRAM",
    "NETWORK_MAX_DATAGRAM",
    "TAG_SIZE",
    "UNPROTECTED",
    "VERSION",
    "DType",
    "Header",
    "blocks_for",
    "check_data",
    "max_blocks_per_datagram",
    "pack_header",
    "unpack_header",
]

MAGIC: Final = b"JQ"
VERSION: Final = 1
BLOCK_SIZE: Final = 256
TAG_SIZE: Final = 16
"""Bytes of the authentication tag after a protected body (``wire/crypto.py``)."""
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
MAX_DATAGRAM: Final = 65507
"""The largest UDP payload over IPv4: the top of OPEN's ``maxDatagram`` range (5.2)."""


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
_TYPES: Final = {int(t): t for t in DType}


@dataclass(frozen=True, slots=True)
class Header:
    """The 20-byte header every datagram starts with."""

    dtype: DType
    session: int
    seq: int

    def __post_init__(self) -> None:
        require(0 <= self.session <= MAX_U64 and 0 <= self.seq <= MAX_U64,
                "session and sequence are 64-bit unsigned")


def pack_header(dtype: DType, session: int, seq: int) -> bytes:
    """The header bytes of one datagram."""
    return HEADER.pack(MAGIC, VERSION, dtype, session, seq)


def unpack_header(data: bytes | bytearray | memoryview, length: int | None = None) -> Header:
    """Parse the header of a datagram of ``length`` bytes (default ``len(data)``).

    Raises:
        ProtocolError: too short, wrong magic, unknown version or type.
    """
    n = len(data) if length is None else length
    require(n >= HEADER.size, f"datagram of {n} bytes is shorter than the header")
    magic, version, dtype, session, seq = HEADER.unpack_from(data)
    require(magic == MAGIC, "bad magic")
    require(version == VERSION, f"unsupported data-plane version {version}")
    kind = _TYPES.get(dtype)
    require(kind is not None, f"unknown datagram type {dtype}")
    assert kind is not None
    return Header(kind, session, seq)


# --- block math --------------------------------------------------------------------------
def blocks_for(total_bytes: int) -> int:
    """``ceil(total_bytes / 256)``: the number of blocks of a byte space."""
    return -(-total_bytes // BLOCK_SIZE)


def max_blocks_per_datagram(max_datagram: int) -> int:
    """Whole blocks one DATA datagram of at most ``max_datagram`` bytes can carry
    (header, first-block prefix and tag reserved).

    Raises:
        ValueError: ``max_datagram`` cannot carry one block.
    """
    room = max_datagram - HEADER.size - DATA_PREFIX.size - TAG_SIZE
    if room < BLOCK_SIZE:
        raise ValueError(f"max datagram {max_datagram} cannot carry one 256-byte block")
    return room // BLOCK_SIZE


def check_data(first_block: int, payload_len: int, total_bytes: int) -> int:
    """Validate a DATA run: ``payload_len`` bytes starting at block ``first_block``.

    ``docs/protocol.md`` 5.2 (DATA): the run is "a multiple of 256 bytes, except a run that
    ends at ``totalBytes``" and "must lie inside the byte space". Returns the number of
    blocks carried.

    Raises:
        ProtocolError: empty, out of range or ragged.
    """
    end = first_block * BLOCK_SIZE + payload_len
    require(payload_len > 0 and end <= total_bytes, "DATA outside the transfer")
    if payload_len % BLOCK_SIZE:
        require(end == total_bytes, "only the last block of a transfer may be short")
    return -(-payload_len // BLOCK_SIZE)
