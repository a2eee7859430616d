"""What the plugin's fixtures do, without pytest: target lifecycle, sessions, scratch space,
file sets, server constants, evidence and metadata for the reports.

The plugin module only declares fixtures and hooks and calls in here (STYLE 7).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from jetstream_qa import constants as our_constants
from jetstream_qa.conformance_core import filesets
from jetstream_qa.conformance_core.cases import CaseResult
from jetstream_qa.conformance_core.client_choice import ClientChoice, choose_client, open_session
from jetstream_qa.conformance_core.contact import Contact, Reach
from jetstream_qa.conformance_core.failures import (
    Inconclusive,
    NotApplicableCase,
    SessionRefused,
)
from jetstream_qa.conformance_core.session import CaseState
from jetstream_qa.conformance_core.setting_values import HostPort, StorageRoot
from jetstream_qa.conformance_core.settings import Settings
from jetstream_qa.conformance_core.summary import Environment, RunSummary
from jetstream_qa.conformance_core.target import (
    Credentials,
    Target,
    environment_of,
    target_from_settings,
)
from jetstream_qa.errors import (
    ApiVersionMismatch,
    AuthenticationFailed,
    ConfigurationError,
    JetStreamQAError,
    PermissionDenied,
    ServerError,
)

__all__ = [
    "FILESET_DIR",
    "ClientChoice",
    "Scratch",
    "ServerConstants",
    "Target",
    "attach_evidence",
    "client_choice",
    "close_all",
    "connector",
    "fileset_factory",
    "make_scratch",
    "probe",
    "publish_metadata",
    "target_context",
    "unprobed_environment",
]

FILESET_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "filesets"
"""Recipes shipped with the project (``fixtures/filesets/*.json``)."""

EMBEDDED_USERS = ("alice", "bob")
EMBEDDED_SUPERUSER = "root-qa"


def client_choice(settings: Settings) -> ClientChoice:
    """The client of the run (``--js-client``)."""
    return choose_client(settings.client)


@dataclass(frozen=True, slots=True)
class ServerConstants:
    """The constants suites use, read from the client's constants module.

    The vendor page omits the symlink-mode names/values and ``PERMISSIONS`` members; where
    the module lacks them, ours (``jetstream_qa.constants``, marked OURS there) stand in and
    :attr:`ours` lists which.
    """

    module: ModuleType
    api_version: int
    default_api_port: int
    default_timeout_s: float
    filetype_directory: int
    filetype_regular_file: int
    symlink_follow: int
    symlink_ignore: int
    overwrite: dict[str, int]
    transfer_flags: dict[str, int]
    min_ciphers: dict[str, int]
    ours: tuple[str, ...] = field(default=())

    def permission(self, name: str) -> int:
        """Value of one ``PERMISSIONS`` member (``UPLOAD``, ``DOWNLOAD``, ...); the vendor
        page lists none, so ours stand in when the module has no such member."""
        members = getattr(self.module, "PERMISSIONS", None)
        for source in (members, getattr(self.module, "Permission", None)):
            if source is None:
                continue
            if isinstance(source, dict) and name in source:
                return int(source[name])
            if hasattr(source, name):
                return int(getattr(source, name))
        return int(our_constants.Permission[name])

    @classmethod
    def from_module(cls, module: ModuleType) -> ServerConstants:
        ours: list[str] = []

        def get(name: str) -> Any:
            if hasattr(module, name):
                return getattr(module, name)
            ours.append(name)
            return getattr(our_constants, name)

        def group(prefix: str) -> dict[str, int]:
            names = {n for n in dir(module) if n.startswith(prefix)} or \
                {n for n in dir(our_constants) if n.startswith(prefix)}
            return {n.removeprefix(prefix): int(get(n)) for n in sorted(names)}

        return cls(
            module=module, api_version=int(get("API_VERSION")),
            default_api_port=int(get("DEFAULT_API_PORT")),
            default_timeout_s=float(get("DEFAULT_TIMEOUT_SECONDS")),
            filetype_directory=int(get("FILETYPE_DIRECTORY")),
            filetype_regular_file=int(get("FILETYPE_REGULAR_FILE")),
            symlink_follow=int(get("SYMLINK_FOLLOW")), symlink_ignore=int(get("SYMLINK_IGNORE")),
            overwrite=group("OVERWRITE_"), transfer_flags=group("TRANSFER_FLAG_"),
            min_ciphers=group("MIN_CIPHER_"), ours=tuple(ours))


# --- target lifecycle --------------------------------------------------------------------
@contextlib.contextmanager
def target_context(settings: Settings, tmp_path_factory: Any) -> Iterator[Target]:
    """Yield the given target, or start the embedded pair for the block and stop it after."""
    if not settings.embedded:
        target = target_from_settings(settings)
        if target.receiver_data is None:
            target = _with_discovered_data_address(target, settings)
        yield target
        return
    from jetstream_qa.conformance_core.embedded_target import embedded_target
    with embedded_target(tmp_path_factory.mktemp("jsqa-embedded")) as target:
        yield target


def _with_discovered_data_address(target: Target, settings: Settings) -> Target:
    """Learn the receiver's UDP port from ``getServerInfo()['receiver']['recvPort']``.

    The reference server publishes it; where a server does not (or cannot be reached now),
    the target keeps the vendor default: the receiver's host at its API port number, and
    ``--js-receiver-data`` remains the way to say otherwise.
    """
    creds = target.user
    try:
        api = open_session(choose_client(settings.client), target.receiver,
                           timeout=settings.timeout, user=creds.user if creds else None,
                           password=creds.password if creds else None)
    except (JetStreamQAError, OSError):
        return target  # unreachable or broken: the cases meet it and judge it
    try:
        info = api.server.getServerInfo()
    except (JetStreamQAError, OSError):
        return target
    finally:
        close_all([api])
    receiver = info.get("receiver") if isinstance(info, dict) else None
    port = receiver.get("recvPort") if isinstance(receiver, dict) else None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return target
    return dataclasses.replace(target, receiver_data=HostPort(target.receiver.host, port))


def probe(target: Target, choice: ClientChoice, settings: Settings
          ) -> tuple[Environment, Contact]:
    """Connect once to the sender, fingerprint it (``getServerInfo``) and say how far it got.

    Never raises for a server that is unreachable, mute, mismatched or broken: the
    fingerprint has what could be learnt, and the :class:`Contact` tells the verdict policy
    whether the server had answered (then a later stall or loss is its FAIL) or could not be
    reached at all (INCONCLUSIVE). Every step is bounded by ``settings.timeout``.
    """
    info: dict[str, Any] = {}
    contact = _probe_tcp(target.sender, settings.timeout)
    if contact is None:
        info, contact = _probe_session(target, choice, settings)
    env = environment_of(info, target=target, client_kind=choice.kind.value,
                         profile=settings.profile, client_package=choice.origin)
    return env, dataclasses.replace(contact, target=str(target.sender))


def _probe_tcp(address: HostPort, timeout: float) -> Contact | None:
    """``None`` when a TCP connection opens; otherwise the UNREACHABLE contact."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return None
    except OSError as exc:
        return Contact(Reach.UNREACHABLE, f"TCP connect to {address}: {exc}")


def _probe_session(target: Target, choice: ClientChoice, settings: Settings
                   ) -> tuple[dict[str, Any], Contact]:
    creds = target.user
    api = choice.make_api(target.sender, timeout=settings.timeout)
    try:
        api.connect()
    except ApiVersionMismatch as exc:
        return {"apiVersion": exc.actual}, Contact(Reach.VERSION_MISMATCH, exc.message)
    except Exception as exc:  # any client's own errors too (the vendor's exception class)
        return {}, Contact(Reach.HANDSHAKE_FAILED, f"{type(exc).__name__}: {exc}")
    try:
        if creds is not None:
            api.server.auth(creds.user, creds.password.reveal() if creds.password else "")
        info = api.server.getServerInfo()
    except (AuthenticationFailed, PermissionDenied) as exc:
        return {}, Contact(Reach.CREDENTIALS_REFUSED, f"{type(exc).__name__}: {exc.message}")
    except (JetStreamQAError, OSError) as exc:
        return {}, Contact(Reach.SESSION, f"after the hello: {type(exc).__name__}: {exc}")
    finally:
        close_all([api])
    return (info if isinstance(info, dict) else {}), Contact(Reach.SESSION)


def unprobed_environment(settings: Settings) -> Environment:
    """The fingerprint when no case reached a server (every field the settings know)."""
    target = "embedded reference pair" if settings.embedded else f"sender {settings.sender}"
    try:
        choice = choose_client(settings.client)
        kind, package = choice.kind.value, choice.origin
    except ConfigurationError:
        kind, package = settings.client, ""
    from jetstream_qa import __version__
    return Environment(clientKind=kind, clientPackage=package, profile=settings.profile,
                       target=target, toolkitVersion=__version__)


_LOGINS = {"user": "--js-user and JETSTREAM_API_PASSWORD",
           "user2": "--js-user2 and JETSTREAM_API_PASSWORD2",
           "superuser": "--js-superuser and JETSTREAM_API_SUPERUSER_PASSWORD"}


def connector(target: Target, choice: ClientChoice, settings: Settings, state: CaseState,
              opened: list[Any], *, contact: Contact | None = None) -> Callable[..., Any]:
    """The ``js_connect`` factory of one case (see the fixture's docstring).

    When the probe could not reach the target at all, connecting to it ends the case at once
    as INCONCLUSIVE (explained) instead of waiting for the same failure again; connections
    to other addresses (``address=``) are made as asked.
    """

    def connect(side: str = "sender", *, login: str | None = "user",
                api_version: int | None = None, timeout: float | str | None = None,
                address: HostPort | None = None, credentials: Credentials | None = None
                ) -> Any:
        if side not in ("sender", "receiver"):
            raise ValueError(f"side must be 'sender' or 'receiver', got {side!r}")
        creds: Credentials | None = credentials
        if creds is None and login is not None:
            if login not in _LOGINS:
                raise ValueError(f"login must be one of {sorted(_LOGINS)} or None")
            creds = getattr(target, login)
            if creds is None and login != "user":
                raise NotApplicableCase(f"no {login} configured ({_LOGINS[login]})")
        where = address or (target.sender if side == "sender" else target.receiver)
        if address is None and where == target.sender and contact is not None \
                and contact.reach is Reach.UNREACHABLE:
            raise Inconclusive(f"not run against the server: {contact.explain()}")
        wait = None if timeout == "client-default" else (timeout or settings.timeout)
        api = choice.make_api(where, timeout=wait,  # type: ignore[arg-type]
                              api_version=api_version)
        state.apis.append(api)
        opened.append(api)
        try:
            api.connect()
        except ApiVersionMismatch:
            raise
        except ServerError as exc:
            raise SessionRefused(f"the server refused the session at the hello: "
                                 f"{type(exc).__name__}: {exc.message}",
                                 details=exc.details) from exc
        if creds is not None:
            api.server.auth(creds.user, creds.password.reveal() if creds.password else "")
        return api

    return connect


def close_all(apis: list[Any]) -> None:
    """Disconnect every API object; a failing disconnect never masks the case's verdict."""
    for api in apis:
        with contextlib.suppress(JetStreamQAError, OSError):
            api.disconnect()


# --- scratch space and file sets --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scratch:
    """Scratch space of one case.

    ``source_dir`` is a fresh local directory the sender reads (``source_server`` is its
    name on the server). ``dest_path`` is a fresh destination-relative path to pass as a
    transfer's ``destinationPath``; ``dest_local`` is where the receiver's files under it
    appear locally (``None`` without ``--js-receiver-root``).
    """

    source_root: StorageRoot | None
    source_dir: Path | None
    dest_path: str
    dest_local: Path | None

    def require_source(self) -> Path:
        """The source dir, or NOT_APPLICABLE when no ``--js-sender-root`` was given."""
        if self.source_dir is None:
            raise NotApplicableCase("no --js-sender-root: the suite cannot stage source files")
        return self.source_dir

    def require_dest(self) -> Path:
        """The local destination dir, or NOT_APPLICABLE without ``--js-receiver-root``."""
        if self.dest_local is None:
            raise NotApplicableCase("no --js-receiver-root: the suite cannot read "
                                    "destination files")
        return self.dest_local

    def server_path(self, local: Path) -> str:
        """The sender's name for a local path under the source dir."""
        if self.source_root is None:
            raise NotApplicableCase("no --js-sender-root")
        return self.source_root.server_path(local)

    @property
    def source_server(self) -> str:
        return self.server_path(self.require_source())

    def cleanup(self) -> None:
        for path in (self.source_dir, self.dest_local):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)


def make_scratch(target: Target, nodeid: str) -> Scratch:
    """Fresh, uniquely named scratch dirs for the case ``nodeid``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", nodeid.rsplit("::", 1)[-1]).strip("-")[:40]
    name = f"{slug}-{secrets.token_hex(4)}"
    source_dir = None
    if target.sender_root is not None:
        source_dir = target.sender_root.local / "jsqa-src" / name
        source_dir.mkdir(parents=True)
    dest_path = f"jsqa-dst/{name}"
    dest_local = target.receiver_root.local / dest_path if target.receiver_root else None
    return Scratch(target.sender_root, source_dir, dest_path, dest_local)


def fileset_factory(scratch: Scratch) -> Callable[..., filesets.BuiltFileSet]:
    """``build(name_or_recipe, subdir=None)``: build a recipe under the scratch source dir."""

    def build(recipe: str | filesets.Recipe, *, subdir: str | None = None
              ) -> filesets.BuiltFileSet:
        if isinstance(recipe, str):
            recipe = filesets.load_recipe(FILESET_DIR / f"{recipe}.json")
        root = scratch.require_source() / (subdir or recipe.name)
        return filesets.build(recipe, root, server_root=scratch.server_path(root))

    return build


# --- reports -----------------------------------------------------------------------------
def attach_evidence(config: Any, report: Any, result: CaseResult) -> None:
    """Add the evidence block to the pytest-html row of a case that did not simply pass."""
    if not config.getoption("htmlpath", None) or result.verdict.value == "PASS":
        return
    from pytest_html import extras

    from jetstream_qa.conformance_core.htmlreport import render_evidence
    report.extras = [*getattr(report, "extras", []), extras.html(render_evidence(
        result.to_dict()))]


def publish_metadata(config: Any, summary: RunSummary) -> None:
    """Put the environment fingerprint into pytest-metadata (pytest-html's Environment)."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is None:
        return
    for key, value in summary.environment.table():
        metadata[f"JetStream {key}"] = value
