"""Blocking socket shell around the sans-IO control core (``jetstream_qa.wire.control``).

Theory of operation
-------------------
:class:`ControlSocket` owns one TCP socket (optionally TLS-wrapped) and one client-side
:class:`~jetstream_qa.wire.control.ControlConnection`. Every blocking step (TCP connect, TLS
handshake, hello exchange, each request) is bounded by an absolute ``time.monotonic()``
deadline: before each socket call the socket timeout is set to what is left, so the whole
step ends within its budget whatever the peer does (``docs/protocol.md`` 2.2 order: client
hello, server hello, then requests). It uses only the plain ``socket``/``ssl`` modules, no
threads and no asyncio, so gevent's monkey-patching (Locust) makes it cooperative.

Requests are sent one at a time. A response to an earlier request that already timed out
may still arrive; it is recognised by its id and dropped.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable

from jetstream_qa.client._secrets import server_error
from jetstream_qa.errors import (
    ConfigurationError,
    ConnectionClosed,
    ConnectTimeout,
    ProtocolError,
    RequestTimeout,
    TransportError,
)
from jetstream_qa.redaction import scrub, scrub_value
from jetstream_qa.wire.control import (
    ClientHello,
    ControlConnection,
    ErrorResponse,
    Message,
    Request,
    Response,
    Role,
    ServerHello,
)

__all__ = ["ControlSocket", "is_loopback", "make_tls_context"]

_RECV_CHUNK = 1 << 16


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_tls_context(host: str, cafile: str | None) -> ssl.SSLContext:
    """TLS 1.2+ client context (``docs/protocol.md`` 2.4).

    With ``cafile`` the server certificate must chain to it and name ``host``. Without it,
    loopback hosts are not verified (the vendor GUI trusts localhost the same way) and other
    hosts are verified against the system trust store.

    Raises:
        ConfigurationError: ``cafile`` cannot be read or holds no certificate.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        try:
            ctx.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"invalid cafile {cafile!r}: {exc}",
                                     details={"cafile": cafile}) from None
    elif is_loopback(host):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_default_certs()
    return ctx


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


class ControlSocket:
    """A connected control channel whose hello exchange is done.

    Use :meth:`open` to build one; then :meth:`request` per call and :meth:`close` once.
    """

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self._sock: socket.socket | None = sock
        self._conn = ControlConnection(Role.CLIENT)
        self._pending: deque[Message] = deque()
        self.hello: ServerHello | None = None
        self.peer = peer

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, host: str, port: int, *, timeout: float, hello: ClientHello,
             tls: ssl.SSLContext | None = None) -> ControlSocket:
        """Connect, optionally start TLS, exchange hellos, all within ``timeout`` seconds.

        Raises:
            ConnectTimeout: the deadline passed (no TCP connection, no TLS handshake, or no
                server hello: a full backlog or a silent server).
            ConnectionClosed: refused, or closed by the server before its hello.
            TransportError: any other network or TLS failure (certificate rejected...).
            ProtocolError: the server's first frame is not a valid hello.
            ServerError: the server answered the hello with an ``error`` frame (``Busy``).
        """
        peer = f"{host}:{port}"
        deadline = time.monotonic() + timeout
        sock = _tcp_connect(host, port, deadline, timeout)
        try:
            if tls is not None:
                sock = _tls_handshake(sock, tls, host, deadline, timeout)
        except BaseException:
            sock.close()
            raise
        channel = cls(sock, peer)
        try:
            expired = _connect_timeout(peer, timeout)
            channel._sendall(channel._conn.send(hello), deadline, expired)
            channel.hello = channel._await_hello(deadline, expired)
        except BaseException:
            channel.close()
            raise
        return channel

    def _await_hello(self, deadline: float,
                     expired: Callable[[], TransportError]) -> ServerHello:
        message = self._next_message(deadline, expired)
        if isinstance(message, ServerHello):
            return message
        if isinstance(message, ErrorResponse):
            raise server_error(message.code, message.message, message.details)
        raise ProtocolError(f"server {self.peer} sent {type(message).__name__} before its hello")

    # --- requests -----------------------------------------------------------------------
    def request(self, request: Request, *, timeout: float) -> Response | ErrorResponse:
        """Send ``request`` and wait up to ``timeout`` seconds for its answer.

        Raises:
            RequestTimeout: no answer within ``timeout`` (the channel stays usable).
            ConnectionClosed: the server closed or reset the connection (channel closed).
            ProtocolError: the server broke the framing or the state table (channel closed),
                or sent a connection-level error with ``id: null``.
            ServerError: a connection-level ``error`` frame (``id: null``); channel closed.
        """
        deadline = time.monotonic() + timeout

        def expired() -> TransportError:
            return RequestTimeout(
                f"no answer to {request.command} from {self.peer} within {timeout:g} s",
                details={"command": request.command, "timeoutS": timeout, "peer": self.peer})

        self._live_socket()
        data = self._conn.send(request)
        self._sendall(data, deadline, expired)
        while True:
            message = self._next_message(deadline, expired)
            if isinstance(message, ErrorResponse) and message.id is None:
                self.close()
                raise server_error(message.code, message.message, message.details)
            if isinstance(message, Response | ErrorResponse) and message.id == request.id:
                return message
            # an answer to an earlier request that timed out: dropped

    # --- plumbing -----------------------------------------------------------------------
    def _sendall(self, data: bytes, deadline: float,
                 expired: Callable[[], TransportError]) -> None:
        sock, left = self._socket_until(deadline, expired)
        try:
            sock.settimeout(left)
            sock.sendall(data)
        except TimeoutError:
            self.close()  # part of a frame may be out: the stream cannot be resumed
            raise expired() from None
        except OSError as exc:
            self.close()
            raise _closed(self.peer, exc) from None

    def _next_message(self, deadline: float, expired: Callable[[], TransportError]) -> Message:
        while not self._pending:
            sock, left = self._socket_until(deadline, expired)
            try:
                sock.settimeout(left)
                data = sock.recv(_RECV_CHUNK)
            except TimeoutError:
                raise expired() from None
            except OSError as exc:
                self.close()
                raise _closed(self.peer, exc) from None
            if not data:
                self.close()
                raise ConnectionClosed(f"server {self.peer} closed the connection",
                                       details={"peer": self.peer})
            try:
                self._pending.extend(self._conn.receive_data(data))
            except ProtocolError as exc:
                self.close()
                if scrub(exc.message) == exc.message:
                    raise
                # the frame quoted a secret (a hostile server's hello, say): not in our error
                raise ProtocolError(scrub(exc.message),
                                    details=scrub_value(exc.details)) from None
        return self._pending.popleft()

    def _socket_until(self, deadline: float, expired: Callable[[], TransportError]
                      ) -> tuple[socket.socket, float]:
        """The live socket and the seconds left until ``deadline``; ``expired()`` is raised
        when none are left."""
        sock = self._live_socket()
        left = _remaining(deadline)
        if left <= 0:
            raise expired()
        return sock, left

    def _live_socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionClosed(f"connection to {self.peer} is closed",
                                   details={"peer": self.peer})
        return self._sock

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        """Close the socket (idempotent)."""
        sock, self._sock = self._sock, None
        self._conn.close()
        if sock is not None:
            sock.close()


def _connect_timeout(peer: str, timeout: float) -> Callable[[], TransportError]:
    def build() -> TransportError:
        return ConnectTimeout(f"no connection with a server hello from {peer} within "
                              f"{timeout:g} s", details={"peer": peer, "timeoutS": timeout})
    return build


def _closed(peer: str, exc: OSError) -> ConnectionClosed:
    return ConnectionClosed(f"connection to {peer} lost: {exc.strerror or exc}",
                            details={"peer": peer, "errno": exc.errno})


def _tcp_connect(host: str, port: int, deadline: float, timeout: float) -> socket.socket:
    """Try each address of ``host`` until one connects or the deadline passes."""
    peer = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransportError(f"cannot resolve {host!r}: {exc.strerror}",
                             details={"peer": peer}) from None
    failures: list[OSError] = []
    for family, kind, proto, _name, address in infos:
        left = _remaining(deadline)
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
            return sock
        except TimeoutError:
            sock.close()
            break
        except OSError as exc:
            sock.close()
            failures.append(exc)
    if failures and len(failures) == len(infos):
        if all(isinstance(f, ConnectionRefusedError) for f in failures):
            raise ConnectionClosed(
                f"connection refused by {peer}: is a JetStream server listening there?",
                details={"peer": peer, "refused": True})
        raise _closed(peer, failures[-1])
    raise _connect_timeout(peer, timeout)()


def _tls_handshake(sock: socket.socket, ctx: ssl.SSLContext, host: str, deadline: float,
                   timeout: float) -> socket.socket:
    peer = f"{sock.getpeername()[0]}:{sock.getpeername()[1]}"
    left = _remaining(deadline)
    if left <= 0:
        raise _connect_timeout(peer, timeout)()
    sock.settimeout(left)
    try:
        return ctx.wrap_socket(sock, server_hostname=host.strip("[]"))
    except TimeoutError:
        raise _connect_timeout(peer, timeout)() from None
    except ssl.SSLCertVerificationError as exc:
        raise TransportError(f"TLS certificate of {host} rejected: {exc.verify_message}",
                             details={"peer": peer, "tls": "certificate"}) from None
    except ssl.SSLError as exc:
        raise TransportError(f"TLS handshake with {host} failed: {exc.reason or exc}",
                             details={"peer": peer, "tls": "handshake"}) from None
    except OSError as exc:
        raise _closed(peer, exc) from None
