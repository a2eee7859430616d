"""sandbox/*: placeholder expansion, mapping levels and the source area (refserver/sandbox.py).

Vendor text: server.md 6 and api.md 4.13 (placeholders ``%u %d %f %%``; two levels, all users
and per user; ``--sandbox-dir`` equals ``setSandboxMapping("", {"": path})``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.constants import SymlinkMode
from jetstream_qa.errors import InvalidArgument, PermissionDenied
from jetstream_qa.refserver.manifests import ManifestBuildError, build_manifest
from jetstream_qa.refserver.sandbox import (
    SourceArea,
    expand,
    normalise_mapping,
    sandbox_path,
    source_area,
)


@pytest.mark.parametrize(("path", "user", "expected"), [
    ("/storage/%u", "alice", "/storage/alice"),
    ("/s/%f/x", "bob", "/s/bob/x"),
    ("/s/%d/%u", "bob", "/s/bob"),  # OURS: no domains, %d is empty
    ("/lit/%%u", "bob", "/lit/%u"),
    ("/a//./b/", "x", "/a/b"),
])
def test_expand(path: str, user: str, expected: str) -> None:
    """sandbox/placeholders/expand: each placeholder as documented, path normalised."""
    assert expand(path, user) == expected


@pytest.mark.parametrize("user", ["..", "a/b", "", "."])
def test_expand_refuses_user_names_that_would_climb(user: str) -> None:
    """sandbox/placeholders/unsafe-user: a name that would move the sandbox is refused."""
    with pytest.raises(PermissionDenied):
        expand("/home/%u", user)
    assert expand("/fixed", user) == "/fixed"  # no placeholder: the name does not matter


@pytest.mark.parametrize("bad", [{"": "rel"}, {"": "/a/../b"}, {"": "/x/%z"}, {"": "/x%"},
                                 {"r": "/x"}, {"": {"type": "S3", "path": "/x"}},
                                 {"": {"type": "File"}}])
def test_normalise_refuses(bad: dict[str, object]) -> None:
    """sandbox/mapping/validated: relative, '..', unknown placeholder, other roots, S3."""
    with pytest.raises(InvalidArgument):
        normalise_mapping(bad)


def test_levels() -> None:
    """sandbox/mapping/levels: a user's own mapping first, then the all-users one."""
    mappings = {"": {"": {"type": "File", "path": "/all/%u"}},
                "bob": {"": {"type": "File", "path": "/bob-only"}}}
    assert sandbox_path(mappings, "alice") == "/all/alice"
    assert sandbox_path(mappings, "bob") == "/bob-only"
    assert sandbox_path({}, "alice") is None


def test_source_area(tmp_path: Path) -> None:
    """sandbox/sources/area: sandboxed below the storage root; never the state dir;
    elevated sessions unsandboxed."""
    storage, state = tmp_path / "storage", tmp_path / "state"
    mappings = {"": {"": {"type": "File", "path": "/home/%u"}}}
    area = source_area(mappings, user="al", elevated=False, storage_root=str(storage),
                       state_dir=str(state))
    assert area.base == os.path.join(os.path.realpath(storage), "home/al")
    assert area.physical("/x/../y") == os.path.join(area.base, "y")
    assert area.virtual(os.path.join(area.base, "y")) == "/y"
    free = source_area(mappings, user="al", elevated=True, storage_root=str(storage),
                       state_dir=str(state))
    assert free.base is None and not free.allows(str(state / "x25519.key"))
    assert free.allows(str(tmp_path / "elsewhere"))


def test_build_manifest_refuses_links_out_of_the_area(tmp_path: Path) -> None:
    """sandbox/sources/follow-refused: under FOLLOW a link leaving the area fails the
    manifest naming the link as the user sees it; IGNORE leaves it out."""
    base = tmp_path / "sb"
    (base / "d").mkdir(parents=True)
    (base / "d" / "ok.txt").write_bytes(b"ok")
    (base / "d" / "inner").symlink_to(base / "d" / "ok.txt")
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    (base / "d" / "out").symlink_to(secret)
    area = SourceArea(str(base), ())
    with pytest.raises(ManifestBuildError, match=r"/d/out leads outside"):
        build_manifest({"/d": "/d"}, SymlinkMode.FOLLOW, area=area)
    ignored = build_manifest({"/d": "/d"}, SymlinkMode.IGNORE, area=area)
    assert sorted(f.dest_path for f in ignored.files) == ["/d/ok.txt"]
    (base / "d" / "out").unlink()
    followed = build_manifest({"/d": "/d"}, SymlinkMode.FOLLOW, area=area)
    assert sorted(f.dest_path for f in followed.files) == ["/d/inner", "/d/ok.txt"]


def test_file_source_refuses_a_source_swapped_for_a_link(tmp_path: Path) -> None:
    """sandbox/sources/send-time: a source replaced by a link leading out of the area after
    the manifest was built is not read when the transfer opens it."""
    from jetstream_qa.refserver.engine.file_source import FileSource, SourceError

    base = tmp_path / "sb"
    base.mkdir()
    src, secret = base / "a.bin", tmp_path / "secret"
    src.write_bytes(b"inside!!")
    secret.write_bytes(b"SECRET!!")
    area = SourceArea(str(base), (str(tmp_path / "state"),))
    buf = bytearray(8)
    sources = [FileSource([(str(src), 8)], read=True, area=area) for _ in range(2)]
    sources.append(FileSource([(str(src), 8)], read=True, area=SourceArea(None, ())))
    try:
        sources[0].read_into(0, memoryview(buf))
        assert bytes(buf) == b"inside!!"
        src.unlink()
        src.symlink_to(secret)
        with pytest.raises(SourceError, match="outside the allowed source area"):
            sources[1].read_into(0, memoryview(bytearray(8)))
        sources[2].read_into(0, memoryview(buf))
        assert bytes(buf) == b"SECRET!!"  # the check is the area's, not a ban on links
    finally:
        for source in sources:
            source.close()
