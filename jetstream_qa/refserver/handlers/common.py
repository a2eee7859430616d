"""Small helpers shared by the handler modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver.context import Context

__all__ = ["MAX_WAIT_SECONDS", "check_range", "json_when", "visible_json", "wait_seconds"]

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


class _Reported(Protocol):
    owner: str
    owner_token: str | None

    def to_json(self) -> dict[str, Any]: ...


def visible_json(ctx: Context, records: Iterable[_Reported], *, leak: str) -> list[dict[str, Any]]:
    """``to_json()`` of the ``records`` the caller may see, in order (every one of them while
    fault ``leak`` is on)."""
    return [r.to_json() for r in ctx.state.visible(records, ctx.who(leak=leak))]


async def json_when(ctx: Context, record: _Reported, done: Callable[[], bool],
                    timeout: float | None) -> dict[str, Any]:
    """``record.to_json()`` once ``done()`` holds, or as it is when ``timeout`` (capped by
    :func:`wait_seconds`) passes."""
    await ctx.app.waiter.wait_for(done, wait_seconds(timeout))
    return record.to_json()
