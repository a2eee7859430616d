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
from typing import Any, Final

from jetstream_qa.errors import ServerError, error_for_code
from jetstream_qa.redaction import Credential, register, scrub, scrub_value

__all__ = ["guard", "is_secret_param", "learn", "server_error"]

_SECRET_WORDS: Final = ("password", "secret", "passphrase", "credential")
_TOKEN_COMMANDS: Final = frozenset({"authToken", "createAPIToken", "getAPIToken",
                                    "getAPITokens", "deleteAPIToken"})
"""Commands whose ``token`` parameter or result member is a credential (protocol.md 3.1)."""


def is_secret_param(command: str, key: str) -> bool:
    """True when parameter ``key`` of ``command`` is a credential."""
    lowered = key.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return True
    return key == "token" and command.rpartition(".")[2] in _TOKEN_COMMANDS


def guard(command: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` whose secret string values are :class:`Credential` objects."""
    return {key: Credential(value) if isinstance(value, str) and not isinstance(
                value, Credential) and is_secret_param(command, key) else value
            for key, value in params.items()}


def learn(command: str, result: Any) -> None:
    """Register the token values in the result of a token command."""
    if command.rpartition(".")[2] not in _TOKEN_COMMANDS:
        return
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("token"), str):
            register(item["token"])


def server_error(code: str, message: str, details: dict[str, Any] | None) -> ServerError:
    """:func:`~jetstream_qa.errors.error_for_code` with the server's text scrubbed."""
    return error_for_code(code, scrub(message), scrub_value(details))
