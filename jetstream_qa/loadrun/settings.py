"""Load-test settings: the ``--js-*`` Locust options resolved once into a frozen value.

Locust habits are kept: the sender is ``--host jetstream://HOST:8886`` (``jetstream://`` may be
left out), the receiver ``--js-receiver jetstream://HOST:8886``, the user ``--js-user`` and the
password only ever from ``JETSTREAM_API_PASSWORD`` (never a command-line option, so it stays
out of ``ps`` and Locust's own reports). No ``--host`` means: start the embedded reference pair.

:func:`add_arguments` declares the options (called from Locust's ``init_command_line_parser``);
:func:`settings_from_options` resolves them once; a bad value raises
:class:`~jetstream_qa.errors.ConfigurationError` naming the value and the option.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jetstream_qa.constants import DEFAULT_API_PORT
from jetstream_qa.errors import ConfigurationError
from jetstream_qa.loadstats.thresholds import Check, parse_check

__all__ = ["PASSWORD_ENV", "SHAPES", "Address", "LoadSettings", "add_arguments",
           "parse_address", "resolve_warmup", "settings_from_options"]

PASSWORD_ENV: Final = "JETSTREAM_API_PASSWORD"
USER_ENV: Final = "JETSTREAM_API_USER"
BINDING_ENV: Final = "JETSTREAM_BINDING"
SHAPES: Final = ("none", "step", "spike", "soak")
CLIENT_KINDS: Final = ("auto", "bundled", "vendor")
_ADDRESS_RE: Final = re.compile(r"^(?:jetstream://)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\[\]]+))"
                                r"(?::(?P<port>\d{1,5}))?/?$")


@dataclass(frozen=True, slots=True)
class Address:
    """A host and API port; ``str()`` gives ``jetstream://host:port``."""

    host: str
    port: int = DEFAULT_API_PORT

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port <= 65535:
            raise ValueError(f"bad address {self.host!r}:{self.port}")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"jetstream://{host}:{self.port}"


def parse_address(value: str, *, option: str) -> Address:
    """Parse ``jetstream://HOST:PORT`` (scheme and port optional, IPv6 in brackets).

    Raises:
        ConfigurationError: not of that form; the message names ``option`` and the value.
    """
    match = _ADDRESS_RE.match(value.strip())
    port = int(match["port"]) if match and match["port"] else DEFAULT_API_PORT
    if match is None or not 0 < port <= 65535:
        raise ConfigurationError(f"invalid {option} {value!r}: expected jetstream://HOST:PORT",
                                 details={"option": option, "value": value})
    return Address(match["v6"] or match["host"], port)


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """Everything the load adapter needs; validated on construction.

    ``sender`` None means the embedded pair is started (and ``receiver`` must be None too).
    ``password`` is excluded from ``repr`` and from :meth:`public`.
    """

    sender: Address | None = None
    receiver: Address | None = None
    user: str = "qa"
    password: str = field(default="", repr=False)
    source_dir: str | None = None
    dest_path: str = "jsqa-load"
    scale: float = 1.0
    batch: int = 8
    shape: str = "none"
    loss: float = 0.0
    delay_ms: float = 0.0
    seed: int = 1
    report: str = "reports/load.json"
    checks: tuple[Check, ...] = ()
    api_rate: float = 20.0
    client: str = "auto"
    timeout: float = 10.0
    transfer_timeout: float = 600.0
    window_s: float = 1.0
    keep: bool = False
    warmup_s: float | None = None
    """``--js-warmup``: seconds after the first transfer start left out of the measured
    window; None = automatic (the spawn time, users / spawn rate, at least 1 s, then the
    transient the MSER-5 rule detects, :mod:`jetstream_qa.loadstats.window`)."""
    fileset_cache: str | None = None
    """Where generated file sets are kept for reuse (None: no cache)."""
    binding: str | None = None
    """``--js-binding``: the vendor client's binding file (default ``$JETSTREAM_BINDING``;
    the bundled client needs none), docs/staging.md."""

    def __post_init__(self) -> None:
        if self.sender is None and self.receiver is not None:
            raise ConfigurationError("invalid --js-receiver: give --host for the sender too "
                                     "(without --host the embedded pair is used)")
        for name in ("scale", "api_rate", "timeout", "transfer_timeout", "window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"invalid --js-{name.replace('_', '-')} {value!r}: "
                                         "expected a positive number")
        if not 0.0 <= self.loss < 1.0:
            raise ConfigurationError(f"invalid --js-loss {self.loss!r}: expected 0 <= loss < 1")
        if self.warmup_s is not None and not (math.isfinite(self.warmup_s)
                                              and self.warmup_s >= 0):
            raise ConfigurationError(f"invalid --js-warmup {self.warmup_s!r}: expected "
                                     "seconds >= 0")
        if self.delay_ms < 0 or self.batch < 1:
            raise ConfigurationError("invalid --js-delay-ms/--js-batch: must be >= 0 / >= 1")
        if (self.loss or self.delay_ms) and self.sender is not None:
            raise ConfigurationError("invalid --js-loss/--js-delay-ms: impairment needs the "
                                     "embedded pair (no --host)")
        if self.shape not in SHAPES or self.client not in CLIENT_KINDS:
            raise ConfigurationError(f"invalid --js-shape {self.shape!r} or --js-client "
                                     f"{self.client!r}")

    @property
    def embedded(self) -> bool:
        """True when the embedded reference pair is the target."""
        return self.sender is None

    @property
    def impaired(self) -> bool:
        """True when an impairment relay sits between the pair."""
        return bool(self.loss or self.delay_ms)

    def public(self) -> dict[str, Any]:
        """Secret-free settings for reports."""
        return {"sender": str(self.sender) if self.sender else "embedded",
                "receiver": str(self.receiver) if self.receiver else None,
                "user": self.user, "scale": self.scale, "batch": self.batch,
                "shape": self.shape, "client": self.client, "destPath": self.dest_path,
                "binding": self.binding,
                "checks": [c.expr for c in self.checks]}


def add_arguments(parser: Any) -> None:
    """Declare the ``--js-*`` options on Locust's parser (``init_command_line_parser``)."""
    group = parser.add_argument_group("jetstream-qa", "JetStream load options (password: "
                                      f"${PASSWORD_ENV}; no --host = embedded pair)")
    add = group.add_argument
    add("--js-receiver", default=None, help="receiving server, jetstream://HOST:PORT")
    add("--js-user", default=None, help=f"API user (default ${USER_ENV} or 'qa')")
    add("--js-source-dir", default=None, help="where file sets are generated (sender side)")
    add("--js-dest-path", default="jsqa-load", help="destinationPath prefix on the receiver")
    add("--js-scale", type=float, default=1.0, help="scale file-set sizes (e.g. 0.01 in CI)")
    add("--js-batch", type=int, default=8, help="small files per transfer")
    add("--js-shape", choices=SHAPES, default="none", help="load shape (uses -u/-r/-t)")
    add("--js-loss", type=float, default=0.0, help="datagram loss 0..1 (embedded relay)")
    add("--js-delay-ms", type=float, default=0.0, help="one-way delay in ms (embedded relay)")
    add("--js-seed", type=int, default=1, help="seed of file sets and impairment")
    add("--js-report", default="reports/load.json", help="where reports/load.json goes")
    add("--js-check", action="append", default=[], metavar="EXPR",
        help="threshold, repeatable: 'goodput >= 200MiB/s', 'p95(API getServerInfo) < 5ms'")
    add("--js-api-rate", type=float, default=20.0, help="API-storm calls/s per user")
    add("--js-client", choices=CLIENT_KINDS, default="auto", help="vendor or bundled client")
    add("--js-timeout", type=float, default=10.0, help="API request timeout, s")
    add("--js-transfer-timeout", type=float, default=600.0, help="transfer wait limit, s")
    add("--js-window", type=float, default=None,
        help="time-series window, s (default 1; 10 with --js-shape soak)")
    add("--js-warmup", type=float, default=None, metavar="SECONDS",
        help="seconds after the first transfer start left out of the measured window "
             "(default: the spawn time, users / spawn rate, at least 1 s, plus the "
             "transient the MSER-5 rule detects)")
    add("--js-fileset-cache", default=None, metavar="DIR",
        help="keep generated file sets here for reuse by runs with the same seed and scale "
             "(default: TMPDIR/jsqa-filesets-UID; 'off' = generate per run)")
    add("--js-binding", default=None, metavar="FILE",
        help=f"binding file of the vendor client (default ${BINDING_ENV}; docs/staging.md)")
    add("--js-keep", action="store_true",
        help="keep the embedded pair's directory (sources, destinations, logs) afterwards")


def settings_from_options(options: argparse.Namespace | Any,
                          environ: Mapping[str, str] | None = None) -> LoadSettings:
    """Resolve Locust's parsed options (plus the environment) into :class:`LoadSettings`.

    Raises:
        ConfigurationError: a bad value; the message names the value and its option.
    """
    env = os.environ if environ is None else environ
    host = getattr(options, "host", None) or None
    receiver = getattr(options, "js_receiver", None)
    sender_addr = parse_address(host, option="--host") if host else None
    receiver_addr = parse_address(receiver, option="--js-receiver") if receiver else None
    try:
        return LoadSettings(
            sender=sender_addr,
            receiver=receiver_addr if receiver_addr else sender_addr,
            user=options.js_user or env.get(USER_ENV) or "qa",
            password=env.get(PASSWORD_ENV, ""),
            source_dir=options.js_source_dir, dest_path=options.js_dest_path,
            scale=options.js_scale, batch=options.js_batch, shape=options.js_shape,
            loss=options.js_loss, delay_ms=options.js_delay_ms, seed=options.js_seed,
            report=options.js_report,
            checks=tuple(parse_check(expr) for expr in options.js_check),
            api_rate=options.js_api_rate, client=options.js_client, timeout=options.js_timeout,
            transfer_timeout=options.js_transfer_timeout,
            window_s=options.js_window or (10.0 if options.js_shape == "soak" else 1.0),
            keep=bool(getattr(options, "js_keep", False)),
            warmup_s=getattr(options, "js_warmup", None),
            fileset_cache=_fileset_cache(getattr(options, "js_fileset_cache", None)),
            binding=getattr(options, "js_binding", None) or env.get(BINDING_ENV) or None,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid jetstream-qa load option: {exc}") from exc


def _fileset_cache(value: str | None) -> str | None:
    if value is None:
        return os.path.join(tempfile.gettempdir(), f"jsqa-filesets-{os.getuid()}")
    return None if value.strip().lower() in ("off", "none", "") else value


def resolve_warmup(settings: LoadSettings, *, users: int | None,
                   spawn_rate: float | None) -> float:
    """``--js-warmup``, or automatically the spawn time (``users / spawn_rate``, at least
    1 s): until every user runs, goodput still climbs."""
    if settings.warmup_s is not None:
        return settings.warmup_s
    if users and spawn_rate and spawn_rate > 0:
        return max(1.0, float(users) / float(spawn_rate))
    return 1.0
