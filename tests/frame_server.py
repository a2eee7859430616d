"""A loopback control server for tests: the listener, the per-connection threads and the
frame loop, shared by the hostile servers (``hostile/servers.py``, ``secrets/hostile_server.py``).

Theory of operation
-------------------
:class:`FrameServer` listens on ``127.0.0.1`` port 0 and serves every accepted connection in
its own daemon thread with ``serve(channel)``; a :class:`Channel` reads the frames of
``docs/protocol.md`` 2.1 (4-byte big-endian length, then one JSON object) and sends bytes.
``serve`` ends the connection by returning or raising :class:`Closed`; the server closes the
socket either way.

Every wait is bounded: sockets time out every :data:`TICK` seconds and check the stop event;
dribbling waits on that event; :meth:`FrameServer.stop` closes every socket and joins each
thread within :data:`JOIN_S`. Nothing runs at import.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

__all__ = ["JOIN_S", "TICK", "Channel", "Closed", "FrameServer"]

TICK = 0.1
"""Seconds between checks of the stop event in every blocking socket call."""
JOIN_S = 5.0
"""Bound on joining one serving thread at stop."""
_LENGTH = struct.Struct(">I")


class Closed(Exception):
    """The serving code (or the peer, or :meth:`FrameServer.stop`) ended the connection."""


@dataclass
class Channel:
    """One accepted connection: frame reading and bounded sending."""

    sock: socket.socket
    stop: threading.Event
    buffer: bytes = b""

    def read_payload(self) -> bytes:
        """The payload of the next frame from the client. Raises Closed on close or stop."""
        while True:
            if len(self.buffer) >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(self.buffer)
                end = _LENGTH.size + size
                if len(self.buffer) >= end:
                    payload, self.buffer = self.buffer[_LENGTH.size:end], self.buffer[end:]
                    return payload
            self.buffer += self._recv()

    def read_json(self) -> dict[str, Any]:
        """The next frame's JSON object. Raises Closed, or ValueError for bad JSON."""
        return dict(json.loads(self.read_payload()))

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


class FrameServer:
    """A loopback server calling ``serve(channel)`` for each connection; a context manager.

    ``port`` is the bound port, ``target`` ``127.0.0.1:PORT``; ``connections`` counts
    accepted connections.
    """

    def __init__(self, serve: Callable[[Channel], None], *, name: str) -> None:
        self._serve_one = serve
        self._name = name
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(TICK)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._spawn(self._accept_loop, f"{self._name}-accept")
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
            self._spawn(self._serve, f"{self._name}-conn", conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._serve_one(Channel(conn, self._stop))
        except Closed:
            pass
        finally:
            conn.close()
