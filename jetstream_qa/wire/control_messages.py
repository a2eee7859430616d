"""Control-channel messages, sans-IO: frozen values that check their own fields.

``docs/protocol.md`` section 2: every frame holds one JSON object whose ``type`` is ``hello``
(both sides, once, client first), ``request``, ``response`` or ``error``. Each class here is
one of them; constructing one with a bad field raises
:class:`~jetstream_qa.errors.ProtocolError`, and ``to_json()`` gives the object to frame
(``control_frames.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from jetstream_qa.errors import ProtocolError

__all__ = [
    "MAX_REQUEST_ID",
    "ClientHello",
    "ErrorResponse",
    "Message",
    "Request",
    "Response",
    "ServerHello",
]

MAX_REQUEST_ID: Final = 2**53 - 1
_COMMAND_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.")


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
