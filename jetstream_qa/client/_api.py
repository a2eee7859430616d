"""``JetStream().api(...)``: the connection object of the bundled client.

Mirrors the vendor's object model (``shared/jetstream-docs/api.md`` section 2, S13):
``api = JetStream().api('localhost', 8886)``, ``api.connect()``, ``with api:`` connects on
entry and disconnects on exit, and the commands live in ``api.server``, ``api.send`` and
``api.recv``. Every call is bounded by a timeout (DESIGN.md: "Every network operation is
bounded by a timeout") and leaves a redacted record in :attr:`Api.call_log`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from jetstream_qa import __version__
from jetstream_qa.client._calllog import CallLog, CallRecord, redact, summarise_result
from jetstream_qa.client._namespaces import (
    RecvInterface,
    ResultCheck,
    SendInterface,
    ServerInterface,
)
from jetstream_qa.client._secrets import guard, learn, server_error
from jetstream_qa.client._transport import ControlSocket, make_tls_context
from jetstream_qa.constants import API_VERSION, DEFAULT_API_PORT, DEFAULT_TIMEOUT_SECONDS
from jetstream_qa.errors import (
    ApiVersionMismatch,
    ConnectionClosed,
    JetStreamQAError,
    ProtocolError,
    ServerError,
    UsageError,
)
from jetstream_qa.redaction import scrub
from jetstream_qa.wire.control import ClientHello, ErrorResponse, Request, ServerHello

__all__ = ["DEFAULT_AGENT", "Api", "JetStream"]

DEFAULT_AGENT = f"jetstream-qa/{__version__}"


class Api:
    """One API session with one server. Not thread-safe: one call at a time.

    Args:
        host, port: the server's API control address.
        timeout: seconds bounding the connect (TCP + TLS + hello) and each request.
        tls: speak TLS on the control channel (``docs/protocol.md`` 2.4).
        cafile: CA bundle the server certificate must chain to (implies ``tls``); ``None``
            skips verification for loopback hosts only.
        api_version: the version this client speaks; a server hello naming another one
            raises :class:`~jetstream_qa.errors.ApiVersionMismatch`.
        agent: the ``agent`` string of the client hello.
        call_log_size: how many recent calls :attr:`call_log` keeps.

    Raises:
        UsageError: a bad host, port or timeout.
    """

    def __init__(self, host: str = "localhost", port: int = DEFAULT_API_PORT,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, *, tls: bool = False,
                 cafile: str | None = None, api_version: int = API_VERSION,
                 agent: str = DEFAULT_AGENT, call_log_size: int = 50) -> None:
        _validate(host, port, timeout)
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self.tls = bool(tls) or cafile is not None
        self.cafile = cafile
        self.api_version = api_version
        self.agent = agent
        self.call_log = CallLog(maxlen=call_log_size)
        self.server = ServerInterface(self)
        self.send = SendInterface(self)
        self.recv = RecvInterface(self)
        self._channel: ControlSocket | None = None
        self._next_id = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<Api {self.host}:{self.port} api_version={self.api_version} {state}>"

    # --- connection ---------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and :meth:`disconnect` or a lost link."""
        return self._channel is not None and not self._channel.closed

    @property
    def server_hello(self) -> ServerHello | None:
        """The server's hello of the current connection (``serverId``, ``version``...)."""
        return self._channel.hello if self.connected and self._channel else None

    def connect(self) -> Api:
        """Open the control connection and exchange hellos within :attr:`timeout`.

        Connecting an already connected object does nothing.

        Returns:
            ``self``, so ``api = JetStream().api(...).connect()`` reads naturally.

        Raises:
            ConnectTimeout: no TCP connection or no server hello within the timeout.
            ConnectionClosed: connection refused, or closed before the hello.
            TransportError: other network or TLS failures.
            ConfigurationError: ``cafile`` is unreadable.
            ApiVersionMismatch: the server speaks another ``apiVersion`` (the socket is
                closed; the error names both numbers).
            ServerError: the server refused the session (e.g. ``Busy``).
        """
        if self.connected:
            return self
        params = {"host": self.host, "port": self.port, "tls": self.tls,
                  "apiVersion": self.api_version}
        started = time.monotonic()
        try:
            channel = self._open()
        except JetStreamQAError as exc:
            self._log("connect", params, started, exc)
            raise
        self._channel = channel
        self._log("connect", params, started, None,
                  f"serverId={channel.hello.server_id!r} version={channel.hello.version!r}"
                  if channel.hello else "")
        return self

    def _open(self) -> ControlSocket:
        context = make_tls_context(self.host, self.cafile) if self.tls else None
        channel = ControlSocket.open(self.host, self.port, timeout=self.timeout,
                                     hello=ClientHello(self.api_version, self.agent),
                                     tls=context)
        assert channel.hello is not None
        if channel.hello.api_version != self.api_version:
            channel.close()
            raise ApiVersionMismatch(expected=self.api_version,
                                     actual=channel.hello.api_version)
        return channel

    def disconnect(self) -> None:
        """Close the connection; calling it again, or when never connected, does nothing."""
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def __enter__(self) -> Api:
        return self.connect()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.disconnect()

    # --- calls --------------------------------------------------------------------------
    def call(self, command: str, params: Mapping[str, Any] | None = None, *,
             timeout: float | None = None, check: ResultCheck | None = None) -> Any:
        """Send one command and return its result (the raw entry point the namespaces use).

        Args:
            command: dotted wire name (``getServerInfo``, ``send.getTransfers``).
            params: keyword parameters, sent as given (secret ones are held as
                :class:`~jetstream_qa.redaction.Credential`, so no traceback shows them).
            timeout: seconds to wait for the answer; default :attr:`timeout`.
            check: optional inspection of the result that may turn it into an error.

        Raises:
            UsageError: not connected, an invalid command name, or params that are not JSON.
            ServerError (subclasses by wire code): the server answered with an ``error``.
            RequestTimeout: no answer in time (the connection stays open).
            ConnectionClosed / ProtocolError: the connection broke (now disconnected).
        """
        params = guard(command, params or {})
        wait = self.timeout if timeout is None else float(timeout)
        started = time.monotonic()
        try:
            result = self._exchange(command, params, wait)
            error = check(result) if check else None
            if error is not None:
                raise error
        except JetStreamQAError as exc:
            self._log(command, params, started, exc)
            raise
        learn(command, result)
        self._log(command, params, started, None, summarise_result(result))
        return result

    def _exchange(self, command: str, params: dict[str, Any], wait: float) -> Any:
        channel = self._channel
        if channel is None or channel.closed:
            raise UsageError(f"not connected to {self.host}:{self.port}: call connect() "
                             "first or use 'with api:'")
        request = self._build_request(command, params)
        try:
            answer = channel.request(request, timeout=wait)
        except (ConnectionClosed, ProtocolError):
            self.disconnect()
            raise
        except ServerError:
            if channel.closed:
                self.disconnect()
            raise
        if isinstance(answer, ErrorResponse):
            raise server_error(answer.code, answer.message, answer.details)
        return answer.result

    def _build_request(self, command: str, params: dict[str, Any]) -> Request:
        self._next_id += 1
        try:
            json.dumps(params, allow_nan=False)
            return Request(self._next_id, command, params)
        except ProtocolError as exc:
            raise UsageError(f"invalid command {command!r}: {exc.message}") from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"parameters of {command} are not JSON: {exc}") from None

    def _log(self, command: str, params: Mapping[str, Any], started: float,
             error: JetStreamQAError | None, detail: str = "") -> None:
        duration = max(0.0, time.monotonic() - started)
        if error is None:
            record = CallRecord(command, redact(command, params), "ok", scrub(detail), duration)
        else:
            code = str(error.details.get("code", error.code)) \
                if type(error) is ServerError else error.code
            record = CallRecord(command, redact(command, params), code, scrub(error.message),
                                duration)
        self.call_log.add(record)


def _validate(host: object, port: object, timeout: object) -> None:
    if not isinstance(host, str) or not host:
        raise UsageError(f"host must be a non-empty string, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"port must be an integer in 1..65535, got {port!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")


class JetStream:
    """Entry point, as in the vendor package: ``JetStream().api(host, port)``."""

    def api(self, host: str = "localhost", port: int = DEFAULT_API_PORT,
            timeout: float = DEFAULT_TIMEOUT_SECONDS, *, tls: bool = False,
            cafile: str | None = None, api_version: int = API_VERSION,
            agent: str = DEFAULT_AGENT, call_log_size: int = 50) -> Api:
        """Build an unconnected :class:`Api`; see its docstring for the arguments."""
        return Api(host, port, timeout, tls=tls, cafile=cafile, api_version=api_version,
                   agent=agent, call_log_size=call_log_size)
