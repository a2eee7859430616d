"""``jetstream-qa api``: call one API command and print its JSON result.

Mirrors the vendor console (``shared/jetstream-docs/api.md`` 6.1, S14)::

    jetstream-qa api [--host H] [--api-control-port P] [--user U] COMMAND [--param=value ...]

The password comes from ``JETSTREAM_API_PASSWORD``, else from an interactive prompt; it is
never printed. Parameter values are JSON when they parse as JSON, else strings (identifiers
such as ``manifestId`` always stay strings). ``createManifest --fileMappings="/src:/dest"``
is the console's source-first form (Windows drive letters: ``C:\\src::D:\\dest``); it becomes
the Python ``mappings={dest: src}``. The GUI console shortcuts work too (api.md 6.2): ``i``,
``ds``, ``xs``, ``ms``, and ``r N``, ``d ID``, ``x N``, ``m ID``.

Exit status: 0 success, 1 the server answered with an error, 2 usage, 3 transport failure.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Final

from jetstream_qa.client import COMMANDS, JetStream
from jetstream_qa.constants import API_VERSION, DEFAULT_API_PORT, DEFAULT_TIMEOUT_SECONDS
from jetstream_qa.errors import (
    ConfigurationError,
    JetStreamQAError,
    ServerError,
    TransportError,
    UsageError,
)

__all__ = ["HELP", "Call", "add_arguments", "parse_call", "run"]

HELP = "Call one API command on a server and print the JSON result."
PASSWORD_ENV: Final = "JETSTREAM_API_PASSWORD"
EXIT_SERVER, EXIT_USAGE, EXIT_TRANSPORT = 1, 2, 3

_SHORTCUTS: Final = {"i": "getServerInfo", "ds": "send.getDestinations",
                     "xs": "send.getTransfers", "ms": "send.getManifests"}
_ID_SHORTCUTS: Final = {"r": ("getRequestResult", "requestId"),
                        "d": ("send.getDestination", "destinationId"),
                        "x": ("send.getTransfer", "transferId"),
                        "m": ("send.getManifest", "manifestId")}
_STRING_PARAMS: Final = frozenset({
    "manifestId", "destinationId", "destinationAddress", "destinationPublicKey",
    "destinationPath", "user", "password", "token", "description", "path", "objectType"})
"""Identifiers and free text: never JSON-parsed (a manifest id may look like a number)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed console call: the dotted command name and its keyword parameters."""

    command: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise UsageError(f"unknown command {self.command!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``jetstream-qa api`` (they go before the command name, as in the vendor's)."""
    parser.add_argument("--host", default="localhost", help="server host (default localhost)")
    parser.add_argument("--api-control-port", type=int, default=DEFAULT_API_PORT,
                        help=f"API control port (default {DEFAULT_API_PORT})")
    parser.add_argument("--user", help=f"authenticate as USER (password from {PASSWORD_ENV} "
                        "or a prompt)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                        help="connect and request timeout in seconds")
    parser.add_argument("--tls", action="store_true", help="speak TLS on the control channel")
    parser.add_argument("--cafile", help="CA file the server certificate must chain to "
                        "(implies --tls)")
    parser.add_argument("--api-version", type=int, default=API_VERSION,
                        help=f"API version to speak (default {API_VERSION})")
    parser.add_argument("--list-commands", action="store_true",
                        help="print every command with its parameters and exit")
    parser.add_argument("call", nargs=argparse.REMAINDER, metavar="COMMAND [--param=value ...]",
                        help="e.g. getServerInfo, send.getTransfers, "
                             "createManifest --fileMappings=/src:/dest")


# --- parsing the call ------------------------------------------------------------------
def parse_call(tokens: list[str]) -> Call:
    """Turn ``['createManifest', '--fileMappings=/a:/b']`` into a :class:`Call`.

    Raises:
        UsageError: no or unknown command, a malformed ``--param``, a parameter the command
            does not take, or a missing required parameter.
    """
    if not tokens:
        raise UsageError("no command given (try getServerInfo, or --list-commands)")
    head, rest = tokens[0], tokens[1:]
    if head in _ID_SHORTCUTS and rest and not rest[0].startswith("--"):
        command, key = _ID_SHORTCUTS[head]
        rest = [f"--{key}={rest[0]}", *rest[1:]]
    else:
        command = _command_name(head)
    raw = _raw_params(rest)
    params = {key: _value(key, values) for key, values in raw.items()}
    if command == "send.createManifest" and "fileMappings" in params:
        if "mappings" in params:
            raise UsageError("give either --fileMappings or --mappings, not both")
        params["mappings"] = _file_mappings(raw["fileMappings"])
        del params["fileMappings"]
    _check_params(command, params)
    return Call(command, params)


def _command_name(word: str) -> str:
    name = _SHORTCUTS.get(word, word)
    name = name.removeprefix("server.")
    if name not in COMMANDS:
        for prefix in ("send.", "recv."):
            if prefix + name in COMMANDS:
                return prefix + name
        close = difflib.get_close_matches(name, list(COMMANDS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see --list-commands)"
        raise UsageError(f"unknown command {word!r}{hint}")
    return name


def _raw_params(tokens: list[str]) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise UsageError(f"expected --paramName=value, got {token!r}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise UsageError(f"--{key} needs a value (--{key}=VALUE)")
            i += 1
            value = tokens[i]
        raw.setdefault(key, []).append(value)
        i += 1
    for key, values in raw.items():
        if len(values) > 1 and key != "fileMappings":
            raise UsageError(f"--{key} given {len(values)} times")
    return raw


def _value(key: str, values: list[str]) -> Any:
    text = values[-1]
    if key in _STRING_PARAMS:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _file_mappings(values: list[str]) -> dict[str, str]:
    """Console ``SRC:DEST`` (``SRC::DEST`` with drive letters) -> Python ``{dest: src}``."""
    mappings: dict[str, str] = {}
    for value in values:
        items = json.loads(value) if value.startswith("[") else [value]
        for item in items:
            src, sep, dest = str(item).partition("::" if "::" in str(item) else ":")
            if not (sep and src and dest):
                raise UsageError(f"--fileMappings wants SRC:DEST, got {item!r}")
            mappings[dest] = src
    return mappings


def _check_params(command: str, params: dict[str, Any]) -> None:
    spec = COMMANDS[command]
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        takes = ", ".join(spec.params) or "no parameters"
        raise UsageError(f"{command} does not take {', '.join(unknown)} (it takes {takes})")
    missing = [p for p in spec.required if p not in params]
    if missing:
        raise UsageError(f"{command} needs --{' --'.join(missing)}")


# --- running ---------------------------------------------------------------------------
def _password(user: str, host: str) -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise UsageError(f"no password for {user!r}: set {PASSWORD_ENV} (stdin is not a "
                         "terminal, so there is no prompt)")
    return getpass.getpass(f"Password for {user} at {host}: ")


def _invoke(args: argparse.Namespace, call: Call, password: str | None) -> Any:
    api = JetStream().api(args.host, args.api_control_port, args.timeout,
                          tls=args.tls, cafile=args.cafile, api_version=args.api_version)
    spec = COMMANDS[call.command]
    with api:
        if args.user:
            api.server.auth(args.user, password or "")
        method = getattr(getattr(api, spec.namespace), spec.method)
        return method(**call.params)


def _list_commands() -> None:
    for name, spec in COMMANDS.items():
        opts = " ".join([f"--{p}" for p in spec.required] + [f"[--{p}]" for p in spec.optional])
        print(f"{name} {opts}".rstrip())


def _fail(error: JetStreamQAError, password: str | None) -> int:
    code = str(error.details.get("code", error.code)) if type(error) is ServerError \
        else error.code
    message = error.message.replace(password, "***") if password else error.message
    print(f"error: {code}: {message}", file=sys.stderr)
    if isinstance(error, UsageError | ConfigurationError):
        return EXIT_USAGE
    return EXIT_TRANSPORT if isinstance(error, TransportError) else EXIT_SERVER


def run(args: argparse.Namespace) -> int:
    """Parse the call, connect, authenticate if ``--user``, call, print; see module doc."""
    if args.list_commands:
        _list_commands()
        return 0
    password: str | None = None
    try:
        call = parse_call(list(args.call))
        if args.user:
            password = _password(args.user, args.host)
        result = _invoke(args, call, password)
    except JetStreamQAError as error:
        return _fail(error, password)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
