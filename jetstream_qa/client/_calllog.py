"""The last N API calls of one :class:`~jetstream_qa.client.Api`, secrets redacted.

Conformance reports show "the API calls that led there" (DESIGN.md, Conformance suites), so
every call leaves a :class:`CallRecord`: command, parameters with every password, secret and
credential token replaced by ``'***'``, outcome and duration. ``str(record)`` is the line a
report prints. Results are summarised by their identifying fields only, never stored whole
(a ``createAPIToken`` result is itself a credential).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["REDACTED", "CallLog", "CallRecord", "is_secret_param", "redact",
           "summarise_result"]

REDACTED: Final = "***"
_SECRET_WORDS: Final = ("password", "secret", "passphrase", "credential")
_TOKEN_COMMANDS: Final = frozenset({"authToken", "createAPIToken", "getAPIToken",
                                    "getAPITokens", "deleteAPIToken"})
"""Commands whose ``token`` parameter or result member is a credential (an API token logs
in: protocol.md 3.1)."""
_SUMMARY_KEYS: Final = ("requestId", "manifestId", "destinationId", "transferId", "status",
                        "apiVersion", "serverId")


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def is_secret_param(command: str, key: str) -> bool:
    """True when parameter ``key`` of ``command`` is a credential: any key naming a password
    or secret, and the ``token`` of the token commands."""
    return _is_secret(key) or (key == "token" and command.rpartition(".")[2] in _TOKEN_COMMANDS)


def redact(command: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``params`` safe to log.

    Any key naming a password/secret (at any depth) and the credential parameters of
    ``command`` (the ``token`` of the token commands) are replaced by ``'***'``.
    """
    return {key: REDACTED if is_secret_param(command, key) else _scrub(value)
            for key, value in params.items()}


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if _is_secret(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def summarise_result(result: Any) -> str:
    """A short, secret-free description of a result: its identifying fields, or its kind."""
    if result is None:
        return "null"
    if isinstance(result, dict):
        picked = [f"{k}={result[k]!r}" for k in _SUMMARY_KEYS if k in result]
        return "{" + ", ".join(picked) + "}" if picked else f"object({len(result)} keys)"
    if isinstance(result, list):
        return f"list({len(result)})"
    if isinstance(result, bool | int | float):
        return repr(result)
    return type(result).__name__


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call: ``outcome`` is ``'ok'`` or the error code; ``detail`` says more."""

    command: str
    params: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"
    detail: str = ""
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.command or not self.outcome:
            raise ValueError("a call record needs a command and an outcome")
        if self.duration_s < 0:
            raise ValueError(f"negative duration {self.duration_s}")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        tail = f" {self.detail}" if self.detail else ""
        return (f"{self.command}({args}) -> {self.outcome}{tail} "
                f"[{self.duration_s * 1000:.1f} ms]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (params already redacted)."""
        return {"command": self.command, "params": self.params, "outcome": self.outcome,
                "detail": self.detail, "durationS": self.duration_s}


class CallLog:
    """A bounded, ordered record of the most recent calls (oldest dropped first)."""

    def __init__(self, *, maxlen: int = 50) -> None:
        if maxlen < 1:
            raise ValueError(f"call log size must be >= 1, got {maxlen}")
        self._records: deque[CallRecord] = deque(maxlen=maxlen)

    def add(self, record: CallRecord) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def lines(self) -> list[str]:
        """Each record as one report line, oldest first."""
        return [str(r) for r in self._records]

    @property
    def maxlen(self) -> int:
        return self._records.maxlen or 0

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> CallRecord:
        return self._records[index]
