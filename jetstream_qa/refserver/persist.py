"""Persistent state in the state directory (vendor "Lifetime management").

Theory of operation
-------------------
With ``--persistent-state`` (the default) destinations, transfers, the manifests those
transfers refer to, API tokens (password hashes only) and the runtime settings (bandwidth
limits, GC settings, sandbox mappings) survive a restart. They live in two files:

- ``STATE_DIR/state.json``, a full **snapshot** carrying a generation number, written
  atomically (temporary file + rename);
- ``STATE_DIR/state.journal`` (``refserver/journal.py``), the changes since that snapshot: a
  header naming the snapshot's generation, then one JSON line per changed record (``put``
  with its whole dump, or a ``del`` tombstone).

Every change reaches :meth:`Persistence.mark_dirty` through ``ServerState.changed(kind,
record)``, which files (kind, id) in a dirty set. A flush task runs every ``interval``
seconds when something is dirty, plus once on shutdown; a flush appends one line per dirty
record, so its cost follows what changed, not how many records the server holds. It also
appends the transfers now ``sending`` and the destinations of changed or sending transfers:
the sender threads move their counters (and the destination's connection fields) without a
notification, and a flush carries their current values, as a full snapshot would.

A full snapshot replaces the journal instead (**compaction**): on the first flush after a
start, after a change that is not one record (``settings``, ``gc``, an unknown kind or no
record), after a write error, and when the journal has grown past
max(``compact_min_bytes``, the last snapshot's size), which keeps the journal's replay no
dearer than reading the snapshot and the amortised cost per change constant; the flush task
compacts in slices, yielding to the event loop (:meth:`Persistence.compact`). Compaction writes
the snapshot with generation g+1 (temp + rename), then a fresh journal whose header says g+1
(temp + rename). A crash between the two leaves a generation-g journal, which loading ignores:
its content is in the snapshot.

Loading reads the snapshot, then replays the journal if its generation matches (a last line
cut short by a crash is dropped with a warning: at most the last interval is lost, as
before). Only then are the rules applied: manifests no transfer refers to are dropped (the
snapshot keeps all manifests, so one made before a compaction and used after it is not lost),
and a transfer that was pending or sending comes back ``pending`` (a restart re-queues it; the
engine resumes it from its checkpoint). Deleted objects disappear; the next transfer id
follows the highest one loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jetstream_qa.constants import FileType, SymlinkMode
from jetstream_qa.refserver.journal import (
    JOURNAL_FILE,
    JournalEntry,
    JournalWriter,
    journal_generation,
    read_journal,
)
from jetstream_qa.refserver.state import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    ServerState,
    TokenRecord,
    TransferRecord,
    TransferStatus,
)

__all__ = ["COMPACT_MIN_BYTES", "FlushStats", "Persistence", "load_server_uid"]

log = logging.getLogger("jetstream_qa.refserver")
STATE_FILE = "state.json"
FORMAT = "jetstream-qa/refserver-state/1"
COMPACT_MIN_BYTES = 1 << 20
"""A journal smaller than this is never compacted, whatever the snapshot's size."""
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
SLICE = 500
"""Records dumped and encoded between two yields of :meth:`Persistence.compact`."""


def load_server_uid(state_dir: Path) -> str:
    """The persistent ``serverUid`` (``STATE_DIR/server_uid``), created on first start."""
    import uuid

    path = Path(state_dir) / "server_uid"
    if path.exists():
        uid = path.read_text(encoding="ascii").strip()
        if uid:
            return uid
    uid = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(uid + "\n", encoding="ascii")
    return uid


# --- records <-> JSON ------------------------------------------------------------------------
_FIELDS: dict[type, tuple[str, ...]] = {}


def _dump(record: Any) -> dict[str, Any]:
    names = _FIELDS.get(type(record))
    if names is None:
        names = _FIELDS[type(record)] = tuple(f.name for f in dataclasses.fields(record))
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif name == "files":
            value = [_dump(entry) for entry in value]
        out[name] = value
    return out


def _load(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _load_manifest(data: dict[str, Any]) -> ManifestRecord:
    record: ManifestRecord = _load(ManifestRecord, data)
    record.status = ManifestStatus(record.status)
    record.symlink_mode = SymlinkMode(record.symlink_mode)
    record.files = [FileEntry(**{**f, "file_type": FileType(f["file_type"])})
                    for f in data.get("files", [])]
    return record


def _load_transfer(data: dict[str, Any]) -> TransferRecord:
    record: TransferRecord = _load(TransferRecord, data)
    record.status = TransferStatus(record.status)
    if record.status in (TransferStatus.SENDING,):
        record.status = TransferStatus.PENDING  # restart re-queues (module docstring)
    return record


@dataclasses.dataclass(frozen=True, slots=True)
class _Table:
    """One kind of record: its ``ServerState`` table (also its snapshot key), id, loader."""

    attr: str
    key: str
    load: Callable[[dict[str, Any]], Any]


_TABLES: dict[str, _Table] = {
    "manifest": _Table("manifests", "manifest_id", _load_manifest),
    "destination": _Table("destinations", "destination_id",
                          lambda d: _load(DestinationRecord, d)),
    "transfer": _Table("transfers", "transfer_id", _load_transfer),
    "token": _Table("tokens", "token", lambda d: _load(TokenRecord, d)),
}
"""The per-record kinds of ``ServerState.changed``; any other kind means a full snapshot."""
_Tables = dict[str, dict[Any, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class FlushStats:
    """What one flush wrote: ``"snapshot"`` or ``"journal"``, bytes, records."""

    kind: str
    bytes_written: int
    records: int


class Persistence:
    """Snapshot and journal (module docstring) of one :class:`ServerState`."""

    def __init__(self, state_dir: Path, state: ServerState, *, interval: float = 0.5,
                 compact_min_bytes: int = COMPACT_MIN_BYTES) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.journal = JournalWriter(Path(state_dir) / JOURNAL_FILE)
        self.state = state
        self.interval = interval
        self.compact_min_bytes = compact_min_bytes
        self.last_flush: FlushStats | None = None
        """What the latest flush wrote (None before the first)."""
        self._dirty: dict[tuple[str, Any], None] = {}  # notified changes, in order
        self._also: dict[str, None] = {}  # destinations of changed transfers (silent fields)
        self._sending: dict[int, TransferRecord] = {}
        self._full = False  # a change needs a full snapshot
        self._generation = 0  # of the snapshot on disk
        self._journal_live = False  # the journal on disk is ours and continues _generation
        self._snapshot_bytes = 0
        self._snapshot_records = 0
        self._writing: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- loading ------------------------------------------------------------------------
    def load(self) -> None:
        """Install the saved records and settings into the state (nothing if no snapshot).

        An unreadable snapshot is ignored with a warning (and its journal with it: changes
        without their base are no state); journal damage is handled as the module says.
        """
        self._generation = journal_generation(self.journal.path) or 0
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            generation = int(data.get("generation", 0))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable state file %s: %s", self.path, exc)
            return
        self._generation = max(self._generation, generation)
        tables: _Tables = {}
        for kind, table in _TABLES.items():
            records = (table.load(raw) for raw in data.get(table.attr, []))
            tables[kind] = {getattr(r, table.key): r for r in records}
        self._replay(tables, generation)
        self._install(tables, data.get("settings", {}))

    def _replay(self, tables: _Tables, generation: int) -> None:
        for entry in read_journal(self.journal.path, generation):
            table = _TABLES.get(entry.kind)
            if table is None:
                log.warning("state journal: unknown kind %r; replay stops there", entry.kind)
                return
            if entry.op == "del":
                tables[entry.kind].pop(entry.key, None)
                continue
            try:
                record = table.load(entry.record or {})
            except (TypeError, ValueError, KeyError) as exc:
                log.warning("state journal: unreadable %s record (%s); replay stops there",
                            entry.kind, exc)
                return
            tables[entry.kind][getattr(record, table.key)] = record

    def _install(self, tables: _Tables, settings: dict[str, Any]) -> None:
        st = self.state
        used = {t.manifest_id for t in tables["transfer"].values()}
        st.load_records(manifests=[m for m in tables["manifest"].values()
                                   if m.manifest_id in used],
                        destinations=tables["destination"].values(),
                        transfers=tables["transfer"].values(),
                        tokens=tables["token"].values())
        for key, value in settings.get("bandwidth", {}).items():
            setattr(st.bandwidth, key, value)
        for key, value in settings.get("gc", {}).items():
            setattr(st.gc, key, value)
        st.sandbox_mappings.update(settings.get("sandboxMappings", {}))

    # --- writing ------------------------------------------------------------------------
    def snapshot_parts(self, generation: int = 0) -> Iterator[str]:
        """The whole state as the snapshot document of ``generation``, in pieces of JSON
        text of at most :data:`SLICE` records (so :meth:`compact` can yield between them).

        All manifests are written, used or not; loading drops the unused ones. A table is
        listed when its turn comes: what changes after that is dirty, so it is journalled.
        """
        st = self.state
        settings = {"bandwidth": _dump(st.bandwidth), "gc": _dump(st.gc),
                    "sandboxMappings": st.sandbox_mappings}
        yield _ENCODE({"format": FORMAT, "generation": generation, "settings": settings})[:-1]
        for table in _TABLES.values():
            records = list(getattr(st, table.attr).values())
            self._snapshot_records += len(records)
            yield f',"{table.attr}":['
            for i in range(0, len(records), SLICE):
                yield ("," if i else "") + _ENCODE([_dump(r) for r in records[i:i + SLICE]])[1:-1]
            yield "]"
        yield "}"

    def save(self) -> None:
        """Write a full snapshot now (atomically) and start an empty journal: compaction.

        Raises OSError; the next flush then tries a full snapshot again.
        """
        self._write_snapshot("".join(self._begin_snapshot()))

    async def compact(self) -> None:
        """:meth:`save` without stalling the event loop for the whole state (10,000
        transfers: 210 ms in one piece, at most 5 ms sliced): a yield after each
        :data:`SLICE` records, the file written by a worker thread. Raises OSError."""
        parts = []
        for part in self._begin_snapshot():
            parts.append(part)
            await asyncio.sleep(0)
        # shielded: cancelling the flush task must not leave the write running unawaited
        # beside the final flush of :meth:`stop` (which waits for it)
        self._writing = asyncio.ensure_future(
            asyncio.to_thread(self._write_snapshot, "".join(parts)))
        await asyncio.shield(self._writing)

    def _begin_snapshot(self) -> Iterator[str]:
        self._dirty.clear()
        self._also.clear()
        self._full, self._journal_live = True, False
        self._snapshot_records = 0
        return self.snapshot_parts(self._generation + 1)

    def _write_snapshot(self, text: str) -> None:
        generation = self._generation + 1
        data = text.encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.path)
        self._generation, self._snapshot_bytes = generation, len(data)
        written = len(data) + self.journal.start(generation)
        self._full, self._journal_live = False, True
        self.last_flush = FlushStats("snapshot", written, self._snapshot_records)

    def compaction_due(self) -> bool:
        """Whether the next flush writes a full snapshot (module docstring)."""
        limit = max(self.compact_min_bytes, self._snapshot_bytes)
        return self._full or not self._journal_live or self.journal.size > limit

    def flush(self) -> None:
        """Write what changed since the last flush: journal lines, or a full snapshot when
        the module docstring says so. Raises OSError (the next flush is a full snapshot)."""
        if self.compaction_due():
            self.save()
            return
        entries = self._entries()
        try:
            written = self.journal.append(entries)
        except OSError:
            self._journal_live = False
            raise
        self.last_flush = FlushStats("journal", written, len(entries))

    def _entries(self) -> list[JournalEntry]:
        """The journal entries of this flush; empties the dirty set."""
        st = self.state
        dirty, self._dirty = self._dirty, {}
        also, self._also = self._also, {}
        for tid, record in list(self._sending.items()):
            if st.transfers.get(tid) is not record or record.status is not TransferStatus.SENDING:
                del self._sending[tid]
                continue
            dirty[("transfer", tid)] = None
            also[record.destination_id] = None
        entries = []
        for kind, key in dirty:
            record = getattr(st, _TABLES[kind].attr).get(key)
            entries.append(JournalEntry("del", kind, key=key) if record is None
                           else JournalEntry("put", kind, record=_dump(record)))
        for key in also:
            destination = st.destinations.get(key)
            if destination is not None and ("destination", key) not in dirty:
                entries.append(JournalEntry("put", "destination", record=_dump(destination)))
        return entries

    def mark_dirty(self, kind: str = "", record: Any = None) -> None:
        """State listener: ``record`` of ``kind`` changed; the flush task saves it soon."""
        table = _TABLES.get(kind)
        key = None if table is None else getattr(record, table.key, None)
        if key is None:
            self._full = True
            return
        self._dirty[(kind, key)] = None
        if isinstance(record, TransferRecord):
            self._also[record.destination_id] = None
            if record.status is TransferStatus.SENDING:
                self._sending[key] = record
            else:
                self._sending.pop(key, None)

    # --- the flush task -----------------------------------------------------------------
    def start(self) -> None:
        self.state.subscribe(self.mark_dirty)
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._dirty or self._full:
                try:
                    await self.compact() if self.compaction_due() else self.flush()
                except OSError as exc:
                    self._log_error(exc)

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except OSError as exc:
            self._log_error(exc)

    def _log_error(self, exc: OSError) -> None:
        log.error("cannot save state to %s: %s", self.path.parent, exc)

    async def stop(self) -> None:
        """Stop the flush task and flush a final time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writing is not None:
            with contextlib.suppress(OSError):
                await self._writing
        self._flush_logged()
