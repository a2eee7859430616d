"""Waiting for state changes without polling loops in handlers (``waitFor*`` commands).

:class:`ChangeWaiter` is a state listener: every change wakes every waiter, which re-checks
its own predicate. Waiters also re-check every ``recheck`` seconds, so a record changed
without notification (an engine updating a record directly) is still noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["ChangeWaiter"]


class ChangeWaiter:
    """Wakes coroutines waiting in :meth:`wait_for` when the state changes."""

    def __init__(self, *, recheck: float = 0.25) -> None:
        self._futures: set[asyncio.Future[None]] = set()
        self._recheck = recheck

    def notify(self, kind: str = "", record: Any = None) -> None:
        """State listener: wake every waiter."""
        futures, self._futures = self._futures, set()
        for fut in futures:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true or ``timeout`` seconds pass; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            fut: asyncio.Future[None] = loop.create_future()
            self._futures.add(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, min(remaining, self._recheck))
            self._futures.discard(fut)
        return True
