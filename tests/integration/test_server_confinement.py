"""server/confinement/*: the real server pair stays inside its roots (issue 12).

- A ``NAME.jetplan`` symlink planted in the receiver's storage root is not followed by an
  in-place transfer (``overwriteMode=2``): that file fails with an error naming the plan
  file, the file the link points at keeps its bytes and mtime.
- A source tree holding a link to the server's own ``STATE_DIR/x25519.key`` cannot copy it
  (SYMLINK_FOLLOW refuses the link; the key file itself is refused as a source), even for an
  elevated superuser.
- Sandbox mappings are applied as the vendor documents them (``refserver/sandbox.py``):
  ``%u`` expansion, per-user and all-users levels, received files land below the sandbox,
  sources are read inside it, ``serve --sandbox-dir``.

One pair for the module (its sandbox mappings are reset after each test), so the
session-wide ``ref_pair`` is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.constants import OverwriteMode, SymlinkMode
from jetstream_qa.errors import InvalidArgument, PermissionDenied
from jetstream_qa.refserver.embedded import EmbeddedPair

pytestmark = pytest.mark.timeout(120, method="signal")

VICTIM = b"outside the storage root"
VICTIM_MTIME_NS = 1_500_000_000_000_000_000
WAIT = 60


@pytest.fixture(scope="module")
def pair() -> Iterator[EmbeddedPair]:
    with EmbeddedPair(ready_timeout=30) as started:
        yield started


@pytest.fixture
def sides(pair: EmbeddedPair, api: Any) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(sender session, receiver session, elevated sender, elevated receiver); every
    sandbox mapping is removed afterwards."""
    sender, receiver = api(pair.sender, pair.user), api(pair.receiver, pair.user)
    admin_s = api(pair.sender, pair.superuser, elevate=True)
    admin_r = api(pair.receiver, pair.superuser, elevate=True)
    yield sender, receiver, admin_s, admin_r
    for admin in (admin_s, admin_r):
        for user in admin.server.getSandboxMappings():
            admin.server.setSandboxMapping(user, {})


def _victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM)
    os.utime(path, ns=(VICTIM_MTIME_NS, VICTIM_MTIME_NS))
    return path


def _unchanged(victim: Path) -> bool:
    return victim.read_bytes() == VICTIM and victim.stat().st_mtime_ns == VICTIM_MTIME_NS


def _manifest(sender: Any, mappings: dict[str, str],
              mode: SymlinkMode = SymlinkMode.FOLLOW) -> dict[str, Any]:
    made = sender.send.createManifest(mappings, symlinkMode=int(mode))
    return sender.send.waitForManifest(made["manifestId"], timeout=WAIT)


def _send(pair: EmbeddedPair, sender: Any, manifest_id: str, **kw: Any) -> dict[str, Any]:
    dest = sender.send.createDestination(pair.receiver.recv_host,
                                         destinationPort=pair.receiver.recv_port)
    t = sender.send.createTransfer(dest["destinationId"], manifest_id, **kw)
    return sender.send.waitForTransfer(t["transferId"], timeout=WAIT)


# --- storage ------------------------------------------------------------------------------
def test_planted_jetplan_link_is_not_followed_in_place(pair: EmbeddedPair, sides: Any,
                                                       tmp_path: Path) -> None:
    """server/confinement/jetplan-in-place: the repro of issue 12 through the real pair."""
    sender = sides[0]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.bin").write_bytes(b"new data!!")
    (tmp_path / "src" / "g.bin").write_bytes(b"other")
    victim = _victim(tmp_path)
    landing = pair.receiver.storage_root / "jetplan-case"
    landing.mkdir(parents=True)
    (landing / "f.bin").write_bytes(b"old data!!")  # same size: in place is allowed
    (landing / "f.bin.jetplan").symlink_to(victim)
    m = _manifest(sender, {"/f.bin": str(tmp_path / "src" / "f.bin"),
                           "/g.bin": str(tmp_path / "src" / "g.bin")})
    done = _send(pair, sender, m["manifestId"], destinationPath="/jetplan-case",
                 overwriteMode=int(OverwriteMode.IN_PLACE_SAME_SIZE))
    results = {r["destPath"]: r for r in done["fileResults"]}
    assert results["/f.bin"]["outcome"] == "error", done
    assert "f.bin.jetplan" in results["/f.bin"]["detail"], results
    assert results["/g.bin"]["outcome"] == "written"
    assert (landing / "f.bin").read_bytes() == b"old data!!"
    assert (landing / "f.bin.jetplan").is_symlink()
    assert _unchanged(victim)


# --- sources ------------------------------------------------------------------------------
def test_source_link_to_the_state_dir_key_is_refused(pair: EmbeddedPair, sides: Any,
                                                     tmp_path: Path) -> None:
    """server/confinement/state-dir-key: a FOLLOW manifest of a tree holding a link to
    STATE_DIR/x25519.key fails naming the link; the key itself is refused as a source, for
    an ordinary user and for an elevated superuser."""
    sender, _, admin_s, _ = sides
    key = pair.sender.state_dir / "x25519.key"
    assert key.is_file()
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "fine.txt").write_bytes(b"fine")
    (tree / "key").symlink_to(key)
    for session in (sender, admin_s):
        m = _manifest(session, {"/out": str(tree)})
        assert m["status"] == "error", m
        assert "key" in m["errorMessage"] and "outside" in m["errorMessage"], m
        with pytest.raises(PermissionDenied):
            session.send.createManifest({"/k": str(key)})
        with pytest.raises(PermissionDenied):
            session.send.createManifest({"/k": str(pair.sender.state_dir)})
    ignored = _manifest(sender, {"/out": str(tree)}, SymlinkMode.IGNORE)
    assert ignored["status"] == "complete" and ignored["totalFiles"] == 1


# --- sandboxes ----------------------------------------------------------------------------
def test_receiver_sandbox_with_user_placeholder(pair: EmbeddedPair, sides: Any,
                                                tmp_path: Path) -> None:
    """server/sandbox/receive-user: vendor table row "/storage/%u + /repository1 +
    /mnt/data/file.txt -> /storage/<user>/repository1/mnt/data/file.txt" (storage root as /)."""
    sender, _, _, admin_r = sides
    admin_r.server.setSandboxMapping("", {"": "/storage/%u"})
    (tmp_path / "file.txt").write_bytes(b"sandboxed")
    m = _manifest(sender, {"/mnt/data/file.txt": str(tmp_path / "file.txt")})
    done = _send(pair, sender, m["manifestId"], destinationPath="/repository1")
    assert done["status"] == "complete", done
    root = pair.receiver.storage_root
    landed = root / "storage" / pair.user.name / "repository1" / "mnt" / "data" / "file.txt"
    assert landed.read_bytes() == b"sandboxed"
    assert not (root / "repository1").exists()


def test_receiver_per_user_mapping_beats_all_users(pair: EmbeddedPair, sides: Any,
                                                   tmp_path: Path) -> None:
    """server/sandbox/receive-levels: a user's own mapping applies before the all-users one."""
    sender, _, _, admin_r = sides
    admin_r.server.setSandboxMapping("", {"": "/all"})
    admin_r.server.setSandboxMapping(pair.user.name, {"": {"type": "File", "path": "/mine"}})
    (tmp_path / "a.txt").write_bytes(b"a")
    m = _manifest(sender, {"/a.txt": str(tmp_path / "a.txt")})
    assert _send(pair, sender, m["manifestId"])["status"] == "complete"
    assert (pair.receiver.storage_root / "mine" / "a.txt").read_bytes() == b"a"
    assert not (pair.receiver.storage_root / "all" / "a.txt").exists()


def test_sender_sandbox_confines_sources(pair: EmbeddedPair, sides: Any,
                                         tmp_path: Path) -> None:
    """server/sandbox/sources: a sandboxed user's source paths are below their sandbox,
    srcPath is reported as they see it, and a link leading out of it is not followed."""
    sender, _, admin_s, _ = sides
    admin_s.server.setSandboxMapping(pair.user.name, {"": "/home/%u"})
    home = pair.sender.storage_root / "home" / pair.user.name
    (home / "data").mkdir(parents=True)
    (home / "data" / "in.txt").write_bytes(b"inside")
    outside = _victim(tmp_path)
    m = _manifest(sender, {"/in.txt": "/data/in.txt"})
    assert m["status"] == "complete", m
    files = sender.send.getManifestFiles(m["manifestId"])["fileMappings"]
    assert [f["srcPath"] for f in files] == ["/data/in.txt"]
    (home / "data" / "link").symlink_to(outside)
    refused = _manifest(sender, {"/d": "/data"})
    assert refused["status"] == "error" and "/data/link" in refused["errorMessage"], refused
    assert str(pair.sender.storage_root) not in refused["errorMessage"]
    missing = _manifest(sender, {"/x": str(outside)})  # a real path is inside the sandbox
    assert missing["status"] == "error" and "not found" in missing["errorMessage"]
    elevated = _manifest(admin_s, {"/x": str(outside)})  # superusers are not sandboxed
    assert elevated["status"] == "complete", elevated


def test_sandbox_mapping_checks(sides: Any) -> None:
    """server/sandbox/mapping-calls: superuser only; placeholders and roots validated."""
    sender, _, admin_s, _ = sides
    with pytest.raises(PermissionDenied):
        sender.server.setSandboxMapping("", {"": "/data"})
    for bad in ({"": "relative"}, {"": "/a/../b"}, {"": "/x/%q"}, {"other": "/data"},
                {"": {"type": "S3", "path": "/b"}}):
        with pytest.raises(InvalidArgument):
            admin_s.server.setSandboxMapping("", bad)
    admin_s.server.setSandboxMapping("", {"": "/d/%%u"})
    assert admin_s.server.getSandboxMappings() == {"": {"": {"type": "File",
                                                             "path": "/d/%%u"}}}


def test_serve_sandbox_dir(make_server: Any, api: Any, tmp_path: Path) -> None:
    """server/sandbox/sandbox-dir: ``serve --sandbox-dir /home/%u`` equals
    ``setSandboxMapping("", {"": "/home/%u"})``: listed, and sources are read below it."""
    server = make_server(name="sandboxed", extra_args=["--sandbox-dir", "/home/%u"])
    admin = api(server, server.superuser, elevate=True)
    assert admin.server.getSandboxMappings() == {"": {"": {"type": "File",
                                                           "path": "/home/%u"}}}
    user = api(server, server.user)
    home = server.storage_root / "home" / server.user.name
    home.mkdir(parents=True)
    (home / "a.txt").write_bytes(b"home")
    m = user.send.waitForManifest(user.send.createManifest({"/a": "/a.txt"})["manifestId"],
                                  timeout=WAIT)
    assert m["status"] == "complete" and m["totalSize"] == 4, m
