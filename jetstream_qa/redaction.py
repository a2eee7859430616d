"""Every secret the process knows, and the one function that scrubs them from any output.

Theory of operation. Secrets (passwords, API tokens) enter a run in few places: the
environment (``JETSTREAM_API_PASSWORD`` ...), the settings resolved from it, the users of an
embedded server, and tokens a server hands out. Each of those places calls :func:`register`.
Every sink we write to (the terminal, pytest's tracebacks and captured output, pytest-html,
JUnit, the conformance JSON, Locust's outputs and ``load.json``, the review) passes its text
through :func:`scrub` (or :func:`scrub_value` for JSON-ready data), so a secret is removed
whoever put it there: our own parameters or a server echoing the password in an error, a
result or its hello (DESIGN.md: "Secrets never appear in reports or logs").

A secret is matched in the forms a report writes it in: raw, inside a Python ``repr`` (str or
bytes), inside a JSON string (ASCII-escaped or not), HTML/XML-escaped, and HTML-escaped JSON
(pytest-html keeps its data as escaped JSON in an attribute). Values shorter than
:data:`MIN_SECRET_LEN` are not registered: scrubbing ``"abc"`` from every text would mangle
words and prove nothing.

:class:`Credential` is the client-side holder: a ``str`` that is sent as itself (JSON encodes
its characters) but whose ``repr``/``str``/``format`` show ``'***'``, so tracebacks that print
the locals of a call frame (pytest's default for the failing frame, and ``--showlocals``) show
no password. The registry is process-wide and thread-safe; it only grows.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MIN_LEARNT_LEN", "MIN_SECRET_LEN", "REDACTED", "Credential", "ScrubbingFilter",
           "register", "register_from_environment", "scrub", "scrub_exception",
           "scrub_value"]

REDACTED: Final = "***"
MIN_SECRET_LEN: Final = 4
MIN_LEARNT_LEN: Final = 8
"""Shortest value a :class:`Credential` registers by itself (see there)."""
_ENV_SECRET_NAME: Final = re.compile(r"^JETSTREAM_\w*(PASSWORD|PASSWD|SECRET|TOKEN)\w*$")
"""Environment variables whose value is a secret (``JETSTREAM_API_PASSWORD``, ``..._TOKEN``)."""

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _forms(secret: str) -> set[str]:
    """The spellings of ``secret`` that outputs produce (see the module docstring)."""
    json_ascii = json.dumps(secret)[1:-1]
    json_raw = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1],
             json_ascii, json_raw}
    forms |= {html.escape(f, quote=q) for f in list(forms) for q in (True, False)}
    forms.add(html.escape(secret).replace("&#x27;", "&apos;"))
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def register(*secrets: str | None) -> None:
    """Remember ``secrets`` so that :func:`scrub` removes them from then on.

    ``None``, empty and short values (under :data:`MIN_SECRET_LEN` characters) are ignored.
    """
    global _pattern
    fresh = {str.__str__(s) for s in secrets if s and len(s) >= MIN_SECRET_LEN}
    with _lock:
        if fresh <= _secrets:
            return
        _secrets.update(fresh)
        words = set().union(*(_forms(s) for s in _secrets))
        ordered = sorted(words, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(w) for w in ordered))


def register_from_environment(env: Mapping[str, str] | None = None) -> None:
    """Register the values of the ``JETSTREAM_*PASSWORD*/SECRET/TOKEN`` variables of ``env``
    (default: ``os.environ``)."""
    env = os.environ if env is None else env
    register(*(value for name, value in env.items() if _ENV_SECRET_NAME.match(name)))


def scrub(text: str) -> str:
    """``text`` with every spelling of every registered secret replaced by ``'***'``."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str) or not text:
        return text
    return pattern.sub(REDACTED, text)


def scrub_value(value: Any) -> Any:
    """A copy of JSON-ready ``value`` (dicts, lists, tuples, strings...) with every string,
    keys included, passed through :func:`scrub`; other objects are returned unchanged."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_value(v) for v in value)
    return value


class _RedactedError(Exception):
    """Stands in for an exception that could not be copied without its secret."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self._name = name

    def __repr__(self) -> str:
        return f"{self._name}({str(self)!r})"


def _leaks(exc: BaseException) -> bool:
    return scrub(repr(exc)) != repr(exc) or scrub(str(exc)) != str(exc)


def scrub_exception(exc: BaseException | None) -> BaseException | None:
    """``exc`` itself when neither its ``str`` nor its ``repr`` holds a secret; else a copy
    with its ``args`` (and a ``message``/``details`` attribute) scrubbed, of the same class
    when that works, so consumers that name the error by its class still can."""
    if exc is None or not _leaks(exc):
        return exc
    try:
        clone = copy.copy(exc)
        clone.args = tuple(scrub_value(a) for a in exc.args)
        for attr in ("message", "details"):
            if hasattr(clone, attr):
                setattr(clone, attr, scrub_value(getattr(clone, attr)))
        if not _leaks(clone):
            return clone
    except Exception:  # an exotic exception class: fall back to a plain stand-in
        pass
    return _RedactedError(type(exc).__name__, scrub(str(exc)))


class ScrubbingFilter(logging.Filter):
    """A logging filter that scrubs the formatted message and any traceback of a record;
    attach it to a handler (``handler.addFilter(ScrubbingFilter())``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text), None
        return True


class Credential(str):
    """A secret string: sent as itself, shown as ``'***'``.

    JSON encoding and comparisons see the real characters (it is a ``str``); ``repr``,
    ``str()``, ``format`` and f-strings show ``***``. Creating one registers the value when it
    has at least :data:`MIN_LEARNT_LEN` characters (a deliberately wrong ``"wrong"`` sent by a
    test must not erase that word from every later message; configured passwords are
    registered where they are configured, from :data:`MIN_SECRET_LEN`).
    :meth:`reveal` returns the plain string for the one place that must send it.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Credential:
        if not isinstance(value, str):
            raise TypeError(f"a credential is a string, got {type(value).__name__}")
        if len(value) >= MIN_LEARNT_LEN:
            register(value)
        return super().__new__(cls, value)

    def reveal(self) -> str:
        """The secret as a plain ``str``."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return repr(REDACTED)

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return format(REDACTED, spec)
