"""Secret redaction for everything the review writes (JSON, HTML, baselines, summaries).

Two passes over a JSON-ready value: (1) any object member whose key looks like a secret
(password, passwd, secret, token, api key, credential, private key, authorization) has its
value replaced by :data:`REDACTED`; the values so removed are remembered; (2) every string
anywhere in the document has each remembered value, and each extra secret the caller names
(e.g. the value of ``JETSTREAM_API_PASSWORD``), replaced by :data:`REDACTED`, so a secret
echoed in an error message or an API-call trace is scrubbed too; (3) every secret the
process has registered (:mod:`jetstream_qa.redaction`: passwords from the environment, tokens
a client learnt) is scrubbed the same way. Keys that are not
identifiers (case ids such as ``auth/password/3`` used as keys) are data, never secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jetstream_qa.redaction import register_from_environment, scrub_value

__all__ = ["REDACTED", "is_secret_key", "redact"]

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)|secret|token|api[_-]?key|credential|private[_-]?key|"
    r"authorization|cookie|session[_-]?key)",
    re.IGNORECASE,
)
_NOT_SECRET = re.compile(r"(count|ratio|expir|lifetime|has[_-]?|enabled|required)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
"""Only identifier-like keys name settings; case ids (``auth/password/3``) and request names
(``api getToken``) used as keys are data, not secrets."""
_MIN_SECRET_LEN = 4
"""Shorter caller-named secrets are not scrubbed from free text (would mangle other words)."""
_MIN_FOUND_LEN = 6
"""Values found under secret keys are scrubbed from free text only from this length (a value
like ``none`` or ``***`` under a ``token`` key must not erase that word everywhere)."""


def is_secret_key(key: str) -> bool:
    """True when an object member named ``key`` holds a secret.

    Keys that only describe a secret (``tokenCount``, ``passwordRequired``, ``hasApiTokens``)
    are not secrets themselves.
    """
    return (
        bool(_IDENTIFIER.match(key))
        and bool(_SECRET_KEY.search(key))
        and not _NOT_SECRET.search(key)
    )


def _strip_keys(value: Any, found: set[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and is_secret_key(k) and v not in (None, "", [], {}):
                if isinstance(v, str):
                    found.add(v)
                out[k] = REDACTED
            else:
                out[k] = _strip_keys(v, found)
        return out
    if isinstance(value, list | tuple):
        return [_strip_keys(v, found) for v in value]
    return value


def _scrub(value: Any, pattern: re.Pattern[str] | None) -> Any:
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {_scrub(k, pattern): _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, pattern) for v in value]
    return value


def redact(value: Any, *, secrets: Iterable[str | None] = ()) -> Any:
    """Return a copy of the JSON-ready ``value`` with every secret replaced.

    Args:
        value: dicts, lists, strings, numbers, booleans, None.
        secrets: extra secret values to scrub from every string (None/short values ignored).

    Returns:
        A new value; ``value`` is not modified.
    """
    found: set[str] = set()
    stripped = _strip_keys(value, found)
    words_set = {s for s in found if len(s) >= _MIN_FOUND_LEN}
    words_set.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LEN)
    words = sorted(words_set, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None
    register_from_environment()
    return scrub_value(_scrub(stripped, pattern))
