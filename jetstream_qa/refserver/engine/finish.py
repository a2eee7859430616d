"""Finishing one received entry: mode bits, mtime, the ``.jetbak`` backup, the rename.

Called once per entry when a transfer's data is complete (``ReceivePlan.finish``), after
every byte went into the target (in place) or its partfile. In order: the executable bit
(Manifest Files ``executable``; OURS: 0755 / 0644, no umask), the source mtime when the
decision says so (constants page, TRANSFER_FLAG_WRITE_MTIME), then per method: an in-place
write drops its plan file; a renamed partfile first moves the existing target to
``NAME.jetbak`` when a backup is kept (OVERWRITE_VERSIONED) and then replaces the target; a
kept partfile stays (OVERWRITE_NEVER).

Every operation is relative to the entry's parent directory descriptor and never follows a
symlink (``confined.py``): mode and mtime go through the open descriptor (or a fresh
``O_NOFOLLOW`` open), renames use ``src_dir_fd``/``dst_dir_fd``, and a symlink (or anything
but a regular file) planted at ``NAME.jetbak`` fails the entry instead of being replaced.

Seeded faults (``jetstream_qa.refserver.faults``) are branches here, where a real receiver
would get its finishing step wrong.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from jetstream_qa.refserver.engine.confined import open_below, refuse_link
from jetstream_qa.refserver.engine.decide import (
    BACKUP_SUFFIX,
    PARTFILE_SUFFIX,
    Decision,
    Entry,
    Method,
)
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
    dir_fd: int
    """Descriptor of the entry's parent directory (reached without following links)."""
    name: str
    """The target's name in that directory."""

    @property
    def write_name(self) -> str:
        """The target itself (in place) or its partfile."""
        if self.decision.method is Method.IN_PLACE:
            return self.name
        return self.name + PARTFILE_SUFFIX


def finish_directory(item: Finishing, faults: FaultSet) -> None:
    """Make the entry's directory (``mkdirat``) and set its mtime when asked.

    Raises:
        OSError: it cannot be made, or something other than a directory is there (a
            symlink is never followed).
    """
    del faults  # no directory fault yet; the signature matches finish_file
    try:
        os.mkdir(item.name, 0o755, dir_fd=item.dir_fd)
    except FileExistsError:
        pass
    try:
        fd = os.open(item.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=item.dir_fd)
    except OSError:
        raise OSError(f"{item.entry.dest_path!r} is not a directory") from None
    try:
        if item.decision.source_mtime:
            ns = item.entry.mtime_us * 1000
            os.utime(fd, ns=(ns, ns))
    finally:
        os.close(fd)


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
    was closed earlier (then it is opened again without following links, refusing anything
    but a regular file).

    Raises:
        OSError: the file vanished or was replaced, a rename failed; ``confined.Escape``
            when a symlink sits at the file or at ``NAME.jetbak``.
    """
    executable = item.entry.executable and not faults.active("executable-bit-dropped")
    mode = FILE_MODE[executable]  # fault executable-bit-dropped: every file 0644
    times = _times(item, faults)
    if fd is None:
        try:
            fd = open_below(item.dir_fd, item.write_name, os.O_RDONLY, what="written file")
        except FileNotFoundError:
            raise OSError(f"{item.entry.dest_path!r} was removed during the transfer") \
                from None
    try:
        os.fchmod(fd, mode)
        os.utime(fd, **times)  # type: ignore[arg-type]
    finally:
        os.close(fd)
    _put_in_place(item, faults)


def _put_in_place(item: Finishing, faults: FaultSet) -> None:
    method, dfd, name = item.decision.method, item.dir_fd, item.name
    if method is Method.IN_PLACE:
        remove_plan(dfd, name)
    elif method is Method.PARTFILE_RENAMED:
        backup = item.decision.keep_backup and _exists(dfd, name)
        if backup:
            refuse_link(name + BACKUP_SUFFIX, dfd, "backup")
        if backup and faults.active("versioned-backup-is-new"):
            _replace(dfd, item.write_name, name)  # fault: the backup is taken after
            _copy(dfd, name, name + BACKUP_SUFFIX)  # the replace: it holds the new data
            return
        if backup and not faults.active("no-jetbak"):  # fault no-jetbak: no backup kept
            _replace(dfd, name, name + BACKUP_SUFFIX)
        _replace(dfd, item.write_name, name)
    elif method is Method.PARTFILE_KEPT and faults.active("no-partfile"):
        os.unlink(item.write_name, dir_fd=dfd)  # fault: OVERWRITE_NEVER removes its partfile


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def _replace(dir_fd: int, src: str, dst: str) -> None:
    """``rename`` within one directory; it replaces ``dst`` itself, never what it points to."""
    os.replace(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _copy(dir_fd: int, src: str, dst: str) -> None:
    """Copy regular file ``src`` to ``dst`` (data, mode, times), neither followed."""
    rfd = open_below(dir_fd, src, os.O_RDONLY, what="file")
    try:
        st = os.fstat(rfd)
        wfd = open_below(dir_fd, dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         stat.S_IMODE(st.st_mode), what="backup")
        try:
            while chunk := os.read(rfd, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(wfd, view):]
            os.fchmod(wfd, stat.S_IMODE(st.st_mode))
            os.utime(wfd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(wfd)
    finally:
        os.close(rfd)
