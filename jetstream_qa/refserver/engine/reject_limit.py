"""How often a receiver answers with REJECT, sans-IO: a token bucket over REJECT datagrams.

A REJECT goes out in clear to whatever address sent the refused datagram (``docs/protocol.md``
5.2), so unanswerable garbage could make a receiver reflect traffic at a third party. Ours
(the vendor does not say): at most :data:`RATE` REJECTs a second with a burst of
:data:`BURST`; an answer to a well-formed OPEN (busy, too many sessions) is never held back,
since its sender is waiting for it and retries only at its own pace.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BURST", "RATE", "RejectLimiter"]

RATE: Final = 100.0
"""REJECTs per second, sustained."""
BURST: Final = 100.0
"""REJECTs that may go at once after a quiet spell."""


class RejectLimiter:
    """The REJECT budget of one receiver (see the module docstring); times are passed in."""

    __slots__ = ("_at", "_budget")

    def __init__(self) -> None:
        self._budget = BURST
        self._at = 0.0

    def allow(self, now: float, *, force: bool = False) -> bool:
        """Whether a REJECT may go at ``now``; it is counted against the budget unless
        ``force`` (an answer to a well-formed OPEN, always sent)."""
        self._budget = min(BURST, self._budget + (now - self._at) * RATE)
        self._at = now
        if force:
            return True
        if self._budget < 1:
            return False
        self._budget -= 1
        return True
