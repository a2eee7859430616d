"""The storage faults of ReceiveStorage: each one breaks exactly its own rule, and with no
fault switched on the same transfer conforms (``jetstream_qa.refserver.faults``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.constants import OverwriteMode, TransferFlag
from jetstream_qa.errors import ConfigurationError, InvalidArgument
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import ReceiveStorage
from jetstream_qa.refserver.faults import FaultSet

RW = int(TransferFlag.READ_WRITE)
SRC_US = 1_650_000_000_000_000
DAY_US = 86_400 * 1_000_000
DATA = b"new source bytes"


def _pre(root: Path, name: str, data: bytes, mtime_us: int) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000))
    return path


def _transfer(root: Path, fault: str | None, *, flags: int = RW,
              mode: OverwriteMode = OverwriteMode.ALWAYS, destination: str | None = None,
              name: str = "f.bin") -> str:
    """Send DATA as ``name``; returns the entry's outcome text."""
    storage = ReceiveStorage(root, faults=FaultSet([fault] if fault else []))
    plan = storage.begin([Entry(name, len(DATA), SRC_US)], destination_path=destination,
                         flags=flags, overwrite_mode=int(mode))
    plan.write(0, 0, DATA)
    return plan.finish()[0]["outcome"]


def _mtime_us(path: Path) -> int:
    return path.stat().st_mtime_ns // 1000


@pytest.mark.parametrize("fault", [None, "ignore-write-mtime", "mtime-off-by-one"])
def test_write_mtime_faults(tmp_path: Path, fault: str | None) -> None:
    _transfer(tmp_path, fault, flags=RW | TransferFlag.WRITE_MTIME)
    got = _mtime_us(tmp_path / "f.bin")
    expected = {None: SRC_US, "mtime-off-by-one": SRC_US + 1_000_000}.get(fault)
    if expected is None:
        assert abs(got - SRC_US) > DAY_US  # the time of writing, not the source's
    else:
        assert got == expected


@pytest.mark.parametrize(("fault", "older_written", "newer_written"), [
    (None, True, False), ("only-newer-inverted", False, True)])
def test_only_newer_inverted(tmp_path: Path, fault: str | None, older_written: bool,
                             newer_written: bool) -> None:
    flags = RW | TransferFlag.WRITE_ONLY_NEWER
    for name, offset, written in (("older.bin", -DAY_US, older_written),
                                  ("newer.bin", DAY_US, newer_written)):
        _pre(tmp_path, name, b"original", SRC_US + offset)
        outcome = _transfer(tmp_path, fault, flags=flags, name=name)
        assert (outcome == "written") is written
        assert ((tmp_path / name).read_bytes() == DATA) is written


@pytest.mark.parametrize("fault", [None, "same-size-overwrites-any"])
def test_same_size_overwrites_any(tmp_path: Path, fault: str | None) -> None:
    _pre(tmp_path, "f.bin", b"another size, longer than the source", SRC_US - DAY_US)
    outcome = _transfer(tmp_path, fault, mode=OverwriteMode.IN_PLACE_SAME_SIZE)
    assert outcome == ("written" if fault else "skipped")
    assert ((tmp_path / "f.bin").read_bytes() == DATA) is bool(fault)


@pytest.mark.parametrize("fault", [None, "never-overwrites", "no-partfile"])
def test_overwrite_never_faults(tmp_path: Path, fault: str | None) -> None:
    _pre(tmp_path, "f.bin", b"original", SRC_US - DAY_US)
    _transfer(tmp_path, fault, mode=OverwriteMode.NEVER)
    target, part = (tmp_path / "f.bin").read_bytes(), tmp_path / "f.bin.jetpart"
    assert target == (DATA if fault == "never-overwrites" else b"original")
    assert part.exists() is (fault is None)
    if fault is None:
        assert part.read_bytes() == DATA


@pytest.mark.parametrize("fault", [None, "no-jetbak"])
def test_no_jetbak(tmp_path: Path, fault: str | None) -> None:
    _pre(tmp_path, "f.bin", b"original", SRC_US - DAY_US)
    _transfer(tmp_path, fault, mode=OverwriteMode.VERSIONED)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    backup = tmp_path / "f.bin.jetbak"
    assert backup.exists() is (fault is None)
    if fault is None:
        assert backup.read_bytes() == b"original"


def test_write_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(InvalidArgument, match=r"\.\."):
        _transfer(root, None, destination="a/../../escaped")
    assert not (tmp_path / "escaped").exists()
    assert _transfer(root, "write-outside-root", destination="a/../../escaped") == "written"
    assert (tmp_path / "escaped" / "f.bin").read_bytes() == DATA
    _transfer(root, "write-outside-root", destination="/../abs")
    assert (tmp_path / "abs" / "f.bin").read_bytes() == DATA


def test_other_faults_leave_storage_conforming(tmp_path: Path) -> None:
    """A control-plane fault on the same server changes nothing on disk."""
    _pre(tmp_path, "f.bin", b"original", SRC_US - DAY_US)
    _transfer(tmp_path, "leak-password", mode=OverwriteMode.VERSIONED,
              flags=RW | TransferFlag.WRITE_MTIME)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert _mtime_us(tmp_path / "f.bin") == SRC_US
    assert (tmp_path / "f.bin.jetbak").read_bytes() == b"original"


def test_faults_given_as_names_are_checked(tmp_path: Path) -> None:
    """The engine passes the config's frozenset of names; unknown names are refused."""
    assert ReceiveStorage(tmp_path, faults=frozenset({"no-jetbak"})).faults.active("no-jetbak")
    with pytest.raises(ConfigurationError, match="no-such-fault"):
        ReceiveStorage(tmp_path, faults=frozenset({"no-such-fault"}))
