"""Control-plane parts in memory: manifest builder, keys, TLS cert, request table."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from jetstream_qa.constants import SymlinkMode
from jetstream_qa.errors import InvalidArgument, NotFound, NotReady
from jetstream_qa.refserver.keys import load_or_create_keys
from jetstream_qa.refserver.manifests import ManifestBuildError, build_manifest, check_mappings
from jetstream_qa.refserver.requests import RequestTable
from jetstream_qa.refserver.state import Principal
from jetstream_qa.refserver.tls import load_or_create_certificate


def test_directory_loop_through_symlink_is_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    with pytest.raises(ManifestBuildError, match="loop"):
        build_manifest({"x": str(tmp_path / "d")}, SymlinkMode.FOLLOW)
    result = build_manifest({"x": str(tmp_path / "d")}, SymlinkMode.IGNORE)
    assert [f.dest_path for f in result.files] == ["x"] and result.files[0].is_empty_dir


def test_fifo_is_error_and_duplicate_dest_is_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    with pytest.raises(ManifestBuildError, match=str(tmp_path / "p")):
        build_manifest({"p": str(tmp_path / "p")}, SymlinkMode.FOLLOW)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_bytes(b"1")
    (tmp_path / "g").write_bytes(b"22")
    with pytest.raises(ManifestBuildError, match="x/f"):
        build_manifest({"x": str(tmp_path / "dir"), "x/f": str(tmp_path / "g")},
                       SymlinkMode.FOLLOW)


def test_check_mappings_normalises_and_refuses() -> None:
    assert check_mappings({"/a//b/./c": "/src"}) == {"/a/b/c": "/src"}
    for bad in ({"a/../b": "/s"}, {"a": 3}, {"a": ""}, {"/": "/s"}):
        with pytest.raises(InvalidArgument):
            check_mappings(bad)
    with pytest.raises(InvalidArgument):
        check_mappings({"a/b": "/s", "a//b": "/t"})


def test_keys_persist_with_private_mode(tmp_path: Path) -> None:
    keys = load_or_create_keys(tmp_path)
    assert len(keys.public_hex) == 64
    assert stat.S_IMODE((tmp_path / "x25519.key").stat().st_mode) == 0o600
    assert load_or_create_keys(tmp_path).public_hex == keys.public_hex


def test_tls_certificate_is_reused(tmp_path: Path) -> None:
    first = load_or_create_certificate(tmp_path, common_name="t")
    assert 360 <= first.days_valid() <= 365
    again = load_or_create_certificate(tmp_path, common_name="t")
    assert again.not_after == first.not_after
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600
    first.server_context()


def test_request_table_status_result_expiry_and_owner() -> None:
    async def scenario() -> None:
        now = [0.0]
        table = RequestTable(expiry=300, clock=lambda: now[0])
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            return "done"

        alice, bob = Principal("alice"), Principal("bob")
        rec = table.start("alice", "s1", "x", work())
        assert rec.request_id == 1
        assert table.get(1, alice, "s2").status_json()["status"] == "pending"
        with pytest.raises(NotReady):
            await table.result(1, alice, "s2", 0.01)
        with pytest.raises(NotFound):
            table.get(1, bob, "s3")
        assert table.get(1, None, "s1").request_id == 1  # the same session, before login
        gate.set()
        assert await table.result(1, alice, "s2", 1) == "done"
        assert table.get(1, alice, "s2").status_json() == {
            "requestId": 1, "processing": False, "status": "complete", "errorMessage": ""}
        now[0] = 299.0
        table.get(1, alice, "s2")
        now[0] = 300.0
        with pytest.raises(NotFound):
            table.get(1, alice, "s2")

        async def boom() -> None:
            raise NotReady("not yet")

        table.start("alice", "s1", "y", boom())
        with pytest.raises(NotReady):
            await table.result(2, alice, "s1", 1)
        assert table.get(2, alice, "s1").status_json()["errorMessage"] == "not yet"
        await table.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))
