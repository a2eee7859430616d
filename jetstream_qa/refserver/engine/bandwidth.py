"""Server-wide bandwidth allowances, sans-IO: pure arithmetic over the current limits.

Theory of operation
-------------------
Vendor server guide, "Bandwidth management" (``/work/shared/jetstream-docs/server.md`` 9):
"Server-wide inbound and outbound caps, with optional borrowing of the idle side's
allocation (example: 500 Mbit/s total split 200 in / 300 out; with inbound borrowing
enabled, outbound may use the full 500 while nothing is incoming, and gives it back when an
inbound transfer starts)." Limits are bit/s, ``None`` = unlimited.

- :func:`outgoing_allowance`: the outgoing limit, plus the incoming limit while nothing is
  incoming when ``borrowIncomingRate`` is on.
- :func:`incoming_allowance`: the incoming limit, plus the outgoing limit while nothing is
  outgoing when ``borrowOutgoingRate`` is on.
- :func:`session_cap`: the receiver divides its incoming allowance equally among the sessions
  carrying data and advertises the share to each sender (ACK / OPEN_ACK ``rateCap``,
  ``docs/protocol.md`` 5.6).
- :func:`pacing_rate`: the sender paces at the smallest of its caps.

Ours (the vendor does not say): borrowing lends only a *finite* allocation -- an unlimited
idle side has no allocation to lend, so an unlimited side never turns the other unlimited;
and an unlimited side stays unlimited whatever the other does.
"""

from __future__ import annotations

from typing import Protocol

from jetstream_qa.wire.data import NO_RATE_CAP

__all__ = ["Limits", "incoming_allowance", "outgoing_allowance", "pacing_rate",
           "rate_from_wire", "session_cap"]

MAX_CAP = 2**64 - 1


class Limits(Protocol):
    """What the allowances read (``refserver.state.BandwidthLimits`` satisfies it)."""

    incoming_rate_limit: int | None
    outgoing_rate_limit: int | None
    borrow_incoming_rate: bool
    borrow_outgoing_rate: bool


def _borrowed(own: int | None, other: int | None, *, borrow: bool,
              other_idle: bool) -> float | None:
    if not own:
        return None
    if borrow and other_idle and other:
        return float(own + other)
    return float(own)


def outgoing_allowance(limits: Limits, *, incoming_active: bool) -> float | None:
    """bit/s every sending transfer of this server may use (``None`` = unlimited).

    Args:
        limits: the current limits (``state.bandwidth``).
        incoming_active: whether any receive session carries data now.
    """
    return _borrowed(limits.outgoing_rate_limit, limits.incoming_rate_limit,
                     borrow=limits.borrow_incoming_rate, other_idle=not incoming_active)


def incoming_allowance(limits: Limits, *, outgoing_active: bool) -> float | None:
    """bit/s this server accepts in total from all senders (``None`` = unlimited).

    Args:
        limits: the current limits (``state.bandwidth``).
        outgoing_active: whether any sending transfer of this server is running now.
    """
    return _borrowed(limits.incoming_rate_limit, limits.outgoing_rate_limit,
                     borrow=limits.borrow_outgoing_rate, other_idle=not outgoing_active)


def session_cap(allowance: float | None, sessions: int) -> int:
    """The ``rateCap`` advertised to each of ``sessions`` data-carrying sessions: an equal
    share of ``allowance`` (at least 1 bit/s), or :data:`NO_RATE_CAP` when unlimited.

    Raises:
        ValueError: ``sessions`` below 1 or a non-positive allowance.
    """
    if sessions < 1:
        raise ValueError(f"sessions must be at least 1, not {sessions}")
    if allowance is None:
        return NO_RATE_CAP
    if allowance <= 0:
        raise ValueError(f"allowance must be positive, not {allowance}")
    return min(MAX_CAP, max(1, int(allowance // sessions)))


def rate_from_wire(rate_cap: int) -> float | None:
    """A received ``rateCap`` as a bit/s cap (``None`` for :data:`NO_RATE_CAP`)."""
    return None if rate_cap == NO_RATE_CAP else float(rate_cap)


def pacing_rate(*caps: float | None) -> float | None:
    """The smallest of the caps that are set (``None`` and 0 mean "no cap")."""
    limits = [c for c in caps if c]
    return float(min(limits)) if limits else None
