"""Control channel, sans-IO: framing, messages, validation and connection state.

Theory of operation
-------------------
The control channel (``docs/protocol.md`` section 2) is a TCP stream, optionally inside TLS,
carrying frames: a 4-byte big-endian length ``N`` then ``N`` bytes of UTF-8 JSON holding one
object. Every object has a ``type``: ``hello`` (both sides, once, client first), ``request``,
``response`` or ``error``. This module turns bytes into frozen, self-validating message values
and back; it owns no socket, no clock and no thread, so the bundled client, the reference
server and the fuzz tests all wrap the same code.

Any byte sequence fed to :class:`FrameDecoder` or :class:`ControlConnection` yields messages or
raises :class:`~jetstream_qa.errors.ProtocolError`; buffered memory never exceeds one frame.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from jetstream_qa.errors import ProtocolError

__all__ = [
    "HEADER",
    "ClientHello",
    "ConnState",
    "ControlConnection",
    "ErrorResponse",
    "FrameDecoder",
    "Limits",
    "Message",
    "Request",
    "Response",
    "Role",
    "ServerHello",
    "decode_message",
    "encode_frame",
    "encode_message",
]

HEADER: Final = struct.Struct(">I")
MAX_REQUEST_ID: Final = 2**53 - 1
_COMMAND_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.")


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


# --- messages --------------------------------------------------------------------------
def _require(cond: bool, what: str) -> None:
    if not cond:
        raise ProtocolError(what)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ClientHello:
    """First frame from the client: the API version it speaks."""

    api_version: int
    agent: str = "jetstream-qa"

    def __post_init__(self) -> None:
        _require(_is_int(self.api_version) and 0 <= self.api_version < 2**31,
                 f"hello.apiVersion must be a non-negative integer, got {self.api_version!r}")
        _require(isinstance(self.agent, str) and len(self.agent) <= 256,
                 "hello.agent must be a string of at most 256 characters")

    def to_json(self) -> dict[str, Any]:
        return {"type": "hello", "role": "client", "apiVersion": self.api_version,
                "agent": self.agent}


@dataclass(frozen=True, slots=True)
class ServerHello:
    """The server's answer to the client hello: its API version and instance id."""

    api_version: int
    server_id: str
    version: str
    auth_required: bool = True

    def __post_init__(self) -> None:
        _require(_is_int(self.api_version) and 0 <= self.api_version < 2**31,
                 f"hello.apiVersion must be a non-negative integer, got {self.api_version!r}")
        _require(isinstance(self.server_id, str) and 0 < len(self.server_id) <= 128,
                 "hello.serverId must be a non-empty string of at most 128 characters")
        _require(isinstance(self.version, str) and len(self.version) <= 64,
                 "hello.version must be a string of at most 64 characters")
        _require(isinstance(self.auth_required, bool), "hello.authRequired must be a boolean")

    def to_json(self) -> dict[str, Any]:
        return {"type": "hello", "role": "server", "apiVersion": self.api_version,
                "serverId": self.server_id, "version": self.version,
                "authRequired": self.auth_required}


@dataclass(frozen=True, slots=True)
class Request:
    """A command call: ``command`` names the vendor method (``send.createManifest``)."""

    id: int
    command: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(_is_int(self.id) and 1 <= self.id <= MAX_REQUEST_ID,
                 f"request.id must be an integer in 1..2**53-1, got {self.id!r}")
        _require(isinstance(self.command, str) and 0 < len(self.command) <= 64
                 and set(self.command) <= _COMMAND_CHARS
                 and not self.command.startswith(".") and not self.command.endswith("."),
                 f"request.command must be a dotted name of at most 64 characters, "
                 f"got {self.command!r}")
        _require(isinstance(self.params, dict), "request.params must be an object")

    def to_json(self) -> dict[str, Any]:
        return {"type": "request", "id": self.id, "command": self.command, "params": self.params}


@dataclass(frozen=True, slots=True)
class Response:
    """The result of request ``id``; ``result`` is any JSON value."""

    id: int
    result: Any = None

    def __post_init__(self) -> None:
        _require(_is_int(self.id) and 1 <= self.id <= MAX_REQUEST_ID,
                 f"response.id must be an integer in 1..2**53-1, got {self.id!r}")

    def to_json(self) -> dict[str, Any]:
        return {"type": "response", "id": self.id, "result": self.result}


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A structured error; ``id`` is None when the error is about the connection itself."""

    id: int | None
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(self.id is None or (_is_int(self.id) and 1 <= self.id <= MAX_REQUEST_ID),
                 f"error.id must be null or an integer in 1..2**53-1, got {self.id!r}")
        _require(isinstance(self.code, str) and 0 < len(self.code) <= 64,
                 "error.code must be a non-empty string of at most 64 characters")
        _require(isinstance(self.message, str), "error.message must be a string")
        _require(isinstance(self.details, dict), "error.details must be an object")

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "id": self.id, "code": self.code, "message": self.message,
                "details": self.details}


Message = ClientHello | ServerHello | Request | Response | ErrorResponse


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


# --- connection state ------------------------------------------------------------------
class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class ConnState(enum.Enum):
    AWAIT_HELLO = "await-hello"
    """Before the hello exchange completes."""
    READY = "ready"
    """Hello exchanged: requests and responses flow."""
    CLOSED = "closed"
    """A fatal protocol error happened, or close() was called."""


class _Event(enum.Enum):
    SEND_CLIENT_HELLO = "send client hello"
    RECV_CLIENT_HELLO = "receive client hello"
    SEND_SERVER_HELLO = "send server hello"
    RECV_SERVER_HELLO = "receive server hello"
    SEND_REQUEST = "send request"
    RECV_REQUEST = "receive request"
    SEND_RESPONSE = "send response"
    RECV_RESPONSE = "receive response"
    SEND_ERROR = "send error"
    RECV_ERROR = "receive error"


_S, _C = Role.SERVER, Role.CLIENT
_AWAIT, _READY = ConnState.AWAIT_HELLO, ConnState.READY
_TRANSITIONS: Final[dict[tuple[Role, ConnState, _Event], ConnState]] = {
    (_C, _AWAIT, _Event.SEND_CLIENT_HELLO): _AWAIT,
    (_C, _AWAIT, _Event.RECV_SERVER_HELLO): _READY,
    (_C, _AWAIT, _Event.RECV_ERROR): _AWAIT,
    (_C, _READY, _Event.SEND_REQUEST): _READY,
    (_C, _READY, _Event.RECV_RESPONSE): _READY,
    (_C, _READY, _Event.RECV_ERROR): _READY,
    (_S, _AWAIT, _Event.RECV_CLIENT_HELLO): _AWAIT,
    (_S, _AWAIT, _Event.SEND_SERVER_HELLO): _READY,
    (_S, _AWAIT, _Event.SEND_ERROR): _AWAIT,
    (_S, _READY, _Event.RECV_REQUEST): _READY,
    (_S, _READY, _Event.SEND_RESPONSE): _READY,
    (_S, _READY, _Event.SEND_ERROR): _READY,
}


def _event_for(message: Message, sending: bool) -> _Event:
    name = {
        ClientHello: "CLIENT_HELLO", ServerHello: "SERVER_HELLO", Request: "REQUEST",
        Response: "RESPONSE", ErrorResponse: "ERROR",
    }[type(message)]
    return _Event[("SEND_" if sending else "RECV_") + name]


class ControlConnection:
    """One side of a control connection: bytes in -> messages, messages -> bytes out.

    The state table ``_TRANSITIONS`` is the whole protocol: a (role, state, event) missing
    from it is a :class:`ProtocolError` naming state and event, and closes the connection.
    Client side, it also tracks outstanding request ids so a response to an id never asked
    for is refused.
    """

    def __init__(self, role: Role, *, limits: Limits | None = None) -> None:
        self.role = role
        self.state = ConnState.AWAIT_HELLO
        default = REQUEST_LIMITS if role is Role.SERVER else RESPONSE_LIMITS
        self._limits = limits or default
        self._decoder = FrameDecoder(self._limits)
        self._outstanding: set[int] = set()
        self._hello_received = False

    def _advance(self, message: Message, *, sending: bool) -> None:
        event = _event_for(message, sending)
        key = (self.role, self.state, event)
        if key not in _TRANSITIONS:
            state = self.state
            self.state = ConnState.CLOSED
            raise ProtocolError(f"{self.role.value}: event '{event.value}' not allowed in "
                                f"state '{state.value}'",
                                details={"state": state.value, "event": event.value})
        if event is _Event.RECV_CLIENT_HELLO or event is _Event.SEND_CLIENT_HELLO:
            if self._hello_received:
                self.state = ConnState.CLOSED
                raise ProtocolError("hello sent twice",
                                    details={"state": self.state.value, "event": event.value})
            self._hello_received = True
        self.state = _TRANSITIONS[key]

    def send(self, message: Message) -> bytes:
        """Validate ``message`` against the state table and return its frame bytes."""
        if self.state is ConnState.CLOSED:
            raise ProtocolError("connection is closed")
        self._advance(message, sending=True)
        if isinstance(message, Request):
            if message.id in self._outstanding:
                raise ProtocolError(f"request id {message.id} already outstanding")
            self._outstanding.add(message.id)
        return encode_message(message)

    def receive_data(self, data: bytes) -> list[Message]:
        """Feed received bytes; return the complete messages they finish, in order.

        Raises:
            ProtocolError: malformed frame, message not allowed in this state, or a response
                to an unknown request id. The connection is then CLOSED.
        """
        if self.state is ConnState.CLOSED:
            raise ProtocolError("connection is closed")
        out: list[Message] = []
        try:
            for payload in self._decoder.feed(data):
                message = decode_message(payload, self._limits)
                self._advance(message, sending=False)
                if isinstance(message, Response | ErrorResponse) and message.id is not None:
                    if message.id not in self._outstanding:
                        raise ProtocolError(f"response to unknown request id {message.id}")
                    self._outstanding.discard(message.id)
                out.append(message)
        except ProtocolError:
            self.state = ConnState.CLOSED
            raise
        return out

    def close(self) -> None:
        self.state = ConnState.CLOSED

    @property
    def outstanding(self) -> frozenset[int]:
        """Request ids sent and not yet answered (client side)."""
        return frozenset(self._outstanding)
