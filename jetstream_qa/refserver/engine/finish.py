"""Finishing one received entry: mode bits, mtime, the ``.jetbak`` backup, the rename.

Called once per entry when a transfer's data is complete (``ReceivePlan.finish``), after
every byte went into the target (in place) or its partfile. In order: the executable bit
(Manifest Files ``executable``; OURS: 0755 / 0644, no umask), the source mtime when the
decision says so (constants page, TRANSFER_FLAG_WRITE_MTIME), then per method: an in-place
write drops its plan file; a renamed partfile first moves the existing target to
``NAME.jetbak`` when a backup is kept (OVERWRITE_VERSIONED) and then replaces the target; a
kept partfile stays (OVERWRITE_NEVER).

Seeded faults (``jetstream_qa.refserver.faults``) are branches here, where a real receiver
would get its finishing step wrong.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

from jetstream_qa.refserver.engine.decide import Decision, Entry, Method, backup_path
from jetstream_qa.refserver.engine.planfile import remove_plan
from jetstream_qa.refserver.faults import FaultSet

__all__ = ["FILE_MODE", "Finishing", "finish_directory", "finish_file"]

FILE_MODE = {True: 0o755, False: 0o644}
"""OURS: written files get rwxr-xr-x when ``executable`` else rw-r--r-- (no umask)."""
_SECOND_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Finishing:
    """One written entry ready to be finished: where it is and what was decided."""

    entry: Entry
    decision: Decision
    target: str
    write_path: str
    """The target itself (in place) or its partfile."""


def finish_directory(item: Finishing, faults: FaultSet) -> None:
    """Make the entry's directory (``mkdir -p``) and set its mtime when asked.

    Raises:
        OSError: it cannot be made, or something other than a directory is there.
    """
    del faults  # no directory fault yet; the signature matches finish_file
    os.makedirs(item.target, exist_ok=True)
    if os.path.islink(item.target) or not os.path.isdir(item.target):
        raise OSError(f"{item.entry.dest_path!r} is not a directory")
    if item.decision.source_mtime:
        ns = item.entry.mtime_us * 1000
        os.utime(item.target, ns=(ns, ns), follow_symlinks=False)


def _times(item: Finishing, faults: FaultSet) -> dict[str, tuple[int, int]]:
    """The ``utime`` arguments for the written file (empty: leave the time of writing)."""
    if not item.decision.source_mtime or faults.active("ignore-write-mtime"):
        return {}  # fault ignore-write-mtime: WRITE_MTIME leaves the time of writing
    if faults.active("mtime-set-before-data"):
        return {}  # fault: the mtime was set when the file was opened (storage.py)
    ns = item.entry.mtime_us * 1000
    if faults.active("mtime-off-by-one"):
        ns += _SECOND_NS  # fault: WRITE_MTIME sets the mtime one second late
    return {"ns": (ns, ns)}


def finish_file(item: Finishing, fd: int | None, faults: FaultSet) -> None:
    """Finish a written file; ``fd`` is its open descriptor (closed here) or None when it
    was closed earlier (then it is reached by path, refusing anything but a regular file).

    Raises:
        OSError: the file vanished or was replaced, or a rename failed.
    """
    executable = item.entry.executable and not faults.active("executable-bit-dropped")
    mode = FILE_MODE[executable]  # fault executable-bit-dropped: every file 0644
    times = _times(item, faults)
    if fd is not None:
        try:
            os.fchmod(fd, mode)
            os.utime(fd, **times)  # type: ignore[arg-type]
        finally:
            os.close(fd)
    else:
        if not stat.S_ISREG(os.lstat(item.write_path).st_mode):
            raise OSError(f"{item.entry.dest_path!r} was replaced during the transfer")
        os.chmod(item.write_path, mode)
        os.utime(item.write_path, follow_symlinks=False, **times)  # type: ignore[arg-type]
    _put_in_place(item, faults)


def _put_in_place(item: Finishing, faults: FaultSet) -> None:
    method = item.decision.method
    if method is Method.IN_PLACE:
        remove_plan(item.target)
    elif method is Method.PARTFILE_RENAMED:
        backup = item.decision.keep_backup and os.path.lexists(item.target)
        if backup and faults.active("versioned-backup-is-new"):
            os.replace(item.write_path, item.target)  # fault: the backup is taken after
            shutil.copy2(item.target, backup_path(item.target))  # the replace: new data
            return
        if backup and not faults.active("no-jetbak"):  # fault no-jetbak: no backup kept
            os.replace(item.target, backup_path(item.target))
        os.replace(item.write_path, item.target)
    elif method is Method.PARTFILE_KEPT and faults.active("no-partfile"):
        os.unlink(item.write_path)  # fault: OVERWRITE_NEVER removes its partfile
