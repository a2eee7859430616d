"""Failed-login throttling: an increasing delay per (peer address, user), like a real server.

The vendor authenticates through PAM (``jetstream-docs/server.md`` section 5: "OS-integrated
auth: PAM on Linux/macOS"), and PAM stacks delay a failed login (``pam_faildelay``); the docs
say nothing about JetStream's own policy, so this is the reference server's choice (OURS; the
conformance case ``auth/hardening/failed-logins-slowed`` records other servers' behaviour as
INFO).

Policy: the first failure of a (peer, user) pair costs nothing (a typo); each later
consecutive failure makes the *next* attempt of that pair wait ``BASE_DELAY_S * 2**(n-2)``
seconds, capped at ``MAX_DELAY_S``. A success resets the pair. Attempts of one pair are
serialised by an asyncio lock, so pipelining many ``auth`` requests on one connection or
spreading them over many connections does not bypass the wait; other pairs and other sessions
never wait (nothing here blocks the event loop). Pairs idle for ``FORGET_AFTER_S`` are dropped
and at most ``MAX_PAIRS`` are kept, so the table cannot grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

__all__ = ["BASE_DELAY_S", "MAX_DELAY_S", "LoginThrottle", "delay_after"]

BASE_DELAY_S: Final = 0.025
MAX_DELAY_S: Final = 2.0
FORGET_AFTER_S: Final = 900.0
MAX_PAIRS: Final = 10_000


def delay_after(failures: int) -> float:
    """Seconds the next attempt waits after ``failures`` consecutive failures."""
    if failures < 2:
        return 0.0
    return float(min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(failures - 2, 16)))


@dataclass(slots=True)
class _Pair:
    failures: int = 0
    not_before: float = 0.0
    last: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LoginThrottle:
    """Per (peer, user) failure counts and the wait they impose (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pairs: dict[tuple[str, str], _Pair] = {}

    @asynccontextmanager
    async def attempt(self, peer: str, user: str) -> AsyncIterator[_Pair]:
        """Hold the pair's turn: wait out its delay, then let the caller check the password
        and call :meth:`failed` or :meth:`succeeded` before leaving the block."""
        pair = self._pair(peer, user)
        async with pair.lock:
            wait = pair.not_before - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            yield pair

    def failed(self, pair: _Pair) -> int:
        """Count a failure; returns the pair's consecutive failures."""
        pair.failures += 1
        pair.last = self._clock()
        pair.not_before = pair.last + delay_after(pair.failures)
        return pair.failures

    def succeeded(self, pair: _Pair) -> None:
        """Reset the pair after a successful login."""
        pair.failures, pair.not_before, pair.last = 0, 0.0, self._clock()

    def failures(self, peer: str, user: str) -> int:
        """Consecutive failures currently counted for the pair (0 when unknown)."""
        pair = self._pairs.get((peer, user))
        return pair.failures if pair else 0

    def _pair(self, peer: str, user: str) -> _Pair:
        key = (peer, user)
        pair = self._pairs.get(key)
        if pair is None:
            self._forget()
            pair = self._pairs[key] = _Pair(last=self._clock())
        return pair

    def _forget(self) -> None:
        now = self._clock()
        stale = [k for k, p in self._pairs.items()
                 if now - p.last > FORGET_AFTER_S and not p.lock.locked()]
        for key in stale:
            del self._pairs[key]
        while len(self._pairs) >= MAX_PAIRS:
            oldest = min(self._pairs, key=lambda k: self._pairs[k].last)
            del self._pairs[oldest]
