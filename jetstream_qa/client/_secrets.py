"""Credentials in the bundled client: held so that no traceback shows them, and registered
so that no output does (:mod:`jetstream_qa.redaction`).

- :func:`guard` wraps every secret parameter (any key naming a password/secret, and the
  ``token`` of the token commands) in a :class:`~jetstream_qa.redaction.Credential` before the
  call goes further, so the ``params`` locals of every frame below print ``'***'``.
- :func:`learn` registers the tokens a server hands out (``createAPIToken``...).
- :func:`server_error` builds the exception for a server's error reply with the server's
  text scrubbed: a server that echoes the password in its message does not get it into ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jetstream_qa.client._calllog import is_secret_param
from jetstream_qa.errors import ServerError, error_for_code
from jetstream_qa.redaction import Credential, register, scrub, scrub_value

__all__ = ["guard", "learn", "server_error"]


def guard(command: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` whose secret string values are :class:`Credential` objects."""
    return {key: _held(command, key, value) for key, value in params.items()}


def _held(command: str, key: str, value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Credential) \
            and is_secret_param(command, key):
        return Credential(value)
    return value


def learn(command: str, result: Any) -> None:
    """Register the token values in the result of a token command."""
    if not is_secret_param(command, "token"):
        return
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("token"), str):
            register(item["token"])


def server_error(code: str, message: str, details: dict[str, Any] | None) -> ServerError:
    """:func:`~jetstream_qa.errors.error_for_code` with the server's text scrubbed."""
    return error_for_code(code, scrub(message), scrub_value(details))
