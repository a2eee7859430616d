"""Small helpers shared by the handler modules."""

from __future__ import annotations

from jetstream_qa.errors import InvalidArgument

__all__ = ["MAX_WAIT_SECONDS", "check_range", "wait_seconds"]

MAX_WAIT_SECONDS = 3600.0
"""``waitFor*`` and ``getRequestResult`` timeouts are capped here (protocol.md 3.2)."""


def wait_seconds(timeout: float | None, *, name: str = "timeout") -> float:
    """A wait timeout in seconds: default and cap 3600; negative is InvalidArgument."""
    if timeout is None:
        return MAX_WAIT_SECONDS
    if timeout < 0:
        raise InvalidArgument(f"{name} must be >= 0", details={"param": name})
    return min(float(timeout), MAX_WAIT_SECONDS)


def check_range(name: str, value: float | None, low: float, high: float | None = None) -> None:
    """InvalidArgument unless ``low <= value <= high`` (None passes)."""
    if value is None:
        return
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidArgument(f"{name} must be {bound}, got {value}",
                              details={"param": name, "value": value})
