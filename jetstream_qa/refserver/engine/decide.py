"""The receiving server's decision for one manifest entry: write it, and how, or leave it.

Theory of operation
-------------------
Before any byte of a transfer arrives, storage looks at each target path (``lstat``) and
calls :func:`decide_entry` with the transfer's flags and overwrite mode, the entry from the
transfer's file list and what it found at the target. The answer is a :class:`Decision`:
the per-file result the transfer reports, where the data goes (:class:`Method`: in place,
into a partfile renamed over the target or left beside it, a directory), whether the source
mtime is applied and whether the existing file is kept as ``NAME.jetbak``. Storage carries it
out; nothing here touches the disk.

The server decides in this order (vendor constants page of 2.9.2,
``shared/jetstream-docs/vendor-constants-2.9.2.txt``; OURS where noted, ``docs/semantics.md``):

1. no WRITE flag: nothing is written (the data still crosses the wire);
2. an empty-directory entry: the directory is made (or an existing one reused);
3. something other than a regular file at the target: the entry fails (OURS);
4. WRITE_ONLY_NEWER and an existing copy newer than the source: skipped;
5. the overwrite mode: in place, partfile renamed, partfile kept, or backup then rename.

Source symlinks never get here: the sender's manifest builder follows or leaves them out.

Seeded faults (``jetstream_qa.refserver.faults``) are branches of this code at the place the
real defect would sit, each asked with ``faults.active(NAME)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from jetstream_qa.constants import OverwriteMode, TransferFlag
from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.faults import FaultSet

__all__ = [
    "BACKUP_SUFFIX",
    "PARTFILE_SUFFIX",
    "PLANFILE_SUFFIX",
    "Decision",
    "Entry",
    "Existing",
    "Found",
    "Method",
    "Result",
    "backup_path",
    "decide_entry",
    "partfile_path",
]

PARTFILE_SUFFIX = ".jetpart"
"""OURS: the vendor never names its partfiles; ours is the target name plus ``.jetpart``."""
BACKUP_SUFFIX = ".jetbak"
"""Constants page, OVERWRITE_VERSIONED: "The original file will be backed up with a .jetbak
extension"."""
PLANFILE_SUFFIX = ".jetplan"
"""OURS: sidecar recording an in-place decision so a restarted receiver keeps it."""

_NO_FAULTS = FaultSet()


def partfile_path(target: str) -> str:
    """Where the data for ``target`` is written before it replaces (or sits beside) it."""
    return target + PARTFILE_SUFFIX


def backup_path(target: str) -> str:
    """Where OVERWRITE_VERSIONED keeps the file ``target`` held before the transfer."""
    return target + BACKUP_SUFFIX


class Found(enum.StrEnum):
    """What ``lstat`` found at a target path."""

    NOTHING = "absent"
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"
    """A FIFO, socket or device node."""


class Result(enum.StrEnum):
    """The per-file outcome a transfer reports in ``fileResults``."""

    WRITTEN = "written"
    SKIPPED = "skipped"
    ERROR = "error"
    NOT_WRITTEN = "not-written"


class Method(enum.StrEnum):
    """Where the entry's data is written."""

    NOTHING = "nothing"
    IN_PLACE = "in-place"
    PARTFILE_RENAMED = "partfile-renamed"
    """Write NAME.jetpart, then rename it over NAME."""
    PARTFILE_KEPT = "partfile-kept"
    """Write NAME.jetpart and leave it there (NEVER over an existing file)."""
    MKDIR = "mkdir"


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a transfer's file list, as the receiver gets it.

    Args:
        dest_path: target path relative to the transfer's destination (Manifest Files
            ``destPath``); its validity (``..``, NUL) is checked by ``paths.py``.
        size: ``fileSize`` in bytes (0 for an empty directory).
        mtime_us: ``modificationTime``, microseconds since the epoch.
        executable: the ``executable`` flag.
        is_empty_dir: ``isEmptyDir``: "the transfer creates an empty directory".

    Raises:
        UsageError: a field of the wrong type, a negative size, a sized empty directory.
    """

    dest_path: str
    size: int
    mtime_us: int
    executable: bool = False
    is_empty_dir: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.dest_path, str) or not self.dest_path:
            raise UsageError(f"dest_path must be a non-empty str, not {self.dest_path!r}")
        for name in ("size", "mtime_us"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"{name} must be an int, not {value!r}")
        if self.size < 0:
            raise UsageError(f"size must be >= 0, not {self.size}")
        if self.is_empty_dir and self.size:
            raise UsageError("an empty directory entry has size 0")


@dataclass(frozen=True, slots=True)
class Existing:
    """What was at the target before the transfer (``size``/``mtime_us`` of a FILE only)."""

    found: Found = Found.NOTHING
    size: int = 0
    mtime_us: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.found, Found):
            raise UsageError(f"found must be a Found, not {self.found!r}")
        if self.size < 0 or (self.found is not Found.FILE and self.size):
            raise UsageError(f"size {self.size} is invalid for {self.found}")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the receiver does with one entry.

    ``detail`` is the short cause reported beside the result (``destination-newer``,
    ``size-differs``, ``directory-in-the-way`` ...). ``source_mtime``: the written file (or
    directory) gets the source's mtime. ``keep_backup``: the existing file is renamed to
    ``NAME.jetbak`` before the partfile replaces it.
    """

    result: Result
    detail: str
    method: Method = Method.NOTHING
    source_mtime: bool = False
    keep_backup: bool = False

    @property
    def wants_data(self) -> bool:
        """True when data blocks are written somewhere (target or partfile)."""
        return self.method in (Method.IN_PLACE, Method.PARTFILE_RENAMED, Method.PARTFILE_KEPT)


def _leave(result: Result, detail: str) -> Decision:
    return Decision(result, detail)


def decide_entry(flags: int, overwrite_mode: int, entry: Entry, existing: Existing, *,
                 faults: FaultSet = _NO_FAULTS) -> Decision:
    """Decide one entry of an incoming transfer (the order is in the module docstring).

    Args:
        flags: the transfer's TRANSFER_FLAG bits (0..15).
        overwrite_mode: an OVERWRITE_* value (2..5).
        entry: the entry from the transfer's file list.
        existing: what the target held before the transfer.
        faults: seeded defects (self-tests only); none by default.

    Raises:
        UsageError: flags or overwrite mode out of range.
    """
    if isinstance(flags, bool) or not isinstance(flags, int) or not 0 <= flags <= 15:
        raise UsageError(f"transfer flags {flags!r} outside 0..15")
    try:
        mode = OverwriteMode(overwrite_mode)
    except ValueError:
        raise UsageError(f"overwrite mode {overwrite_mode!r} is not 2..5") from None
    if flags == TransferFlag.NONE and faults.active("none-flag-writes"):
        flags = TransferFlag.READ_WRITE  # fault: 0 taken as "unset", i.e. the default
    # Constants page: TRANSFER_FLAG_READ "the destination skips writing"; NONE "neither".
    if not flags & TransferFlag.WRITE:
        return _leave(Result.NOT_WRITTEN, "no-write-flag")
    set_mtime = bool(flags & TransferFlag.WRITE_MTIME)
    if entry.is_empty_dir:
        return _directory(existing, set_mtime, faults)
    if existing.found not in (Found.NOTHING, Found.FILE):
        # OURS: a directory, symlink or device in the way is never removed or written
        # through; this entry fails and the transfer goes on with the others.
        return _leave(Result.ERROR, f"{existing.found}-in-the-way")
    if existing.found is Found.FILE and _skip_as_not_newer(flags, mode, entry, existing,
                                                           faults):
        return _leave(Result.SKIPPED, "destination-newer")
    return _by_overwrite_mode(mode, entry, existing, set_mtime, faults)


def _directory(existing: Existing, set_mtime: bool, faults: FaultSet) -> Decision:
    """Manifest Files page, ``isEmptyDir``: "the transfer creates an empty directory".
    OURS: an existing directory is reused; a file in the way is never deleted for it."""
    if faults.active("empty-dir-not-created"):
        return _leave(Result.SKIPPED, "empty-directory")  # fault: no data, nothing to do
    if existing.found is Found.NOTHING:
        return Decision(Result.WRITTEN, "created", Method.MKDIR, set_mtime)
    if existing.found is Found.DIRECTORY:
        return Decision(Result.WRITTEN, "exists", Method.MKDIR, set_mtime)
    return _leave(Result.ERROR, f"{existing.found}-in-the-way")


def _skip_as_not_newer(flags: int, mode: OverwriteMode, entry: Entry, existing: Existing,
                       faults: FaultSet) -> bool:
    """Constants page, TRANSFER_FLAG_WRITE_ONLY_NEWER: "do not write a file whose
    destination copy exists and is newer than the source". OURS: "newer" is a strictly
    greater mtime, to the microsecond; an equal mtime is written."""
    asked = bool(flags & TransferFlag.WRITE_ONLY_NEWER)
    if faults.active("only-newer-without-flag"):
        asked = True  # fault: the flag bit is never tested
    if not asked:
        return False
    if mode is OverwriteMode.IN_PLACE_SAME_SIZE and faults.active("only-newer-ignored-in-place"):
        return False  # fault: the in-place path forgets the only-newer rule
    if faults.active("only-newer-inverted"):
        return existing.mtime_us < entry.mtime_us  # fault: the comparison is reversed
    return existing.mtime_us > entry.mtime_us


def _by_overwrite_mode(mode: OverwriteMode, entry: Entry, existing: Existing, set_mtime: bool,
                       faults: FaultSet) -> Decision:
    exists = existing.found is Found.FILE
    if mode is OverwriteMode.NEVER and exists and faults.active("never-overwrites"):
        mode = OverwriteMode.ALWAYS  # fault: NEVER replaces the existing file
    if mode is OverwriteMode.NEVER and exists and faults.active("never-writes-in-place"):
        return Decision(Result.WRITTEN, "in-place", Method.IN_PLACE, set_mtime)  # fault
    if mode is OverwriteMode.ALWAYS and exists and faults.active("always-keeps-original"):
        mode = OverwriteMode.NEVER  # fault: ALWAYS leaves the old file and its partfile
    if mode is OverwriteMode.IN_PLACE_SAME_SIZE:
        return _in_place(entry, existing, set_mtime, faults)
    if not exists:
        # OURS for NEVER: with nothing at the target nothing is overwritten, so the partfile
        # is renamed into place as under ALWAYS.
        return Decision(Result.WRITTEN, "created", Method.PARTFILE_RENAMED, set_mtime)
    if mode is OverwriteMode.NEVER:
        # Constants page, OVERWRITE_NEVER: "Instead of overwriting, the partfile will be left
        # in place."
        return Decision(Result.WRITTEN, "exists-partfile-kept", Method.PARTFILE_KEPT,
                        set_mtime)
    if mode is OverwriteMode.VERSIONED:
        # Constants page, OVERWRITE_VERSIONED: "overwrite existing files. The original file
        # will be backed up with a .jetbak extension". OURS: an older NAME.jetbak is replaced.
        return Decision(Result.WRITTEN, "replaced-original-kept", Method.PARTFILE_RENAMED,
                        set_mtime, keep_backup=True)
    # Constants page, OVERWRITE_ALWAYS: "Use partfiles, and overwrite existing files."
    return Decision(Result.WRITTEN, "replaced", Method.PARTFILE_RENAMED, set_mtime)


def _in_place(entry: Entry, existing: Existing, set_mtime: bool, faults: FaultSet) -> Decision:
    """Constants page, OVERWRITE_IN_PLACE_SAME_SIZE: "Overwrite files only if the existing
    file is same or zero (0) size". OURS: another size is SKIPPED; an absent target is
    created in place, without a partfile."""
    if existing.found is Found.FILE:
        fits = existing.size in (0, entry.size)
        if existing.size == 0 and faults.active("same-size-refuses-empty"):
            fits = existing.size == entry.size  # fault: "or zero size" forgotten
        if faults.active("same-size-overwrites-any"):
            fits = True  # fault: the size check is gone
        if not fits:
            return _leave(Result.SKIPPED, "size-differs")
    return Decision(Result.WRITTEN, "in-place", Method.IN_PLACE, set_mtime)
