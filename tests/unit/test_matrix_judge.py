"""Unit tests of jetstream_qa.matrix_judge against real files in a tmp dir and the oracle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa import semantics as sem
from jetstream_qa.constants import OverwriteMode, SymlinkMode
from jetstream_qa.matrix_judge import References, digest_of, judge, observe

SRC = b"source bytes " * 80
ORIG = b"original bytes" * 40
SRC_MTIME = 1_577_836_800_123_456
ORIG_MTIME = SRC_MTIME - 86_400_000_000


def _write(path: Path, data: bytes, mtime_us: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000))


def _refs(now_lo: int = 0, now_hi: int = 2**62) -> References:
    return References({sem.Content.SOURCE: digest_of(SRC), sem.Content.ORIGINAL: digest_of(ORIG),
                       sem.Content.SYNTHETIC: digest_of(sem.synthetic_bytes(0, len(SRC)))},
                      SRC_MTIME, ORIG_MTIME, (now_lo, now_hi))


def _outcome(flags: int, mode: OverwriteMode, pre: sem.DestPreState) -> sem.Outcome:
    source = sem.SourceEntry("f.dat", len(SRC), SRC_MTIME)
    return sem.expected_outcome(flags=flags, overwrite_mode=mode, cipher=0,
                                symlink_mode=SymlinkMode.FOLLOW, source=source, pre=pre)


def _judge(tmp_path: Path, outcome: sem.Outcome, mode: OverwriteMode,
           pre_kind: sem.PreKind = sem.PreKind.FILE) -> list:
    t = tmp_path / "f.dat"
    siblings = [p.name for p in tmp_path.iterdir() if p.name.startswith("f.dat")]
    return judge(outcome, name="f.dat", overwrite=mode, pre_kind=pre_kind, target=observe(t),
                 siblings=siblings,
                 partfile=observe(Path(sem.partfile_name(str(t)))),
                 jetbak=observe(Path(sem.jetbak_name(str(t)))), refs=_refs())


PRE_FILE = sem.DestPreState(sem.PreKind.FILE, len(ORIG), ORIG_MTIME)


def test_versioned_replace_with_backup_conforms(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    _write(tmp_path / "f.dat.jetbak", ORIG, ORIG_MTIME)
    assert _judge(tmp_path, out, OverwriteMode.VERSIONED) == []


def test_jetbak_mtime_is_ours_but_its_content_documented(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    _write(tmp_path / "f.dat.jetbak", ORIG, SRC_MTIME)  # copied, not renamed: new mtime
    found = _judge(tmp_path, out, OverwriteMode.VERSIONED)
    assert [(m.path, m.field, m.documented) for m in found] == [
        ("f.dat.jetbak", "mtime", False)]
    _write(tmp_path / "f.dat.jetbak", SRC, ORIG_MTIME)  # wrong content
    found = _judge(tmp_path, out, OverwriteMode.VERSIONED)
    assert ("f.dat.jetbak", "content", True) in [(m.path, m.field, m.documented) for m in found]


def test_versioned_without_backup_is_a_documented_mismatch(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.VERSIONED, PRE_FILE)
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    found = _judge(tmp_path, out, OverwriteMode.VERSIONED)
    assert [(m.path, m.field, m.documented) for m in found] == [("f.dat.jetbak", "kind", True)]


def test_never_overwritten_target_is_documented_but_partfile_name_is_ours(tmp_path):
    out = _outcome(3, OverwriteMode.NEVER, PRE_FILE)
    _write(tmp_path / "f.dat", ORIG, ORIG_MTIME)
    found = _judge(tmp_path, out, OverwriteMode.NEVER)  # no partfile at all: documented
    assert [(m.field, m.documented) for m in found] == [("kind", False),
                                                         ("left in place", True)]
    _write(tmp_path / "f.dat.part-other-name", SRC, SRC_MTIME)  # a partfile, named otherwise
    found = _judge(tmp_path, out, OverwriteMode.NEVER)
    assert [(m.field, m.documented) for m in found] == [("kind", False)]
    assert "partfile" in found[0].path
    (tmp_path / "f.dat.part-other-name").unlink()
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)  # target replaced: documented breach
    found = _judge(tmp_path, out, OverwriteMode.NEVER)
    assert any(m.documented and m.path == "f.dat" and m.field == "content" for m in found)


def test_no_write_flag_leaves_original_untouched(tmp_path):
    out = _outcome(1, OverwriteMode.ALWAYS, PRE_FILE)
    _write(tmp_path / "f.dat", ORIG, ORIG_MTIME)
    assert _judge(tmp_path, out, OverwriteMode.ALWAYS) == []
    os.utime(tmp_path / "f.dat", ns=(0, 5_000_000_000))
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS)
    assert [(m.field, m.documented) for m in found] == [("mtime", True)]


def test_synthetic_content_is_ours_but_size_is_documented(tmp_path):
    out = _outcome(2, OverwriteMode.ALWAYS, sem.DestPreState())
    _write(tmp_path / "f.dat", b"x" * len(SRC), SRC_MTIME)
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert [(m.field, m.documented) for m in found] == [("content", False)]
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)  # the source itself: the disk was read
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert [(m.field, m.documented, m.actual) for m in found] == [
        ("content", True, "the source's bytes")]
    _write(tmp_path / "f.dat", b"x" * 3, SRC_MTIME)
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert ("size", True) in [(m.field, m.documented) for m in found]


def test_write_mtime_to_the_second_is_documented_microseconds_ours(tmp_path):
    out = _outcome(3 | 4, OverwriteMode.ALWAYS, sem.DestPreState())
    _write(tmp_path / "f.dat", SRC, SRC_MTIME - 456)  # same second, other µs
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert [(m.field, m.documented) for m in found] == [("mtime", False)]
    _write(tmp_path / "f.dat", SRC, SRC_MTIME - 5_000_000)
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert [(m.field, m.documented) for m in found] == [("mtime", True)]


def test_directory_in_the_way_is_ours(tmp_path):
    pre = sem.DestPreState(sem.PreKind.DIRECTORY)
    out = _outcome(3, OverwriteMode.ALWAYS, pre)
    (tmp_path / "f.dat").mkdir()
    dir_kind = sem.PreKind.DIRECTORY
    assert _judge(tmp_path, out, OverwriteMode.ALWAYS, dir_kind) == []
    (tmp_path / "f.dat").rmdir()
    _write(tmp_path / "f.dat", SRC, SRC_MTIME)
    found = _judge(tmp_path, out, OverwriteMode.ALWAYS, dir_kind)
    assert found and not any(m.documented for m in found)


@pytest.mark.parametrize("kind", ["dir", "link", "missing"])
def test_observe_kinds(tmp_path, kind):
    p = tmp_path / "x"
    if kind == "dir":
        p.mkdir()
    elif kind == "link":
        p.symlink_to(tmp_path / "nowhere")
    got = observe(p)
    assert got.kind is {"dir": sem.PreKind.DIRECTORY, "link": sem.PreKind.SYMLINK,
                        "missing": sem.PreKind.ABSENT}[kind]


@pytest.mark.parametrize("mode", [OverwriteMode.NEVER, OverwriteMode.IN_PLACE_SAME_SIZE])
def test_creating_an_absent_target_is_ours_for_never_and_in_place(tmp_path, mode):
    out = _outcome(3, mode, sem.DestPreState())
    found = _judge(tmp_path, out, mode, sem.PreKind.ABSENT)  # nothing written at all
    assert [(m.field, m.documented) for m in found] == [("kind", False)]
    found = _judge(tmp_path, _outcome(3, OverwriteMode.ALWAYS, sem.DestPreState()),
                   OverwriteMode.ALWAYS, sem.PreKind.ABSENT)
    assert [(m.field, m.documented) for m in found] == [("kind", True)]
