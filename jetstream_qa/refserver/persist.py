"""Persistent state in the state directory (vendor "Lifetime management").

With ``--persistent-state`` (the default) destinations, transfers, the manifests those
transfers refer to, API tokens (password hashes only) and the runtime settings (bandwidth
limits, GC settings, sandbox mappings) are written to ``STATE_DIR/state.json`` and read back
on start. Deleted objects disappear from the file on the next save. Writes are atomic
(temporary file + rename) and batched: a change marks the state dirty and a flush task
writes at most every ``interval`` seconds, plus once on shutdown.

A transfer that was pending or sending when the server stopped is loaded back as
``pending`` (a restart re-queues it; the engine resumes it from its checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import os
from pathlib import Path
from typing import Any

from jetstream_qa.constants import FileType, SymlinkMode
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

__all__ = ["Persistence", "load_server_uid"]

log = logging.getLogger("jetstream_qa.refserver")
STATE_FILE = "state.json"
FORMAT = "jetstream-qa/refserver-state/1"


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


def _dump(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif f.name == "files":
            value = [_dump(entry) for entry in value]
        out[f.name] = value
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


class Persistence:
    """Reads and writes ``STATE_DIR/state.json`` for one :class:`ServerState`."""

    def __init__(self, state_dir: Path, state: ServerState, *, interval: float = 0.5) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.state = state
        self.interval = interval
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    def load(self) -> None:
        """Install the saved records and settings into the state (nothing if no file)."""
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable state file %s: %s", self.path, exc)
            return
        st = self.state
        st.load_records(manifests=[_load_manifest(m) for m in data.get("manifests", [])],
                        destinations=[_load(DestinationRecord, d)
                                      for d in data.get("destinations", [])],
                        transfers=[_load_transfer(t) for t in data.get("transfers", [])],
                        tokens=[_load(TokenRecord, t) for t in data.get("tokens", [])])
        settings = data.get("settings", {})
        for key, value in settings.get("bandwidth", {}).items():
            setattr(st.bandwidth, key, value)
        for key, value in settings.get("gc", {}).items():
            setattr(st.gc, key, value)
        st.sandbox_mappings.update(settings.get("sandboxMappings", {}))

    def snapshot(self) -> dict[str, Any]:
        st = self.state
        used = {t.manifest_id for t in st.transfers.values()}
        return {
            "format": FORMAT,
            "destinations": [_dump(d) for d in st.destinations.values()],
            "transfers": [_dump(t) for t in st.transfers.values()],
            "manifests": [_dump(m) for m in st.manifests.values() if m.manifest_id in used],
            "tokens": [_dump(t) for t in st.tokens.values()],
            "settings": {"bandwidth": _dump(st.bandwidth), "gc": _dump(st.gc),
                         "sandboxMappings": st.sandbox_mappings},
        }

    def save(self) -> None:
        """Write the state file now (atomically)."""
        self._dirty = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.snapshot(), fh, separators=(",", ":"))
        os.replace(tmp, self.path)

    def mark_dirty(self, kind: str = "", record: Any = None) -> None:
        """State listener: something changed; the flush task saves soon."""
        self._dirty = True

    def start(self) -> None:
        self.state.subscribe(self.mark_dirty)
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._dirty:
                try:
                    self.save()
                except OSError as exc:
                    log.error("cannot save state to %s: %s", self.path, exc)

    async def stop(self) -> None:
        """Stop the flush task and save a final time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            self.save()
        except OSError as exc:
            log.error("cannot save state to %s: %s", self.path, exc)
