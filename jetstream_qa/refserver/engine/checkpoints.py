"""Checkpoint files of the receiver: each receiving transfer's held block ranges.

:class:`FileCheckpoints` persists them as JSON in ``STATE_DIR/checkpoints/`` (written
atomically: temp file, fsync, rename), every file reached through the directory's descriptor
without following symlinks (``confined.py``), so a receiver restarted mid-transfer resumes
(``docs/protocol.md`` 5.10).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from jetstream_qa.refserver.engine.confined import ConfinedRoot, open_below, refuse_link

__all__ = ["FileCheckpoints"]

log = logging.getLogger("jetstream_qa.refserver.engine")


class FileCheckpoints:
    """Held-range checkpoints, one JSON file per (sender serverUid, transferId).

    The files live in ``directory`` (``STATE_DIR/checkpoints``), reached from its parent
    without following a symlink out of it, and each is opened, replaced or removed relative
    to the directory's descriptor with ``O_NOFOLLOW``. A symlink (or anything but a regular
    file) at a checkpoint's name is never followed or replaced: loading finds no checkpoint
    and saving is skipped, each with a warning naming the file (OURS: a checkpoint only
    saves work on resume, so the transfer goes on without it).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        parent = os.path.realpath(self.directory.parent)
        self._confined = ConfinedRoot(parent)
        self._parts = (self.directory.name,)

    def _name(self, key: tuple[str, int]) -> str:
        return hashlib.sha256(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:32] + ".json"

    def load(self, key: tuple[str, int]) -> dict[str, Any] | None:
        name = self._name(key)
        try:
            dir_fd = self._confined.directory(self._parts, create=False)
        except OSError:
            return None
        try:
            fd = open_below(dir_fd, name, os.O_RDONLY, what="checkpoint")
            with os.fdopen(fd, encoding="utf-8") as fh:
                value = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("checkpoint %s not used: %s", name, exc.strerror
                        if isinstance(exc, OSError) else "not JSON")
            return None
        finally:
            os.close(dir_fd)
        return value if isinstance(value, dict) else None

    def save(self, key: tuple[str, int], record: dict[str, Any]) -> None:
        """Write the checkpoint (temp file, fsync, rename); skipped with a warning when the
        directory or the name cannot be used safely."""
        name = self._name(key)
        tmp = name[:-len(".json")] + ".tmp"
        try:
            dir_fd = self._confined.directory(self._parts, create=True)
        except OSError as exc:
            log.warning("checkpoint %s not saved: %s", name, exc.strerror or exc)
            return
        try:
            refuse_link(name, dir_fd, "checkpoint")
            try:
                os.unlink(tmp, dir_fd=dir_fd)  # a stale temp file (or a link planted there)
            except FileNotFoundError:
                pass
            fd = open_below(dir_fd, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600,
                            what="checkpoint")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            log.warning("checkpoint %s not saved: %s", name, exc.strerror or exc)
        finally:
            os.close(dir_fd)

    def delete(self, key: tuple[str, int]) -> None:
        try:
            dir_fd = self._confined.directory(self._parts, create=False)
        except OSError:
            return
        try:
            os.unlink(self._name(key), dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)
