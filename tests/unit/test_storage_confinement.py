"""storage/confinement/*: the receiver never writes outside its root through a symlink.

Issue 12: a ``NAME.jetplan`` symlink planted in the storage root was followed by an in-place
transfer and the file it pointed at (outside the root) was overwritten. Each test plants a
symlink at one name the receiver writes (the target, ``NAME.jetpart``, ``NAME.jetplan``,
``NAME.jetbak``, a checkpoint file, a parent directory) pointing at a file outside a tmp
root, before ``begin()`` or between ``begin()`` and the first ``write()``, and checks that
the entry fails with an error naming the file while the outside file keeps its bytes and
its mtime.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.constants import OverwriteMode, TransferFlag
from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver.engine.checkpoints import FileCheckpoints
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage

RW = int(TransferFlag.READ_WRITE)
SAME_SIZE = int(OverwriteMode.IN_PLACE_SAME_SIZE)
NEVER = int(OverwriteMode.NEVER)
ALWAYS = int(OverwriteMode.ALWAYS)
VERSIONED = int(OverwriteMode.VERSIONED)
MTIME_US = 1_650_000_000_000_000
VICTIM_BYTES = b"outside the root: must never change"
VICTIM_MTIME_NS = 1_500_000_000_123_456_789
DATA = b"0123456789"


class Victim:
    """A file outside the root; :meth:`unchanged` compares bytes and mtime (to the ns)."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "outside").mkdir()
        self.path = tmp_path / "outside" / "victim"
        self.path.write_bytes(VICTIM_BYTES)
        os.utime(self.path, ns=(VICTIM_MTIME_NS, VICTIM_MTIME_NS))

    def unchanged(self) -> bool:
        st = os.stat(self.path)
        return (self.path.read_bytes() == VICTIM_BYTES and st.st_mtime_ns == VICTIM_MTIME_NS
                and sorted(os.listdir(self.path.parent)) == ["victim"])


@pytest.fixture
def victim(tmp_path: Path) -> Victim:
    return Victim(tmp_path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


def _begin(root: Path, mode: int, names: tuple[str, ...] = ("f.bin", "other.bin")
           ) -> ReceivePlan:
    entries = [Entry(name, len(DATA), MTIME_US) for name in names]
    return ReceiveStorage(root).begin(entries, destination_path=None, flags=RW,
                                      overwrite_mode=mode)


def _run(plan: ReceivePlan) -> list[dict[str, str]]:
    for index in range(len(plan.entries)):
        plan.write(index, 0, DATA)
    return plan.finish()


def _assert_refused(result: dict[str, str], name: str) -> None:
    assert result["outcome"] == "error", result
    assert name in result["detail"] and "symbolic link" in result["detail"], result


# --- a link planted before the transfer begins --------------------------------------------
@pytest.mark.parametrize(("mode", "sidecar"), [
    (ALWAYS, "f.bin.jetpart"), (NEVER, "f.bin.jetpart"), (VERSIONED, "f.bin.jetpart"),
    (SAME_SIZE, "f.bin.jetplan"), (VERSIONED, "f.bin.jetbak"),
])
def test_planted_sidecar_link_fails_its_entry(root: Path, victim: Victim, mode: int,
                                              sidecar: str) -> None:
    """storage/confinement/sidecar-planted: a link at the sidecar the decision uses fails
    that entry with an error naming it; the other entry is written; outside is unchanged."""
    (root / "f.bin").write_bytes(b"old-bytes!")  # same size: every mode writes or backs up
    (root / sidecar).symlink_to(victim.path)
    results = _run(_begin(root, mode))
    _assert_refused(results[0], sidecar)
    assert results[1]["outcome"] == "written"
    assert (root / "other.bin").read_bytes() == DATA
    assert (root / "f.bin").read_bytes() == b"old-bytes!"
    assert (root / sidecar).is_symlink()  # left as it was: neither followed nor replaced
    assert victim.unchanged()


def test_planted_target_link_refuses_the_transfer(root: Path, victim: Victim) -> None:
    """storage/confinement/target-planted: a target that is a link leading outside refuses
    the transfer before anything is written (docs/semantics.md, Paths and the sandbox)."""
    (root / "f.bin").symlink_to(victim.path)
    with pytest.raises(InvalidArgument, match="symlink"):
        _begin(root, SAME_SIZE)
    assert not (root / "other.bin").exists()
    assert victim.unchanged()


# --- a link swapped in between begin() and the first write() ------------------------------
@pytest.mark.parametrize(("mode", "name", "existing"), [
    (SAME_SIZE, "f.bin", True),  # the target itself, written in place
    (SAME_SIZE, "f.bin.jetplan", True),
    (ALWAYS, "f.bin.jetpart", False),
    (NEVER, "f.bin.jetpart", True),
])
def test_link_planted_after_begin_fails_the_entry(root: Path, victim: Victim, mode: int,
                                                  name: str, existing: bool) -> None:
    """storage/confinement/planted-after-begin: the open is relative to the parent's
    descriptor with O_NOFOLLOW, so a link that appears after begin() is not followed."""
    if existing:
        (root / "f.bin").write_bytes(b"old-bytes!")
    plan = _begin(root, mode)
    if (root / name).exists():
        (root / name).unlink()
    (root / name).symlink_to(victim.path)
    results = _run(plan)
    _assert_refused(results[0], name)
    assert results[1]["outcome"] == "written"
    assert victim.unchanged()


def test_backup_link_planted_after_begin_fails_the_entry(root: Path, victim: Victim) -> None:
    """storage/confinement/jetbak-after-begin: OVERWRITE_VERSIONED checks NAME.jetbak again
    when it finishes; a link there is neither followed nor replaced, the target is kept."""
    (root / "f.bin").write_bytes(b"old-bytes!")
    plan = _begin(root, VERSIONED)
    (root / "f.bin.jetbak").symlink_to(victim.path)
    results = _run(plan)
    assert results[0]["outcome"] == "error" and "f.bin.jetbak" in results[0]["detail"]
    assert (root / "f.bin").read_bytes() == b"old-bytes!"
    assert (root / "f.bin.jetbak").is_symlink()
    assert victim.unchanged()


def test_directory_swapped_for_a_link_between_begin_and_write(root: Path,
                                                              victim: Victim) -> None:
    """storage/confinement/directory-race: a parent directory replaced by a link to outside
    after begin() (deterministically, between begin() and write()) fails those entries;
    nothing is created or changed outside."""
    (root / "sub").mkdir()
    plan = _begin(root, ALWAYS, ("sub/f.bin", "sub/deeper/g.bin", "other.bin"))
    (root / "sub").rename(root / "sub-moved")
    (root / "sub").symlink_to(victim.path.parent)
    results = _run(plan)
    assert [r["outcome"] for r in results] == ["error", "error", "written"]
    assert all("outside the root" in r["detail"] for r in results[:2]), results
    assert os.listdir(root / "sub-moved") == []
    assert victim.unchanged()


def test_directory_swapped_after_the_plan_wrote_into_it(root: Path, victim: Victim) -> None:
    """storage/confinement/cached-directory: once the plan holds a directory open, a link
    swapped in for its path is not followed either: later files land in the real (moved)
    directory, inside the root."""
    (root / "sub").mkdir()
    plan = _begin(root, ALWAYS, ("sub/f.bin", "sub/g.bin"))
    plan.write(0, 0, DATA)
    (root / "sub").rename(root / "sub-moved")
    (root / "sub").symlink_to(victim.path.parent)
    plan.write(1, 0, DATA)
    assert [r["outcome"] for r in plan.finish()] == ["written", "written"]
    assert sorted(os.listdir(root / "sub-moved")) == ["f.bin", "g.bin"]
    assert victim.unchanged()


def test_directory_swapped_for_an_inner_link_is_still_followed(root: Path) -> None:
    """storage/confinement/inner-link-race: a link that stays inside the root is honoured for
    parents (docs/semantics.md) even when it appears after begin()."""
    (root / "real").mkdir()
    (root / "sub").mkdir()
    plan = _begin(root, ALWAYS, ("sub/f.bin",))
    (root / "sub").rmdir()
    (root / "sub").symlink_to("real")
    assert [r["outcome"] for r in _run(plan)] == ["written"]
    assert (root / "real" / "f.bin").read_bytes() == DATA


def test_empty_directory_entry_through_swapped_link(root: Path, victim: Victim) -> None:
    """storage/confinement/mkdir-race: an empty-directory entry whose parent became a link
    to outside fails; no directory appears outside."""
    (root / "sub").mkdir()
    entries = [Entry("sub/empty", 0, MTIME_US, is_empty_dir=True)]
    plan = ReceiveStorage(root).begin(entries, destination_path=None,
                                      flags=RW | int(TransferFlag.WRITE_MTIME),
                                      overwrite_mode=ALWAYS)
    (root / "sub").rmdir()
    (root / "sub").symlink_to(victim.path.parent)
    assert plan.finish()[0]["outcome"] == "error"
    assert victim.unchanged()


def test_resume_ignores_a_plan_file_that_is_a_link(root: Path, victim: Victim) -> None:
    """storage/confinement/jetplan-resume: a resumed begin() never reads a plan record
    through a link (the entry fails as a planted sidecar)."""
    (root / "f.bin").write_bytes(b"old-bytes!")
    (root / "f.bin.jetplan").symlink_to(victim.path)
    plan = ReceiveStorage(root).begin([Entry("f.bin", len(DATA), MTIME_US)],
                                      destination_path=None, flags=RW,
                                      overwrite_mode=SAME_SIZE, resume=True)
    _assert_refused(_run(plan)[0], "f.bin.jetplan")
    assert victim.unchanged()


# --- checkpoint files ----------------------------------------------------------------------
def _checkpoint_name(store: FileCheckpoints, key: tuple[str, int]) -> str:
    store.save(key, {"v": 1})
    (name,) = os.listdir(store.directory)
    (store.directory / name).unlink()
    return name


@pytest.mark.parametrize("suffix", [".json", ".tmp"])
def test_checkpoint_link_is_never_followed(tmp_path: Path, victim: Victim,
                                           suffix: str) -> None:
    """storage/confinement/checkpoint: a link at a checkpoint file (or at its temp file) in
    STATE_DIR/checkpoints is never written through; a link at the checkpoint itself is also
    never read or replaced (that transfer simply has no checkpoint)."""
    store = FileCheckpoints(tmp_path / "state" / "checkpoints")
    key = ("sender-uid", 7)
    name = _checkpoint_name(store, key)
    link = store.directory / (name[:-len(".json")] + suffix)
    link.symlink_to(victim.path)
    store.save(key, {"v": 1, "ranges": [[0, 10]]})
    if suffix == ".json":
        assert link.is_symlink() and store.load(key) is None
    else:
        assert store.load(key) == {"v": 1, "ranges": [[0, 10]]}
        assert not link.exists()
    store.delete(key)
    assert victim.unchanged()


def test_checkpoint_directory_link_to_outside_is_not_used(tmp_path: Path,
                                                          victim: Victim) -> None:
    """storage/confinement/checkpoint-dir: STATE_DIR/checkpoints replaced by a link leading
    out of STATE_DIR: nothing is saved through it."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "checkpoints").symlink_to(victim.path.parent)
    store = FileCheckpoints(tmp_path / "state" / "checkpoints")
    store.save(("uid", 1), {"v": 1})
    assert store.load(("uid", 1)) is None
    assert victim.unchanged()
