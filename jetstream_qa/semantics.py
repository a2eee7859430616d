"""The storage oracle: what a destination holds after one manifest entry is transferred.

Theory of operation
-------------------
:func:`expected_outcome` is a pure function (no I/O, no clock) from the transfer settings
(flags, overwrite mode, cipher, symlink mode), one source entry and the state the destination
path was in before the transfer, to an :class:`Outcome`: whether the receiver writes, how
(in place, through a partfile that is renamed, through a partfile that stays, ``mkdir``), and
what the target, the partfile and the ``.jetbak`` backup hold afterwards. The reference
server's storage layer applies it; the conformance suites assert against it.

The rules are checked in one fixed order (``docs/semantics.md`` has the full table):

1. a source symlink: IGNORE -> not sent; FOLLOW -> the link's target is the entry;
2. no WRITE flag -> nothing appears at the destination (no partfile either);
3. something not a regular file in the way (directory, symlink, device) -> per-file error;
4. WRITE_ONLY_NEWER and an existing copy strictly newer than the source -> skipped;
5. the overwrite mode decides in place / partfile / backup.

Vendor sources: the constants page of 2.9.2 (``jetstream-api/2.9.2/api/python/
jetstream.constants.html``, restated in ``shared/jetstream-docs/constants-2.9.2.md``) for
flags, overwrite and symlink modes and ciphers; the Manifest Files structure page
(``.../api/structures/manifest-files.html``) for ``isEmptyDir``, ``executable`` and
``modificationTime``. Everything the pages leave open is marked OURS here and in
``docs/semantics.md``.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode, TransferFlag
from jetstream_qa.errors import UsageError

__all__ = [
    "JETBAK_SUFFIX",
    "PARTFILE_SUFFIX",
    "PLANFILE_SUFFIX",
    "Content",
    "DestPreState",
    "FileResult",
    "FileState",
    "MtimeRule",
    "Outcome",
    "PreKind",
    "SourceEntry",
    "SourceSymlink",
    "WriteMethod",
    "effective_cipher",
    "expected_outcome",
    "jetbak_name",
    "partfile_name",
    "synthetic_bytes",
    "synthetic_view",
    "transfer_status",
]

PARTFILE_SUFFIX = ".jetpart"
"""OURS: the vendor never names its partfiles; ours is the target name plus ``.jetpart``."""
JETBAK_SUFFIX = ".jetbak"
"""Constants page, OVERWRITE_VERSIONED: "keep the original with a ``.jetbak`` extension"."""
PLANFILE_SUFFIX = ".jetplan"
"""OURS: sidecar recording an in-place decision so a restarted receiver keeps it."""


class PreKind(enum.StrEnum):
    """What sits at a destination path (before or after a transfer)."""

    ABSENT = "absent"
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"
    """A FIFO, socket or device node."""


class FileResult(enum.StrEnum):
    """Per-entry result, as reported in a transfer's ``fileResults``."""

    WRITTEN = "written"
    """Data (or a directory) was written at the destination, at the target or in a partfile."""
    SKIPPED = "skipped"
    """A policy chose not to write (only-newer, in-place size mismatch)."""
    ERROR = "error"
    """The entry could not be written (something in the way); other entries go on."""
    NOT_WRITTEN = "not-written"
    """The transfer flags exclude WRITE: nothing is written by design."""
    IGNORED = "ignored"
    """A source symlink under SymlinkMode.IGNORE: never sent, never reaches the receiver."""


class Content(enum.StrEnum):
    """What bytes a file holds."""

    SOURCE = "source"
    SYNTHETIC = "synthetic"
    """:func:`synthetic_bytes` of the file's size (sender without READ)."""
    ORIGINAL = "original"
    """Untouched: what was there before the transfer."""
    NONE = "none"
    """No file (absent) or a directory."""


class MtimeRule(enum.StrEnum):
    """What a file's modification time is after the transfer."""

    SOURCE = "source"
    """Exactly the source's ``modificationTime`` (WRITE_MTIME), to the microsecond."""
    NOW = "now"
    """The time the receiver wrote it (somewhere within the transfer's run)."""
    ORIGINAL = "original"
    """Untouched."""
    NONE = "none"
    """Nothing there."""


class WriteMethod(enum.StrEnum):
    """How the receiver writes an entry."""

    NONE = "none"
    IN_PLACE = "in-place"
    PARTFILE_RENAME = "partfile-rename"
    """Write NAME.jetpart, then rename it over NAME."""
    PARTFILE_KEPT = "partfile-kept"
    """Write NAME.jetpart and leave it there (OVERWRITE_NEVER over an existing target)."""
    MKDIR = "mkdir"


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One manifest entry as the receiver sees it (Manifest Files structure page).

    Args:
        dest_path: the target path (``destPath``), relative to the destination root.
        size: ``fileSize`` in bytes (0 for an empty directory).
        mtime_us: ``modificationTime``, microseconds since the epoch.
        executable: the ``executable`` flag.
        is_empty_dir: ``isEmptyDir``: the transfer creates an empty directory.

    Raises:
        UsageError: a field has the wrong type, a negative size, or an empty directory with
            a size. Path *validity* (``..``, NUL) is the receiver's check, not this type's.
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
class SourceSymlink:
    """A symbolic link at the source, described for the oracle.

    ``target`` is the entry the link resolves to, carrying the link's ``dest_path``; ``None``
    means the link dangles (its target cannot be read).
    """

    dest_path: str
    target: SourceEntry | None


@dataclass(frozen=True, slots=True)
class DestPreState:
    """The destination path before the transfer.

    Args:
        kind: what is there.
        size: byte size of a FILE (0 otherwise).
        mtime_us: modification time of a FILE, microseconds.
        content_tag: an opaque label of the original content, for reports.
    """

    kind: PreKind = PreKind.ABSENT
    size: int = 0
    mtime_us: int = 0
    content_tag: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PreKind):
            raise UsageError(f"kind must be a PreKind, not {self.kind!r}")
        if self.size < 0 or (self.kind is not PreKind.FILE and self.size):
            raise UsageError(f"size {self.size} is invalid for a {self.kind} pre-state")


@dataclass(frozen=True, slots=True)
class FileState:
    """Expected state of one path after the transfer (target, partfile or backup)."""

    kind: PreKind
    content: Content
    size: int | None
    mtime: MtimeRule
    executable: bool | None
    """The executable bit as written; ``None`` when untouched or not applicable."""


_ABSENT_STATE = FileState(PreKind.ABSENT, Content.NONE, None, MtimeRule.NONE, None)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Expected effect of transferring one entry (see :func:`expected_outcome`)."""

    result: FileResult
    reason: str
    """Short machine-readable cause, e.g. ``destination-newer``, ``directory-in-the-way``."""
    method: WriteMethod
    target: FileState
    partfile: str | None = None
    """Name of a partfile left behind after the transfer, if any."""
    partfile_state: FileState | None = None
    jetbak: str | None = None
    """Name of the backup of the original, if one is made."""
    jetbak_state: FileState | None = None
    on_wire: Content = Content.NONE
    """What the sender puts on the wire for this entry: SOURCE (READ), SYNTHETIC, or NONE."""
    wants_data: bool = False
    """True when the receiver writes the entry's data blocks somewhere."""
    cipher: MinCipher = MinCipher.NONE
    """The cipher the data crosses the wire under (it never changes the storage outcome)."""


def partfile_name(dest_path: str) -> str:
    """OURS: the partfile of ``dest_path`` is ``dest_path + '.jetpart'`` in the same folder."""
    return dest_path + PARTFILE_SUFFIX


def jetbak_name(dest_path: str) -> str:
    """Constants page, OVERWRITE_VERSIONED: the original is kept as ``NAME.jetbak``."""
    return dest_path + JETBAK_SUFFIX


def effective_cipher(requested: int, sender_min: int, receiver_min: int) -> MinCipher:
    """The cipher a transfer runs under: the strongest of the three minimums.

    Constants page: MIN_CIPHER is a server's *minimum*; the levels are ordered NONE <
    UNENCRYPTED < ENCRYPTED_128 < ENCRYPTED_256, so data never crosses below either server's
    minimum nor below what the transfer asked for.

    Raises:
        UsageError: a value is not a MIN_CIPHER level.
    """
    try:
        levels = [MinCipher(v) for v in (requested, sender_min, receiver_min)]
    except ValueError as exc:
        raise UsageError(f"not a MIN_CIPHER level: {exc}") from None
    return max(levels)


def transfer_status(results: list[FileResult] | tuple[FileResult, ...]) -> str:
    """OURS: a transfer whose entries include an ERROR ends ``error``; skips do not count.

    The vendor leaves open what per-file failures do to the transfer. The reference writes
    every other entry, then ends the transfer ``error`` (``errorMessage`` counts the failed
    entries) so a client cannot mistake it for a clean copy; skipped, not-written and ignored
    entries are outcomes the caller asked for and leave the transfer ``complete``.
    """
    return "error" if FileResult.ERROR in results else "complete"


# --- synthetic content -----------------------------------------------------------------
_PERIOD = 65521
"""OURS: synthetic content repeats with this prime period (coprime to the 256-byte block)."""


def _make_pattern() -> bytes:
    out = b"".join(
        hashlib.sha256(b"jetstream-qa synthetic %d" % i).digest() for i in range(_PERIOD // 32 + 1)
    )
    return out[:_PERIOD]


_PATTERN = _make_pattern()
_TILED = _PATTERN * (((4 << 20) // _PERIOD) + 2)
"""~4 MiB of the pattern, so any request up to 4 MiB is one slice."""


def synthetic_bytes(offset: int, length: int) -> bytes:
    """OURS: the bytes a sender without READ sends for ``[offset, offset+length)`` of a file.

    Constants page, TRANSFER_FLAG_WRITE: "the sender skips reading from disk, the destination
    writes". The vendor does not say what it sends; ours is byte ``i`` of every file =
    ``P[i % 65521]`` where ``P`` is SHA-256(``b"jetstream-qa synthetic %d" % k``) for
    k = 0, 1, ... concatenated and cut to 65521 bytes. Any sub-range agrees with the whole,
    so a block at the wrong offset is visible. Against other servers only the size is checked.

    Raises:
        UsageError: a negative offset or length.
    """
    if offset < 0 or length < 0:
        raise UsageError(f"offset {offset} and length {length} must be >= 0")
    start = offset % _PERIOD
    if start + length <= len(_TILED):
        return _TILED[start : start + length]
    head = _PATTERN[start:]
    full, rest = divmod(length - len(head), _PERIOD)
    return b"".join((head, _PATTERN * full, _PATTERN[:rest]))


def synthetic_view(offset: int, length: int) -> memoryview:
    """:func:`synthetic_bytes` without a copy for ranges up to 4 MiB (a read-only view).

    Raises:
        UsageError: a negative offset or length.
    """
    if offset < 0 or length < 0:
        raise UsageError(f"offset {offset} and length {length} must be >= 0")
    start = offset % _PERIOD
    if start + length <= len(_TILED):
        return _TILED_VIEW[start : start + length]
    return memoryview(synthetic_bytes(offset, length))


_TILED_VIEW = memoryview(_TILED)


# --- the oracle ----------------------------------------------------------------------------
def _untouched(pre: DestPreState) -> FileState:
    if pre.kind is PreKind.ABSENT:
        return _ABSENT_STATE
    is_file = pre.kind is PreKind.FILE
    return FileState(
        pre.kind,
        Content.ORIGINAL if is_file else Content.NONE,
        pre.size if is_file else None,
        MtimeRule.ORIGINAL,
        None,
    )


def _leave(result: FileResult, reason: str, pre: DestPreState, on_wire: Content,
           cipher: MinCipher) -> Outcome:
    return Outcome(result, reason, WriteMethod.NONE, _untouched(pre), on_wire=on_wire,
                   cipher=cipher)


def expected_outcome(
    *,
    flags: int,
    overwrite_mode: int,
    cipher: int,
    symlink_mode: int,
    source: SourceEntry | SourceSymlink,
    pre: DestPreState,
) -> Outcome:
    """The expected destination outcome of one entry (rules in the module docstring).

    Args:
        flags: TRANSFER_FLAG bits (0..15).
        overwrite_mode: an OverwriteMode value (2..5).
        cipher: the transfer's effective MIN_CIPHER level; recorded, never changes storage.
        symlink_mode: a SymlinkMode value; matters only when ``source`` is a SourceSymlink.
        source: the entry, or a description of a symbolic link at the source.
        pre: the destination path's state before the transfer.

    Raises:
        UsageError: a flag set, mode or cipher out of range.
    """
    if not isinstance(flags, int) or not 0 <= flags <= 15:
        raise UsageError(f"transfer flags {flags!r} outside 0..15")
    try:
        flag = TransferFlag(flags)
        mode = OverwriteMode(overwrite_mode)
        level = MinCipher(cipher)
        links = SymlinkMode(symlink_mode)
    except ValueError as exc:
        raise UsageError(f"invalid transfer setting: {exc}") from None
    if isinstance(source, SourceSymlink):
        # Constants page, symlink modes: IGNORE "do not copy"; FOLLOW "follow the link and
        # copy the file's contents". OURS: a dangling link cannot be followed: not sent.
        if links is SymlinkMode.IGNORE:
            return _leave(FileResult.IGNORED, "symlink-ignored", pre, Content.NONE, level)
        if source.target is None:
            return _leave(FileResult.IGNORED, "dangling-symlink", pre, Content.NONE, level)
        source = source.target
    if source.is_empty_dir:
        return _directory_outcome(flag, source, pre, level)
    return _file_outcome(flag, mode, source, pre, level)


def _directory_outcome(flag: TransferFlag, source: SourceEntry, pre: DestPreState,
                       level: MinCipher) -> Outcome:
    """Manifest Files page: ``isEmptyDir`` -- "the transfer creates an empty directory"."""
    if not flag & TransferFlag.WRITE:
        return _leave(FileResult.NOT_WRITTEN, "no-write-flag", pre, Content.NONE, level)
    if pre.kind not in (PreKind.ABSENT, PreKind.DIRECTORY):
        # OURS: a file is never deleted to make room for a directory.
        return _leave(FileResult.ERROR, f"{pre.kind}-in-the-way", pre, Content.NONE, level)
    # OURS: an existing directory is reused; WRITE_MTIME applies to directories too.
    mtime = MtimeRule.SOURCE if flag & TransferFlag.WRITE_MTIME else (
        MtimeRule.NOW if pre.kind is PreKind.ABSENT else MtimeRule.ORIGINAL)
    target = FileState(PreKind.DIRECTORY, Content.NONE, None, mtime, None)
    reason = "created" if pre.kind is PreKind.ABSENT else "exists"
    return Outcome(FileResult.WRITTEN, reason, WriteMethod.MKDIR, target, cipher=level)


def _file_outcome(flag: TransferFlag, mode: OverwriteMode, source: SourceEntry,
                  pre: DestPreState, level: MinCipher) -> Outcome:
    # Constants page, TRANSFER_FLAG_READ/WRITE: without READ the sender sends synthetic data;
    # without WRITE "the destination skips writing" -- the data still crosses the wire.
    on_wire = Content.SOURCE if flag & TransferFlag.READ else Content.SYNTHETIC
    if not flag & TransferFlag.WRITE:
        return _leave(FileResult.NOT_WRITTEN, "no-write-flag", pre, on_wire, level)
    if pre.kind not in (PreKind.ABSENT, PreKind.FILE):
        # OURS: a directory, symlink or device at the target is never removed or written
        # through; the entry fails and the transfer goes on with the others.
        return _leave(FileResult.ERROR, f"{pre.kind}-in-the-way", pre, on_wire, level)
    exists = pre.kind is PreKind.FILE
    # Constants page, WRITE_ONLY_NEWER: "do not write a file whose destination copy exists
    # and is newer than the source". OURS: "newer" is strictly greater mtime (equal writes).
    if flag & TransferFlag.WRITE_ONLY_NEWER and exists and pre.mtime_us > source.mtime_us:
        return _leave(FileResult.SKIPPED, "destination-newer", pre, on_wire, level)
    # Constants page, WRITE_MTIME: the destination's mtime is set to the source's.
    written = FileState(
        PreKind.FILE,
        on_wire,
        source.size,
        MtimeRule.SOURCE if flag & TransferFlag.WRITE_MTIME else MtimeRule.NOW,
        source.executable,
    )
    def write(reason: str, method: WriteMethod, target: FileState, **extra: object) -> Outcome:
        return Outcome(FileResult.WRITTEN, reason, method, target, on_wire=on_wire,
                       wants_data=True, cipher=level, **extra)  # type: ignore[arg-type]

    if mode is OverwriteMode.IN_PLACE_SAME_SIZE:
        # Constants page: overwrite "only when the existing file has the same size or is
        # empty". OURS: another size is a SKIP (a policy refusal, as 1.9's IN_PLACE_NEVER);
        # an absent target is created in place, without a partfile.
        if exists and pre.size not in (0, source.size):
            return _leave(FileResult.SKIPPED, "size-differs", pre, on_wire, level)
        return write("in-place", WriteMethod.IN_PLACE, written)
    part = partfile_name(source.dest_path)
    if mode is OverwriteMode.NEVER:
        # Constants page: "write through a partfile and never overwrite: the partfile is left
        # in place instead". OURS: with no target nothing is overwritten, so it is renamed.
        if not exists:
            return write("created", WriteMethod.PARTFILE_RENAME, written)
        return write("exists-partfile-kept", WriteMethod.PARTFILE_KEPT, _untouched(pre),
                     partfile=part, partfile_state=written)
    if mode is OverwriteMode.VERSIONED and exists:
        # Constants page: "overwrite, and keep the original with a .jetbak extension". OURS:
        # an existing NAME.jetbak is replaced: one generation of backup is kept.
        backup = FileState(PreKind.FILE, Content.ORIGINAL, pre.size, MtimeRule.ORIGINAL, None)
        return write("replaced-original-kept", WriteMethod.PARTFILE_RENAME, written,
                     jetbak=jetbak_name(source.dest_path), jetbak_state=backup)
    # Constants page, OVERWRITE_ALWAYS: "write through a partfile, then overwrite".
    reason = "replaced" if exists else "created"
    return write(reason, WriteMethod.PARTFILE_RENAME, written)
