"""Hostile control servers on loopback: each breaks the reference protocol in one way.

Theory of operation
-------------------
:class:`HostileServer` is a :class:`~frame_server.FrameServer` (``tests/frame_server.py``: the
loopback listener, one daemon thread per connection, bounded waits, stop) serving every
connection with one :class:`Behaviour`: what to send for the client's hello and for each
request. Frames follow ``docs/protocol.md`` 2.1-2.2 (4-byte big-endian length + one JSON
object; hello ``{type, role, apiVersion, serverId, version, authRequired}``), written here
from the document, not with the project's encoder, so the client is tested against the text.
Nothing runs at import.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from frame_server import TICK, Channel, Closed, FrameServer

__all__ = ["BEHAVIOURS", "Behaviour", "HostileServer", "frame"]

API_VERSION = 40


def frame(obj: Any) -> bytes:
    """One frame: 4-byte big-endian length, then the UTF-8 JSON of ``obj``."""
    payload = json.dumps(obj).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def hello(**changes: Any) -> dict[str, Any]:
    """The server hello of ``docs/protocol.md`` 2.2, with ``changes`` applied."""
    return {"type": "hello", "role": "server", "apiVersion": API_VERSION,
            "serverId": "hostile", "version": "0.0-hostile", "authRequired": False,
            **changes}


def _answer(request: dict[str, Any], result: Any) -> bytes:
    return frame({"type": "response", "id": request.get("id"), "result": result})


_INFO = {"apiVersion": API_VERSION, "revision": 1, "serverId": "hostile",
         "version": "0.0-hostile", "authRequired": False}


@dataclass(frozen=True)
class Behaviour:
    """What a hostile server does: ``on_hello(channel)`` after reading the client hello, then
    ``on_request(channel, request)`` for each request (``None``: stay silent)."""

    name: str
    description: str
    on_hello: Callable[[Channel], None] = field(
        default=lambda ch: ch.send(frame(hello())))
    on_request: Callable[[Channel, dict[str, Any]], None] | None = None


def _silent(channel: Channel, request: dict[str, Any]) -> None:
    """Read the request and never answer it."""


def _one_byte_a_second(channel: Channel, request: dict[str, Any]) -> None:
    channel.dribble(_answer(request, _INFO), 1.0)


def _close_mid_frame(channel: Channel, request: dict[str, Any]) -> None:
    data = _answer(request, _INFO)
    channel.send(data[: len(data) // 2])
    raise Closed


def _garbage(channel: Channel, request: dict[str, Any]) -> None:
    channel.send(b"\x00\x00\x00\x0fthis is no JSON")


def _wrong_id(channel: Channel, request: dict[str, Any]) -> None:
    channel.send(frame({"type": "response", "id": int(request.get("id", 0)) + 1000,
                        "result": _INFO}))


def _missing_keys(channel: Channel, request: dict[str, Any]) -> None:
    channel.send(frame({"type": "response", "id": request.get("id")}))


def _deep_json(channel: Channel, request: dict[str, Any]) -> None:
    depth = 10_000
    payload = b'{"type": "response", "id": %d, "result": ' % int(request.get("id", 0)) \
        + b"[" * depth + b"]" * depth + b"}"
    channel.send(struct.pack(">I", len(payload)) + payload)


def _busy(channel: Channel) -> None:
    channel.send(frame({"type": "error", "id": None, "code": "Busy",
                        "message": "too many connections", "details": {}}))
    raise Closed


BEHAVIOURS: dict[str, Behaviour] = {b.name: b for b in (
    Behaviour("silent-after-hello", "answers the hello, then nothing", on_request=_silent),
    Behaviour("one-byte-a-second", "answers the hello, then each answer one byte a second",
              on_request=_one_byte_a_second),
    Behaviour("close-mid-frame", "answers the hello, then closes halfway through an answer",
              on_request=_close_mid_frame),
    Behaviour("garbage-after-hello", "answers the hello, then bytes that are no frame",
              on_request=_garbage),
    Behaviour("garbage-hello", "answers the client hello with bytes that are no frame",
              on_hello=lambda ch: ch.send(b"\x00\x00\x00\x0fthis is no JSON")),
    Behaviour("wrong-request-id", "answers every request with another request's id",
              on_request=_wrong_id),
    Behaviour("missing-keys", "answers every request with a response lacking 'result'",
              on_request=_missing_keys),
    Behaviour("deep-json", "answers with JSON nested 10,000 levels deep",
              on_request=_deep_json),
    Behaviour("busy", "answers the hello with a connection-level Busy error and closes",
              on_hello=_busy),
)}


class HostileServer(FrameServer):
    """A loopback server with one :class:`Behaviour`; a context manager yielding itself.

    ``address`` is ``127.0.0.1:PORT``; ``connections`` counts accepted connections.
    """

    def __init__(self, behaviour: Behaviour | str) -> None:
        self.behaviour = BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour
        super().__init__(self._behave, name="hostile")

    @property
    def address(self) -> str:
        return self.target

    def _behave(self, channel: Channel) -> None:
        try:
            channel.read_json()  # the client hello
            self.behaviour.on_hello(channel)
            while self.behaviour.on_request is not None:
                self.behaviour.on_request(channel, channel.read_json())
            while not channel.stop.wait(TICK):
                channel.read_json()
        except ValueError:
            pass
