"""One control connection: a thin asyncio shell around ``wire.control.ControlConnection``.

Theory of operation
-------------------
``serve_connection`` admits or refuses the peer (remote control off -> only loopback;
``--max-connections`` reached -> the oldest connection that has not logged in is closed to
make room, and only when every connection is logged in does the newcomer get an ``error``
code ``Busy``, then close: sockets that never log in cannot lock users out), then:

1. handshake: the client hello must arrive within ``--handshake-timeout`` (protocol.md 2.3),
   else the connection is dropped; the server answers with its hello. The same deadline,
   counted from the accept, bounds the login: a session not authenticated by then is closed,
   so sockets that only say hello cannot hold connection slots for the idle timeout;
2. requests: each request runs as its own task (requests may be pipelined, so a blocking
   ``send.waitForTransfer`` never holds up ``getServerInfo`` on the same connection); at most
   ``MAX_IN_FLIGHT`` run at once per connection, after which reading pauses;
3. any malformed input -> one ``error`` frame with ``id: null`` and code ``ProtocolError``,
   then close; any handler failure -> an ``error`` frame for that request (``ServerError``
   for unexpected exceptions) and the connection keeps serving;
4. idle: ``--idle-timeout`` seconds after the last activity (a frame in, a frame out, a
   request finishing) with nothing in flight -> close. The timer runs from that last
   activity, not from the start of the current read: a request that finishes just as a read
   times out restarts the timer, so its client can still send the next request
   (:class:`IdleTimer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import weakref
from collections.abc import Callable
from typing import Any

from jetstream_qa.errors import JetStreamQAError, ProtocolError
from jetstream_qa.refserver import dispatch
from jetstream_qa.refserver.config import is_loopback
from jetstream_qa.refserver.context import AppView
from jetstream_qa.refserver.identity import VERSION, announced_api_version
from jetstream_qa.refserver.session import Session
from jetstream_qa.wire.control import (
    ClientHello,
    ConnState,
    ControlConnection,
    ErrorResponse,
    Limits,
    Request,
    Response,
    Role,
    ServerHello,
    encode_message,
)

__all__ = ["MAX_IN_FLIGHT", "IdleTimer", "serve_connection"]

log = logging.getLogger("jetstream_qa.refserver")
MAX_IN_FLIGHT = 64
READ_CHUNK = 65536
_GONE = (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError, OSError)
_LIVE: weakref.WeakKeyDictionary[Any, dict[_Connection, None]] = weakref.WeakKeyDictionary()
"""Open connections of each server, oldest first (for :func:`_evict_one_without_login`)."""


async def serve_connection(app: AppView, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
    """Serve one accepted control connection until it ends (never raises)."""
    peer = writer.get_extra_info("peername")
    host = str(peer[0]) if peer else ""
    try:
        if not app.config.allow_remote_control and not is_loopback(host):
            log.info("refused remote control connection from %s", host)
            await _send_fatal(writer, "PermissionDenied", "remote control is not allowed")
            return
        if app.connections >= app.config.max_connections and not _evict_one_without_login(app):
            await _send_fatal(writer, "Busy", "too many connections")
            return
        app.connections += 1
        connection = _Connection(app, reader, writer, host)
        live = _LIVE.setdefault(app, {})
        live[connection] = None
        try:
            await connection.run()
        finally:
            live.pop(connection, None)
            if not connection.evicted:
                app.connections -= 1
    except _GONE:
        pass
    except Exception:
        log.exception("control connection from %s failed", host)
    finally:
        writer.close()
        with contextlib.suppress(*_GONE, Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


def _evict_one_without_login(app: AppView) -> bool:
    """Close the oldest connection that has not logged in (its slot is freed now); False
    when every connection is logged in. Legitimate clients log in right after their hello, so
    the oldest ones without a login are the sockets holding slots (sshd's ``MaxStartups``
    reasoning: unauthenticated connections must not starve authenticated ones)."""
    for connection in _LIVE.get(app, {}):
        if not connection.session.authenticated and not connection.evicted:
            log.info("closing connection from %s without a login to make room",
                     connection.session.peer)
            connection.evict()
            app.connections -= 1
            return True
    return False


async def _send_fatal(writer: asyncio.StreamWriter, code: str, message: str,
                      details: dict[str, Any] | None = None) -> None:
    writer.write(encode_message(ErrorResponse(None, code, message,
                                              _json_safe(details or {}))))
    with contextlib.suppress(*_GONE):
        await asyncio.wait_for(writer.drain(), 2.0)


class IdleTimer:
    """Seconds since the last activity of a connection, on an injectable clock."""

    def __init__(self, timeout: float, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self._clock = clock
        self.last = clock()

    def touch(self) -> None:
        """Note activity now (a frame in or out, a request finishing)."""
        self.last = self._clock()

    def remaining(self, *, busy: bool) -> float | None:
        """How long the next read may wait: the full timeout while requests are in flight,
        else the time left until ``last + timeout``; None once that moment has passed."""
        if busy:
            return self.timeout
        left = self.last + self.timeout - self._clock()
        return left if left > 0 else None


class _Connection:
    def __init__(self, app: AppView, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, host: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.cfg = app.config
        self.reader = reader
        self.writer = writer
        self.session = Session(peer=host)
        self.conn = ControlConnection(Role.SERVER, limits=Limits(max_frame=self.cfg.max_frame))
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.write_lock = asyncio.Lock()
        self.closing = False
        self.evicted = False
        self.clock = clock
        self.deadline = clock() + self.cfg.handshake_timeout
        """Hello and login must both be done by then (the ``no-handshake-deadline`` fault
        lifts it)."""
        self.idle = IdleTimer(self.cfg.idle_timeout, clock)

    def evict(self) -> None:
        """Close the connection from outside (its reads end; no further frames are sent)."""
        self.evicted = self.closing = True
        self.writer.close()

    async def run(self) -> None:
        try:
            if await self._handshake():
                await self._serve_requests()
        finally:
            self.closing = True
            for task in list(self.in_flight.values()):
                task.cancel()
            if self.in_flight:
                await asyncio.gather(*self.in_flight.values(), return_exceptions=True)

    async def _read(self, timeout: float | None) -> bytes:
        return await asyncio.wait_for(self.reader.read(READ_CHUNK), timeout)

    async def _protocol_error(self, exc: ProtocolError) -> None:
        if self.cfg.has_fault("crash-on-malformed-frame"):
            import os
            os._exit(3)  # the fault: the whole server dies
        log.info("protocol error from %s: %s", self.session.peer, exc.message)
        await _send_fatal(self.writer, "ProtocolError", exc.message, exc.details)

    async def _handshake(self) -> bool:
        """Receive the client hello within the deadline and answer; False = drop."""
        no_deadline = self.cfg.has_fault("no-handshake-deadline")
        while self.conn.state is ConnState.AWAIT_HELLO:
            timeout = None if no_deadline else max(0.0, self.deadline - self.clock())
            try:
                data = await self._read(timeout)
            except TimeoutError:
                log.info("no hello from %s within %.1f s", self.session.peer,
                         self.cfg.handshake_timeout)
                return False
            if not data:
                return False
            try:
                messages = self.conn.receive_data(data)
            except ProtocolError as exc:
                await self._protocol_error(exc)
                return False
            if any(isinstance(m, ClientHello) for m in messages):
                if self.cfg.has_fault("hang-before-hello"):
                    await asyncio.sleep(self.cfg.idle_timeout)
                    return False
                await self._write(self.conn.send(self._hello()))
        return True

    def _hello(self) -> ServerHello:
        return ServerHello(api_version=announced_api_version(self.cfg),
                           server_id=self.app.server_id, version=VERSION, auth_required=True)

    def _next_wait(self) -> float | None:
        """How long the next read may wait; None = close now (idle, or no login in time)."""
        wait = self.idle.remaining(busy=bool(self.in_flight))
        if wait is None:
            log.info("closing idle connection from %s", self.session.peer)
            return None
        if self.session.authenticated or self.cfg.has_fault("no-handshake-deadline"):
            return wait
        login_left = self.deadline - self.clock()
        if login_left <= 0:
            log.info("closing connection from %s: no login within %.1f s", self.session.peer,
                     self.cfg.handshake_timeout)
            return None
        return min(wait, login_left)

    async def _serve_requests(self) -> None:
        while True:
            wait = self._next_wait()
            if wait is None:
                return
            try:
                data = await self._read(wait)
            except TimeoutError:
                continue
            if not data:
                return
            self.idle.touch()
            try:
                messages = self.conn.receive_data(data)
                for message in messages:
                    if not isinstance(message, Request) or message.id in self.in_flight:
                        raise ProtocolError(f"request id {getattr(message, 'id', None)} "
                                            "already outstanding")
                    await self.slots.acquire()
                    task = asyncio.get_running_loop().create_task(self._handle(message))
                    self.in_flight[message.id] = task
            except ProtocolError as exc:
                await self._protocol_error(exc)
                return

    async def _handle(self, request: Request) -> None:
        try:
            frame = await self._answer(request)
            if not self.closing:
                await self._write(frame)
        except _GONE:
            self.writer.close()
        except ProtocolError:
            pass  # the connection was closed by a protocol error meanwhile
        finally:
            self.in_flight.pop(request.id, None)
            self.idle.touch()
            self.slots.release()

    async def _answer(self, request: Request) -> bytes:
        """The frame answering ``request``: its response or its error."""
        try:
            result = await dispatch.dispatch(self.app, self.session, request)
            return self._encode(Response(request.id, result))
        except ProtocolError:
            raise
        except JetStreamQAError as exc:
            return self._encode(ErrorResponse(request.id, exc.code, exc.message,
                                              _json_safe(exc.details)))
        except Exception as exc:
            log.exception("command %s failed", request.command)
            return self._encode(ErrorResponse(request.id, "ServerError",
                                              f"internal error: {type(exc).__name__}"))

    def _encode(self, message: Response | ErrorResponse) -> bytes:
        try:
            return self.conn.send(message)
        except (TypeError, ValueError) as exc:
            log.error("unserialisable result for request %s: %s", message.id, exc)
            return self.conn.send(ErrorResponse(message.id, "ServerError",
                                                "internal error: unserialisable result"))

    async def _write(self, frame: bytes) -> None:
        async with self.write_lock:
            self.writer.write(frame)
            await asyncio.wait_for(self.writer.drain(), self.cfg.idle_timeout)
            self.idle.touch()


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v if isinstance(v, str | int | float | bool | type(None)) else str(v)
            for k, v in details.items()}
