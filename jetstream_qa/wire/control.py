"""Control channel, sans-IO: framing, messages, validation and connection state.

Theory of operation
-------------------
The control channel (``docs/protocol.md`` section 2) is a TCP stream, optionally inside TLS,
carrying frames: a 4-byte big-endian length ``N`` then ``N`` bytes of UTF-8 JSON holding one
object. Every object has a ``type``: ``hello`` (both sides, once, client first), ``request``,
``response`` or ``error``. Bytes become frozen, self-validating message values
and back (messages in ``control_messages.py``, framing and JSON limits in
``control_frames.py``); this module holds the connection state table and is the public face
of all three. It owns no socket, no clock and no thread, so the bundled client, the reference
server and the fuzz tests all wrap the same code.

Any byte sequence fed to :class:`FrameDecoder` or :class:`ControlConnection` yields messages or
raises :class:`~jetstream_qa.errors.ProtocolError`; buffered memory never exceeds one frame.
"""

from __future__ import annotations

import enum
from typing import Final

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control_frames import (
    HEADER,
    REQUEST_LIMITS,
    RESPONSE_LIMITS,
    FrameDecoder,
    Limits,
    decode_message,
    encode_frame,
    encode_message,
)
from jetstream_qa.wire.control_messages import (
    MAX_REQUEST_ID,
    ClientHello,
    ErrorResponse,
    Message,
    Request,
    Response,
    ServerHello,
)

__all__ = [
    "HEADER",
    "MAX_REQUEST_ID",
    "REQUEST_LIMITS",
    "RESPONSE_LIMITS",
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
