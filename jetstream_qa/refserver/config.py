"""Reference-server configuration: one frozen, self-validating :class:`ServerConfig`.

Options mirror the vendor's ``jetstream server`` flags where they exist (server primer:
``--api-port``, ``--recv-port``, ``--api-host``, ``--api-allow-remote-control``,
``--persistent-state-dir``, ``--superuser``, ``--incoming-rate-limit`` ...); the rest are ours
(``--user``, ``--password-file``, ``--min-cipher``, ``--fault`` ...). :func:`add_arguments`
declares them all; :func:`config_from_args` resolves them once. A bad value raises
:class:`ConfigurationError` naming the value and the option. Passwords are kept out of
``repr()``.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.constants import MinCipher
from jetstream_qa.errors import ConfigurationError, InvalidArgument
from jetstream_qa.refserver.sandbox import normalise_mapping

__all__ = ["ServerConfig", "add_arguments", "config_from_args", "parse_user", "read_password_file"]

_FAULT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _bad(option: str, value: object, why: str) -> ConfigurationError:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return ConfigurationError(f"invalid {option} '{value}': {why}",
                              details={"option": option, "value": str(value)})


def _check_port(option: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _bad(option, value, "expected a port number 0..65535 (0 = any free port)")


def _check_positive(option: str, value: float | int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _bad(option, value, "expected a positive number")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything one reference server needs to start; validated on construction.

    ``users`` maps user name to password and is excluded from ``repr``. ``faults`` holds
    the names given with ``--fault``; :meth:`has_fault` tests one.
    """

    storage_root: Path
    state_dir: Path
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    superusers: frozenset[str] = frozenset()
    api_host: str = "127.0.0.1"
    api_port: int = 8886
    recv_host: str = "127.0.0.1"
    recv_port: int = 8886
    min_cipher: MinCipher = MinCipher.NONE
    tls: bool = False
    allow_remote_control: bool = True
    max_connections: int = 256
    handshake_timeout: float = 5.0
    idle_timeout: float = 300.0
    max_frame: int = 1 << 20
    faults: frozenset[str] = frozenset()
    incoming_rate_limit: int | None = None
    outgoing_rate_limit: int | None = None
    borrow_incoming_rate: bool = False
    borrow_outgoing_rate: bool = False
    persistent_state: bool = True
    request_expiry: float = 300.0
    """Seconds a finished async request record is kept (``docs/protocol.md`` 2.5)."""
    gc_interval_seconds: int = 3600
    gc_max_age_seconds: int = 48 * 3600
    api_tokens: bool = True
    server_name: str = "jetstream-qa-ref"
    external_address: str | None = None
    max_datagram: int | None = None
    """UDP datagram payload bytes; None = 1,400 (wire size) everywhere, loopback included."""
    udp_offload: str = "auto"
    """``auto``: GSO/GRO batching where the kernel has it; ``off``: one datagram per call."""
    open_give_up: float = 60.0
    """Seconds a sender retries OPEN against a silent receiver before the transfer errs."""
    sandbox_dir: str | None = None
    """``--sandbox-dir``: every user's sandbox (placeholders allowed, e.g. ``/home/%u``), a
    path below the storage root; the same as ``setSandboxMapping("", {"": path})``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage_root", Path(self.storage_root))
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "users", dict(self.users))
        object.__setattr__(self, "superusers", frozenset(self.superusers))
        object.__setattr__(self, "faults", frozenset(self.faults))
        _check_port("--api-port", self.api_port)
        _check_port("--recv-port", self.recv_port)
        for option, host in (("--api-host", self.api_host), ("--recv-host", self.recv_host)):
            if not isinstance(host, str) or not host:
                raise _bad(option, host, "expected a host name or IP address")
        self._check_users()
        try:
            object.__setattr__(self, "min_cipher", MinCipher(self.min_cipher))
        except ValueError:
            raise _bad("--min-cipher", self.min_cipher, "expected 0..3") from None
        self._check_numbers()
        for name in self.faults:
            if not name or not set(name) <= _FAULT_CHARS:
                raise _bad("--fault", name, "fault names are lowercase words with - _ .")

    def _check_users(self) -> None:
        for name, password in self.users.items():
            if not name or ":" in name or not name.isprintable():
                raise _bad("--user", name, "user names are printable and contain no ':'")
            if not password:
                raise ConfigurationError(f"invalid --user {name!r}: empty password",
                                         details={"option": "--user", "value": name})
        for name in self.superusers:
            if name not in self.users:
                raise _bad("--superuser", name, "not a configured user (--user/--password-file)")

    def _check_numbers(self) -> None:
        if isinstance(self.max_connections, bool) or not isinstance(self.max_connections, int) \
                or self.max_connections < 1:
            raise _bad("--max-connections", self.max_connections, "expected an integer >= 1")
        _check_positive("--handshake-timeout", self.handshake_timeout)
        _check_positive("--idle-timeout", self.idle_timeout)
        _check_positive("--request-expiry", self.request_expiry)
        _check_positive("--incoming-rate-limit", self.incoming_rate_limit, allow_none=True)
        _check_positive("--outgoing-rate-limit", self.outgoing_rate_limit, allow_none=True)
        _check_positive("--gc-interval", self.gc_interval_seconds)
        _check_positive("--gc-max-age", self.gc_max_age_seconds)
        if not isinstance(self.max_frame, int) or not 1024 <= self.max_frame <= (1 << 30):
            raise _bad("--max-frame", self.max_frame, "expected bytes in 1024..2**30")
        if self.max_datagram is not None and (
                isinstance(self.max_datagram, bool) or not isinstance(self.max_datagram, int)
                or not 576 <= self.max_datagram <= 65507):
            raise _bad("--max-datagram", self.max_datagram, "expected bytes in 576..65507")
        _check_positive("--open-give-up", self.open_give_up)
        if self.sandbox_dir is not None:
            try:
                normalise_mapping({"": self.sandbox_dir})
            except InvalidArgument as exc:
                raise _bad("--sandbox-dir", self.sandbox_dir, exc.message) from None
        if self.udp_offload not in ("auto", "off"):
            raise _bad("--udp-offload", self.udp_offload, "expected auto or off")

    def has_fault(self, name: str) -> bool:
        """True when fault ``name`` was switched on with ``--fault``."""
        return name in self.faults

    @property
    def rate_limits_fixed(self) -> bool:
        """Bandwidth limits given on the command line cannot be changed through the API."""
        return (self.incoming_rate_limit is not None or self.outgoing_rate_limit is not None
                or self.borrow_incoming_rate or self.borrow_outgoing_rate)

    def check_password(self, user: str, password: str) -> bool:
        """Constant-time check of ``user``'s password; False for unknown users."""
        import hmac

        expected = self.users.get(user)
        if expected is None:
            hmac.compare_digest(password.encode(), password.encode())
            return False
        return hmac.compare_digest(expected.encode(), password.encode())


# --- command line --------------------------------------------------------------------------
def parse_user(text: str, *, option: str = "--user") -> tuple[str, str]:
    """``NAME:PASSWORD`` -> (name, password). Raises ConfigurationError (value not echoed)."""
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise ConfigurationError(f"invalid {option} value for {name or '?'!r}: "
                                 "expected NAME:PASSWORD", details={"option": option})
    return name, password


def read_password_file(path: str) -> dict[str, str]:
    """Read ``NAME:PASSWORD`` lines (blank lines and ``#`` comments skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _bad("--password-file", path, exc.strerror or str(exc)) from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                name, password = parse_user(line, option="--password-file")
            except ConfigurationError:
                raise _bad("--password-file", f"{path}:{number}",
                           "expected NAME:PASSWORD on every line") from None
            users[name] = password
    return users


def _number(option: str, text: str | None, kind: type) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise _bad(option, text, f"expected {'an integer' if kind is int else 'a number'}") \
            from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every server option on ``parser`` (values are validated by
    :func:`config_from_args`, so errors name option and value the same way everywhere)."""
    g = parser.add_argument_group("addresses")
    g.add_argument("--api-host", default="127.0.0.1")
    g.add_argument("--api-port", default="8886", help="TCP control port (0 = any free port)")
    g.add_argument("--recv-host", default="127.0.0.1")
    g.add_argument("--recv-port", default="8886", help="UDP receive port (0 = any free port)")
    g.add_argument("--storage-root", required=True, help="every received file lands under it")
    g.add_argument("--state-dir", required=True, help="persistent state, keys, TLS cert")
    g.add_argument("--sandbox-dir", default=None, metavar="PATH",
                   help="sandbox every user below PATH inside the storage root (%%u = user)")
    g.add_argument("--server-name", default="jetstream-qa-ref")
    g.add_argument("--external-address", default=None)
    a = parser.add_argument_group("users and security")
    a.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    a.add_argument("--password-file", default=None, help="lines of NAME:PASSWORD")
    a.add_argument("--superuser", action="append", default=[], metavar="NAME")
    a.add_argument("--min-cipher", default="0", help="0 none, 1 authenticated, 2 AES-128, 3 256")
    a.add_argument("--tls", action="store_true", help="TLS on the control port")
    a.add_argument("--allow-remote-control", action=argparse.BooleanOptionalAction,
                   default=True, help="accept control connections from non-loopback peers")
    a.add_argument("--disable-api-tokens", action="store_true")
    lim = parser.add_argument_group("limits")
    lim.add_argument("--max-connections", default="256")
    lim.add_argument("--handshake-timeout", default="5", help="seconds (default 5)")
    lim.add_argument("--idle-timeout", default="300", help="seconds (default 300)")
    lim.add_argument("--max-frame", default=str(1 << 20), help="bytes per request frame")
    lim.add_argument("--request-expiry", default="300", help="seconds async results are kept")
    lim.add_argument("--incoming-rate-limit", default=None, help="bit/s")
    lim.add_argument("--outgoing-rate-limit", default=None, help="bit/s")
    lim.add_argument("--borrow-incoming-rate", action="store_true")
    lim.add_argument("--borrow-outgoing-rate", action="store_true")
    lim.add_argument("--persistent-state", action=argparse.BooleanOptionalAction, default=True)
    lim.add_argument("--max-datagram", default=None,
                     help="UDP payload bytes (default 1400, loopback included; up to 65507)")
    lim.add_argument("--udp-offload", default="auto", choices=("auto", "off"),
                     help="batch datagrams with Linux UDP GSO/GRO where available (auto), "
                          "or send and receive one per system call (off)")
    lim.add_argument("--open-give-up", default="60",
                     help="seconds to retry OPEN against a silent receiver (default 60)")
    lim.add_argument("--gc-interval", default="3600", help="seconds between garbage collections")
    lim.add_argument("--gc-max-age", default=str(48 * 3600), help="seconds finished objects live")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[,NAME]",
                        help="switch on deliberate defects (self-tests of the suites)")


def _faults(values: Iterable[str]) -> frozenset[str]:
    """Fault names of ``--fault`` values; unknown names are refused by ``faults``."""
    from jetstream_qa.refserver.faults import parse_faults

    return frozenset(parse_faults(list(values)).names)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Resolve parsed options into a :class:`ServerConfig`.

    Raises:
        ConfigurationError: a value is malformed or out of range (names option and value).
    """
    users: dict[str, str] = {}
    if args.password_file:
        users.update(read_password_file(args.password_file))
    for item in args.user:
        name, password = parse_user(item)
        users[name] = password
    return ServerConfig(
        storage_root=Path(args.storage_root), state_dir=Path(args.state_dir),
        users=users, superusers=frozenset(args.superuser),
        api_host=args.api_host, api_port=_number("--api-port", args.api_port, int),
        recv_host=args.recv_host, recv_port=_number("--recv-port", args.recv_port, int),
        min_cipher=_number("--min-cipher", args.min_cipher, int), tls=args.tls,
        allow_remote_control=args.allow_remote_control,
        max_connections=_number("--max-connections", args.max_connections, int),
        handshake_timeout=_number("--handshake-timeout", args.handshake_timeout, float),
        idle_timeout=_number("--idle-timeout", args.idle_timeout, float),
        max_frame=_number("--max-frame", args.max_frame, int),
        request_expiry=_number("--request-expiry", args.request_expiry, float),
        faults=_faults(args.fault),
        incoming_rate_limit=_number("--incoming-rate-limit", args.incoming_rate_limit, int),
        outgoing_rate_limit=_number("--outgoing-rate-limit", args.outgoing_rate_limit, int),
        borrow_incoming_rate=args.borrow_incoming_rate,
        borrow_outgoing_rate=args.borrow_outgoing_rate,
        persistent_state=args.persistent_state,
        gc_interval_seconds=_number("--gc-interval", args.gc_interval, int),
        gc_max_age_seconds=_number("--gc-max-age", args.gc_max_age, int),
        api_tokens=not args.disable_api_tokens, server_name=args.server_name,
        external_address=args.external_address,
        max_datagram=_number("--max-datagram", args.max_datagram, int),
        udp_offload=args.udp_offload,
        open_give_up=_number("--open-give-up", args.open_give_up, float),
        sandbox_dir=args.sandbox_dir,
    )


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback peers."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback
