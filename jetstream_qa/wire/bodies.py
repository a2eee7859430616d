"""The one table of data-plane bodies, sans-IO: ``{DType: class}`` and the codec over it.

Each non-DATA datagram type of ``docs/protocol.md`` 5.2 has one body class: the handshake's in
``wire/handshake_bodies.py``, the rest in ``wire/transfer_bodies.py``. A class checks its own
fields on construction, writes itself with ``encode()``, reads itself with ``decode(reader)``
and names the type that carries it in ``dtype``. :data:`Body` lists the classes once;
:data:`BODY_TYPES` is derived from it, and :func:`decode_body` dispatches on it. Decoding
raises only :class:`~jetstream_qa.errors.ProtocolError`, whatever the bytes. DATA has no
body class: the engine's fast path packs and checks it (``wire/header.py``).
"""

from __future__ import annotations

from typing import Final, get_args

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire._fields import Reader
from jetstream_qa.wire.handshake_bodies import Open, OpenAck, Reject
from jetstream_qa.wire.header import DType
from jetstream_qa.wire.transfer_bodies import Abort, Ack, Fin, FinAck, Meta, MetaAck

__all__ = ["BODY_TYPES", "Body", "decode_body", "dtype_of", "encode_body"]

Body = Open | OpenAck | Meta | MetaAck | Ack | Fin | FinAck | Abort | Reject
BODY_TYPES: Final[dict[DType, type[Body]]] = {cls.dtype: cls for cls in get_args(Body)}
"""The one table of body classes, by the datagram type that carries each."""
if len(BODY_TYPES) != len(get_args(Body)):
    raise TypeError("two body classes claim the same datagram type")


def dtype_of(body: Body) -> DType:
    """The datagram type that carries ``body``."""
    return body.dtype


def encode_body(body: Body) -> bytes:
    """Serialise a message body (without header or tag)."""
    return body.encode()


def decode_body(dtype: DType, data: bytes | bytearray | memoryview) -> Body:
    """Parse the body of a non-DATA datagram of type ``dtype``.

    Raises:
        ProtocolError: truncated, trailing bytes, a field out of range, or ``dtype`` is DATA
            (DATA bodies are parsed by the engine's fast path).
    """
    cls = BODY_TYPES.get(dtype)
    if cls is None:
        name = dtype.name if isinstance(dtype, DType) else dtype
        raise ProtocolError(f"{name} has no generic body decoder")
    return cls.decode(Reader(data))
