"""Manifests built from a real tree: totals and per-file metadata (docs/protocol.md 4.2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.constants import FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, SymlinkMode


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ a.txt(10) bin/run.sh(+x, 5) sub/deeper/ü-ñ.dat(300) empty/ zero(0) link->a.txt"""
    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"0123456789")
    (root / "bin" / "run.sh").write_bytes(b"echo\n")
    os.chmod(root / "bin" / "run.sh", 0o755)
    (root / "sub" / "deeper" / "ü-ñ.dat").write_bytes(b"x" * 300)
    (root / "zero").write_bytes(b"")
    os.symlink(root / "a.txt", root / "link")
    os.utime(root / "a.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    return root


def _files(session, mappings: dict, **kw) -> tuple[dict, dict[str, dict]]:
    m = session.send.createManifest(mappings, **kw)
    m = session.send.waitForManifest(m["manifestId"], timeout=20)
    files = session.send.getManifestFiles(m["manifestId"])["fileMappings"]
    return m, {f["destPath"]: f for f in files}


def test_tree_follow_totals_and_metadata(ref_server, api, tree: Path) -> None:
    s = api(ref_server, ref_server.user)
    m, files = _files(s, {"/dst": str(tree)})
    assert m["status"] == "complete" and m["errorMessage"] is None
    assert set(files) == {"/dst/a.txt", "/dst/bin/run.sh", "/dst/sub/deeper/ü-ñ.dat",
                          "/dst/empty", "/dst/zero", "/dst/link"}
    assert m["totalFiles"] == 6 and m["totalSize"] == 10 + 5 + 300 + 0 + 10
    a = files["/dst/a.txt"]
    assert a == {"srcPath": str(tree / "a.txt"), "destPath": "/dst/a.txt", "fileSize": 10,
                 "isEmptyDir": False, "executable": False,
                 "modificationTime": 1_600_000_000_123_456, "fileType": FILETYPE_REGULAR_FILE}
    assert files["/dst/bin/run.sh"]["executable"] is True
    empty = files["/dst/empty"]
    assert empty["isEmptyDir"] is True and empty["fileSize"] == 0
    assert empty["fileType"] == FILETYPE_DIRECTORY
    assert files["/dst/zero"]["fileSize"] == 0 and files["/dst/zero"]["isEmptyDir"] is False
    link = files["/dst/link"]  # FOLLOW copies the target's content
    assert link["fileSize"] == 10 and link["srcPath"] == str(tree / "link")
    assert link["modificationTime"] == 1_600_000_000_123_456
    assert files["/dst/sub/deeper/ü-ñ.dat"]["fileSize"] == 300


def test_tree_ignore_leaves_links_out(ref_server, api, tree: Path) -> None:
    s = api(ref_server, ref_server.user)
    m, files = _files(s, {"dst": str(tree)}, symlinkMode=int(SymlinkMode.IGNORE))
    assert "dst/link" not in files and m["totalFiles"] == 5 and m["totalSize"] == 315
    assert m["symlinkMode"] == 2


def test_broken_link_under_follow_is_error_naming_path(ref_server, api, tree: Path) -> None:
    os.symlink(tree / "nowhere", tree / "dangling")
    s = api(ref_server, ref_server.user)
    m = s.send.waitForManifest(s.send.createManifest({"d": str(tree)})["manifestId"],
                               timeout=20)
    assert m["status"] == "error" and str(tree / "dangling") in m["errorMessage"]
    m, files = _files(s, {"d": str(tree)}, symlinkMode=2)
    assert m["status"] == "complete" and "d/dangling" not in files


def test_missing_source_is_error_naming_path(ref_server, api, tmp_path: Path) -> None:
    s = api(ref_server, ref_server.user)
    m = s.send.createManifest({"x": str(tmp_path / "missing")})
    m = s.send.waitForManifest(m["manifestId"], timeout=20)
    assert m["status"] == "error" and str(tmp_path / "missing") in m["errorMessage"]
    assert m["totalFiles"] is None and m["processing"] is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_source_is_error(ref_server, api, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    secret.chmod(0)
    s = api(ref_server, ref_server.user)
    m = s.send.waitForManifest(s.send.createManifest({"s": str(secret)})["manifestId"],
                               timeout=20)
    assert m["status"] == "error" and str(secret) in m["errorMessage"]


def test_bad_mappings_are_invalid_argument(ref_server, api, tree: Path) -> None:
    from jetstream_qa.errors import InvalidArgument

    s = api(ref_server, ref_server.user)
    for mappings in ({}, {"../up": str(tree)}, {"rel": "relative/src"}, {"": str(tree)}):
        with pytest.raises(InvalidArgument):
            s.send.createManifest(mappings)
    with pytest.raises(InvalidArgument):
        s.send.createManifest({"x": str(tree)}, symlinkMode=3)
