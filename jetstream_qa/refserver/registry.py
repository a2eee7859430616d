"""Command registry: handlers register by decorator with a declared signature.

A handler is ``async def handler(ctx, *, param: type = default, ...)``; its keyword-only
parameters ARE the command's parameters (``docs/protocol.md`` section 3: "Parameters are the
Python keyword names"). :func:`command` records the signature once; :func:`call` checks the
request's params against it before the handler runs:

- an unknown parameter, a missing required one, or a value of the wrong JSON type is
  ``InvalidArgument`` naming the parameter (protocol.md 2.6: "catches typos in suites");
- ``bool`` is never accepted for ``int``; ``int`` is accepted for ``float``.

Commands whose name ends in ``Async`` are queued by the connection layer (protocol.md 2.5).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from jetstream_qa.errors import InvalidArgument

__all__ = ["COMMANDS", "Command", "Param", "call", "command", "lookup"]

Handler = Callable[..., Coroutine[Any, Any, Any]]
_JSON_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean",
               dict: "object", list: "array", type(None): "null"}


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: its JSON types and whether it must be given."""

    name: str
    types: tuple[type, ...]
    required: bool

    def check(self, value: Any) -> None:
        """Raises InvalidArgument when ``value`` is not one of :attr:`types`."""
        for kind in self.types:
            if kind is type(None) and value is None:
                return
            if kind is int and isinstance(value, int) and not isinstance(value, bool):
                return
            if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                return
            if kind in (str, bool, dict, list) and isinstance(value, kind):
                return
        wanted = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in self.types)
        raise InvalidArgument(f"parameter {self.name!r} must be {wanted}",
                              details={"param": self.name, "expected": wanted})


@dataclass(frozen=True, slots=True)
class Command:
    """A registered command: name, handler, declared params and access rules."""

    name: str
    handler: Handler
    params: dict[str, Param]
    auth: bool = True
    """Needs an authenticated session (all but auth/authAsync/authToken/getServerInfo)."""
    superuser: bool = False
    """Needs an elevated session (``superuser()`` called by a superuser)."""

    @property
    def is_async(self) -> bool:
        """Queued as a request record; the response is ``{requestId}`` (protocol.md 2.5)."""
        return self.name.endswith("Async")


COMMANDS: dict[str, Command] = {}


def _types_of(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(t for arg in typing.get_args(annotation) for t in _types_of(arg))
    if origin is not None:
        return (origin,)
    if annotation is None:
        return (type(None),)
    if annotation is Any:
        return (int, float, str, bool, dict, list, type(None))
    return (annotation,)


def _params_of(handler: Handler) -> dict[str, Param]:
    hints = typing.get_type_hints(handler)
    params: dict[str, Param] = {}
    for p in inspect.signature(handler).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        params[p.name] = Param(p.name, _types_of(hints[p.name]),
                               p.default is inspect.Parameter.empty)
    return params


def command(name: str, *, auth: bool = True, superuser: bool = False
            ) -> Callable[[Handler], Handler]:
    """Register the decorated handler as command ``name``.

    Raises:
        ValueError: ``name`` is registered twice (a programming error, found at import).
    """
    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} registered twice")
        COMMANDS[name] = Command(name, handler, _params_of(handler), auth, superuser)
        return handler
    return register


def lookup(name: str) -> Command:
    """The command called ``name``. Raises InvalidArgument with ``details.command``."""
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise InvalidArgument(f"unknown command {name!r}", details={"command": name})
    return cmd


def check_params(cmd: Command, params: dict[str, Any]) -> None:
    """Validate ``params`` against ``cmd``'s declared signature (see module docstring)."""
    for key in params:
        if key not in cmd.params:
            raise InvalidArgument(f"{cmd.name}: unknown parameter {key!r}",
                                  details={"command": cmd.name, "param": key})
    for param in cmd.params.values():
        if param.name in params:
            param.check(params[param.name])
        elif param.required:
            raise InvalidArgument(f"{cmd.name}: missing parameter {param.name!r}",
                                  details={"command": cmd.name, "param": param.name})


async def call(cmd: Command, ctx: Any, params: dict[str, Any]) -> Any:
    """Check ``params`` and run the handler with them."""
    check_params(cmd, params)
    return await cmd.handler(ctx, **params)
