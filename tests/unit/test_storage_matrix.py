"""storage/matrix: the receiver's disk result equals the oracle for every combination.

16 flag sets x 4 overwrite modes x 2 symlink modes x 11 destination pre-states, each for four
sources: a regular file, a symlink to one, a 0-byte file and an empty directory. Each
(flags, mode, symlink mode) runs as one ReceiveStorage.begin() over all of them, fed the way
the engine feeds it (source or synthetic bytes, in out-of-order chunks, only where
wants_data), and every path is then compared with the judge's expected_outcome() (content,
size, mtime rule, executable bit, partfile, .jetbak). The server decides with its own code
(``refserver/engine/decide.py``), never with the oracle, so a defect in either shows here:
every storage fault of ``jetstream_qa.refserver.faults`` must produce a mismatch.

Pre-states nothing else stages: an equal mtime (WRITE_ONLY_NEWER writes it: ours, strictly
newer is skipped), an existing ``NAME.jetbak`` (VERSIONED replaces it with the original; other
modes leave it alone), and 0-byte targets and sources under IN_PLACE_SAME_SIZE.
"""

from __future__ import annotations

import functools
import itertools
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jetstream_qa.conformance_core.oracle import (
    Content,
    DestPreState,
    ExpectedOutcome,
    FileResult,
    FileState,
    MtimeRule,
    PathKind,
    SourceEntry,
    SourceSymlink,
    expected_outcome,
    jetbak_name,
    partfile_name,
    synthetic_bytes,
)
from jetstream_qa.constants import (
    ALL_TRANSFER_FLAG_SETS,
    MinCipher,
    OverwriteMode,
    SymlinkMode,
    TransferFlag,
)
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage
from jetstream_qa.refserver.faults import FAULTS, FaultSet

SRC_SIZE = 1000  # not a multiple of 256 on purpose
SRC_MTIME_US = 1_700_000_000_123_456
OLDER_US = SRC_MTIME_US - 10_000_000
NEWER_US = SRC_MTIME_US + 10_000_000
CLOCK_SLACK_NS = 100_000_000  # file-system timestamps come from a coarse clock
STALE_BACKUP = b"an older backup, from a transfer before"


@dataclass(frozen=True)
class PreSpec:
    """How to plant one destination pre-state (``stale_backup``: NAME.jetbak exists too)."""

    name: str
    kind: PathKind
    size: int = 0
    mtime_us: int = 0
    stale_backup: bool = False


PRE_STATES = (
    PreSpec("absent", PathKind.ABSENT),
    PreSpec("same-size-older", PathKind.FILE, SRC_SIZE, OLDER_US),
    PreSpec("same-size-newer", PathKind.FILE, SRC_SIZE, NEWER_US),
    PreSpec("same-size-equal", PathKind.FILE, SRC_SIZE, SRC_MTIME_US),
    PreSpec("other-size-older", PathKind.FILE, 333, OLDER_US),
    PreSpec("other-size-newer", PathKind.FILE, 333, NEWER_US),
    PreSpec("empty-older", PathKind.FILE, 0, OLDER_US),
    PreSpec("empty-newer", PathKind.FILE, 0, NEWER_US),
    PreSpec("backup-exists", PathKind.FILE, SRC_SIZE, OLDER_US, stale_backup=True),
    PreSpec("directory", PathKind.DIRECTORY),
    PreSpec("symlink", PathKind.SYMLINK),
)


@dataclass(frozen=True)
class SourceSpec:
    """One kind of source entry sent over every pre-state."""

    kind: str
    size: int
    is_link: bool = False
    is_empty_dir: bool = False


SOURCES = (
    SourceSpec("file", SRC_SIZE),
    SourceSpec("link", SRC_SIZE, is_link=True),
    SourceSpec("zero", 0),
    SourceSpec("dir", 0, is_empty_dir=True),
)


def source_bytes(name: str, size: int) -> bytes:
    """Distinct source content per destination name."""
    seed = name.encode() + b"|"
    return (seed * (size // len(seed) + 1))[:size]


@functools.cache
def original_bytes(name: str, size: int) -> bytes:
    """Pre-existing content, unlike any source or synthetic content."""
    return bytes((i * 7 + len(name)) % 251 for i in range(size))


def plant(case_dir: Path, name: str, spec: PreSpec) -> DestPreState:
    """Create the pre-state at case_dir/name and return it as the oracle sees it."""
    path = case_dir / name
    if spec.stale_backup:
        Path(jetbak_name(str(path))).write_bytes(STALE_BACKUP)
    if spec.kind is PathKind.FILE:
        path.write_bytes(original_bytes(name, spec.size))
        os.utime(path, ns=(spec.mtime_us * 1000, spec.mtime_us * 1000))
        return DestPreState(PathKind.FILE, spec.size, spec.mtime_us, content_tag=name)
    if spec.kind is PathKind.DIRECTORY:
        path.mkdir()
        (path / "keep.txt").write_bytes(b"keep")
        return DestPreState(PathKind.DIRECTORY)
    if spec.kind is PathKind.SYMLINK:
        (case_dir / f"{name}.linktarget").write_bytes(b"link target")
        path.symlink_to(f"{name}.linktarget")
        return DestPreState(PathKind.SYMLINK)
    return DestPreState()


def feed(plan: ReceivePlan, flags: TransferFlag) -> None:
    """Feed data like the engine: only wanted entries, 256-byte multiples, reverse order."""
    for index, entry in enumerate(plan.entries):
        if not plan.wants_data(index):
            continue
        content = (source_bytes(entry.dest_path, entry.size) if flags & TransferFlag.READ
                   else synthetic_bytes(0, entry.size))
        offsets = list(range(0, entry.size, 512))
        for offset in reversed(offsets):
            plan.write(index, offset, memoryview(content)[offset:offset + 512])


@dataclass(frozen=True)
class Seen:
    """What one judged entry is compared with."""

    name: str
    src: bytes
    pre: PreSpec
    window: tuple[int, int]


def check_state(path: Path, state: FileState, seen: Seen) -> None:
    """Assert that ``path`` holds ``state``."""
    where, pre = f"{path.name}: ", seen.pre
    if state.kind is PathKind.ABSENT:
        assert not os.path.lexists(path), where + "should not exist"
        return
    assert os.path.lexists(path), where + f"should be a {state.kind}, is absent"
    st = os.lstat(path)
    if state.kind is PathKind.DIRECTORY:
        assert stat.S_ISDIR(st.st_mode), where + "should be a directory"
        if pre.kind is PathKind.DIRECTORY:
            assert (path / "keep.txt").read_bytes() == b"keep", where + "directory was touched"
        return
    if state.kind is PathKind.SYMLINK:
        assert stat.S_ISLNK(st.st_mode), where + "should still be a symlink"
        assert (path.parent / f"{seen.name}.linktarget").read_bytes() == b"link target"
        return
    assert stat.S_ISREG(st.st_mode), where + "should be a regular file"
    expected = {
        Content.SOURCE: seen.src,
        Content.SYNTHETIC: synthetic_bytes(0, len(seen.src)),
        Content.ORIGINAL: original_bytes(seen.name, pre.size),
    }[state.content]
    assert st.st_size == state.size == len(expected), where + "size"
    assert path.read_bytes() == expected, where + f"content should be {state.content}"
    if state.mtime is MtimeRule.SOURCE:
        assert st.st_mtime_ns == SRC_MTIME_US * 1000, where + "mtime should be the source's"
    elif state.mtime is MtimeRule.ORIGINAL:
        assert st.st_mtime_ns == pre.mtime_us * 1000, where + "mtime should be untouched"
    elif state.mtime is MtimeRule.NOW:
        assert seen.window[0] <= st.st_mtime_ns <= seen.window[1], where + "mtime: 'now'"
    if state.executable is not None:
        assert bool(st.st_mode & 0o111) == state.executable, where + "executable bit"


def check_entry(case_dir: Path, outcome: ExpectedOutcome, seen: Seen) -> None:
    """Compare target, partfile and .jetbak of one destination name with the oracle."""
    name = seen.name
    check_state(case_dir / name, outcome.target, seen)
    part = Path(partfile_name(str(case_dir / name)))
    if outcome.partfile is not None:
        assert outcome.partfile_state is not None
        check_state(part, outcome.partfile_state, seen)
    else:
        assert not part.exists(), f"{name}: no partfile may be left behind"
    bak = Path(jetbak_name(str(case_dir / name)))
    if outcome.jetbak is not None:
        assert outcome.jetbak_state is not None
        check_state(bak, outcome.jetbak_state, seen)
    elif seen.pre.stale_backup:
        assert bak.read_bytes() == STALE_BACKUP, f"{name}: the older .jetbak was touched"
    else:
        assert not bak.exists(), f"{name}: no .jetbak expected"
    assert not Path(str(case_dir / name) + ".jetplan").exists()


REPORT_OUTCOMES = {FileResult.WRITTEN, FileResult.SKIPPED, FileResult.ERROR,
                   FileResult.NOT_WRITTEN}


def _source(name: str, spec: SourceSpec, executable: bool
            ) -> tuple[SourceEntry | SourceSymlink, Entry]:
    """The entry as the oracle describes it, and as the receiving server gets it."""
    judged = SourceEntry(name, spec.size, SRC_MTIME_US, executable and not spec.is_empty_dir,
                         spec.is_empty_dir)
    sent = Entry(name, spec.size, SRC_MTIME_US, judged.executable, spec.is_empty_dir)
    return (SourceSymlink(name, judged) if spec.is_link else judged), sent


def run_case(root: Path, flags: TransferFlag, mode: OverwriteMode, links: SymlinkMode,
             executable: bool, faults: FaultSet | None = None) -> tuple[int, list[str]]:
    """One begin()/feed/finish() over every pre-state and source kind; returns the number
    of entries judged and every mismatch with the oracle."""
    case = f"case-{int(flags)}-{int(mode)}-{int(links)}"
    case_dir = root / case
    case_dir.mkdir()
    entries: list[Entry] = []
    expect: list[tuple[ExpectedOutcome, Seen]] = []
    for pre_spec, src_spec in itertools.product(PRE_STATES, SOURCES):
        name = f"{pre_spec.name}.{src_spec.kind}"
        pre = plant(case_dir, name, pre_spec)
        judged, sent = _source(name, src_spec, executable)
        outcome = expected_outcome(flags=flags, overwrite_mode=mode, cipher=MinCipher.NONE,
                                   symlink_mode=links, source=judged, pre=pre)
        expect.append((outcome, Seen(name, source_bytes(name, src_spec.size), pre_spec,
                                     (0, 0))))
        if outcome.result is not FileResult.IGNORED:  # IGNORE: never in the manifest
            entries.append(sent)
    t0 = time.time_ns() - CLOCK_SLACK_NS
    storage = ReceiveStorage(root, max_open=4, faults=faults or FaultSet())
    plan = storage.begin(entries, destination_path=f"/{case}", flags=int(flags),
                         overwrite_mode=int(mode))
    feed(plan, flags)
    results = {r["destPath"]: r for r in plan.finish()}
    window = (t0, time.time_ns() + CLOCK_SLACK_NS)
    mismatches: list[str] = []
    for outcome, seen in expect:
        seen = Seen(seen.name, seen.src, seen.pre, window)
        try:
            if outcome.result is FileResult.IGNORED:
                assert seen.name not in results
            else:
                got = results[seen.name]["outcome"]
                assert got == str(outcome.result), f"{seen.name}: reported {got}"
                assert FileResult(got) in REPORT_OUTCOMES
            check_entry(case_dir, outcome, seen)
        except AssertionError as exc:
            mismatches.append(f"{case} {exc}".splitlines()[0])
    return len(expect), mismatches


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory in RAM (/dev/shm) when there is one: ~6000 files, no disk waits."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="jsqa-matrix-") as scratch:
        yield Path(scratch)


def run_matrix(root: Path, faults: FaultSet | None = None) -> tuple[int, list[str]]:
    """Every (flags, overwrite mode, symlink mode); the executable bit alternates."""
    checked, mismatches = 0, []
    for n, (flags, mode, links) in enumerate(itertools.product(
            ALL_TRANSFER_FLAG_SETS, OverwriteMode, SymlinkMode)):
        count, found = run_case(root, flags, mode, links, bool(n % 2), faults)
        checked += count
        mismatches += found
    return checked, mismatches


def test_storage_matrix_matches_oracle(fast_tmp: Path) -> None:
    """storage/matrix/all-combinations: disk == oracle for 16 x 4 x 2 x 11 (x 4 sources)."""
    checked, mismatches = run_matrix(fast_tmp)
    assert mismatches == []
    assert checked == 16 * 4 * 2 * len(PRE_STATES) * len(SOURCES)


STORAGE_FAULTS = (
    # the three oracle bugs of issue 10, now defects of the server's decision code
    "only-newer-inverted", "same-size-overwrites-any", "no-jetbak",
    "never-overwrites", "no-partfile", "ignore-write-mtime", "mtime-off-by-one",
    "none-flag-writes", "only-newer-without-flag", "only-newer-ignored-in-place",
    "mtime-set-before-data", "same-size-refuses-empty", "never-writes-in-place",
    "always-keeps-original", "versioned-backup-is-new", "executable-bit-dropped",
    "zero-byte-not-created", "empty-dir-not-created",
)
"""Every fault that lives in the receiver's storage (decide.py, finish.py, storage.py)."""


@pytest.mark.parametrize("fault", STORAGE_FAULTS)
def test_storage_matrix_catches_fault(fast_tmp: Path, fault: str) -> None:
    """storage/matrix/catches-fault: with a storage fault on, the same comparison fails."""
    _, mismatches = run_matrix(fast_tmp, FaultSet([fault]))
    assert mismatches, f"{fault}: the storage matrix saw no difference from the oracle"


def test_every_storage_fault_is_listed() -> None:
    """A fault asked by the receiver's storage code is in STORAGE_FAULTS (so it is proven
    visible above); sender-side and control-plane faults are not."""
    engine = Path(__file__).resolve().parents[2] / "jetstream_qa/refserver/engine"
    sources = "".join((engine / f).read_text(encoding="utf-8")
                      for f in ("decide.py", "finish.py", "storage.py", "write_plan.py"))
    asked = {f for f in FAULTS
             if f'"{f}"' in sources}
    assert asked - {"write-outside-root"} == set(STORAGE_FAULTS)


@pytest.mark.parametrize("executable", [True, False])
def test_storage_exec_bit_over_opposite_original(tmp_path: Path, executable: bool) -> None:
    """storage/exec-bit/copied: the executable bit is the source's, whatever was there."""
    target = tmp_path / "f"
    target.write_bytes(b"x" * 10)
    target.chmod(0o644 if executable else 0o755)
    plan = ReceiveStorage(tmp_path).begin(
        [Entry("f", 10, SRC_MTIME_US, executable)], destination_path=None,
        flags=3, overwrite_mode=int(OverwriteMode.IN_PLACE_SAME_SIZE))
    plan.write(0, 0, b"y" * 10)
    assert plan.finish()[0]["outcome"] == "written"
    assert bool(target.stat().st_mode & 0o111) is executable
    assert target.read_bytes() == b"y" * 10
