"""Hostile control servers on loopback: each breaks the reference protocol in one way.

Theory of operation
-------------------
:class:`HostileServer` listens on ``127.0.0.1`` port 0 and serves every connection in its own
daemon thread with one :class:`Behaviour`: what to send for the client's hello and for each
request. Frames follow ``docs/protocol.md`` 2.1-2.2 (4-byte big-endian length + one JSON
object; hello ``{type, role, apiVersion, serverId, version, authRequired}``), written here
from the document, not with the project's encoder, so the client is tested against the text.

Every wait is bounded: sockets time out every :data:`TICK` seconds and check a stop event;
dribbling waits on that event; :meth:`HostileServer.stop` closes every socket and joins each
thread within :data:`JOIN_S`. Nothing runs at import.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BEHAVIOURS", "Behaviour", "HostileServer", "frame"]

TICK = 0.1
"""Seconds between checks of the stop event in every blocking socket call."""
JOIN_S = 5.0
"""Bound on joining one serving thread at stop."""
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


class Closed(Exception):
    """The behaviour (or the peer) ended the connection."""


@dataclass
class Channel:
    """One accepted connection: frame reading and bounded sending for a behaviour."""

    sock: socket.socket
    stop: threading.Event
    buffer: bytes = b""

    def read_frame(self) -> dict[str, Any]:
        """The next JSON frame from the client. Raises Closed on close or stop."""
        while True:
            if len(self.buffer) >= 4:
                (size,) = struct.unpack(">I", self.buffer[:4])
                if len(self.buffer) >= 4 + size:
                    payload, self.buffer = self.buffer[4:4 + size], self.buffer[4 + size:]
                    return dict(json.loads(payload))
            self.buffer += self._recv()

    def _recv(self) -> bytes:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise Closed from exc
            if not data:
                raise Closed
            return data
        raise Closed

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Closed from exc

    def dribble(self, data: bytes, interval: float) -> None:
        """Send ``data`` one byte every ``interval`` seconds (until stopped)."""
        for index in range(len(data)):
            self.send(data[index:index + 1])
            if self.stop.wait(interval):
                raise Closed


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


class HostileServer:
    """A loopback server with one :class:`Behaviour`; a context manager yielding itself.

    ``address`` is ``127.0.0.1:PORT``; ``connections`` counts accepted connections.
    """

    def __init__(self, behaviour: Behaviour | str) -> None:
        self.behaviour = BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(TICK)
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._spawn(self._accept_loop, "hostile-accept")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, close every connection, join every thread (bounded)."""
        self._stop.set()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in threads:
            thread.join(JOIN_S)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(TICK)
            with self._lock:
                self._sockets.append(conn)
                self.connections += 1
            self._spawn(self._serve, "hostile-conn", conn)

    def _serve(self, conn: socket.socket) -> None:
        channel = Channel(conn, self._stop)
        try:
            channel.read_frame()  # the client hello
            self.behaviour.on_hello(channel)
            while self.behaviour.on_request is not None:
                self.behaviour.on_request(channel, channel.read_frame())
            while not self._stop.wait(TICK):
                channel.read_frame()
        except (Closed, ValueError):
            pass
        finally:
            conn.close()
