"""storage/*: path safety, resume, descriptor budget and edge cases of ReceiveStorage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.constants import OverwriteMode, TransferFlag
from jetstream_qa.errors import InvalidArgument, UsageError
from jetstream_qa.refserver.engine import fs_sync
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import MAX_NAME_BYTES, ReceivePlan, ReceiveStorage
from jetstream_qa.refserver.engine.synthetic import synthetic_bytes

RW = int(TransferFlag.READ_WRITE)
ALWAYS = int(OverwriteMode.ALWAYS)
MTIME_US = 1_650_000_000_000_000


def entry(path: str, size: int = 10, *, exe: bool = False, empty_dir: bool = False) -> Entry:
    return Entry(path, size, MTIME_US, exe, empty_dir)


def tree(root: Path) -> list[str]:
    """Every path below root (links not followed), for 'nothing touched' checks."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def begin(root: Path, entries: list[Entry], **kw: object) -> ReceivePlan:
    settings: dict[str, object] = {"destination_path": None, "flags": RW, "overwrite_mode": ALWAYS}
    settings.update(kw)
    return ReceiveStorage(root).begin(entries, **settings)  # type: ignore[arg-type]


# --- paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    "../escape", "a/../../escape", "a/..", "..", "x\x00y", "a/" + "n" * (MAX_NAME_BYTES + 1),
    "/".join(["d" * 200] * 21), "/", ".", "./",
])
def test_storage_paths_refused_before_any_write(tmp_path: Path, bad: str) -> None:
    """storage/paths/escape-refused: '..', NUL, over-long and empty names raise, nothing written."""
    root = tmp_path / "root"
    with pytest.raises(InvalidArgument):
        begin(root, [entry("fine.txt"), entry(bad)])
    assert tree(root) == []


@pytest.mark.parametrize("bad", ["../up", "a/../../up", "x\x00", "/".join(["d" * 200] * 15)])
def test_storage_destination_path_refused(tmp_path: Path, bad: str) -> None:
    """storage/paths/destination-path-checked: destinationPath obeys the same rules."""
    with pytest.raises(InvalidArgument):
        begin(tmp_path / "root", [entry("/".join(["f" * 200] * 6))], destination_path=bad)


def test_storage_absolute_paths_count_from_root(tmp_path: Path) -> None:
    """storage/paths/absolute-under-root: /<sandbox>/<destinationPath>/<target path>."""
    root = tmp_path / "root"
    plan = begin(root, [entry("/mnt/data/file.txt", 3)], destination_path="/repository1")
    plan.write(0, 0, b"abc")
    assert plan.finish()[0]["outcome"] == "written"
    assert (root / "repository1/mnt/data/file.txt").read_bytes() == b"abc"
    assert not Path("/repository1").exists()


def test_storage_planted_symlink_to_outside_refused(tmp_path: Path) -> None:
    """storage/paths/planted-symlink: a link in the tree leading outside the root is refused."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(InvalidArgument):
        begin(root, [entry("ok"), entry("sub/evil.txt")])
    with pytest.raises(InvalidArgument):
        begin(root, [entry("x")], destination_path="sub")
    (root / "target").symlink_to(outside / "victim")
    with pytest.raises(InvalidArgument):
        begin(root, [entry("target")])
    assert list(outside.iterdir()) == []
    assert sorted(os.listdir(root)) == ["sub", "target"]


def test_storage_symlink_inside_root_is_followed_for_parents(tmp_path: Path) -> None:
    """storage/paths/inner-symlink: a parent link that stays inside the root is used."""
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to("real")
    plan = begin(root, [entry("alias/f", 2)])
    plan.write(0, 0, b"hi")
    assert plan.finish()[0]["outcome"] == "written"
    assert (root / "real/f").read_bytes() == b"hi"


def test_storage_duplicate_dest_paths_refused(tmp_path: Path) -> None:
    """storage/paths/duplicates: two entries for one path (after normalising) are refused."""
    with pytest.raises(InvalidArgument):
        begin(tmp_path, [entry("a/b"), entry("/a/./b")])


def test_storage_parent_is_a_file_is_a_per_entry_error(tmp_path: Path) -> None:
    """storage/errors/parent-file: a file where a folder is needed fails that entry only."""
    (tmp_path / "blocker").write_bytes(b"x")
    plan = begin(tmp_path, [entry("blocker/f", 1), entry("good", 1)])
    assert not plan.wants_data(0)
    plan.write(1, 0, b"g")
    results = plan.finish()
    assert [r["outcome"] for r in results] == ["error", "written"]
    assert (tmp_path / "blocker").read_bytes() == b"x"
    no_write = begin(tmp_path, [entry("blocker/f", 1)], flags=int(TransferFlag.READ))
    assert no_write.finish()[0]["outcome"] == "not-written"


@pytest.mark.parametrize(("flags", "mode"), [(16, ALWAYS), (-1, ALWAYS), (RW, 1), (RW, 6)])
def test_storage_bad_settings_refused(tmp_path: Path, flags: int, mode: int) -> None:
    """storage/api/settings-checked: flags outside 0..15 or an unknown mode: InvalidArgument."""
    with pytest.raises(InvalidArgument):
        begin(tmp_path, [entry("f")], flags=flags, overwrite_mode=mode)


# --- behaviour -----------------------------------------------------------------------------
def test_storage_empty_dirs_and_zero_size_files(tmp_path: Path) -> None:
    """storage/empty: empty directories are created (with mtime); 0-byte files appear."""
    plan = begin(tmp_path, [entry("d/e", 0, empty_dir=True), entry("z", 0)],
                 flags=RW | int(TransferFlag.WRITE_MTIME))
    assert [r["outcome"] for r in plan.finish()] == ["written", "written"]
    assert (tmp_path / "d/e").is_dir()
    assert (tmp_path / "d/e").stat().st_mtime_ns == MTIME_US * 1000
    assert (tmp_path / "z").read_bytes() == b""


def test_storage_write_outside_entry_refused(tmp_path: Path) -> None:
    """storage/api/range-checked: a write past the entry's size is a caller error."""
    plan = begin(tmp_path, [entry("f", 4)])
    with pytest.raises(UsageError):
        plan.write(0, 2, b"abc")
    plan.finish()
    with pytest.raises(UsageError):
        plan.write(0, 0, b"a")


def test_storage_fresh_begin_discards_stale_partfile(tmp_path: Path) -> None:
    """storage/resume/fresh-truncates: without resume a stale partfile's bytes are not reused."""
    (tmp_path / "f.jetpart").write_bytes(b"S" * 8)
    plan = begin(tmp_path, [entry("f", 8)])
    plan.write(0, 0, b"new!")
    plan.abort()
    assert (tmp_path / "f.jetpart").read_bytes() == b"new!" + bytes(4)


@pytest.mark.parametrize("mode", list(OverwriteMode))
def test_storage_resume_continues_without_truncating(tmp_path: Path, mode: OverwriteMode) -> None:
    """storage/resume/continues: after abort (SIGKILL stand-in) a resumed begin keeps data.

    With WRITE_ONLY_NEWER the in-place target is newer after the first run; the recorded
    decision (NAME.jetplan) must keep it from being skipped on resume.
    """
    flags = RW | int(TransferFlag.WRITE_ONLY_NEWER)
    size = 4096
    data = synthetic_bytes(0, size)
    (tmp_path / "f").write_bytes(b"o" * size)
    os.utime(tmp_path / "f", ns=((MTIME_US - 5) * 1000,) * 2)
    first = begin(tmp_path, [entry("f", size)], flags=flags, overwrite_mode=int(mode))
    first.write(0, 0, data[:2048])
    first.abort()
    second = begin(tmp_path, [entry("f", size)], flags=flags, overwrite_mode=int(mode),
                   resume=True)
    assert second.wants_data(0)
    second.write(0, 2048, data[2048:])
    assert second.finish()[0]["outcome"] == "written"
    final = tmp_path / ("f.jetpart" if mode is OverwriteMode.NEVER else "f")
    assert final.read_bytes() == data
    assert not (tmp_path / "f.jetplan").exists()


def test_storage_many_files_within_fd_budget(tmp_path: Path) -> None:
    """storage/fds/bounded: 1200 files interleaved through 8 descriptors all land intact."""
    count, max_open = 1200, 8
    entries = [entry(f"d{i % 10}/f{i}", 300) for i in range(count)]
    plan = ReceiveStorage(tmp_path, max_open=max_open).begin(
        entries, destination_path="many", flags=RW, overwrite_mode=ALWAYS)
    fd_dir = Path("/proc/self/fd")
    before = len(list(fd_dir.iterdir()))
    peak = 0
    for offset in (0, 256):  # two passes: every file is evicted and reopened
        for i in range(count):
            chunk = synthetic_bytes(offset + i, 300)[offset:offset + 256]
            plan.write(i, offset, chunk[: 300 - offset])
            if i % 151 == 0:
                peak = max(peak, len(list(fd_dir.iterdir())) - before)
    plan.flush()
    results = plan.finish()
    assert peak <= max_open
    assert len(list(fd_dir.iterdir())) <= before
    assert all(r["outcome"] == "written" for r in results)
    for i in (0, 1, 999, count - 1):
        want = (synthetic_bytes(i, 300)[:256] + synthetic_bytes(256 + i, 300)[256:300])
        assert (tmp_path / f"many/d{i % 10}/f{i}").read_bytes() == want


@pytest.mark.parametrize("flags", [0, 1, 1 | 4, 8])
def test_storage_without_write_creates_nothing(tmp_path: Path, flags: int) -> None:
    """storage/flags/no-write: not even the destinationPath folder or an empty dir appears."""
    root = tmp_path / "root"
    plan = begin(root, [entry("a/f", 5), entry("e", 0, empty_dir=True)],
                 destination_path="dest", flags=flags)
    assert not plan.wants_data(0)
    plan.write(0, 0, b"12345")
    assert [r["outcome"] for r in plan.finish()] == ["not-written", "not-written"]
    assert tree(root) == []


# --- staged nowhere else: an existing .jetbak, equal mtimes, 0-byte targets -----------------
def _plant(path: Path, data: bytes, mtime_us: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000))


def test_storage_versioned_replaces_an_existing_jetbak(tmp_path: Path) -> None:
    """storage/versioned/existing-jetbak: the original becomes NAME.jetbak; an older
    NAME.jetbak is replaced (ours: one generation of backup, docs/semantics.md)."""
    _plant(tmp_path / "f", b"original", MTIME_US - 10)
    (tmp_path / "f.jetbak").write_bytes(b"an older backup")
    plan = begin(tmp_path, [entry("f", 3)], overwrite_mode=int(OverwriteMode.VERSIONED))
    plan.write(0, 0, b"new")
    assert plan.finish()[0]["outcome"] == "written"
    assert (tmp_path / "f").read_bytes() == b"new"
    assert (tmp_path / "f.jetbak").read_bytes() == b"original"
    assert tree(tmp_path) == ["f", "f.jetbak"]


@pytest.mark.parametrize(("delta_us", "written"), [(0, True), (1, False), (-1, True)])
def test_storage_only_newer_at_equal_mtime(tmp_path: Path, delta_us: int, written: bool) -> None:
    """storage/only-newer/equal-mtime: a copy 1 µs newer is skipped; an equal mtime is not
    "newer" and is written (ours: strictly greater, to the microsecond)."""
    _plant(tmp_path / "f", b"old", MTIME_US + delta_us)
    plan = begin(tmp_path, [entry("f", 3)], flags=RW | int(TransferFlag.WRITE_ONLY_NEWER))
    if plan.wants_data(0):
        plan.write(0, 0, b"new")
    assert plan.finish()[0]["outcome"] == ("written" if written else "skipped")
    assert (tmp_path / "f").read_bytes() == (b"new" if written else b"old")


@pytest.mark.parametrize(("existing", "size", "outcome"), [
    (b"", 5, "written"), (b"", 0, "written"), (b"12345", 0, "skipped"), (b"123", 5, "skipped")])
def test_storage_same_size_and_zero_byte_targets(tmp_path: Path, existing: bytes, size: int,
                                                 outcome: str) -> None:
    """storage/same-size/zero-bytes: IN_PLACE_SAME_SIZE "Overwrite files only if the existing
    file is same or zero (0) size" -- an empty target takes any size; a 0-byte source does
    not fit over a non-empty target."""
    _plant(tmp_path / "f", existing, MTIME_US - 10)
    plan = begin(tmp_path, [entry("f", size)],
                 overwrite_mode=int(OverwriteMode.IN_PLACE_SAME_SIZE))
    if size and plan.wants_data(0):
        plan.write(0, 0, b"n" * size)
    assert plan.finish()[0]["outcome"] == outcome
    assert (tmp_path / "f").read_bytes() == (b"n" * size if outcome == "written" else existing)
    assert tree(tmp_path) == ["f"]


# --- durability ---------------------------------------------------------------------------
@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "no-syncfs"])
def test_storage_flush_fsyncs_every_written_file_once_and_fails_only_the_one_that_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool) -> None:
    """storage/flush: the files still open are fsync'ed, evicted ones reopened and fsync'ed --
    or covered by one syncfs when more were evicted than descriptors stay open; a failing
    fsync fails that entry alone (an error result)."""
    count, max_open = 20, 8
    plan = ReceiveStorage(tmp_path, max_open=max_open).begin(
        [entry(f"f{i}", 4) for i in range(count)], destination_path=None, flags=RW,
        overwrite_mode=ALWAYS)
    for i in range(count):
        plan.write(i, 0, b"data")
    held = {f"f{i}" for i in plan._fds}  # which stay open is the point of the test
    evicted = {f"f{i}" for i in range(count)} - held
    assert len(held) > 1 and len(evicted) > max_open
    failing = {min(held), min(evicted)}
    synced: set[str] = set()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].split(".")[0]
        assert name not in synced, f"{name} fsync'ed twice"
        synced.add(name)
        if name in failing:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(fs_sync, "syncfs", lambda path: syncfs)
    plan.flush()
    assert synced == (held if syncfs else held | evicted)
    failed = {r["destPath"].lstrip("/") for r in plan.finish() if r["outcome"] == "error"}
    assert failed == failing & synced
