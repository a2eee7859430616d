"""Introspection of a client: what exists, found by looking rather than assumed.

- :func:`inner` sees through a recording wrapper (``RecordingApi``) to the client's object.
- :func:`accepts` reads ``inspect.signature``: does a method take this keyword?
- :func:`find_namespace` finds the api attribute that carries a method (the receive side's
  attribute name is not documented).
- :func:`exception_roots` lists the exception classes a package defines, most basic first.
- :func:`resolve_path` reads ``PERMISSIONS.downloads`` style paths in a constants module.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

__all__ = ["WRAPPED", "accepts", "exception_roots", "find_namespace", "import_class", "inner",
           "public_methods", "resolve_path"]

WRAPPED = "__jsqa_wrapped__"
"""Attribute a recording wrapper sets to the object it wraps."""


def inner(obj: Any) -> Any:
    """The client's own object behind any recording wrappers."""
    while True:
        try:
            wrapped = object.__getattribute__(obj, WRAPPED)
        except AttributeError:
            return obj
        obj = wrapped


def accepts(method: Any, keyword: str) -> bool | None:
    """True/False when the signature says whether ``keyword`` is taken; None if unreadable."""
    try:
        params = inspect.signature(inner(method)).parameters
    except (TypeError, ValueError):
        return None
    if keyword in params:
        return params[keyword].kind is not inspect.Parameter.POSITIONAL_ONLY
    return any(p.kind is p.VAR_KEYWORD for p in params.values())


def public_methods(obj: Any) -> list[str]:
    """Names of the public callables of ``obj`` (its class and instance), sorted."""
    target = inner(obj)
    return sorted(n for n in dir(target) if not n.startswith("_")
                  and callable(getattr(target, n, None)))


def find_namespace(api: Any, method: str) -> str | None:
    """The attribute of ``api`` whose object has ``method`` (e.g. 'receive' or 'recv')."""
    target = inner(api)
    names: list[str] = sorted(vars(target)) if hasattr(target, "__dict__") else []
    for name in names:
        if name.startswith("_"):
            continue
        if callable(getattr(inner(getattr(target, name)), method, None)):
            return name
    return None


def exception_roots(package: str) -> tuple[type[BaseException], ...]:
    """Exception classes defined in ``package``'s loaded modules that subclass no other one."""
    found: set[type[BaseException]] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Exception)
                    and value.__module__.split(".")[0] == package):
                found.add(value)
    roots = [c for c in found if not any(o is not c and issubclass(c, o) for o in found)]
    return tuple(sorted(roots, key=lambda c: f"{c.__module__}.{c.__qualname__}"))


def import_class(path: str) -> type[BaseException]:
    """The exception class at dotted ``path`` (``jetstream.errors.JetStreamError``).

    Raises:
        ImportError / AttributeError / TypeError: no such class, or not an exception.
    """
    module_name, _, attr = path.rpartition(".")
    value = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(value, type) and issubclass(value, BaseException)):
        raise TypeError(f"{path} is not an exception class")
    return value


def resolve_path(root: Any, path: str) -> Any:
    """Follow ``A.b.c`` from ``root`` through attributes or mapping keys.

    Raises:
        LookupError: a step is missing.
    """
    value = root
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif hasattr(value, step):
            value = getattr(value, step)
        else:
            raise LookupError(f"{path}: no {step!r}")
    return value
