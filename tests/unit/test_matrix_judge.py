"""Unit tests of the matrix judge against real files in a tmp dir and the judge's oracle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.conformance_core import oracle as o
from jetstream_qa.conformance_core.matrix.judge import (
    References,
    digest_of,
    judge,
    measure_mtime_granularity,
    observe,
    tolerance_for,
    typed,
)
from jetstream_qa.constants import OverwriteMode, SymlinkMode

SRC = b"source bytes " * 80
ORIG = b"original bytes" * 40
SRC_MTIME = 1_577_836_800_123_456
ORIG_MTIME = SRC_MTIME - 86_400_000_000


def _write(path: Path, data: bytes, mtime_us: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000))


def _refs(tolerance_us: int = 0) -> References:
    return References({o.Content.SOURCE: digest_of(SRC), o.Content.ORIGINAL: digest_of(ORIG),
                       o.Content.SYNTHETIC: digest_of(o.synthetic_bytes(0, len(SRC)))},
                      SRC_MTIME, ORIG_MTIME, (0, 2**62), tolerance_us, "test")


def _outcome(flags: int, mode: OverwriteMode, pre: o.DestPreState) -> o.ExpectedOutcome:
    source = o.SourceEntry("f.dat", len(SRC), SRC_MTIME)
    return o.expected_outcome(flags=flags, overwrite_mode=mode, cipher=0,
                              symlink_mode=SymlinkMode.FOLLOW, source=source, pre=pre)


def _judge(tmp_path: Path, outcome: o.ExpectedOutcome, refs: References | None = None) -> list:
    t = tmp_path / "f.dat"
    siblings = {p.name: observe(p) for p in tmp_path.iterdir() if p.name.startswith("f.dat")}
    return judge(outcome, name="f.dat", target=observe(t), siblings=siblings,
                 partfile=observe(Path(o.partfile_name(str(t)))),
                 jetbak=observe(Path(o.jetbak_name(str(t)))), refs=refs or _refs())


def _fields(found: list) -> list[tuple[str, bool]]:
    return [(m.field, m.documented) for m in found]


PRE_FILE = o.DestPreState(o.PathKind.FILE, len(ORIG), ORIG_MTIME)


def test_versioned_replace_with_backup_conforms(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    _write(tmp_path / "f.dat.jetbak", ORIG, ORIG_MTIME)
    assert _judge(tmp_path, out) == []


def test_jetbak_mtime_is_ours_but_its_content_documented(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    _write(tmp_path / "f.dat.jetbak", ORIG, SRC_MTIME)  # copied, not renamed: new mtime
    assert [(m.path, m.field, m.documented) for m in _judge(tmp_path, out)] == [
        ("f.dat.jetbak", "mtime", False)]
    _write(tmp_path / "f.dat.jetbak", SRC, ORIG_MTIME)  # wrong content
    found = _judge(tmp_path, out)
    assert ("f.dat.jetbak", "content", True) in [(m.path, m.field, m.documented) for m in found]


def test_versioned_without_backup_is_a_documented_mismatch(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    assert [(m.path, m.field, m.documented) for m in _judge(tmp_path, out)] == [
        ("f.dat.jetbak", "kind", True)]


def test_never_overwritten_target_is_documented_but_partfile_name_is_ours(tmp_path):
    out = _outcome(3, OverwriteMode.NEVER, PRE_FILE)
    _write(tmp_path / "f.dat", ORIG, ORIG_MTIME)
    found = _judge(tmp_path, out)  # no partfile at all: documented
    assert _fields(found) == [("kind", False), ("left in place", True)]
    _write(tmp_path / "f.dat.part-other-name", SRC, SRC_MTIME)  # a partfile, named otherwise
    found = _judge(tmp_path, out)
    assert _fields(found) == [("kind", False)] and "partfile" in found[0].path
    (tmp_path / "f.dat.part-other-name").unlink()
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)  # target replaced: documented breach
    found = _judge(tmp_path, out)
    assert any(m.documented and m.path == "f.dat" and m.field == "content" for m in found)


def test_no_write_flag_leaves_original_untouched(tmp_path):
    out = _outcome(1, OverwriteMode.ALWAYS, PRE_FILE)
    _write(tmp_path / "f.dat", ORIG, ORIG_MTIME)
    assert _judge(tmp_path, out) == []
    os.utime(tmp_path / "f.dat", ns=(0, 5_000_000_000))
    assert _fields(_judge(tmp_path, out)) == [("mtime", True)]
    _write(tmp_path / "f.dat.jetpart", SRC, SRC_MTIME)  # a partfile without WRITE: documented
    os.utime(tmp_path / "f.dat", ns=(ORIG_MTIME * 1000, ORIG_MTIME * 1000))
    assert ("kind", True) in _fields(_judge(tmp_path, out))


def test_read_plus_write_mtime_over_a_file_leaves_the_mtime_open(tmp_path):
    """The vendor text contradicts itself here: the untouched file's mtime is INFO."""
    out = _outcome(1 | 4, OverwriteMode.ALWAYS, PRE_FILE)
    _write(tmp_path / "f.dat", ORIG, SRC_MTIME)  # the server set the source mtime
    assert _fields(_judge(tmp_path, out)) == [("mtime", False)]
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)  # but writing the content stays a breach
    assert ("content", True) in _fields(_judge(tmp_path, out))


def test_synthetic_content_is_ours_but_size_and_not_the_source_are_documented(tmp_path):
    out = _outcome(2, OverwriteMode.ALWAYS, o.DestPreState())
    _write(tmp_path / "f.dat", b"x" * len(SRC), SRC_MTIME)
    assert _fields(_judge(tmp_path, out)) == [("content", False)]
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)  # the source itself: the disk was read
    found = _judge(tmp_path, out)
    assert [(m.field, m.documented, m.actual) for m in found] == [
        ("content", True, "the source's bytes")]
    _write(tmp_path / "f.dat", b"x" * 3, SRC_MTIME)
    assert ("size", True) in _fields(_judge(tmp_path, out))


def test_write_mtime_is_held_to_the_measured_granularity(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.ALWAYS, o.DestPreState())
    _write(tmp_path / "f.dat", SRC, SRC_MTIME - 456)  # same second, other µs
    assert _fields(_judge(tmp_path, out)) == [("mtime", True)]  # a µs file system: a breach
    assert _judge(tmp_path, out, _refs(tolerance_for(10**9))) == []  # a 1 s file system
    _write(tmp_path / "f.dat", SRC, SRC_MTIME - 5_000_000)
    found = _judge(tmp_path, out, _refs(tolerance_for(10**9)))
    assert _fields(found) == [("mtime", True)] and "± 999999 µs: test" in found[0].expected


def test_granularity_is_measured(tmp_path):
    grain = measure_mtime_granularity(tmp_path)
    assert grain >= 1 and list(tmp_path.iterdir()) == []
    assert tolerance_for(1) == tolerance_for(1000) == 0
    assert tolerance_for(2 * 10**9) == 1_999_999


@pytest.mark.parametrize("mode", [OverwriteMode.NEVER, OverwriteMode.IN_PLACE_SAME_SIZE])
def test_an_absent_target_must_appear_under_never_and_in_place(tmp_path, mode):
    out = _outcome(3, mode, o.DestPreState())
    found = _judge(tmp_path, out)  # nothing written at all: a documented breach
    assert _fields(found) == [("kind", False), ("appears", True)]
    _write(tmp_path / "f.dat.tmp-part", SRC, SRC_MTIME)  # kept as a partfile: how is ours
    assert _fields(_judge(tmp_path, out)) == [("kind", False)]
    (tmp_path / "f.dat.tmp-part").unlink()
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    assert _judge(tmp_path, out) == []


def test_directory_in_the_way_is_ours(tmp_path):
    out = _outcome(3, OverwriteMode.ALWAYS, o.DestPreState(o.PathKind.DIRECTORY))
    (tmp_path / "f.dat").mkdir()
    assert _judge(tmp_path, out) == []
    (tmp_path / "f.dat").rmdir()
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    found = _judge(tmp_path, out)
    assert found and not any(m.documented for m in found)


def test_evidence_prints_types():
    assert typed("40") != typed(40)
    assert typed("40") == "'40' (str)" and typed(40) == "40 (int)"


@pytest.mark.parametrize("kind", ["dir", "link", "missing"])
def test_observe_kinds(tmp_path, kind):
    p = tmp_path / "x"
    if kind == "dir":
        p.mkdir()
    elif kind == "link":
        p.symlink_to(tmp_path / "nowhere")
    assert observe(p).kind is {"dir": o.PathKind.DIRECTORY, "link": o.PathKind.SYMLINK,
                               "missing": o.PathKind.ABSENT}[kind]
