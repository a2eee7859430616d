"""Which client speaks to the server under test, and how a session is opened.

Two clients provide the documented Python API surface (DESIGN.md): the vendor's ``jetstream``
package when importable, and the bundled :mod:`jetstream_qa.client`. :func:`choose_client`
picks one (``auto`` prefers the vendor) and returns a :class:`ClientChoice`: a factory for
``JetStream().api(host, port, ...)`` objects and the matching constants module (the vendor's
``jetstream.constants`` when using the vendor, so values the docs omit, like the symlink
modes, come from the package that talks to the server).

Every API object the suites get records its recent calls: the bundled client keeps its own
``call_log``; a vendor object is wrapped in :class:`RecordingApi`. :func:`calls_of` reads
either, with secrets redacted.

Both are also checked at the door: an answer whose shape the vendor documents (a Manifest,
Transfer, Destination or Request structure, a list of them) but that arrives as something
else (``null``, a string, a dict without its id) raises
:class:`~jetstream_qa.errors.ProtocolError` naming the command and the value with its type,
so a malformed answer is the server's FAIL and never a ``TypeError`` in the case's code.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from jetstream_qa.client import CallLog, CallRecord, redact, summarise_result
from jetstream_qa.conformance_core.setting_values import HostPort, Secret
from jetstream_qa.errors import ConfigurationError, JetStreamQAError, ProtocolError

__all__ = ["ClientChoice", "ClientKind", "RecordingApi", "calls_of", "check_answer",
           "choose_client", "open_session", "shorten", "vendor_surface"]

_SECRET_POSITIONAL = {"auth": 1, "authAsync": 1, "authToken": 0}
"""Positional arguments that are credentials (``auth(user, password)``: index 1)."""


class ClientKind(enum.StrEnum):
    VENDOR = "vendor"
    BUNDLED = "bundled"


@dataclass(frozen=True, slots=True)
class ClientChoice:
    """The client of a run: its kind, its ``JetStream`` class and its constants module."""

    kind: ClientKind
    jetstream_class: Any
    constants: ModuleType
    origin: str = ""
    """Which package was picked: distribution, version and file (vendor only)."""

    def accepts(self, keyword: str) -> bool:
        """True when ``JetStream().api`` takes ``keyword`` (vendor signatures are not public)."""
        try:
            params = inspect.signature(self.jetstream_class().api).parameters
        except (TypeError, ValueError):
            return False
        return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def make_api(self, address: HostPort, *, timeout: float | None,
                 api_version: int | None = None) -> Any:
        """An unconnected API object for ``address`` (wrapped to record calls if needed).

        ``timeout=None`` leaves the client's own default (the documented 10 s).

        Raises:
            ConfigurationError: ``api_version`` asked of a client that cannot be given one.
        """
        kwargs: dict[str, Any] = {}
        if timeout is not None and self.accepts("timeout"):
            kwargs["timeout"] = timeout
        if api_version is not None:
            if not self.accepts("api_version"):
                raise ConfigurationError(
                    f"the {self.kind} client cannot be configured with an api_version")
            kwargs["api_version"] = api_version
        api = self.jetstream_class().api(address.host, address.port, **kwargs)
        return RecordingApi(api, record=not hasattr(api, "call_log"))


def _vendor() -> ModuleType | None:
    try:
        return importlib.import_module("jetstream")
    except ImportError:
        return None


def _package_origin(module: ModuleType) -> str:
    """``jetstream 2.9.2 (distribution 'jetstream') at /path/jetstream/__init__.py``."""
    from importlib import metadata
    where = getattr(module, "__file__", None) or "?"
    dists = metadata.packages_distributions().get(module.__name__, [])
    for dist in dists:
        try:
            return f"{dist} {metadata.version(dist)} at {where}"
        except metadata.PackageNotFoundError:
            continue
    return f"{module.__name__} (no distribution metadata) at {where}"


def vendor_surface(module: ModuleType) -> tuple[Any, ModuleType]:
    """The vendor's ``JetStream`` class and constants, proven by the documented surface.

    The package index holds unrelated packages named ``jetstream`` (a 2016 CloudFormation
    templating tool, the ``jetstream-pt`` confusion demo): the vendor's package is the one
    with ``jetstream.constants.API_VERSION`` (an int, S11) and ``JetStream().api`` (S13).

    Raises:
        ConfigurationError: naming what is missing and where the package was found.
    """
    origin = _package_origin(module)
    try:
        constants = importlib.import_module(f"{module.__name__}.constants")
    except ImportError as exc:
        raise ConfigurationError(f"{origin} has no .constants ({exc}): not the JetStream "
                                 "vendor package") from None
    version = getattr(constants, "API_VERSION", None)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigurationError(f"{origin}: constants.API_VERSION is {version!r}, not an "
                                 "int: not the JetStream vendor package")
    factory = getattr(module, "JetStream", None)
    if not isinstance(factory, type) or not callable(getattr(factory, "api", None)):
        raise ConfigurationError(f"{origin} has no JetStream().api: not the JetStream "
                                 "vendor package")
    return factory, constants


def choose_client(requested: str) -> ClientChoice:
    """Resolve ``auto|vendor|bundled`` to a client; ``auto`` takes a ``jetstream`` package
    only when it proves to be the vendor's (:func:`vendor_surface`), else the bundled one.

    Raises:
        ConfigurationError: ``vendor`` asked for but the ``jetstream`` package is missing or
            is not the vendor's (the message names the package found).
    """
    if requested not in ("auto", "vendor", "bundled"):
        raise ConfigurationError(f"invalid --js-client {requested!r}")
    vendor = _vendor() if requested in ("auto", "vendor") else None
    if vendor is not None:
        try:
            factory, constants = vendor_surface(vendor)
            return ClientChoice(ClientKind.VENDOR, factory, constants, _package_origin(vendor))
        except ConfigurationError as exc:
            if requested == "vendor":
                raise ConfigurationError(f"invalid --js-client 'vendor': {exc}") from None
    elif requested == "vendor":
        raise ConfigurationError(
            "invalid --js-client 'vendor': the vendor package 'jetstream' is not importable")
    from jetstream_qa import client, constants
    return ClientChoice(ClientKind.BUNDLED, client.JetStream, constants, "jetstream_qa.client")


_OBJECT: dict[str, tuple[str, type] | None] = {
    # vendor structures (api.md section 4) and the Request structure {'requestId': int}
    "getServerInfo": None, "getRequestStatus": None, "getAPIToken": None,
    "createAPIToken": None,
    "authAsync": ("requestId", int), "setSendRateAsync": ("requestId", int),
    "getTransfersAsync": ("requestId", int), "getSourcesAsync": ("requestId", int),
    "createManifest": ("manifestId", str), "getManifest": ("manifestId", str),
    "waitForManifest": ("manifestId", str),
    "createDestination": ("destinationId", str), "getDestination": ("destinationId", str),
    "createTransfer": ("transferId", int), "getTransfer": ("transferId", int),
    "waitForTransfer": ("transferId", int),
}
"""Commands answering one structure: the id field it must carry (``None``: any object)."""
_LIST = frozenset({"getManifests", "getDestinations", "getTransfers", "getAPITokens"})
"""Commands answering a list of structures."""


def _kind(value: Any) -> str:
    return f"{shorten(repr(value), 80)} ({type(value).__name__})"


def check_answer(command: str, result: Any) -> None:
    """Raise ProtocolError when ``result`` is not the documented shape of ``command``.

    Raises:
        ProtocolError: e.g. ``send.createManifest answered None (NoneType), expected a
            Manifest object with manifestId (str)``.
    """
    method = command.rpartition(".")[2]
    if method in _LIST and not isinstance(result, list):
        raise ProtocolError(f"malformed answer: {command} answered {_kind(result)}, "
                            "expected a list")
    if method not in _OBJECT:
        return
    key = _OBJECT[method]
    wanted = f"an object with {key[0]} ({key[1].__name__})" if key else "an object"
    if not isinstance(result, dict):
        raise ProtocolError(f"malformed answer: {command} answered {_kind(result)}, "
                            f"expected {wanted}")
    if key is not None:
        value = result.get(key[0])
        if isinstance(value, bool) or not isinstance(value, key[1]):
            shown = "missing" if key[0] not in result else _kind(value)
            raise ProtocolError(f"malformed answer: {command} answered {key[0]} {shown}, "
                                f"expected {wanted}")


class _CheckedNamespace:
    """Wraps ``api.server``/``api.send``/``api.recv``: checks the shape of each answer and,
    for a vendor object (``log`` given), records each call."""

    def __init__(self, target: Any, prefix: str, log: CallLog | None) -> None:
        self._target, self._prefix, self._log = target, prefix, log
        self.__jsqa_wrapped__ = target  # the binding introspects the vendor's own object

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        command = self._prefix + name

        def checked(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                result = attr(*args, **kwargs)
                check_answer(command, result)
            except Exception as exc:
                self._record(command, args, kwargs, started, exc=exc)
                raise
            self._record(command, args, kwargs, started, result=result)
            return result

        return checked

    def _record(self, command: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                started: float, *, result: Any = None, exc: Exception | None = None) -> None:
        if self._log is None:
            return
        params = dict(kwargs)
        secret_at = _SECRET_POSITIONAL.get(command.rpartition(".")[2])
        for index, value in enumerate(args):
            params[f"arg{index}"] = "***" if index == secret_at else value
        took = time.monotonic() - started
        if exc is None:
            self._log.add(CallRecord(command, redact(command, params), "ok",
                                     summarise_result(result), took))
        else:
            code = getattr(exc, "code", type(exc).__name__)
            self._log.add(CallRecord(command, redact(command, params), str(code),
                                     str(exc)[:200], took))


class RecordingApi:
    """An API object whose ``server``/``send``/``recv`` answers are shape-checked and, with
    ``record`` (a vendor object), whose calls leave a ``call_log``."""

    def __init__(self, api: Any, *, maxlen: int = 50, record: bool = True) -> None:
        self._api = api
        self.__jsqa_wrapped__ = api  # the binding introspects the vendor's own object
        log = CallLog(maxlen=maxlen) if record else None
        if log is not None:
            self.call_log = log
        for name, prefix in (("server", ""), ("send", "send."), ("recv", "recv.")):
            if hasattr(api, name):
                setattr(self, name, _CheckedNamespace(getattr(api, name), prefix, log))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def __enter__(self) -> RecordingApi:
        self._api.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._api.__exit__(*exc_info)


def calls_of(*apis: Any, label: bool = False) -> list[str]:
    """The recent calls of each API object, oldest first (secrets already redacted).

    With ``label`` each line is prefixed by the object's host:port.
    """
    lines: list[str] = []
    for api in apis:
        log = getattr(api, "call_log", None)
        if log is None:
            continue
        prefix = f"[{getattr(api, 'host', '?')}:{getattr(api, 'port', '?')}] " if label else ""
        lines.extend(prefix + line for line in log.lines())
    return lines


def open_session(choice: ClientChoice, address: HostPort, *, timeout: float,
                 user: str | None = None, password: Secret | None = None,
                 api_version: int | None = None) -> Any:
    """Connect to ``address`` and authenticate when a user is given.

    Raises:
        TransportError: unreachable (the case becomes INCONCLUSIVE).
        ServerError: the server refused (e.g. ``AuthenticationFailed`` for bad credentials).
    """
    api = choice.make_api(address, timeout=timeout, api_version=api_version)
    api.connect()
    if user is not None:
        try:
            api.server.auth(user, password.reveal() if password else "")
        except JetStreamQAError:
            api.disconnect()
            raise
    return api


def shorten(value: Any, limit: int = 300) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters (evidence stays readable)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

