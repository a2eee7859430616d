"""The receiver's two tables, sans-IO: sessions by id and transfers by key, bounded.

Theory of operation
-------------------
A *transfer* (keyed by the sender's ``serverUid`` and ``transferId``) outlives its sessions
(``docs/protocol.md`` 5.3 step 2): an OPEN for a known key gets a new session of the same
transfer and the blocks already held, or -- when the META digest or ``totalBytes`` differ --
replaces it. A transfer unknown here may resume from a checkpoint (5.10).

Both tables are bounded so a flood of OPENs cannot exhaust memory (ours): at
:data:`MAX_SESSIONS`, the older half of the sessions silent for ``takeover_after`` make room;
at :data:`MAX_TRANSFERS`, the older half of the finished transfers. Finished transfers stay
listed ``keep_finished`` seconds; a receiving transfer silent ``transfer_idle`` seconds fails
with "idle" and goes (``RxTiming``).

The endpoint's timers run every few milliseconds, and a busy receiver lists thousands of
finished transfers and up to :data:`MAX_SESSIONS` sessions (a finished session lingers
``session_idle`` seconds to answer FIN and send its keep-alive ACK, ``docs/protocol.md``
5.5/5.7), so the timers must not visit them all on every tick (measured: with ~1,900
transfers a minute the per-tick scans took a third of the receiving server's time and its
goodput fell by a third within 60 s). Two rules keep the work proportional to what is due:

- :meth:`RxTables.due_sessions` returns the *busy* sessions (those of a receiving transfer,
  or with DATA not yet acknowledged) on every tick, and each *quiet* one only when its next
  timer falls due: its keep-alive (``last_ack + keepalive``) or its idle expiry
  (``last_recv + session_idle``), kept in a heap. A quiet session that gets DATA is woken
  (:meth:`RxTables.wake`); :meth:`RxTables.rest` files a session after its timers ran.
- :meth:`RxTables.expire` scans the transfers only when the earliest expiry it found last
  time falls due. That is exact: a transfer that ends later expires ``keep_finished`` after
  its end, a new or active one ``transfer_idle`` after its last datagram (``last_recv`` only
  grows, an ended transfer never receives again: ``RX_TRANSITIONS``), so nothing can fall
  due before ``scan + min(keep_finished, transfer_idle)``, the latest the next scan is set for.
"""

from __future__ import annotations

import heapq
from typing import Final

from jetstream_qa.refserver.engine.receiver_model import (
    Addr,
    CheckpointStore,
    RxSession,
    RxStatus,
    RxTiming,
    RxTransfer,
)
from jetstream_qa.wire.data import Open

__all__ = ["MAX_SESSIONS", "MAX_TRANSFERS", "RxTables"]

MAX_SESSIONS: Final = 1024
MAX_TRANSFERS: Final = 4096


class RxTables:
    """Sessions and transfers of one receiver (see the module docstring). The two dicts are
    never replaced, only changed, so the endpoint may hold them directly."""

    __slots__ = ("_checkpoints", "_expire_at", "_quiet", "busy", "sessions", "timing",
                 "transfers")

    def __init__(self, timing: RxTiming, checkpoints: CheckpointStore | None) -> None:
        self.timing = timing
        self._checkpoints = checkpoints
        self.sessions: dict[int, RxSession] = {}
        self.transfers: dict[tuple[str, int], RxTransfer] = {}
        self.busy: dict[int, RxSession] = {}
        """Sessions the timers visit on every tick (a superset of the live ones: entries of
        sessions forgotten meanwhile are dropped on the next visit)."""
        self._quiet: list[tuple[float, int]] = []
        """Heap of ``(due, sid)`` of the quiet sessions; an entry is current while its due
        equals the session's ``tick_due``."""
        self._expire_at = 0.0

    # --- which sessions the timers visit ---------------------------------------------------
    def add_session(self, sess: RxSession) -> None:
        """A new keyed session: listed, and busy."""
        self.sessions[sess.sid] = sess
        self.busy[sess.sid] = sess

    def wake(self, sess: RxSession) -> None:
        """``sess`` has something for the next tick (DATA to acknowledge)."""
        self.busy[sess.sid] = sess

    def due_sessions(self, now: float) -> list[RxSession]:
        """The sessions whose timers the endpoint runs at ``now`` (module docstring); hand
        each to :meth:`rest` afterwards."""
        sessions, busy = self.sessions, self.busy
        due = list(busy.values())
        heap = self._quiet
        while heap and heap[0][0] <= now:
            at, sid = heapq.heappop(heap)
            sess = sessions.get(sid)
            if sess is not None and sid not in busy and sess.tick_due == at:
                due.append(sess)
        return due

    def rest(self, sess: RxSession) -> None:
        """File ``sess`` after its timers ran: busy, quiet until its next timer, or gone."""
        sid = sess.sid
        if self.sessions.get(sid) is not sess:
            self.busy.pop(sid, None)
        elif sess.unacked or sess.transfer.status is RxStatus.RECEIVING:
            self.busy[sid] = sess
        else:
            self.busy.pop(sid, None)
            timing = self.timing
            sess.tick_due = min(sess.last_ack + timing.keepalive,
                                sess.last_recv + timing.session_idle)
            heapq.heappush(self._quiet, (sess.tick_due, sid))

    def make_room(self, now: float) -> bool:
        """Whether a new session (and transfer) fits, after evicting what may go."""
        sessions, transfers = self.sessions, self.transfers
        if len(sessions) >= MAX_SESSIONS:
            stale = [s for s in sessions.values()
                     if now - s.last_recv > self.timing.takeover_after]
            stale.sort(key=lambda s: s.last_recv)
            for s in stale[: max(1, len(stale) // 2)]:
                sessions.pop(s.sid, None)
        if len(transfers) >= MAX_TRANSFERS:
            done = sorted((t for t in transfers.values() if not t.receiving),
                          key=lambda t: t.last_recv)
            for t in done[: max(1, len(done) // 2)]:
                transfers.pop(t.key, None)
        return len(sessions) < MAX_SESSIONS and len(transfers) < MAX_TRANSFERS

    def transfer_for(self, key: tuple[str, int], body: Open, addr: Addr, now: float,
                     t: RxTransfer | None) -> RxTransfer:
        """The transfer OPEN ``body`` (from ``addr``) continues: ``t`` (the one known under
        ``key``) unless it is another transfer under the same id, else a new one, resumed
        from its checkpoint when there is one. Its previous session is forgotten."""
        if t is not None and (t.meta_digest != body.meta_digest
                              or t.total_bytes != body.total_bytes):
            self.drop_transfer(t, "replaced by a different transfer with the same id")
            t = None
        if t is None:
            t = RxTransfer.from_open(key, body, addr, now)
            saved = self._checkpoints.load(key) if self._checkpoints else None
            if saved is not None and t.adopt_checkpoint(saved):
                t.resumed = True
            self.transfers[key] = t
        if t.session is not None:
            self.sessions.pop(t.session, None)
        t.addr = addr
        return t

    def drop_transfer(self, t: RxTransfer, message: str) -> None:
        """Fail ``t`` with ``message`` and forget it and its session."""
        if t.session is not None:
            self.sessions.pop(t.session, None)
        t.fail(message, t.last_recv)
        self.transfers.pop(t.key, None)

    def expire(self, now: float) -> None:
        """Forget finished transfers listed long enough; fail idle receiving ones (a scan
        only when the earliest expiry falls due: module docstring)."""
        if now < self._expire_at:
            return
        keep, idle = self.timing.keep_finished, self.timing.transfer_idle
        next_due = now + min(keep, idle)
        for t in list(self.transfers.values()):
            if t.receiving:
                if now - t.last_recv > idle:
                    self.drop_transfer(t, "idle")
                else:
                    next_due = min(next_due, t.last_recv + idle)
            elif now - t.ended > keep:
                self.transfers.pop(t.key, None)
            else:
                next_due = min(next_due, t.ended + keep)
        self._expire_at = next_due

    def active_transfers(self) -> int:
        """Transfers still receiving (``activeTransfers``)."""
        return sum(1 for t in list(self.transfers.values()) if t.receiving)
