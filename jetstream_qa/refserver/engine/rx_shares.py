"""What one receiver shares among its sessions, sans-IO: receive window, ACK cadence, rate.

Theory of operation
-------------------
A receiver has one receive buffer (``window`` datagrams, sized by the shell from the socket
buffer) and one incoming bandwidth allowance (``engine/bandwidth.py``); both are divided among
the sessions that still carry data (``docs/protocol.md`` 5.5-5.6):

- *live* sessions -- in META or DATA state of a transfer that is still receiving -- share the
  window: each is granted ``max(4, window / (live + 1))`` (one share kept free for a session
  that joins) and acknowledges every ``max(2, window / (16 x live))`` DATA datagrams
  (:func:`ack_cadence`: more often while the session starts up);
- *sending* sessions -- live and heard from within :data:`RATE_ACTIVE` seconds -- share the
  allowance: each is advertised ``allowance / sending`` as its ``rateCap``; a suspended sender
  stops holding a share once it falls silent.

Finished sessions that only linger to answer FIN (5.7) take no share. :meth:`Shares.refresh`
recounts; the endpoint calls it when sessions come and go and on every tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from jetstream_qa.refserver.engine.bandwidth import session_cap
from jetstream_qa.refserver.engine.receiver_model import RxSession, RxState

__all__ = ["RATE_ACTIVE", "Shares", "ack_cadence"]

RATE_ACTIVE: Final = 1.0
"""Seconds since a session's last datagram during which it counts as carrying data (ours)."""


def ack_cadence(shared: int, received: int) -> int:
    """DATA datagrams between ACKs of a session that has received ``received`` of them: the
    shared cadence, but during start-up every ``max(2, received / 16)``, so a sender's window
    grows each round trip instead of each 5 ms ACK tick (measured: with only the shared
    cadence of 512, a 1 MiB transfer took 36 ms, seven ticks of window growth)."""
    return min(shared, max(2, received >> 4))


def _live(s: RxSession) -> bool:
    return s.state is not RxState.DONE and s.transfer.receiving


class Shares:
    """The receive window and incoming allowance of one receiver, divided (see above)."""

    __slots__ = ("ack_every", "incoming_allowance", "live", "senders", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.incoming_allowance: float | None = None
        """bit/s accepted in total (set by the shell from the server's bandwidth limits;
        ``None`` = unlimited)."""
        self.live = 1
        self.ack_every = 2
        """DATA datagrams between ACKs of one session (cached for the hot path)."""
        self.senders = 0
        self.refresh(())

    def refresh(self, sessions: Iterable[RxSession], now: float | None = None) -> None:
        """Recount the live sessions (window, ACK cadence) and, with ``now``, the sending
        ones (rate)."""
        sessions = list(sessions)
        self.live = max(1, sum(1 for s in sessions if _live(s)))
        self.ack_every = max(2, self.window // (16 * self.live))
        if now is not None:
            self.senders = sum(1 for s in sessions if _live(s)
                               and now - max(s.last_recv, s.transfer.last_recv) <= RATE_ACTIVE)

    def session_window(self) -> int:
        """The window (datagrams) granted to one session: its share of the receive buffer
        among the live sessions plus one share kept free for a session that joins
        (measured: a single session granted the whole buffer overruns it when the disk
        writer stalls the receive thread)."""
        return max(4, self.window // (self.live + 1))

    @property
    def carrying_data(self) -> bool:
        """Whether any session carries data (as of the last tick): "something is incoming"
        for the senders' ``borrowIncomingRate``."""
        return self.senders > 0

    def rate_cap(self, *, joining: bool = False) -> int:
        """The ``rateCap`` for one session: the incoming allowance divided among the
        sessions carrying data (plus one for a ``joining`` session), 0 = no cap (5.6)."""
        return session_cap(self.incoming_allowance, max(1, self.senders + joining))
