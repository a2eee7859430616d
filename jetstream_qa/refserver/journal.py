"""The state journal file: ``STATE_DIR/state.journal`` (append-only JSON lines).

Theory of operation
-------------------
The journal holds what changed since the last full snapshot (``state.json``, see
``refserver/persist.py``). Its first line is a header naming the format and the snapshot
**generation** it continues; each further line is one entry::

    {"format": "jetstream-qa/refserver-journal/1", "generation": 7}
    {"op": "put", "kind": "transfer", "record": {...the record's whole dump...}}
    {"op": "del", "kind": "manifest", "id": "3f2a..."}

A ``put`` carries the record's whole current state, so replaying entries in order and keeping
the last one per (kind, id) gives the newest state; a ``del`` is a tombstone. A new journal is
written as a temporary file and renamed (so a reader sees the old journal or the new one,
never half a header); entries are appended, one ``write`` per flush.

Reading (:func:`read_journal`) is forgiving where a crash can leave damage and strict
elsewhere: a journal whose header names another generation is ignored whole (it predates the
snapshot, whose content includes it); a last line cut short by a crash is dropped with a
warning (at most the last flush is lost; a last line missing only its newline is kept); an
unreadable line elsewhere ends the replay there with a warning (the entries before it are a
consistent earlier state).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "JOURNAL_FILE",
    "JOURNAL_FORMAT",
    "JournalEntry",
    "JournalWriter",
    "journal_generation",
    "read_journal",
]

log = logging.getLogger("jetstream_qa.refserver")
JOURNAL_FILE = "state.journal"
JOURNAL_FORMAT = "jetstream-qa/refserver-journal/1"
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal line: ``put`` (``record`` is the dump) or ``del`` (``key`` is the id)."""

    op: str
    kind: str
    key: Any = None
    record: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str):
            raise ValueError(f"journal entry kind must be a string, got {self.kind!r}")
        if self.op == "put":
            if not isinstance(self.record, dict):
                raise ValueError("journal put without a record object")
        elif self.op != "del":
            raise ValueError(f"journal entry op must be 'put' or 'del', got {self.op!r}")

    def line(self) -> str:
        """The entry as one JSON line (with its newline)."""
        if self.op == "put":
            return _ENCODE({"op": "put", "kind": self.kind, "record": self.record}) + "\n"
        return _ENCODE({"op": "del", "kind": self.kind, "id": self.key}) + "\n"

    @classmethod
    def parse(cls, data: Any) -> JournalEntry:
        """The entry of one decoded line. Raises ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("journal line is not an object")
        return cls(op=data.get("op"), kind=data.get("kind"), key=data.get("id"),  # type: ignore[arg-type]
                   record=data.get("record"))


class JournalWriter:
    """Starts and appends to one journal file; :attr:`size` is its length in bytes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.size = 0

    def start(self, generation: int) -> int:
        """Replace the journal by an empty one continuing snapshot ``generation`` (atomic).

        Returns the bytes written. Raises OSError.
        """
        header = _ENCODE({"format": JOURNAL_FORMAT, "generation": generation}) + "\n"
        data = header.encode("utf-8")
        tmp = self.path.with_suffix(".journal.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.path)
        self.size = len(data)
        return len(data)

    def append(self, entries: list[JournalEntry]) -> int:
        """Append ``entries`` in one write. Returns the bytes written. Raises OSError."""
        if not entries:
            return 0
        data = "".join(e.line() for e in entries).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        self.size += len(data)
        return len(data)


def read_journal(path: Path, generation: int) -> Iterator[JournalEntry]:
    """The entries of the journal at ``path`` if it continues snapshot ``generation``.

    Yields nothing when the file is missing, unreadable, or of another generation (module
    docstring: what is dropped, and the warnings logged).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state journal %s: %s", path, exc)
        return
    lines = text.split("\n")
    torn_tail = lines.pop()  # "" when the file ends with a newline, as every flush leaves it
    if not _header_matches(path, lines[0] if lines else torn_tail, generation):
        return
    for number, line in enumerate(lines[1:], start=2):
        try:
            yield JournalEntry.parse(json.loads(line))
        except ValueError as exc:
            log.warning("state journal %s: line %d unreadable (%s); replay stops there",
                        path, number, exc)
            return
    if torn_tail and lines:  # no newline after it: the write was cut short, unless it parses
        try:
            entry = JournalEntry.parse(json.loads(torn_tail))
        except ValueError:
            log.warning("state journal %s: ignoring a last line cut short (%d bytes)",
                        path, len(torn_tail))
            return
        yield entry


def _header_matches(path: Path, line: str, generation: int) -> bool:
    try:
        header = json.loads(line)
        ok = header["format"] == JOURNAL_FORMAT and isinstance(header["generation"], int)
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        log.warning("ignoring state journal %s: no readable header", path)
        return False
    if header["generation"] != generation:
        log.info("ignoring state journal %s of generation %s (snapshot is %s)",
                 path, header["generation"], generation)
        return False
    return True


def journal_generation(path: Path) -> int | None:
    """The generation in the header of the journal at ``path`` (None: none readable).

    Loading takes the larger of this and the snapshot's, so the next snapshot's generation
    is new even when the snapshot was lost or unreadable.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            header = json.loads(fh.readline())
        generation = header["generation"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return generation if isinstance(generation, int) else None
