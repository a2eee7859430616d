"""Judging one destination entry of a matrix transfer against the oracle.

Theory of operation
-------------------
After a batch transfer (see :mod:`jetstream_qa.matrix`) the suite looks at three paths per
entry: the target ``NAME``, the partfile ``partfile_name(NAME)`` and the backup
``jetbak_name(NAME)``, each read once into an :class:`Observed` (:func:`observe`, the only
I/O here). :func:`judge` compares them with the :class:`~jetstream_qa.semantics.Outcome` that
:func:`~jetstream_qa.semantics.expected_outcome` predicts and returns every
:class:`Mismatch`, each marked ``documented`` (the vendor docs state it: a mismatch FAILs) or
not (``docs/semantics.md`` marks the behaviour OURS: a mismatch is INFO).

What counts as documented (constants page of 2.9.2, restated in
``shared/jetstream-docs/constants-2.9.2.md``):

- without WRITE nothing is written; WRITE_ONLY_NEWER leaves a strictly newer copy alone;
  WRITE_MTIME sets the source mtime (to the second; the microsecond is ours);
- ALWAYS replaces, VERSIONED replaces and keeps ``NAME.jetbak`` with the original,
  NEVER leaves an existing target alone and a partfile (of any name) beside it,
  IN_PLACE_SAME_SIZE never writes over another size;
- symlink FOLLOW copies the link target's content, IGNORE copies nothing;
- a file that is written has the size of its source (synthetic content: size only, but the
  source's own bytes without READ prove the sender read the disk, which READ's absence
  forbids).

Ours (INFO on mismatch): the partfile's name and lifetime, what happens when a directory is in
the way, IN_PLACE_SAME_SIZE and NEVER with no target, dangling links, the exact synthetic
bytes, "now" mtimes, the ``.jetbak``'s mtime.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from jetstream_qa.constants import OverwriteMode
from jetstream_qa.semantics import (
    JETBAK_SUFFIX,
    Content,
    FileState,
    MtimeRule,
    Outcome,
    PreKind,
)

__all__ = ["Mismatch", "Observed", "References", "digest_of", "judge", "observe"]

_OURS_REASONS = frozenset({"dangling-symlink"})
_MTIME_TOLERANCE_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Observed:
    """What one path holds after the transfer."""

    kind: PreKind
    size: int | None = None
    sha256: str | None = None
    mtime_us: int | None = None
    executable: bool | None = None

    def describe(self) -> str:
        """Short text for reports: ``file 1000 B sha256 3fa9… mtime 1577…``."""
        if self.kind is not PreKind.FILE:
            return str(self.kind)
        return (f"file {self.size} B sha256 {(self.sha256 or '')[:12]}… "
                f"mtime {self.mtime_us} exec {self.executable}")


@dataclass(frozen=True, slots=True)
class References:
    """The values a judged entry is compared with.

    Args:
        hashes: SHA-256 hex of the content kinds that apply (SOURCE, SYNTHETIC, ORIGINAL).
        source_mtime_us: the source's ``modificationTime``.
        original_mtime_us: the pre-state file's mtime (``None`` when there was no file).
        window_us: ``(earliest, latest)`` a "now" mtime may take (the transfer's run).
    """

    hashes: Mapping[Content, str]
    source_mtime_us: int
    original_mtime_us: int | None
    window_us: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between the oracle and the destination."""

    path: str
    field: str
    expected: str
    actual: str
    documented: bool

    def __str__(self) -> str:
        level = "MUST" if self.documented else "ours"
        return f"{self.path} {self.field} [{level}]: expected {self.expected}, got {self.actual}"


def observe(path: Path) -> Observed:
    """Read what ``path`` is (not following a final symlink) and, for a file, its digest."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return Observed(PreKind.ABSENT)
    if stat.S_ISDIR(st.st_mode):
        return Observed(PreKind.DIRECTORY, mtime_us=st.st_mtime_ns // 1000)
    if stat.S_ISLNK(st.st_mode):
        return Observed(PreKind.SYMLINK)
    if not stat.S_ISREG(st.st_mode):
        return Observed(PreKind.OTHER)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Observed(PreKind.FILE, st.st_size, digest, st.st_mtime_ns // 1000,
                    bool(st.st_mode & stat.S_IXUSR))


def _target_documented(outcome: Outcome, overwrite: int, pre_kind: PreKind) -> bool:
    if outcome.reason in _OURS_REASONS or outcome.reason.endswith("-in-the-way"):
        return False
    # OURS (docs/semantics.md choices 3 and 4): IN_PLACE_SAME_SIZE and NEVER with no existing
    # target; the vendor text only speaks of an existing file.
    return not (pre_kind is PreKind.ABSENT and outcome.target.kind is PreKind.FILE
                and overwrite in (OverwriteMode.NEVER, OverwriteMode.IN_PLACE_SAME_SIZE))


def _check_mtime(name: str, want: FileState, got: Observed, refs: References,
                 documented: bool) -> list[Mismatch]:
    if want.kind is not PreKind.FILE or got.mtime_us is None:
        return []
    if want.mtime is MtimeRule.SOURCE:
        diff = abs(got.mtime_us - refs.source_mtime_us)
        if diff == 0:
            return []
        return [Mismatch(name, "mtime", f"source mtime {refs.source_mtime_us} µs",
                         f"{got.mtime_us} µs", documented and diff >= _MTIME_TOLERANCE_US)]
    original = refs.original_mtime_us
    if want.mtime is MtimeRule.ORIGINAL and original is not None and got.mtime_us != original:
        return [Mismatch(name, "mtime", f"original mtime {refs.original_mtime_us} µs "
                             "(untouched)", f"{got.mtime_us} µs", documented)]
    if want.mtime is MtimeRule.NOW:
        lo, hi = refs.window_us
        if not lo <= got.mtime_us <= hi:
            return [Mismatch(name, "mtime", f"the time of writing, in [{lo}, {hi}] µs",
                             f"{got.mtime_us} µs", False)]
    return []


def _check_state(name: str, want: FileState, got: Observed, refs: References,
                 documented: bool, *, mtime_documented: bool = True) -> list[Mismatch]:
    if want.kind is not got.kind:
        return [Mismatch(name, "kind", str(want.kind), got.describe(), documented)]
    if want.kind is not PreKind.FILE:
        return []
    out: list[Mismatch] = []
    if want.size is not None and got.size != want.size:
        out.append(Mismatch(name, "size", f"{want.size} B", f"{got.size} B", documented))
    digest = refs.hashes.get(want.content)
    if digest is not None and got.sha256 != digest:
        # OURS: the exact synthetic bytes; other servers are held to the size only -- but
        # the source's own bytes without READ prove the sender read the disk (documented:
        # "the sender skips reading from disk").
        read_anyway = (want.content is Content.SYNTHETIC
                       and got.sha256 == refs.hashes.get(Content.SOURCE))
        ours = want.content is Content.SYNTHETIC and not read_anyway
        actual = "the source's bytes" if read_anyway else f"sha256 {(got.sha256 or '')[:12]}…"
        out.append(Mismatch(name, "content", f"{want.content} sha256 {digest[:12]}…",
                            actual, documented and not ours))
    if want.executable is not None and got.executable is not want.executable:
        out.append(Mismatch(name, "executable", str(want.executable), str(got.executable),
                            documented))
    out.extend(_check_mtime(name, want, got, refs, documented and mtime_documented))
    return out


_ABSENT = FileState(PreKind.ABSENT, Content.NONE, None, MtimeRule.NONE, None)


def judge(outcome: Outcome, *, name: str, overwrite: int, pre_kind: PreKind, target: Observed,
          partfile: Observed, jetbak: Observed, refs: References,
          siblings: Collection[str] = ()) -> list[Mismatch]:
    """Every way the destination differs from ``outcome``; empty when it conforms.

    Args:
        outcome: the oracle's prediction for the entry.
        name: the entry's destination name, for messages.
        overwrite, pre_kind: the transfer's overwrite mode and what was at ``NAME`` before
            (which rules are documented depends on them).
        target, partfile, jetbak: what :func:`observe` saw at ``NAME``,
            ``partfile_name(NAME)`` and ``jetbak_name(NAME)``.
        refs: hashes and times to compare with.
        siblings: names in NAME's directory that start with NAME (partfiles of any naming);
            used for the documented "the partfile is left in place" of OVERWRITE_NEVER.
    """
    out = _check_state(name, outcome.target, target, refs,
                       _target_documented(outcome, overwrite, pre_kind))
    # OURS: the partfile's name and whether one is left behind (the docs only say NEVER
    # leaves "the partfile" in place).
    want_part = outcome.partfile_state if outcome.partfile else _ABSENT
    out.extend(_check_state(f"{name} partfile", want_part or _ABSENT, partfile, refs, False))
    # Constants page, OVERWRITE_NEVER: "the partfile is left in place instead" -- that one
    # is left is documented, whatever its name.
    others = set(siblings) - {name, name + JETBAK_SUFFIX}
    if outcome.partfile and not others:
        out.append(Mismatch(f"{name} partfile", "left in place", "a partfile beside NAME",
                            "no other file beside NAME", True))
    # Constants page, OVERWRITE_VERSIONED: the original is kept as NAME.jetbak (its mtime,
    # kept by our rename, is ours).
    want_bak = outcome.jetbak_state if outcome.jetbak else _ABSENT
    out.extend(_check_state(f"{name}.jetbak", want_bak or _ABSENT, jetbak, refs, True,
                            mtime_documented=False))
    return out


def digest_of(data: bytes) -> str:
    """SHA-256 hex of ``data`` (the form :class:`References` holds)."""
    return hashlib.sha256(data).hexdigest()
