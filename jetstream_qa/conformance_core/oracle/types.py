"""The judge's own vocabulary of expected outcomes (no import of the server's code).

Values are frozen and check themselves. The names and string values are the ones the matrix
judge, the reports and the storage unit tests already speak (``written``, ``skipped``,
``partfile-rename`` ...), so an expectation reads the same wherever it is printed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from jetstream_qa.constants import MinCipher
from jetstream_qa.errors import UsageError

__all__ = [
    "Content",
    "DestPreState",
    "ExpectedOutcome",
    "FileResult",
    "FileState",
    "MtimeRule",
    "PathKind",
    "Provenance",
    "Quote",
    "SourceEntry",
    "SourceSymlink",
    "WriteMethod",
]


class Provenance(enum.StrEnum):
    """Where an expectation comes from, which decides what a mismatch is worth."""

    DOC = "DOC"
    """The vendor documents it: a mismatch may FAIL."""
    OURS = "OURS"
    """Our reading where the vendor text is silent or contradictory: a mismatch is INFO."""


class PathKind(enum.StrEnum):
    """What sits at a destination path (before or after a transfer)."""

    ABSENT = "absent"
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"
    """A FIFO, socket or device node."""


class FileResult(enum.StrEnum):
    """Per-entry result, in the vocabulary of a transfer's ``fileResults`` (ours)."""

    WRITTEN = "written"
    SKIPPED = "skipped"
    ERROR = "error"
    NOT_WRITTEN = "not-written"
    IGNORED = "ignored"


class Content(enum.StrEnum):
    """What bytes a file holds."""

    SOURCE = "source"
    SYNTHETIC = "synthetic"
    ORIGINAL = "original"
    NONE = "none"


class MtimeRule(enum.StrEnum):
    """What a file's modification time is after the transfer."""

    SOURCE = "source"
    NOW = "now"
    ORIGINAL = "original"
    NONE = "none"


class WriteMethod(enum.StrEnum):
    """How the receiver writes an entry."""

    NONE = "none"
    IN_PLACE = "in-place"
    PARTFILE_RENAME = "partfile-rename"
    PARTFILE_KEPT = "partfile-kept"
    MKDIR = "mkdir"


@dataclass(frozen=True, slots=True)
class Quote:
    """A vendor sentence, verbatim, with the page it is on (``jetstream-docs`` file)."""

    page: str
    text: str

    def __post_init__(self) -> None:
        if not self.page or not self.text.strip():
            raise UsageError("a quote needs a page and a sentence")


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{name} must be an int, not {value!r} ({type(value).__name__})")


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One manifest entry (Manifest Files page: destPath, fileSize, modificationTime,
    executable, isEmptyDir).

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
        _check_int("size", self.size)
        _check_int("mtime_us", self.mtime_us)
        if self.size < 0:
            raise UsageError(f"size must be >= 0, not {self.size}")
        if self.is_empty_dir and self.size:
            raise UsageError("an empty directory entry has size 0")


@dataclass(frozen=True, slots=True)
class SourceSymlink:
    """A symbolic link at the source; ``target`` is None when the link dangles."""

    dest_path: str
    target: SourceEntry | None


@dataclass(frozen=True, slots=True)
class DestPreState:
    """The destination path before the transfer (size and mtime only for a FILE).

    Raises:
        UsageError: a kind that is not a PathKind, or a size on something not a file.
    """

    kind: PathKind = PathKind.ABSENT
    size: int = 0
    mtime_us: int = 0
    content_tag: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PathKind):
            raise UsageError(f"kind must be a PathKind, not {self.kind!r}")
        _check_int("size", self.size)
        if self.size < 0 or (self.kind is not PathKind.FILE and self.size):
            raise UsageError(f"size {self.size} is invalid for a {self.kind} pre-state")


@dataclass(frozen=True, slots=True)
class FileState:
    """Expected state of one path after the transfer (target, partfile or backup)."""

    kind: PathKind
    content: Content
    size: int | None
    mtime: MtimeRule
    executable: bool | None


ABSENT_STATE = FileState(PathKind.ABSENT, Content.NONE, None, MtimeRule.NONE, None)


@dataclass(frozen=True, slots=True)
class ExpectedOutcome:
    """What one entry should do, with the rules it came from and what may FAIL.

    ``documented`` holds the asserted fields a mismatch of which may FAIL, named
    ``<slot>.<field>`` (slots ``target``, ``partfile``, ``jetbak``; fields ``kind``,
    ``content``, ``size``, ``mtime``, ``executable``) plus ``appears`` (the data lands at the
    target or in a partfile beside it), ``left-in-place`` (a partfile of any name stays) and
    ``not-source`` (without READ the written bytes are not the source's). Every other field
    is OURS: a mismatch is INFO.
    """

    result: FileResult
    reason: str
    method: WriteMethod
    target: FileState
    partfile: str | None = None
    partfile_state: FileState | None = None
    jetbak: str | None = None
    jetbak_state: FileState | None = None
    on_wire: Content = Content.NONE
    wants_data: bool = False
    cipher: MinCipher = MinCipher.NONE
    """The cipher the data crosses under (it never changes the storage outcome)."""
    rules: tuple[str, ...] = ()
    """Ids of the table rules that produced this outcome, in the order they applied."""
    documented: frozenset[str] = field(default_factory=frozenset)
    notes: tuple[str, ...] = ()
    """Why a field is OURS where that is not obvious (e.g. contradictory vendor text)."""

    def is_documented(self, name: str) -> bool:
        """True when a mismatch of field ``name`` may FAIL (see the class docstring)."""
        return name in self.documented

    @property
    def decision_documented(self) -> bool:
        """True when the entry's result itself rests on DOC rules only."""
        return "decision" in self.documented
