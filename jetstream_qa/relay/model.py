"""Sans-IO impairment core of the relay: per-datagram decisions and the reorder buffer.

Theory of operation
-------------------
An :class:`ImpairmentModel` handles one direction of traffic. Each arriving datagram costs
exactly four draws from its own ``random.Random`` (seeded from the relay seed and the direction
name), so the decisions for the k-th datagram of a direction depend only on the seed and k,
not on timing or on the other direction. A datagram is then:

- dropped with probability ``loss``;
- else sent twice with probability ``duplicate``;
- else held back with probability ``reorder``, when nothing is held already. A held datagram
  goes out right after the next datagram that is forwarded, or when ``hold_ms`` expire;
- delayed by ``delay_ms`` plus a uniform jitter in ``[-jitter_ms, +jitter_ms]``, never below
  zero. Jitter alone can reorder, as with netem.

The model returns ``(due_time, payload)`` pairs and never sends anything. Payloads are opaque,
so the shell can attach addresses, and the tests can use sequence numbers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Generic, TypeVar

from jetstream_qa.errors import ConfigurationError

__all__ = ["Decision", "DirectionStats", "Impairment", "ImpairmentModel"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Impairment:
    """Impairment settings, shared by both directions.

    Raises:
        ConfigurationError: a probability outside [0, 1] or a negative / non-finite time.
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    hold_ms: float = 10.0
    """How long a reordered datagram waits for a successor before it is released anyway."""

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigurationError(f"--{name} {value!r} is not a probability in [0, 1]")
        for name in ("delay_ms", "jitter_ms", "hold_ms"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"{name} {value!r} must be a finite number >= 0")

    @property
    def active(self) -> bool:
        """False when every datagram passes through untouched (the shell's fast path)."""
        return any((self.loss, self.duplicate, self.reorder, self.delay_ms, self.jitter_ms))


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one datagram."""

    drop: bool
    copies: int
    hold: bool
    delay_s: float


@dataclass(slots=True)
class DirectionStats:
    """Counters of one direction (``forwarded`` counts every copy sent, duplicates too)."""

    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__slots__}


class ImpairmentModel(Generic[T]):
    """One direction's decisions and reorder buffer; see the module docstring."""

    def __init__(self, impairment: Impairment, *, seed: int, direction: str) -> None:
        self.impairment = impairment
        self.direction = direction
        self.stats = DirectionStats()
        self._rng = random.Random(f"jetstream-qa relay {seed} {direction}")
        self._held: tuple[float, float, list[T]] | None = None
        """(release deadline, due time, payload copies) of the datagram held back."""

    def decide(self) -> Decision:
        """Draw the next datagram's decision (always four draws, in a fixed order)."""
        imp = self.impairment
        r_loss, r_dup, r_reorder, r_jitter = (self._rng.random() for _ in range(4))
        delay = imp.delay_ms + imp.jitter_ms * (2.0 * r_jitter - 1.0)
        return Decision(
            drop=r_loss < imp.loss,
            copies=2 if r_dup < imp.duplicate else 1,
            hold=r_reorder < imp.reorder,
            delay_s=max(0.0, delay) / 1000.0,
        )

    def on_datagram(self, payload: T, now: float) -> list[tuple[float, T]]:
        """Feed one arriving datagram; return what to send and when (due time, payload)."""
        stats = self.stats
        stats.received += 1
        decision = self.decide()
        if decision.drop:
            stats.dropped += 1
            return []
        copies = [payload] * decision.copies
        if decision.copies > 1:
            stats.duplicated += 1
        if decision.delay_s > 0:
            stats.delayed += 1
        due = now + decision.delay_s
        if decision.hold and self._held is None:
            stats.reordered += 1
            self._held = (now + self.impairment.hold_ms / 1000.0, due, copies)
            return []
        out = [(due, p) for p in copies]
        if self._held is not None:
            _, held_due, held = self._held
            self._held = None
            out.extend((max(due, held_due), p) for p in held)
        stats.forwarded += len(out)
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must be called next (the held datagram's hold expiry)."""
        return None if self._held is None else self._held[0]

    def on_timer(self, now: float) -> list[tuple[float, T]]:
        """Release the held datagram if its hold expired."""
        if self._held is None or now < self._held[0]:
            return []
        _, due, held = self._held
        self._held = None
        self.stats.forwarded += len(held)
        return [(max(now, due), p) for p in held]

    def held_count(self) -> int:
        """Datagram copies currently held back (discarded if the relay stops now)."""
        return 0 if self._held is None else len(self._held[2])
