"""Judging one destination entry of a matrix transfer against the judge's oracle.

Theory of operation
-------------------
After a batch transfer (:mod:`.planning`) the suite looks at three paths per entry: the target
``NAME``, the partfile ``partfile_name(NAME)`` and the backup ``jetbak_name(NAME)``, each read
once into an :class:`Observed` (:func:`observe`, the only file I/O here besides
:func:`measure_mtime_granularity`). :func:`judge` compares them with the
:class:`~jetstream_qa.conformance_core.oracle.ExpectedOutcome` of the decision table and
returns every :class:`Mismatch`. Whether a mismatch may FAIL is not decided here: the outcome
names its DOC fields (``outcome.documented``), each resting on a vendor sentence in
:mod:`jetstream_qa.conformance_core.oracle.rules`; any other mismatch is INFO.

Values in expected/actual text carry their type (``1000 (int)``, ``'40' (str)``), so a
string and a number never read the same.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from jetstream_qa.conformance_core.oracle import (
    Content,
    ExpectedOutcome,
    FileState,
    MtimeRule,
    PathKind,
)

__all__ = ["Mismatch", "Observed", "References", "digest_of", "judge",
           "measure_mtime_granularity", "observe", "typed"]

_ABSENT = FileState(PathKind.ABSENT, Content.NONE, None, MtimeRule.NONE, None)
_PROBE_NS = 1_577_836_800_123_456_789
"""An mtime with a digit in every decimal place, so any truncation of it shows."""
_GRAINS_NS: tuple[int, ...] = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000,
                               100_000_000, 1_000_000_000, 2_000_000_000)
"""Timestamp granularities file systems use (1 ns ext4/XFS/tmpfs ... 1 s, 2 s FAT)."""


def typed(value: object) -> str:
    """``repr`` with the type's name: ``'40' (str)`` vs ``40 (int)``."""
    return f"{value!r} ({type(value).__name__})"


@dataclass(frozen=True, slots=True)
class Observed:
    """What one path holds after the transfer."""

    kind: PathKind
    size: int | None = None
    sha256: str | None = None
    mtime_us: int | None = None
    executable: bool | None = None

    def describe(self) -> str:
        """``file size 1000 (int) sha256 3fa9… mtime 1577… (int) exec True (bool)``."""
        if self.kind is not PathKind.FILE:
            return str(self.kind)
        return (f"file size {typed(self.size)} sha256 {(self.sha256 or '')[:12]}… "
                f"mtime {typed(self.mtime_us)} exec {typed(self.executable)}")


@dataclass(frozen=True, slots=True)
class References:
    """The values a judged entry is compared with.

    Args:
        hashes: SHA-256 hex of the content kinds that apply (SOURCE, SYNTHETIC, ORIGINAL).
        source_mtime_us: the source's ``modificationTime``.
        original_mtime_us: the pre-state file's mtime (``None`` when there was no file).
        window_us: ``(earliest, latest)`` a "now" mtime may take (the transfer's run).
        mtime_tolerance_us: how far a stored mtime may be from the asked one: the truncation
            of the destination file system's timestamp granularity (measured), 0 when it
            stores microseconds.
        tolerance_origin: where that width comes from, for the evidence.
    """

    hashes: Mapping[Content, str]
    source_mtime_us: int
    original_mtime_us: int | None
    window_us: tuple[int, int]
    mtime_tolerance_us: int = 0
    tolerance_origin: str = "the vendor's modificationTime is in microseconds"


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
        return Observed(PathKind.ABSENT)
    if stat.S_ISDIR(st.st_mode):
        return Observed(PathKind.DIRECTORY, mtime_us=st.st_mtime_ns // 1000)
    if stat.S_ISLNK(st.st_mode):
        return Observed(PathKind.SYMLINK)
    if not stat.S_ISREG(st.st_mode):
        return Observed(PathKind.OTHER)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Observed(PathKind.FILE, st.st_size, digest, st.st_mtime_ns // 1000,
                    bool(st.st_mode & stat.S_IXUSR))


def measure_mtime_granularity(directory: Path) -> int:
    """The timestamp granularity (ns) of the file system holding ``directory``.

    Sets a probe file's mtime to a value with a digit in every decimal place and reads it
    back: the granularity is the smallest power of ten (or 2 s, FAT) the stored value is a
    truncation to; any other answer counts as the distance seen, plus one.
    """
    probe = directory / f".jsqa-mtime-probe-{os.getpid()}-{time.monotonic_ns()}"
    probe.write_bytes(b"")
    try:
        os.utime(probe, ns=(_PROBE_NS, _PROBE_NS))
        got: int = probe.stat().st_mtime_ns
    finally:
        probe.unlink()
    for grain in _GRAINS_NS:
        if got == _PROBE_NS - _PROBE_NS % grain:
            return grain
    return abs(_PROBE_NS - got) + 1


def tolerance_for(granularity_ns: int) -> int:
    """Microseconds a stored mtime may lose to truncation at ``granularity_ns``."""
    return max(0, math.ceil(granularity_ns / 1000) - 1)


def _check_mtime(name: str, want: FileState, got: Observed, refs: References,
                 documented: bool) -> list[Mismatch]:
    if want.kind is not PathKind.FILE or got.mtime_us is None:
        return []
    tol, origin = refs.mtime_tolerance_us, refs.tolerance_origin
    if want.mtime is MtimeRule.SOURCE:
        diff = abs(got.mtime_us - refs.source_mtime_us)
        if diff <= tol:
            return []
        return [Mismatch(name, "mtime", f"source mtime {typed(refs.source_mtime_us)} µs "
                         f"(± {tol} µs: {origin})", f"{typed(got.mtime_us)} µs", documented)]
    original = refs.original_mtime_us
    if want.mtime is MtimeRule.ORIGINAL and original is not None \
            and abs(got.mtime_us - original) > tol:
        return [Mismatch(name, "mtime", f"original mtime {typed(original)} µs (untouched, "
                         f"± {tol} µs: {origin})", f"{typed(got.mtime_us)} µs", documented)]
    if want.mtime is MtimeRule.NOW:
        lo, hi = refs.window_us
        if not lo <= got.mtime_us <= hi:
            return [Mismatch(name, "mtime", f"the time of writing, in [{lo}, {hi}] µs",
                             f"{typed(got.mtime_us)} µs", documented)]
    return []


def _check_content(name: str, slot: str, want: FileState, got: Observed, refs: References,
                   outcome: ExpectedOutcome) -> list[Mismatch]:
    digest = refs.hashes.get(want.content)
    if digest is None or got.sha256 == digest:
        return []
    read_anyway = (want.content is Content.SYNTHETIC
                   and got.sha256 == refs.hashes.get(Content.SOURCE))
    documented = (outcome.is_documented("not-source") if read_anyway
                  else outcome.is_documented(f"{slot}.content"))
    actual = "the source's bytes" if read_anyway else f"sha256 {(got.sha256 or '')[:12]}…"
    return [Mismatch(name, "content", f"{want.content} sha256 {digest[:12]}…", actual,
                     documented)]


def _check_state(name: str, slot: str, want: FileState, got: Observed, refs: References,
                 outcome: ExpectedOutcome) -> list[Mismatch]:
    def doc(f: str) -> bool:
        return outcome.is_documented(f"{slot}.{f}")

    if want.kind is not got.kind:
        return [Mismatch(name, "kind", str(want.kind), got.describe(), doc("kind"))]
    if want.kind is not PathKind.FILE:
        return []
    out: list[Mismatch] = []
    if want.size is not None and got.size != want.size:
        out.append(Mismatch(name, "size", f"{typed(want.size)} B", f"{typed(got.size)} B",
                            doc("size")))
    out.extend(_check_content(name, slot, want, got, refs, outcome))
    if want.executable is not None and got.executable is not want.executable:
        out.append(Mismatch(name, "executable", typed(want.executable),
                            typed(got.executable), doc("executable")))
    out.extend(_check_mtime(name, want, got, refs, doc("mtime")))
    return out


def _check_appears(name: str, outcome: ExpectedOutcome, target: Observed,
                   beside: Mapping[str, Observed]) -> list[Mismatch]:
    """DOC ``appears``: the data landed at NAME or in a partfile (any name) beside it."""
    written = outcome.partfile_state or outcome.target
    if not outcome.is_documented("appears") or written.kind is not PathKind.FILE:
        return []
    seen = {name: target, **beside}
    if any(o.kind is PathKind.FILE and o.size == written.size for o in seen.values()):
        return []
    found = ", ".join(f"{n}: {o.describe()}" for n, o in seen.items()) or "nothing"
    return [Mismatch(name, "appears", f"a file of {typed(written.size)} B at NAME or "
                     "beside it (WRITE: the destination writes)", found, True)]


def judge(outcome: ExpectedOutcome, *, name: str, target: Observed, partfile: Observed,
          jetbak: Observed, refs: References,
          siblings: Mapping[str, Observed] | Collection[str] = ()) -> list[Mismatch]:
    """Every way the destination differs from ``outcome``; empty when it conforms.

    Args:
        outcome: the oracle's expectation for the entry (it says which fields are DOC).
        name: the entry's destination name, for messages.
        target, partfile, jetbak: what :func:`observe` saw at ``NAME``,
            ``partfile_name(NAME)`` and ``jetbak_name(NAME)``.
        refs: hashes, times and tolerances to compare with.
        siblings: other paths in NAME's folder whose names start with NAME (partfiles of any
            naming), observed, or just their names; used for the documented "the partfile
            will be left in place" of OVERWRITE_NEVER and "the data appears".
    """
    beside = dict(siblings) if isinstance(siblings, Mapping) else {s: Observed(
        PathKind.FILE) for s in siblings}
    beside = {k: v for k, v in beside.items() if k not in (name, f"{name}.jetbak")}
    out = _check_state(name, "target", outcome.target, target, refs, outcome)
    want_part = outcome.partfile_state if outcome.partfile else _ABSENT
    out.extend(_check_state(f"{name} partfile", "partfile", want_part or _ABSENT, partfile,
                            refs, outcome))
    if outcome.partfile and not beside and outcome.is_documented("left-in-place"):
        out.append(Mismatch(f"{name} partfile", "left in place", "a partfile beside NAME",
                            "no other file beside NAME", True))
    want_bak = outcome.jetbak_state if outcome.jetbak else _ABSENT
    out.extend(_check_state(f"{name}.jetbak", "jetbak", want_bak or _ABSENT, jetbak, refs,
                            outcome))
    out.extend(_check_appears(name, outcome, target, beside))
    return out


def digest_of(data: bytes) -> str:
    """SHA-256 hex of ``data`` (the form :class:`References` holds)."""
    return hashlib.sha256(data).hexdigest()
