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
"""

from __future__ import annotations

from typing import Final

from jetstream_qa.refserver.engine.receiver_model import (
    Addr,
    CheckpointStore,
    RxSession,
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

    __slots__ = ("_checkpoints", "sessions", "timing", "transfers")

    def __init__(self, timing: RxTiming, checkpoints: CheckpointStore | None) -> None:
        self.timing = timing
        self._checkpoints = checkpoints
        self.sessions: dict[int, RxSession] = {}
        self.transfers: dict[tuple[str, int], RxTransfer] = {}

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
        """Forget finished transfers listed long enough; fail idle receiving ones."""
        keep = self.timing.keep_finished
        for t in [t for t in self.transfers.values()
                  if not t.receiving and now - t.ended > keep]:
            self.transfers.pop(t.key, None)
        idle = self.timing.transfer_idle
        for t in [t for t in self.transfers.values()
                  if t.receiving and now - t.last_recv > idle]:
            self.drop_transfer(t, "idle")

    def active_transfers(self) -> int:
        """Transfers still receiving (``activeTransfers``)."""
        return sum(1 for t in list(self.transfers.values()) if t.receiving)
