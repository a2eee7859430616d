"""One exception hierarchy for jetstream-qa, split by whose fault an error is.

- :class:`ServerError` and subclasses: the server under test refused or broke something. When a
  documented MUST is broken, the conformance layer turns it into a FAIL verdict, not a crash.
- :class:`TransportError`: the network or the environment failed (timeouts, resets). The
  conformance layer turns these into INCONCLUSIVE when they happen mid-case.
- :class:`UsageError`: our caller misused the API (wrong argument, not connected).
- :class:`ConfigurationError`: a setting is wrong; names the value and where it came from.

Every error carries structured fields (``code``, ``details``) so reports never have to parse
messages. Wire error codes (``docs/protocol.md`` section "Errors") map one-to-one onto classes
through :func:`error_for_code`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiVersionMismatch",
    "AuthenticationFailed",
    "BindingMissing",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeout",
    "ConnectionClosed",
    "InvalidArgument",
    "JetStreamQAError",
    "NotFound",
    "NotReady",
    "PermissionDenied",
    "ProtocolError",
    "RequestTimeout",
    "ServerError",
    "TransportError",
    "UsageError",
    "error_for_code",
]


class JetStreamQAError(Exception):
    """Root of every error this project raises."""

    code: str = "Error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: ``{'code', 'message', 'details'}``."""
        return {"code": self.code, "message": self.message, "details": self.details}


# --- the server's fault (or its refusal) -----------------------------------------------
class ServerError(JetStreamQAError):
    """The server answered with an error, or broke the protocol."""

    code = "ServerError"


class AuthenticationFailed(ServerError):
    """Bad credentials, or a call that needs authentication made without it."""

    code = "AuthenticationFailed"


class PermissionDenied(ServerError):
    """Authenticated, but not allowed (not the owner, not a superuser, token lacks a right)."""

    code = "PermissionDenied"


class NotFound(ServerError):
    """The named object (manifest, destination, transfer, token, request) does not exist."""

    code = "NotFound"


class InvalidArgument(ServerError):
    """A parameter was missing, of the wrong type, out of range, or a path escapes its root."""

    code = "InvalidArgument"


class NotReady(ServerError):
    """The object is not in a state that allows the call (e.g. a manifest still pending)."""

    code = "NotReady"


class ConflictError(ServerError):
    """The call conflicts with existing state (e.g. deleting a destination in use)."""

    code = "Conflict"


class ProtocolError(ServerError):
    """Bytes on the wire do not follow ``docs/protocol.md`` (framing, JSON, fields, limits)."""

    code = "ProtocolError"


class ApiVersionMismatch(ServerError):
    """The server's ``apiVersion`` differs from the client's."""

    code = "ApiVersionMismatch"

    def __init__(self, *, expected: int, actual: object) -> None:
        super().__init__(
            f"server speaks apiVersion {actual!r}, client expects {expected}",
            details={"expected": expected, "actual": actual},
        )
        self.expected = expected
        self.actual = actual


# --- the environment's fault -----------------------------------------------------------
class TransportError(JetStreamQAError):
    """The network or the environment failed; says nothing about conformance."""

    code = "TransportError"


class ConnectTimeout(TransportError):
    """No connection (or no hello) within the connect timeout."""

    code = "ConnectTimeout"


class RequestTimeout(TransportError):
    """The server accepted a request and did not answer within the request timeout."""

    code = "RequestTimeout"


class ConnectionClosed(TransportError):
    """The peer closed or reset the connection."""

    code = "ConnectionClosed"


# --- our caller's fault ----------------------------------------------------------------
class UsageError(JetStreamQAError):
    """The caller misused our API (not connected, wrong argument type)."""

    code = "UsageError"


class ConfigurationError(JetStreamQAError):
    """A setting is invalid; the message names the value and where it came from."""

    code = "ConfigurationError"


class BindingMissing(ConfigurationError):
    """A suite operation cannot be made with the client at hand: the vendor docs do not name
    it (or one of its parameters, constants, statuses) and no binding file maps it.

    Conformance runs turn it into NOT_APPLICABLE naming :attr:`key`, never a FAIL.
    """

    code = "BindingMissing"

    def __init__(self, operation: str, what: str, *, key: str) -> None:
        super().__init__(f"no binding for {operation}: {what} (set {key} in the binding file)",
                         details={"operation": operation, "missing": key})
        self.operation = operation
        self.key = key


_BY_CODE: dict[str, type[ServerError]] = {
    cls.code: cls
    for cls in (
        ServerError,
        AuthenticationFailed,
        PermissionDenied,
        NotFound,
        InvalidArgument,
        NotReady,
        ConflictError,
        ProtocolError,
    )
}


def error_for_code(code: str, message: str, details: dict[str, Any] | None = None) -> ServerError:
    """Build the exception for a wire error ``code``; unknown codes become :class:`ServerError`."""
    cls = _BY_CODE.get(code, ServerError)
    err = cls(message, details=details)
    if cls is ServerError and code != ServerError.code:
        err.details.setdefault("code", code)
    return err
