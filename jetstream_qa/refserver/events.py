"""The server's event log (vendor "Event Log Structure": ``_event`` and ``_timestamp``).

Entries are kept in a bounded ring. Each entry may carry the owner of the object it is about;
:meth:`EventLog.entries` returns only the entries a principal may see, so the log does not
leak other users' transfers. The engine emits through :meth:`EventLog.emit` too.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.refserver.state import Principal, now_us

__all__ = ["EventLog", "LogEntry"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event: its name, time (µs), payload and the owner it is visible to."""

    event: str
    timestamp: int
    fields: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    owner_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"_event": self.event, "_timestamp": self.timestamp, **self.fields}


class EventLog:
    """A bounded, append-only list of :class:`LogEntry`, newest last."""

    def __init__(self, *, capacity: int = 10_000) -> None:
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=capacity)

    def emit(self, event: str, payload: dict[str, Any] | None = None, *,
             owner: str | None = None, owner_token: str | None = None,
             **fields: Any) -> LogEntry:
        """Record ``event`` now with ``payload`` (a structure, e.g. a Transfer) plus
        ``fields``; ``owner=None`` makes it visible to every user."""
        stamp = now_us()
        if self._entries and stamp <= self._entries[-1].timestamp:
            stamp = self._entries[-1].timestamp + 1  # strictly increasing, so `since` works
        entry = LogEntry(event, stamp, {**(payload or {}), **fields}, owner, owner_token)
        self._entries.append(entry)
        return entry

    def entries(self, who: Principal, *, since: int | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Entries visible to ``who`` with ``_timestamp > since``, oldest first, at most
        ``limit`` (the newest ``limit`` when more match)."""
        out = [e.to_json() for e in self._entries
               if (since is None or e.timestamp > since)
               and (e.owner is None or who.sees(e.owner, e.owner_token))]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def __len__(self) -> int:
        return len(self._entries)
