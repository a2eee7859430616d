"""storage/matrix: the receiver's disk result equals the oracle for every combination.

16 flag sets x 4 overwrite modes x 2 symlink modes x 9 destination pre-states, each for a
regular source file and for a source symlink to one. Each (flags, mode, symlink mode) runs as
one ReceiveStorage.begin() over all pre-states, fed the way the engine feeds it (source or
synthetic bytes, in out-of-order chunks, only where wants_data), and every path is then
compared with expected_outcome(): content, size, mtime rule, executable bit, partfile, .jetbak.
"""

from __future__ import annotations

import functools
import itertools
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jetstream_qa.constants import (
    ALL_TRANSFER_FLAG_SETS,
    MinCipher,
    OverwriteMode,
    SymlinkMode,
    TransferFlag,
)
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage
from jetstream_qa.semantics import (
    Content,
    DestPreState,
    FileResult,
    FileState,
    MtimeRule,
    Outcome,
    PreKind,
    SourceEntry,
    SourceSymlink,
    expected_outcome,
    jetbak_name,
    partfile_name,
    synthetic_bytes,
)

SRC_SIZE = 1000  # not a multiple of 256 on purpose
SRC_MTIME_US = 1_700_000_000_123_456
OLDER_US = SRC_MTIME_US - 10_000_000
NEWER_US = SRC_MTIME_US + 10_000_000
CLOCK_SLACK_NS = 100_000_000  # file-system timestamps come from a coarse clock


@dataclass(frozen=True)
class PreSpec:
    """How to plant one destination pre-state."""

    name: str
    kind: PreKind
    size: int = 0
    mtime_us: int = 0


PRE_STATES = (
    PreSpec("absent", PreKind.ABSENT),
    PreSpec("same-size-older", PreKind.FILE, SRC_SIZE, OLDER_US),
    PreSpec("same-size-newer", PreKind.FILE, SRC_SIZE, NEWER_US),
    PreSpec("other-size-older", PreKind.FILE, 333, OLDER_US),
    PreSpec("other-size-newer", PreKind.FILE, 333, NEWER_US),
    PreSpec("empty-older", PreKind.FILE, 0, OLDER_US),
    PreSpec("empty-newer", PreKind.FILE, 0, NEWER_US),
    PreSpec("directory", PreKind.DIRECTORY),
    PreSpec("symlink", PreKind.SYMLINK),
)


def source_bytes(name: str) -> bytes:
    """Distinct source content per destination name."""
    seed = name.encode() + b"|"
    return (seed * (SRC_SIZE // len(seed) + 1))[:SRC_SIZE]


@functools.cache
def original_bytes(name: str, size: int) -> bytes:
    """Pre-existing content, unlike any source or synthetic content."""
    return bytes((i * 7 + len(name)) % 251 for i in range(size))


def plant(case_dir: Path, name: str, spec: PreSpec) -> DestPreState:
    """Create the pre-state at case_dir/name and return it as the oracle sees it."""
    path = case_dir / name
    if spec.kind is PreKind.FILE:
        path.write_bytes(original_bytes(name, spec.size))
        os.utime(path, ns=(spec.mtime_us * 1000, spec.mtime_us * 1000))
        return DestPreState(PreKind.FILE, spec.size, spec.mtime_us, content_tag=name)
    if spec.kind is PreKind.DIRECTORY:
        path.mkdir()
        (path / "keep.txt").write_bytes(b"keep")
        return DestPreState(PreKind.DIRECTORY)
    if spec.kind is PreKind.SYMLINK:
        (case_dir / f"{name}.linktarget").write_bytes(b"link target")
        path.symlink_to(f"{name}.linktarget")
        return DestPreState(PreKind.SYMLINK)
    return DestPreState()


def feed(plan: ReceivePlan, flags: TransferFlag) -> None:
    """Feed data like the engine: only wanted entries, 256-byte multiples, reverse order."""
    for index, entry in enumerate(plan.entries):
        if not plan.wants_data(index):
            continue
        content = (source_bytes(entry.dest_path) if flags & TransferFlag.READ
                   else synthetic_bytes(0, entry.size))
        offsets = list(range(0, entry.size, 512))
        for offset in reversed(offsets):
            plan.write(index, offset, memoryview(content)[offset:offset + 512])


def check_state(path: Path, state: FileState, *, src: bytes, name: str, pre: PreSpec,
                window: tuple[int, int], src_mtime_us: int) -> None:
    """Assert that ``path`` holds ``state``."""
    where = f"{path.name}: "
    if state.kind is PreKind.ABSENT:
        assert not os.path.lexists(path), where + "should not exist"
        return
    st = os.lstat(path)
    if state.kind is PreKind.DIRECTORY:
        assert stat.S_ISDIR(st.st_mode), where + "should be a directory"
        if pre.kind is PreKind.DIRECTORY:
            assert (path / "keep.txt").read_bytes() == b"keep", where + "directory was touched"
        return
    if state.kind is PreKind.SYMLINK:
        assert stat.S_ISLNK(st.st_mode), where + "should still be a symlink"
        assert (path.parent / f"{name}.linktarget").read_bytes() == b"link target"
        return
    assert stat.S_ISREG(st.st_mode), where + "should be a regular file"
    expected = {
        Content.SOURCE: src,
        Content.SYNTHETIC: synthetic_bytes(0, len(src)),
        Content.ORIGINAL: original_bytes(name, pre.size),
    }[state.content]
    assert st.st_size == state.size == len(expected), where + "size"
    assert path.read_bytes() == expected, where + f"content should be {state.content}"
    if state.mtime is MtimeRule.SOURCE:
        assert st.st_mtime_ns == src_mtime_us * 1000, where + "mtime should be the source's"
    elif state.mtime is MtimeRule.ORIGINAL:
        assert st.st_mtime_ns == pre.mtime_us * 1000, where + "mtime should be untouched"
    elif state.mtime is MtimeRule.NOW:
        assert window[0] <= st.st_mtime_ns <= window[1], where + "mtime should be 'now'"
    if state.executable is not None:
        assert bool(st.st_mode & 0o111) == state.executable, where + "executable bit"


def check_entry(case_dir: Path, name: str, outcome: Outcome, spec: PreSpec,
                window: tuple[int, int]) -> None:
    """Compare target, partfile and .jetbak of one destination name with the oracle."""
    src = source_bytes(name)
    args = {"src": src, "name": name, "pre": spec, "window": window,
            "src_mtime_us": SRC_MTIME_US}
    check_state(case_dir / name, outcome.target, **args)
    part = Path(partfile_name(str(case_dir / name)))
    if outcome.partfile is not None:
        assert outcome.partfile_state is not None
        check_state(part, outcome.partfile_state, **args)
    else:
        assert not part.exists(), f"{name}: no partfile may be left behind"
    bak = Path(jetbak_name(str(case_dir / name)))
    if outcome.jetbak is not None:
        assert outcome.jetbak_state is not None
        check_state(bak, outcome.jetbak_state, **args)
    else:
        assert not bak.exists(), f"{name}: no .jetbak expected"
    assert not Path(str(case_dir / name) + ".jetplan").exists()


REPORT_OUTCOMES = {FileResult.WRITTEN, FileResult.SKIPPED, FileResult.ERROR,
                   FileResult.NOT_WRITTEN}


def run_case(root: Path, flags: TransferFlag, mode: OverwriteMode, links: SymlinkMode,
             executable: bool) -> int:
    """One begin()/feed/finish() over every pre-state; returns the number of checks."""
    case = f"case-{int(flags)}-{int(mode)}-{int(links)}"
    case_dir = root / case
    case_dir.mkdir()
    entries: list[Entry] = []
    expect: list[tuple[str, Outcome, PreSpec]] = []
    oracle: Callable[..., Outcome] = expected_outcome
    for spec in PRE_STATES:
        for kind in ("file", "link"):
            name = f"{spec.name}.{kind}"
            pre = plant(case_dir, name, spec)
            entry = SourceEntry(name, SRC_SIZE, SRC_MTIME_US, executable, False)
            source: SourceEntry | SourceSymlink = (
                entry if kind == "file" else SourceSymlink(name, entry))
            outcome = oracle(flags=flags, overwrite_mode=mode, cipher=MinCipher.NONE,
                             symlink_mode=links, source=source, pre=pre)
            expect.append((name, outcome, spec))
            if outcome.result is not FileResult.IGNORED:  # IGNORE: never in the manifest
                entries.append(Entry(name, SRC_SIZE, SRC_MTIME_US, executable, False))
    t0 = time.time_ns() - CLOCK_SLACK_NS
    plan = ReceiveStorage(root, max_open=4).begin(
        entries, destination_path=f"/{case}", flags=int(flags), overwrite_mode=int(mode))
    feed(plan, flags)
    results = {r["destPath"]: r for r in plan.finish()}
    window = (t0, time.time_ns() + CLOCK_SLACK_NS)
    for name, outcome, spec in expect:
        if outcome.result is FileResult.IGNORED:
            assert name not in results
        else:
            assert results[name]["outcome"] == str(outcome.result), (name, results[name])
            assert FileResult(results[name]["outcome"]) in REPORT_OUTCOMES
        check_entry(case_dir, name, outcome, spec, window)
    return len(expect)


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory in RAM (/dev/shm) when there is one: ~4000 files, no disk waits."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="jsqa-matrix-") as scratch:
        yield Path(scratch)


def test_storage_matrix_matches_oracle(fast_tmp: Path) -> None:
    """storage/matrix/all-combinations: disk == oracle for 16 x 4 x 2 x 9 (x file/link)."""
    checked = 0
    for n, (flags, mode, links) in enumerate(itertools.product(
            ALL_TRANSFER_FLAG_SETS, OverwriteMode, SymlinkMode)):
        checked += run_case(fast_tmp, flags, mode, links, executable=bool(n % 2))
    assert checked == 16 * 4 * 2 * len(PRE_STATES) * 2


@pytest.mark.parametrize("executable", [True, False])
def test_storage_exec_bit_over_opposite_original(tmp_path: Path, executable: bool) -> None:
    """storage/exec-bit/copied: the executable bit is the source's, whatever was there."""
    target = tmp_path / "f"
    target.write_bytes(b"x" * 10)
    target.chmod(0o644 if executable else 0o755)
    plan = ReceiveStorage(tmp_path).begin(
        [SourceEntry("f", 10, SRC_MTIME_US, executable)], destination_path=None,
        flags=3, overwrite_mode=int(OverwriteMode.IN_PLACE_SAME_SIZE))
    plan.write(0, 0, b"y" * 10)
    assert plan.finish()[0]["outcome"] == "written"
    assert bool(target.stat().st_mode & 0o111) is executable
    assert target.read_bytes() == b"y" * 10
