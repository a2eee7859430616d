"""Control-channel framing, sans-IO: length-prefixed JSON with hard limits.

``docs/protocol.md`` 2.1-2.3: a frame is a 4-byte big-endian length ``N`` then ``N`` bytes of
UTF-8 JSON holding one object. :class:`FrameDecoder` reassembles frames from a byte stream
and never buffers more than one; :func:`decode_message` turns a payload into a message
(``control_messages.py``) under :class:`Limits` (frame size, nesting depth, string length,
item count; no duplicate keys, no NaN or Infinity). Whatever the bytes, both raise only
:class:`~jetstream_qa.errors.ProtocolError`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control_messages import (
    ClientHello,
    ErrorResponse,
    Message,
    Request,
    Response,
    ServerHello,
)

__all__ = [
    "HEADER",
    "REQUEST_LIMITS",
    "RESPONSE_LIMITS",
    "FrameDecoder",
    "Limits",
    "decode_message",
    "encode_frame",
    "encode_message",
]

HEADER: Final = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what one peer accepts (``docs/protocol.md`` section 2.3)."""

    max_frame: int = 1 << 20
    """Largest frame payload in bytes (1 MiB for requests)."""
    max_depth: int = 32
    """Deepest nesting of arrays/objects."""
    max_string: int = 1 << 16
    """Longest string (object keys included), in characters."""
    max_items: int = 200_000
    """Most array elements plus object members in one frame."""

    def __post_init__(self) -> None:
        if not 16 <= self.max_frame <= (1 << 31):
            raise ValueError(f"max_frame {self.max_frame} outside 16..2**31")
        if self.max_depth < 2 or self.max_string < 16 or self.max_items < 8:
            raise ValueError("limits too small to carry any message")


REQUEST_LIMITS: Final = Limits()
RESPONSE_LIMITS: Final = Limits(max_frame=64 << 20, max_depth=32, max_string=1 << 20,
                                max_items=5_000_000)
"""Responses may be large (``getManifestFiles`` of a big tree)."""


# --- JSON with limits ------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ProtocolError("JSON object has a duplicate key")
    return obj


def _check_shape(value: Any, limits: Limits) -> None:
    """Walk ``value`` iteratively and enforce depth, string length and item count."""
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > limits.max_string:
                raise ProtocolError(f"string longer than {limits.max_string} characters")
        elif isinstance(node, dict | list):
            if depth > limits.max_depth:
                raise ProtocolError(f"nesting deeper than {limits.max_depth}")
            items += len(node)
            if items > limits.max_items:
                raise ProtocolError(f"more than {limits.max_items} items in one frame")
            children = node.values() if isinstance(node, dict) else node
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ProtocolError("non-finite number")


def _parse_json(payload: bytes, limits: Limits) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant,
                           object_pairs_hook=_unique_pairs)
    except ProtocolError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not valid UTF-8 JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise ProtocolError("frame must hold a JSON object")
    _check_shape(value, limits)
    return value


def _decode_hello(obj: dict[str, Any]) -> ClientHello | ServerHello:
    role = obj.get("role")
    if role == "client":
        return ClientHello(api_version=obj.get("apiVersion"),  # type: ignore[arg-type]
                           agent=obj.get("agent", ""))
    if role == "server":
        return ServerHello(api_version=obj.get("apiVersion"),  # type: ignore[arg-type]
                           server_id=obj.get("serverId"),  # type: ignore[arg-type]
                           version=obj.get("version", ""),
                           auth_required=obj.get("authRequired", True))
    raise ProtocolError(f"hello.role must be 'client' or 'server', got {role!r}")


def decode_message(payload: bytes, limits: Limits = REQUEST_LIMITS) -> Message:
    """Decode one frame payload (without its length header) into a message.

    Raises:
        ProtocolError: the payload is not UTF-8 JSON, breaks a limit, or is not a valid
            message. Nothing else is raised, whatever the bytes.
    """
    if len(payload) > limits.max_frame:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {limits.max_frame}")
    obj = _parse_json(payload, limits)
    kind = obj.get("type")
    if kind == "hello":
        return _decode_hello(obj)
    if kind == "request":
        return Request(id=obj.get("id"), command=obj.get("command"),  # type: ignore[arg-type]
                       params=obj.get("params", {}))
    if kind == "response":
        if "result" not in obj:
            raise ProtocolError("response without result")
        return Response(id=obj.get("id"), result=obj["result"])  # type: ignore[arg-type]
    if kind == "error":
        return ErrorResponse(id=obj.get("id"), code=obj.get("code"),  # type: ignore[arg-type]
                             message=obj.get("message", ""), details=obj.get("details", {}))
    raise ProtocolError(f"unknown message type {kind!r}")


def encode_frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 4-byte big-endian length."""
    return HEADER.pack(len(payload)) + payload


def encode_message(message: Message) -> bytes:
    """Serialise ``message`` into one frame (header included)."""
    body = json.dumps(message.to_json(), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
    return encode_frame(body)


class FrameDecoder:
    """Reassembles frames from a byte stream; never buffers more than one frame."""

    def __init__(self, limits: Limits = REQUEST_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._need: int | None = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add ``data`` and yield each complete frame payload.

        Raises:
            ProtocolError: a length header of 0 or above ``limits.max_frame``.
        """
        self._buffer += data
        while True:
            if self._need is None:
                if len(self._buffer) < HEADER.size:
                    return
                (length,) = HEADER.unpack_from(self._buffer)
                if length == 0 or length > self._limits.max_frame:
                    self._buffer.clear()
                    raise ProtocolError(
                        f"frame length {length} outside 1..{self._limits.max_frame}")
                del self._buffer[: HEADER.size]
                self._need = length
            if len(self._buffer) < self._need:
                return
            payload = bytes(self._buffer[: self._need])
            del self._buffer[: self._need]
            self._need = None
            yield payload

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buffer)
