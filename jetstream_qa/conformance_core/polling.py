"""Poll with a deadline: the one wait loop every verifier uses (never a bare sleep).

:func:`poll` calls ``probe()`` until ``done(value)`` holds or the deadline passes, sleeping a
growing interval (20 ms doubling to 250 ms) but never past the deadline. Exceptions from the
probe propagate: a transport error mid-wait is the environment's failure, not a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["PollResult", "poll"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PollResult(Generic[T]):
    """The last value seen, whether ``done`` held for it, and the seconds waited."""

    value: T
    satisfied: bool
    waited_s: float


def poll(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float,
         interval: float = 0.02, max_interval: float = 0.25) -> PollResult[T]:
    """Call ``probe`` until ``done(value)`` or ``timeout`` seconds pass (at least once).

    Raises:
        ValueError: a negative timeout or a non-positive interval.
    """
    if timeout < 0 or interval <= 0:
        raise ValueError(f"bad poll timeout {timeout!r} / interval {interval!r}")
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = probe()
        if done(value):
            return PollResult(value, True, time.monotonic() - start)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return PollResult(value, False, time.monotonic() - start)
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, max_interval)
