"""Bundled client against scripted fake servers on loopback (plain sockets + wire.control).

Each fake server is one thread serving one connection with the sans-IO server core, so the
client's real socket code runs end to end. Every wait in here is bounded.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from jetstream_qa import errors
from jetstream_qa.client import REDACTED, Api, JetStream
from jetstream_qa.conformance_core.lateness import LatenessProbe
from jetstream_qa.wire.control import (
    ClientHello,
    ControlConnection,
    ErrorResponse,
    Message,
    Request,
    Response,
    Role,
    ServerHello,
    encode_frame,
    encode_message,
)

Responder = Callable[[Request], "Message | bytes | None"]
"""Answer to one request: a message, raw bytes to send, or None (stay silent)."""


def echo(request: Request) -> Message:
    return Response(request.id, {"command": request.command, "params": request.params})


class FakeServer:
    """Serves one client connection in a thread: hello, then answers from ``respond``."""

    def __init__(self, *, api_version: int = 40, send_hello: bool = True,
                 respond: Responder = echo, hello_error: ErrorResponse | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.api_version = api_version
        self.send_hello = send_hello
        self.respond = respond
        self.hello_error = hello_error
        self.requests: list[Request] = []
        self.client_hello: ClientHello | None = None
        self.peer_closed = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        assert not self._thread.is_alive(), "fake server thread did not stop"

    def _serve(self) -> None:
        self._listener.settimeout(5)
        try:
            sock, _ = self._listener.accept()
            if self.tls is not None:
                sock.settimeout(5)
                sock = self.tls.wrap_socket(sock, server_side=True)
        except OSError:
            return
        with sock:
            sock.settimeout(0.05)
            conn = ControlConnection(Role.SERVER)
            while not self._stop.is_set():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    self.peer_closed.set()
                    break
                for message in conn.receive_data(data):
                    self._handle(sock, conn, message)

    def _handle(self, sock: socket.socket, conn: ControlConnection, message: Message) -> None:
        if isinstance(message, ClientHello):
            self.client_hello = message
            if self.hello_error is not None:
                sock.sendall(conn.send(self.hello_error))
            elif self.send_hello:
                sock.sendall(conn.send(ServerHello(self.api_version, "fake-1", "2.9.2-fake")))
            return
        assert isinstance(message, Request)
        self.requests.append(message)
        answer = self.respond(message)
        if isinstance(answer, bytes):
            sock.sendall(answer)
        elif answer is not None:
            sock.sendall(conn.send(answer))


@contextmanager
def connected(server: FakeServer, *, timeout: float = 2.0) -> Iterator[Api]:
    with server, JetStream().api("127.0.0.1", server.port, timeout) as api:
        yield api


def within_timeout(elapsed: float, timeout: float, late: LatenessProbe) -> bool:
    """The brief's bound: within 10 % of the configured timeout (+100 ms), late by at most
    the wake-up delay this process was measured to suffer during the call (a loaded
    machine, not the client)."""
    return 0.9 * timeout <= elapsed <= 1.1 * timeout + 0.1 + late.worst_s


# --- hello and round trips -------------------------------------------------------------
def test_hello_carries_api_version_and_agent() -> None:
    server = FakeServer()
    with connected(server) as api:
        assert api.connected
        assert api.server_hello is not None and api.server_hello.server_id == "fake-1"
    assert server.client_hello == ClientHello(40, api.agent)


def test_round_trips_send_names_and_keyword_params() -> None:
    server = FakeServer()
    with connected(server) as api:
        info = api.server.getServerInfo()
        manifest = api.send.createManifest(mappings={"/dest/a": "/src/a"})
        transfer = api.send.createTransfer(destinationId="d1", manifestId="m1",
                                           transferFlags=7, overwriteMode=5)
        api.server.auth("alice", "pw")
        result = api.server.getRequestResult({"requestId": 3})
        status = api.server.getRequestStatus(4)
    assert info == {"command": "getServerInfo", "params": {}}
    assert manifest["params"] == {"mappings": {"/dest/a": "/src/a"}}
    assert transfer == {"command": "send.createTransfer",
                        "params": {"destinationId": "d1", "manifestId": "m1",
                                   "transferFlags": 7, "overwriteMode": 5}}
    assert result["params"] == {"requestId": 3}
    assert status["params"] == {"requestId": 4}
    assert [r.command for r in server.requests] == [
        "getServerInfo", "send.createManifest", "send.createTransfer", "auth",
        "getRequestResult", "getRequestStatus"]
    assert server.requests[3].params == {"user": "alice", "password": "pw"}
    assert len({r.id for r in server.requests}) == len(server.requests)


def test_none_is_sent_but_unset_is_not() -> None:
    server = FakeServer()
    with connected(server) as api:
        api.server.updateBandwidthLimits(incomingRateLimit=None)
    assert server.requests[0].params == {"incomingRateLimit": None}


def test_get_request_result_rejects_a_dict_without_request_id() -> None:
    api = JetStream().api("127.0.0.1", 1)
    with pytest.raises(errors.UsageError, match="requestId"):
        api.server.getRequestResult({"id": 3})


# --- server errors ---------------------------------------------------------------------
@pytest.mark.parametrize(("code", "cls"), [
    ("AuthenticationFailed", errors.AuthenticationFailed),
    ("PermissionDenied", errors.PermissionDenied),
    ("NotFound", errors.NotFound),
    ("InvalidArgument", errors.InvalidArgument),
    ("NotReady", errors.NotReady),
    ("Conflict", errors.ConflictError),
    ("ServerError", errors.ServerError),
])
def test_error_frames_map_to_exception_classes(code: str, cls: type[Exception]) -> None:
    server = FakeServer(respond=lambda r: ErrorResponse(r.id, code, f"no: {code}", {"k": 1}))
    with connected(server) as api:
        with pytest.raises(cls) as info:
            api.send.getTransfer(5)
        assert type(info.value) is cls
        assert info.value.details == {"k": 1}
        assert api.connected, "a request error must not drop the session"
        assert api.call_log[-1].outcome == code


def test_unknown_error_code_becomes_server_error_keeping_the_code() -> None:
    server = FakeServer(respond=lambda r: ErrorResponse(r.id, "Weird", "odd"))
    with connected(server) as api, pytest.raises(errors.ServerError) as info:
        api.server.garbageCollect()
    assert type(info.value) is errors.ServerError
    assert info.value.details["code"] == "Weird"


def test_connection_level_error_closes_the_session() -> None:
    server = FakeServer(respond=lambda r: ErrorResponse(None, "ProtocolError", "bad frame"))
    with connected(server) as api:
        with pytest.raises(errors.ProtocolError, match="bad frame"):
            api.send.getTransfers()
        assert not api.connected


def test_garbage_from_server_is_a_protocol_error_and_disconnects() -> None:
    server = FakeServer(respond=lambda r: encode_frame(b"not json"))
    with connected(server) as api:
        with pytest.raises(errors.ProtocolError):
            api.send.getTransfers()
        assert not api.connected
        with pytest.raises(errors.UsageError, match="not connected"):
            api.send.getTransfers()


def test_server_closing_mid_request_is_connection_closed() -> None:
    class Closer(FakeServer):
        def _handle(self, sock: socket.socket, conn: ControlConnection,
                    message: Message) -> None:
            if isinstance(message, Request):
                sock.shutdown(socket.SHUT_RDWR)
                self._stop.set()
                return
            super()._handle(sock, conn, message)

    server = Closer()
    with connected(server) as api:
        with pytest.raises(errors.ConnectionClosed):
            api.send.getTransfers()
        assert not api.connected


def test_busy_at_hello_is_raised_with_its_code() -> None:
    server = FakeServer(hello_error=ErrorResponse(None, "Busy", "too many connections"))
    with server, pytest.raises(errors.ServerError, match="too many") as info:
        JetStream().api("127.0.0.1", server.port, 2).connect()
    assert info.value.details["code"] == "Busy"


# --- versions ----------------------------------------------------------------------------
def test_api_version_mismatch_names_both_numbers_and_closes() -> None:
    server = FakeServer(api_version=39)
    api = JetStream().api("127.0.0.1", server.port, 2)
    with server:
        with pytest.raises(errors.ApiVersionMismatch) as info:
            api.connect()
        assert server.peer_closed.wait(3), "socket must be closed on a version mismatch"
    assert (info.value.expected, info.value.actual) == (40, 39)
    assert "39" in str(info.value) and "40" in str(info.value)
    assert not api.connected
    assert api.call_log[-1].outcome == "ApiVersionMismatch"


def test_client_api_version_is_configurable() -> None:
    server = FakeServer(api_version=27)
    with server, JetStream().api("127.0.0.1", server.port, 2, api_version=27) as api:
        assert api.connected
    assert server.client_hello is not None and server.client_hello.api_version == 27


# --- timeouts ----------------------------------------------------------------------------
def test_connect_timeout_against_a_server_that_never_sends_hello() -> None:
    timeout = 1.0
    server = FakeServer(send_hello=False)
    with server:
        started = time.monotonic()
        with LatenessProbe() as late, pytest.raises(errors.ConnectTimeout, match="hello"):
            JetStream().api("127.0.0.1", server.port, timeout).connect()
        elapsed = time.monotonic() - started
    assert within_timeout(elapsed, timeout, late), (elapsed, late.worst_s)


def test_connect_timeout_against_a_full_backlog() -> None:
    timeout = 1.0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(4):  # fill the accept queue; the listener never accepts
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
        started = time.monotonic()
        with LatenessProbe() as late, pytest.raises(errors.ConnectTimeout):
            JetStream().api("127.0.0.1", address[1], timeout).connect()
        elapsed = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert within_timeout(elapsed, timeout, late), (elapsed, late.worst_s)


def test_refused_connection_is_connection_closed_with_a_clear_message() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(errors.ConnectionClosed, match="refused"):
        JetStream().api("127.0.0.1", port, 2).connect()


def test_request_timeout_when_the_server_stays_silent() -> None:
    timeout = 1.0
    server = FakeServer(respond=lambda r: None)
    with connected(server, timeout=timeout) as api:
        started = time.monotonic()
        with LatenessProbe() as late, \
                pytest.raises(errors.RequestTimeout, match=r"send\.getTransfers"):
            api.send.getTransfers()
        elapsed = time.monotonic() - started
        assert api.connected, "a request timeout leaves the connection usable"
    assert within_timeout(elapsed, timeout, late), (elapsed, late.worst_s)


def test_late_answer_to_a_timed_out_request_is_dropped() -> None:
    held: list[Request] = []

    def respond(request: Request) -> bytes | None:
        if not held:  # hold the first request, then answer both, the stale one first
            held.append(request)
            return None
        return (encode_message(Response(held[0].id, "stale"))
                + encode_message(Response(request.id, "fresh")))

    server = FakeServer(respond=respond)
    with connected(server, timeout=0.3) as api:
        with pytest.raises(errors.RequestTimeout):
            api.server.garbageCollect()
        api.timeout = 2.0
        assert api.server.garbageCollect() == "fresh"


def test_wait_for_transfer_still_running_raises_request_timeout() -> None:
    def respond(request: Request) -> Message:
        return Response(request.id, {"transferId": 7, "status": "sending"})

    server = FakeServer(respond=respond)
    with connected(server) as api:
        with pytest.raises(errors.RequestTimeout, match="still 'sending'") as info:
            api.send.waitForTransfer(7, timeout=0.5)
        assert info.value.details["last"]["status"] == "sending"
        assert api.call_log[-1].outcome == "RequestTimeout"
    assert server.requests[0].params == {"transferId": 7, "timeout": 0.5}


def test_wait_for_manifest_returns_once_not_pending() -> None:
    def respond(request: Request) -> Message:
        return Response(request.id, {"manifestId": "m", "status": "complete"})

    server = FakeServer(respond=respond)
    with connected(server) as api:
        assert api.send.waitForManifest("m", timeout=3)["status"] == "complete"


def test_wait_commands_wait_their_own_timeout_plus_the_request_timeout() -> None:
    """The server may legitimately hold a waitFor* answer for ``timeout``; no early expiry."""
    def respond(request: Request) -> Message:
        time.sleep(0.5)  # the fake server's own pace, longer than the request timeout
        return Response(request.id, {"manifestId": "m", "status": "complete"})

    server = FakeServer(respond=respond)
    with connected(server, timeout=0.3) as api:
        assert api.send.waitForManifest("m", timeout=1)["status"] == "complete"


# --- lifecycle and call log ------------------------------------------------------------
def test_context_manager_closes_the_socket() -> None:
    server = FakeServer()
    with server:
        with JetStream().api("127.0.0.1", server.port, 2) as api:
            assert api.connected
        assert not api.connected
        assert server.peer_closed.wait(3), "server never saw the client close"


def test_calls_need_a_connection() -> None:
    api = JetStream().api("127.0.0.1", 1)
    with pytest.raises(errors.UsageError, match="not connected"):
        api.server.getServerInfo()


@pytest.mark.parametrize(("port", "timeout"), [(0, 1), (70000, 1), (8886, 0), (8886, -1)])
def test_bad_settings_are_usage_errors(port: int, timeout: float) -> None:
    with pytest.raises(errors.UsageError):
        JetStream().api("127.0.0.1", port, timeout)


def test_call_log_redacts_passwords_and_keeps_outcomes() -> None:
    def respond(request: Request) -> Message:
        if request.command == "auth":
            return ErrorResponse(request.id, "AuthenticationFailed", "bad credentials")
        return echo(request)

    server = FakeServer(respond=respond)
    with connected(server) as api:
        with pytest.raises(errors.AuthenticationFailed):
            api.server.auth("alice", "s3cret-pw")
        api.server.createAPIToken(description="ci", password="tok-s3cret")
        api.server.authToken("tok-value-123", password="tok-s3cret")
        api.send.getTransfers()
    records = list(api.call_log)
    assert [r.command for r in records] == ["connect", "auth", "createAPIToken", "authToken",
                                            "send.getTransfers"]
    assert records[1].params == {"user": "alice", "password": REDACTED}
    assert records[1].outcome == "AuthenticationFailed"
    assert records[2].params["password"] == REDACTED
    assert records[3].params == {"token": REDACTED, "password": REDACTED}
    assert records[4].ok
    text = "\n".join(api.call_log.lines())
    for secret in ("s3cret-pw", "tok-s3cret", "tok-value-123"):
        assert secret not in text
    assert "user='alice'" in text


def test_call_log_is_bounded() -> None:
    server = FakeServer()
    with server, JetStream().api("127.0.0.1", server.port, 2, call_log_size=3) as api:
        for _ in range(5):
            api.send.getManifests()
    assert len(api.call_log) == 3
    assert all(r.command == "send.getManifests" for r in api.call_log)


@pytest.mark.parametrize(("given", "sent", "client_wait"), [
    ({}, {}, 3600 + 2.0),
    ({"timeout": None}, {}, 3600 + 2.0),
    ({"timeout": 30}, {"timeout": 30}, 30 + 2.0),
    ({"timeout": 99999}, {"timeout": 99999}, 3600 + 2.0),
])
def test_wait_bound_is_server_wait_plus_request_timeout(
        given: dict[str, float | None], sent: dict[str, float], client_wait: float) -> None:
    """protocol.md 3.2: the server caps waits at 3600 s, so the client never waits longer."""
    api = JetStream().api("127.0.0.1", 1, 2.0)
    seen: list[tuple[dict[str, object], float | None]] = []

    def fake_call(command: str, params: dict[str, object], *, timeout: float | None = None,
                  check: object = None) -> object:
        seen.append((params, timeout))
        return {"transferId": 1, "status": "complete"}

    api.call = fake_call  # type: ignore[method-assign]
    api.send.waitForTransfer(1, **given)  # type: ignore[arg-type]
    assert seen == [({"transferId": 1, **sent}, client_wait)]


def test_negative_wait_timeout_is_a_usage_error() -> None:
    with pytest.raises(errors.UsageError, match="timeout"):
        JetStream().api("127.0.0.1", 1).send.waitForManifest("m", timeout=-1)
