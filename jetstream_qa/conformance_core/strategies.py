"""Hypothesis strategies for the property-based conformance cases.

``malformed_frames()`` draws byte strings that break the reference control protocol
(``docs/protocol.md`` 2.1-2.3) in one named way each: a bad length header, bytes that are not
UTF-8, text that is not JSON, JSON that is not an object, ``NaN``, a repeated key, nesting past
the limit, a message with ill-typed fields, an unknown message type, a message the client may
not send. Every draw is a :class:`Malformed` that says which rule it breaks and whether it is
meant to follow a valid hello. Nothing here opens a socket.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from hypothesis import strategies as st

__all__ = ["HELLO_FRAME", "Malformed", "malformed_frames"]

_HEADER = struct.Struct(">I")
_MAX_FRAME = 1 << 20


def frame(payload: bytes) -> bytes:
    """``payload`` behind its 4-byte big-endian length (protocol.md 2.1)."""
    return _HEADER.pack(len(payload)) + payload


HELLO_FRAME = frame(json.dumps({"type": "hello", "role": "client", "apiVersion": 40,
                                "agent": "jetstream-qa-fuzz"}).encode())
"""A valid client hello (protocol.md 2.2), sent first when a case wants a live session."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes breaking one protocol rule; ``after_hello`` sends a valid hello first."""

    rule: str
    data: bytes
    after_hello: bool

    def __repr__(self) -> str:
        return f"Malformed({self.rule!r}, {len(self.data)} bytes, after_hello={self.after_hello})"


_REQUEST_WITH_X = '{"type":"request","id":1,"command":"getServerInfo","params":{"x":X}}'
"""A valid request but for the value X of a parameter ``x`` (spliced in as raw text)."""


def _json_frame(obj: object) -> bytes:
    return frame(json.dumps(obj, allow_nan=True).encode())


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))


@st.composite
def _bad_length(draw: st.DrawFn) -> bytes:
    length = draw(st.sampled_from([0, _MAX_FRAME + 1, 2**31, 2**32 - 1]))
    return _HEADER.pack(length) + draw(st.binary(max_size=64))


@st.composite
def _not_utf8(draw: st.DrawFn) -> bytes:
    head = draw(st.binary(max_size=16))
    return frame(head + b"\xff\xfe" + draw(st.binary(max_size=16)))


@st.composite
def _not_json(draw: st.DrawFn) -> bytes:
    text = draw(st.text(min_size=1, max_size=40).filter(_is_not_json))
    return frame(text.encode())


def _is_not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@st.composite
def _not_object(draw: st.DrawFn) -> bytes:
    value = draw(st.one_of(_scalars, st.lists(_scalars, max_size=5)))
    return _json_frame(value)


@st.composite
def _non_finite(draw: st.DrawFn) -> bytes:
    constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    return frame(_REQUEST_WITH_X.replace("X", constant).encode())


@st.composite
def _duplicate_key(draw: st.DrawFn) -> bytes:
    key = draw(st.sampled_from(["type", "id", "command", "params"]))
    body = _REQUEST_WITH_X.replace('"x":X}', f'}},"{key}":{json.dumps(draw(_scalars))}')
    return frame(body.encode())


@st.composite
def _too_deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(34, 200))
    inner = "[" * depth + "]" * depth
    return frame(_REQUEST_WITH_X.replace("X", inner).encode())


@st.composite
def _ill_typed_request(draw: st.DrawFn) -> bytes:
    bad_id = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.integers(max_value=0),
                       st.integers(min_value=2**53), st.floats(allow_nan=False))
    bad_command = st.one_of(st.none(), st.integers(), st.just(""), st.text(
        alphabet="/ -_!\x00é", min_size=1, max_size=10), st.text(min_size=65, max_size=80))
    bad_params = st.one_of(st.none(), st.integers(), st.text(max_size=5),
                           st.lists(_scalars, max_size=3))
    which = draw(st.sampled_from(["id", "command", "params"]))
    obj: dict[str, object] = {"type": "request", "id": 1, "command": "getServerInfo",
                              "params": {}}
    obj[which] = draw({"id": bad_id, "command": bad_command, "params": bad_params}[which])
    if which != "params" and draw(st.booleans()):  # a missing params is a valid {}
        del obj[which]
    return _json_frame(obj)


@st.composite
def _unknown_type(draw: st.DrawFn) -> bytes:
    kind = draw(st.one_of(st.none(), st.integers(), st.text(max_size=12).filter(
        lambda t: t not in ("hello", "request", "response", "error"))))
    return _json_frame({"type": kind, "id": 1})


@st.composite
def _not_allowed(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["response", "error", "server-hello", "second-hello"]))
    if kind == "response":
        return _json_frame({"type": "response", "id": 1, "result": None})
    if kind == "error":
        return _json_frame({"type": "error", "id": None, "code": "X", "message": "",
                            "details": {}})
    if kind == "server-hello":
        return _json_frame({"type": "hello", "role": "server", "apiVersion": 40,
                            "serverId": "x", "version": "1", "authRequired": False})
    return HELLO_FRAME


_RULES = {
    "bad-length-header": _bad_length(),
    "not-utf8": _not_utf8(),
    "not-json": _not_json(),
    "json-not-an-object": _not_object(),
    "non-finite-number": _non_finite(),
    "duplicate-key": _duplicate_key(),
    "nesting-too-deep": _too_deep(),
    "ill-typed-request": _ill_typed_request(),
    "unknown-message-type": _unknown_type(),
    "message-not-allowed": _not_allowed(),
}


@st.composite
def malformed_frames(draw: st.DrawFn) -> Malformed:
    """One :class:`Malformed`: a rule, bytes breaking it, and whether a hello goes first.

    ``message-not-allowed`` always follows a hello (a second hello, a server hello, a
    response or error from the client are only wrong in a live session).
    """
    rule = draw(st.sampled_from(sorted(_RULES)))
    data = draw(_RULES[rule])
    after_hello = True if rule == "message-not-allowed" else draw(st.booleans())
    return Malformed(rule, data, after_hello)
