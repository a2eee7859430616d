"""Fixtures shared by the project's own tests.

- ``ref_server``: one reference server (subprocess) for the whole session.
- ``ref_pair``: an embedded sender/receiver pair for the whole session.
- ``make_server``: starts a server with particular options for one test, stops it after.
- ``api``: opens a real bundled-client session (``jetstream_qa.client``), optionally logged
  in; disconnected after the test.
- ``connect``: opens a :class:`WireClient` (a small blocking client built directly on the
  sans-IO ``wire.control`` core) to a server, optionally logged in; closed after the test.

Every socket operation has a timeout; servers are stopped (SIGTERM, then SIGKILL) at
teardown.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.errors import ConnectionClosed, error_for_code
from jetstream_qa.refserver.embedded import EmbeddedPair, EmbeddedServer, ServerUser
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

SOCKET_TIMEOUT = 10.0


class WireClient:
    """Blocking control-channel client for tests (reference protocol, no TLS)."""

    def __init__(self, host: str, port: int, *, timeout: float = SOCKET_TIMEOUT,
                 hello: bool = True) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.conn = ControlConnection(Role.CLIENT)
        self.ids = itertools.count(1)
        self.pending: list[Message] = []
        self.server_hello: ServerHello | None = None
        if hello:
            self.sock.sendall(self.conn.send(ClientHello(api_version=40, agent="tests")))
            msg = self.next_message()
            assert isinstance(msg, ServerHello), msg
            self.server_hello = msg

    def next_message(self) -> Message:
        """The next message from the server. Raises ConnectionClosed at EOF."""
        while not self.pending:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionClosed("server closed the connection")
            self.pending.extend(self.conn.receive_data(data))
        return self.pending.pop(0)

    def send_request(self, command: str, **params: Any) -> int:
        rid = next(self.ids)
        self.sock.sendall(self.conn.send(Request(rid, command, params)))
        return rid

    def wait_answer(self, rid: int) -> Response | ErrorResponse:
        """The answer to request ``rid`` (answers to other ids are kept for later)."""
        kept: list[Message] = []
        try:
            while True:
                msg = self.next_message()
                if isinstance(msg, Response | ErrorResponse) and msg.id == rid:
                    return msg
                if isinstance(msg, ErrorResponse) and msg.id is None:
                    raise error_for_code(msg.code, msg.message, msg.details)
                kept.append(msg)
        finally:
            self.pending[:0] = kept

    def call(self, command: str, **params: Any) -> Any:
        """Send one request and return its result; an error answer is raised as the
        ``jetstream_qa.errors`` class of its code."""
        answer = self.wait_answer(self.send_request(command, **params))
        if isinstance(answer, ErrorResponse):
            raise error_for_code(answer.code, answer.message, answer.details)
        return answer.result

    def auth(self, user: ServerUser) -> WireClient:
        self.call("auth", user=user.name, password=user.password)
        return self

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="session")
def ref_server() -> Iterator[EmbeddedServer]:
    """One reference server for the whole test session."""
    with EmbeddedServer(name="tests-server", ready_timeout=30) as server:
        yield server


@pytest.fixture(scope="session")
def ref_pair() -> Iterator[EmbeddedPair]:
    """An embedded sender/receiver pair for the whole test session."""
    with EmbeddedPair(ready_timeout=30) as pair:
        yield pair


@pytest.fixture
def make_server() -> Iterator[Callable[..., EmbeddedServer]]:
    """Factory: ``make_server(extra_args=[...], faults=[...])`` -> a started server."""
    started: list[EmbeddedServer] = []

    def factory(**kwargs: Any) -> EmbeddedServer:
        kwargs.setdefault("ready_timeout", 30)
        server = EmbeddedServer(**kwargs)
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., WireClient]]:
    """Factory: ``connect(server, user=None, hello=True)`` -> a WireClient."""
    clients: list[WireClient] = []

    def factory(server: EmbeddedServer, user: ServerUser | None = None, *,
                hello: bool = True, timeout: float = SOCKET_TIMEOUT) -> WireClient:
        client = WireClient(server.host, server.api_port, hello=hello, timeout=timeout)
        clients.append(client)
        if user is not None:
            client.auth(user)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def api() -> Iterator[Callable[..., Any]]:
    """Factory: ``api(server, user=None, superuser=False)`` -> a connected client ``Api``."""
    from jetstream_qa.client import JetStream

    sessions: list[Any] = []

    def factory(server: EmbeddedServer, user: ServerUser | None = None, *,
                elevate: bool = False, timeout: float = SOCKET_TIMEOUT) -> Any:
        session = JetStream().api(server.host, server.api_port, timeout=timeout)
        sessions.append(session)
        session.connect()
        if user is not None:
            session.server.auth(user.name, user.password)
        if elevate:
            session.server.superuser()
        return session

    yield factory
    for session in sessions:
        session.disconnect()


# --- the mutation table under pytest-xdist ------------------------------------------------
# tests/meta records its faults from the workers; the xdist controller never loads
# tests/meta/conftest.py, so it builds the run's table here (tests/mutation_report.py): only
# from a run that selected every registered fault, and a fault that left no record fails it.
_SESSION_START = pytest.StashKey[float]()
_MUTATION = pytest.StashKey[Any]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION_START] = time.time()


def _xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.pluginmanager.has_plugin("dsession")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not _xdist_controller(config):
        return
    from mutation_report import finalize, settle

    settle(session, _MUTATION, finalize(since=config.stash.get(_SESSION_START, time.time())))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from mutation_report import write_outcome

    write_outcome(terminalreporter, config.stash.get(_MUTATION, None))


VENDOR_STANDIN = Path(__file__).resolve().parent / "vendor_standin"
STANDIN_BINDING = Path(__file__).resolve().parents[1] / "fixtures" / "bindings" / "standin.toml"


@pytest.fixture
def vendor_standin() -> Iterator[Any]:
    """The strict vendor stand-in (``tests/vendor_standin``) imported as ``jetstream`` for
    this test only: removed from ``sys.path`` and ``sys.modules`` afterwards, so a later
    in-process ``--js-client auto`` run does not pick it up."""
    import importlib
    import sys
    assert "jetstream" not in sys.modules, "another 'jetstream' is already imported"
    sys.path.insert(0, str(VENDOR_STANDIN))
    try:
        yield importlib.import_module("jetstream")
    finally:
        sys.path.remove(str(VENDOR_STANDIN))
        for name in [n for n in sys.modules if n == "jetstream" or n.startswith("jetstream.")]:
            del sys.modules[name]
