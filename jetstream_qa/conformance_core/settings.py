"""Settings of a conformance run, resolved once into a frozen :class:`Settings`.

Theory of operation
-------------------
:data:`OPTIONS` is the one table of options: the CLI flag, ini key, environment variable,
default and parser of each. The pytest plugin declares flags and ini keys from it; this module
never imports pytest. :func:`resolve` takes three plain mappings (CLI values that were given,
the environment, ini values that were set) and applies ONE precedence, CLI > env > ini >
default; per-case markers then come on top through :meth:`Settings.with_overrides`
(marker > CLI > env > ini > default). A bad value raises :class:`ConfigurationError` naming the
option, the value and where it came from::

    invalid --js-timeout 'abc' from JETSTREAM_TIMEOUT: expected a positive number of seconds

Passwords come only from the environment (``JETSTREAM_API_PASSWORD`` ...) and are held as
:class:`~jetstream_qa.conformance_core.setting_values.Secret`, whose ``repr``/``str`` never show
the value (settings objects appear in tracebacks and reports); the typed values
(``Secret``, ``HostPort``, ``StorageRoot``) live in ``setting_values.py``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.capture.source import CaptureSource
from jetstream_qa.conformance_core.setting_values import HostPort, Secret, StorageRoot
from jetstream_qa.constants import API_VERSION, DEFAULT_TIMEOUT_SECONDS
from jetstream_qa.errors import ConfigurationError

__all__ = ["OPTIONS", "PASSWORD_ENV", "OptionSpec", "Settings", "resolve"]

PASSWORD_ENV = {
    "password": "JETSTREAM_API_PASSWORD",
    "password2": "JETSTREAM_API_PASSWORD2",
    "superuser_password": "JETSTREAM_API_SUPERUSER_PASSWORD",
}
"""Secret settings and the ONLY place each comes from (never a flag: flags end up in logs)."""


# --- value parsers: each raises ValueError with the reason --------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a positive number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("expected a positive number of seconds")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer") from None


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text
    return parse


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _workers(text: str) -> int | str:
    word = text.strip().lower()
    if word == "auto":
        return "auto"
    if word.isdigit():
        return int(word)
    raise ValueError("expected 'auto' or a number of workers (0: serial)")


def _globs(text: str) -> tuple[str, ...]:
    globs = tuple(g for g in text.replace(",", " ").split() if g)
    for g in globs:
        fnmatch.translate(g)
    return globs


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a non-empty value")
    return text.strip()


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One setting: where it can come from and how its text is parsed."""

    name: str
    flag: str
    ini: str
    env: str
    help: str
    parse: Callable[[str], Any]
    default: Any = None
    metavar: str = "VALUE"
    kind: str = "store"
    """argparse action: ``store``, ``store_true`` or ``append``."""


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("sender", "--js-sender", "js_sender", "JETSTREAM_SENDER",
               "server under test, HOST[:PORT] (API port default 8886); none = embedded pair",
               HostPort.parse, metavar="HOST[:PORT]"),
    OptionSpec("receiver", "--js-receiver", "js_receiver", "JETSTREAM_RECEIVER",
               "receiving server HOST[:PORT] (default: the sender itself)",
               HostPort.parse, metavar="HOST[:PORT]"),
    OptionSpec("receiver_data", "--js-receiver-data", "js_receiver_data",
               "JETSTREAM_RECEIVER_DATA",
               "receiver's UDP data address HOST:PORT when it differs from its API host",
               lambda t: HostPort.parse(t, default_port=None), metavar="HOST:PORT"),
    OptionSpec("user", "--js-user", "js_user", "JETSTREAM_API_USER",
               "API user (password only from env JETSTREAM_API_PASSWORD)", _text, metavar="USER"),
    OptionSpec("user2", "--js-user2", "js_user2", "JETSTREAM_API_USER2",
               "second ordinary user for ownership cases (password: JETSTREAM_API_PASSWORD2)",
               _text, metavar="USER"),
    OptionSpec("superuser", "--js-superuser", "js_superuser", "JETSTREAM_API_SUPERUSER",
               "superuser (password: JETSTREAM_API_SUPERUSER_PASSWORD)", _text, metavar="USER"),
    OptionSpec("timeout", "--js-timeout", "js_timeout", "JETSTREAM_TIMEOUT",
               "connect/request timeout in seconds (default 10)", _positive_float,
               default=float(DEFAULT_TIMEOUT_SECONDS), metavar="SECONDS"),
    OptionSpec("client", "--js-client", "js_client", "JETSTREAM_CLIENT",
               "API client: vendor package 'jetstream', bundled, or auto (vendor if importable)",
               _choice("auto", "vendor", "bundled"), default="auto", metavar="auto|vendor|bundled"),
    OptionSpec("binding", "--js-binding", "js_binding", "JETSTREAM_BINDING",
               "binding file (TOML) mapping what the vendor docs leave unnamed onto the vendor "
               "package (see docs/staging.md)", lambda t: Path(_text(t)), metavar="FILE"),
    OptionSpec("api_version", "--js-api-version", "js_api_version", "JETSTREAM_API_VERSION",
               "apiVersion the server must report (default 40)", _int, default=API_VERSION,
               metavar="N"),
    OptionSpec("sender_root", "--js-sender-root", "js_sender_root", "JETSTREAM_SENDER_ROOT",
               "local dir where source files may be staged for the sender, LOCAL[=SERVERPATH]",
               StorageRoot.parse, metavar="LOCAL[=SERVER]"),
    OptionSpec("receiver_root", "--js-receiver-root", "js_receiver_root",
               "JETSTREAM_RECEIVER_ROOT",
               "local dir where the receiver's files can be read, LOCAL[=SERVERPATH]",
               StorageRoot.parse, metavar="LOCAL[=SERVER]"),
    OptionSpec("profile", "--js-profile", "js_profile", "JETSTREAM_PROFILE",
               "quick (default) or full (slow cases too, e.g. the real 10 s connect timeout)",
               _choice("quick", "full"), default="quick", metavar="quick|full"),
    OptionSpec("strict", "--js-strict", "js_strict", "JETSTREAM_STRICT",
               "SHOULD counts as MUST: NON_STRICT verdicts fail the run", _bool, default=False,
               kind="store_true"),
    OptionSpec("allow_inconclusive", "--js-allow-inconclusive", "js_allow_inconclusive",
               "JETSTREAM_ALLOW_INCONCLUSIVE",
               "exit 0 despite INCONCLUSIVE verdicts (the server could not be judged: "
               "unreachable before any session, local disk full)", _bool, default=False,
               kind="store_true"),
    OptionSpec("case_globs", "--js-case", "js_case", "JETSTREAM_CASE",
               "run only cases whose id matches GLOB (repeatable, e.g. 'handshake/*')",
               _globs, default=(), metavar="GLOB", kind="append"),
    OptionSpec("list_cases", "--js-list-cases", "js_list_cases", "JETSTREAM_LIST_CASES",
               "list case ids and requirements without running them", _bool, default=False,
               kind="store_true"),
    OptionSpec("expectations", "--js-expectations", "js_expectations", "JETSTREAM_EXPECTATIONS",
               "expectation file (JSON, or YAML with PyYAML): case id -> expected verdict",
               lambda t: Path(_text(t)), metavar="FILE"),
    OptionSpec("capture", "--js-capture", "js_capture", "JETSTREAM_CAPTURE",
               "where packet cases capture the data plane: iface:NAME (a local interface on "
               "the path), cmd:'COMMAND' (writes a pcap stream to stdout, e.g. ssh HOST "
               "tcpdump -U -w - ...) or file:PATH (a capture written meanwhile)",
               CaptureSource.parse, metavar="iface:NAME|cmd:CMD|file:PATH"),
    OptionSpec("workers", "--js-workers", "js_workers", "JETSTREAM_WORKERS",
               "run cases concurrently on N pytest-xdist workers (auto: by CPU count; 0: "
               "serial); default auto for the embedded pair, serial for a given target",
               _workers, metavar="N|auto"),
    OptionSpec("serial", "--js-serial", "js_serial", "JETSTREAM_SERIAL",
               "run the cases one after the other in this process (same as --js-workers 0)",
               _bool, default=False, kind="store_true"),
    OptionSpec("report_json", "--js-report-json", "js_report_json", "JETSTREAM_REPORT_JSON",
               "JSON summary path (default reports/conformance.json)", lambda t: Path(_text(t)),
               default=Path("reports/conformance.json"), metavar="PATH"),
)

_BY_NAME = {spec.name: spec for spec in OPTIONS}
_RUN_WIDE = ("list_cases", "case_globs", "workers", "serial")
"""Settings of the whole run, never per case (a marker naming one is refused)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a run, validated; ``sources`` says where each value came from."""

    sender: HostPort | None = None
    receiver: HostPort | None = None
    receiver_data: HostPort | None = None
    user: str | None = None
    password: Secret | None = None
    user2: str | None = None
    password2: Secret | None = None
    superuser: str | None = None
    superuser_password: Secret | None = None
    timeout: float = float(DEFAULT_TIMEOUT_SECONDS)
    client: str = "auto"
    binding: Path | None = None
    api_version: int = API_VERSION
    sender_root: StorageRoot | None = None
    receiver_root: StorageRoot | None = None
    profile: str = "quick"
    strict: bool = False
    allow_inconclusive: bool = False
    case_globs: tuple[str, ...] = ()
    list_cases: bool = False
    expectations: Path | None = None
    report_json: Path = Path("reports/conformance.json")
    capture: CaptureSource | None = None
    workers: int | str | None = None
    serial: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def embedded(self) -> bool:
        """True when no target was given: the suite runs the embedded reference pair."""
        return self.sender is None

    @property
    def effective_receiver(self) -> HostPort | None:
        """The receiving server's API address (the sender itself unless given)."""
        return self.receiver or self.sender

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str) -> Settings:
        """A copy with per-case values (a marker) on top: marker > CLI > env > ini > default.

        Values may be text (parsed like the option) or already of the right type.

        Raises:
            ConfigurationError: unknown setting or bad value, naming ``source``.
        """
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            spec = _BY_NAME.get(name)
            if spec is None or name in _RUN_WIDE:
                raise ConfigurationError(f"unknown setting {name!r} from {source}",
                                         details={"source": source})
            changes[name] = _parse(spec, value, source) if isinstance(value, str) else value
        if "timeout" in changes:
            changes["timeout"] = _parse(_BY_NAME["timeout"], str(changes["timeout"]), source)
        sources = {**self.sources, **{name: source for name in changes}}
        return dataclasses.replace(self, **changes, sources=sources)

    def describe(self) -> dict[str, str]:
        """Secret-free text of each setting and its source (for reports and errors)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            shown = "***" if isinstance(value, Secret) else str(value)
            out[f.name] = f"{shown} ({self.sources.get(f.name, 'default')})"
        return out


def _parse(spec: OptionSpec, text: str, source: str) -> Any:
    try:
        return spec.parse(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid {spec.flag} {text!r} from {source}: {exc}",
            details={"option": spec.flag, "value": text, "source": source},
        ) from None


def resolve(cli: Mapping[str, Any], env: Mapping[str, str], ini: Mapping[str, str]) -> Settings:
    """Resolve every option once: CLI > environment > ini > default.

    Args:
        cli: option name -> value for flags that were GIVEN (text, list of text for
            ``append`` options, True for ``store_true``).
        env: the process environment (only ``JETSTREAM_*`` keys are read).
        ini: ini key -> text for keys that were set (empty text counts as unset).

    Raises:
        ConfigurationError: a bad value; the message names option, value and source.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in OPTIONS:
        raw = cli.get(spec.name)
        if raw is not None and raw != []:
            source = spec.flag
            if spec.kind == "append":
                values[spec.name] = tuple(
                    g for item in raw for g in _parse(spec, item, source))
            elif spec.kind == "store_true":
                values[spec.name] = bool(raw)
            else:
                values[spec.name] = _parse(spec, raw, source)
        elif env.get(spec.env, "") != "":
            source = spec.env
            values[spec.name] = _parse(spec, env[spec.env], source)
        elif ini.get(spec.ini, "") != "":
            source = f"ini {spec.ini}"
            values[spec.name] = _parse(spec, ini[spec.ini], source)
        else:
            continue
        sources[spec.name] = source
    for name, var in PASSWORD_ENV.items():
        if env.get(var):
            values[name] = Secret(env[var])
            sources[name] = var
    return Settings(**values, sources=sources)
