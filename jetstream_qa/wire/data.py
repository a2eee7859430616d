"""Data plane, sans-IO: the public face of the datagram protocol, and the one sealer.

Theory of operation
-------------------
A transfer is ONE contiguous byte space: the files of its manifest concatenated in manifest
order, cut into 256-byte blocks (vendor Transfer structure page: ``blockSize`` is "currently
256"; ``totalBlocks`` = ``ceil(totalBytes / 256)``). Every datagram (``docs/protocol.md``
section 5) starts with a 20-byte header -- magic ``b"JQ"``, version, type, 64-bit session id,
64-bit per-direction sequence number -- followed by a type-specific body and, once keys are
established and the cipher is not NONE, a 16-byte authentication tag (``wire/crypto.py``).

The pieces live apart, as h11 keeps its events apart from its readers and writers:

- ``wire/header.py``: the header, the datagram types, block and datagram-size math, and the
  DATA run check (bulk DATA is never materialised as objects: the engine packs
  :data:`HEADER` and :data:`DATA_PREFIX` into preallocated buffers);
- ``wire/handshake_bodies.py`` and ``wire/transfer_bodies.py``: one frozen, self-validating
  class per non-DATA body, each with ``encode``/``decode``; ``wire/bodies.py`` tables them
  in one ``{DType: class}`` map and decodes through it;
- ``wire/_fields.py``: the integers, strings and range lists bodies are made of;
- ``wire/ranges.py``: :class:`~jetstream_qa.wire.ranges.RangeSet`, the held/acked block sets;
- this module: the names above in one place, :func:`seal_datagram`, the one way both sides
  turn a body into a whole datagram, and :func:`open_body`, the one way back.

Every decoder raises only :class:`~jetstream_qa.errors.ProtocolError`, whatever the bytes.
"""

from __future__ import annotations

from typing import Protocol

from jetstream_qa.wire._fields import NO_RATE_CAP
from jetstream_qa.wire.bodies import BODY_TYPES, Body, decode_body, dtype_of, encode_body
from jetstream_qa.wire.crypto import DatagramRejected
from jetstream_qa.wire.handshake_bodies import (
    Open,
    OpenAck,
    Reject,
    RejectCode,
    open_ack_range_limit,
)
from jetstream_qa.wire.header import (
    BLOCK_SIZE,
    DATA_PREFIX,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    LOOPBACK_MAX_DATAGRAM,
    MAGIC,
    MIN_DATAGRAM,
    NETWORK_MAX_DATAGRAM,
    TAG_SIZE,
    UNPROTECTED,
    VERSION,
    DType,
    Header,
    blocks_for,
    check_data,
    max_blocks_per_datagram,
    pack_header,
    unpack_header,
)
from jetstream_qa.wire.transfer_bodies import (
    ACK_FIXED,
    Abort,
    AbortCode,
    Ack,
    Fin,
    FinAck,
    Meta,
    MetaAck,
    ack_range_limit,
    fin_ack_room,
    meta_room,
)

__all__ = [
    "ACK_FIXED",
    "BLOCK_SIZE",
    "BODY_TYPES",
    "DATA_PREFIX",
    "DEFAULT_MAX_DATAGRAM",
    "HEADER",
    "LOOPBACK_MAX_DATAGRAM",
    "MAGIC",
    "MIN_DATAGRAM",
    "NETWORK_MAX_DATAGRAM",
    "NO_RATE_CAP",
    "TAG_SIZE",
    "UNPROTECTED",
    "VERSION",
    "Abort",
    "AbortCode",
    "Ack",
    "Body",
    "DType",
    "Fin",
    "FinAck",
    "Header",
    "Meta",
    "MetaAck",
    "Open",
    "OpenAck",
    "Opener",
    "Reject",
    "RejectCode",
    "Sealer",
    "ack_range_limit",
    "blocks_for",
    "check_data",
    "decode_body",
    "dtype_of",
    "encode_body",
    "fin_ack_room",
    "max_blocks_per_datagram",
    "meta_room",
    "open_ack_range_limit",
    "open_body",
    "pack_header",
    "seal_datagram",
    "unpack_header",
]


class Sealer(Protocol):
    """What protects one direction of a session (``wire.crypto.Protector`` is one)."""

    def seal(self, buf: bytearray | memoryview, header_len: int, body_len: int,
             seq: int) -> int:
        """Protect ``buf[header_len:header_len+body_len]`` in place; return the length of
        the whole datagram (the tag included)."""
        ...


def seal_datagram(body: Body, session: int, seq: int, sealer: Sealer | None) -> bytes:
    """One whole datagram carrying ``body``: the header of ``session`` and ``seq``, the body,
    and -- unless its type travels in clear (:data:`UNPROTECTED`) or there are no keys yet
    (``sealer`` None) -- the protection of ``sealer`` (tag, encryption).

    The caller owns the sequence numbers: each datagram of a session and direction takes the
    next one (``docs/protocol.md`` 5.2), never one used before (5.9: a nonce is never reused).
    """
    dtype = body.dtype
    raw = body.encode()
    size = HEADER.size + len(raw)
    buf = bytearray(size + TAG_SIZE)
    HEADER.pack_into(buf, 0, MAGIC, VERSION, dtype, session, seq)
    buf[HEADER.size:size] = raw
    if sealer is not None and dtype not in UNPROTECTED:
        size = sealer.seal(buf, HEADER.size, len(raw), seq)
    return bytes(buf[:size])


class Opener(Protocol):
    """What checks one direction of a session (``wire.crypto.Protector`` is one)."""

    def open(self, buf: bytearray | memoryview, length: int, header_len: int,
             seq: int) -> int:
        """Authenticate and decrypt ``buf[header_len:length]`` in place; return the body
        length. Raises DatagramRejected."""
        ...


def open_body(buf: bytearray | memoryview, length: int, dtype: DType, seq: int,
              opener: Opener | None) -> Body:
    """The body of the non-DATA datagram held in ``buf[:length]`` whose header names
    ``dtype`` and ``seq``: checked and decrypted in place by ``opener`` unless its type
    travels in clear (:data:`UNPROTECTED`).

    Raises:
        DatagramRejected: a protected type failed authentication or replay checks, or
            arrived before there were keys (``opener`` None) -- ``docs/protocol.md`` 5.2:
            *rejected*, dropped and counted.
        ProtocolError: the body does not parse (5.2: *malformed*).
    """
    if dtype in UNPROTECTED:
        n = length - HEADER.size
    elif opener is None:
        raise DatagramRejected(f"{dtype.name} before the session has keys")
    else:
        n = opener.open(buf, length, HEADER.size, seq)
    return decode_body(dtype, memoryview(buf)[HEADER.size:HEADER.size + n])
