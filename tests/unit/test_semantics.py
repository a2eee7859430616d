"""semantics/*: the judge's oracle (``conformance_core.oracle``) restates the vendor rules and
our documented choices."""

from __future__ import annotations

import itertools

import pytest

from jetstream_qa.conformance_core.oracle import (
    Content,
    DestPreState,
    ExpectedOutcome,
    FileResult,
    MtimeRule,
    PathKind,
    SourceEntry,
    SourceSymlink,
    WriteMethod,
    expected_cipher,
    expected_outcome,
    expected_status,
    jetbak_name,
    partfile_name,
    synthetic_bytes,
)
from jetstream_qa.constants import (
    ALL_TRANSFER_FLAG_SETS,
    MinCipher,
    OverwriteMode,
    SymlinkMode,
    TransferFlag,
)
from jetstream_qa.errors import UsageError

F = TransferFlag
M = OverwriteMode
SRC = SourceEntry("dir/file.bin", 1000, 2_000_000, executable=True)
ABSENT = DestPreState()
SAME_OLDER = DestPreState(PathKind.FILE, 1000, 1_000_000)
SAME_NEWER = DestPreState(PathKind.FILE, 1000, 3_000_000)
OTHER_OLDER = DestPreState(PathKind.FILE, 5, 1_000_000)
EMPTY = DestPreState(PathKind.FILE, 0, 1_000_000)
DIRECTORY = DestPreState(PathKind.DIRECTORY)


def outcome(flags: int = 3, mode: M = M.ALWAYS, pre: DestPreState = ABSENT,
            source: SourceEntry | SourceSymlink = SRC, links: SymlinkMode = SymlinkMode.FOLLOW,
            cipher: MinCipher = MinCipher.NONE) -> ExpectedOutcome:
    return expected_outcome(flags=flags, overwrite_mode=mode, cipher=cipher,
                            symlink_mode=links, source=source, pre=pre)


def test_semantics_read_write_default_writes_source_through_partfile() -> None:
    """semantics/flags/read-write: READ_WRITE + ALWAYS writes the source via a partfile."""
    o = outcome()
    assert (o.result, o.method, o.target.content) == (
        FileResult.WRITTEN, WriteMethod.PARTFILE_RENAME, Content.SOURCE)
    assert o.target.size == 1000 and o.target.executable is True
    assert o.partfile is None and o.jetbak is None and o.wants_data


@pytest.mark.parametrize("flags", [F.NONE, F.READ, F.READ | F.WRITE_MTIME, F.WRITE_ONLY_NEWER])
@pytest.mark.parametrize("pre", [ABSENT, SAME_OLDER, DIRECTORY])
def test_semantics_without_write_nothing_appears(flags: TransferFlag, pre: DestPreState) -> None:
    """semantics/flags/no-write: without WRITE nothing appears (no partfile), data still flows."""
    o = outcome(int(flags), M.NEVER, pre)
    assert o.result is FileResult.NOT_WRITTEN and not o.wants_data
    assert o.method is WriteMethod.NONE and o.partfile is None and o.jetbak is None
    assert o.target.mtime in (MtimeRule.NONE, MtimeRule.ORIGINAL)
    assert o.on_wire is (Content.SOURCE if flags & F.READ else Content.SYNTHETIC)


def test_semantics_write_without_read_is_synthetic() -> None:
    """semantics/flags/write-only: WRITE without READ writes synthetic bytes of the size."""
    o = outcome(int(F.WRITE))
    assert o.target.content is Content.SYNTHETIC and o.target.size == SRC.size


@pytest.mark.parametrize("mode", list(M))
def test_semantics_write_mtime(mode: M) -> None:
    """semantics/flags/write-mtime: WRITE_MTIME -> source mtime exactly, else 'now'."""
    holder = lambda o: o.partfile_state or o.target  # noqa: E731
    assert holder(outcome(int(F.READ_WRITE | F.WRITE_MTIME), mode, EMPTY)).mtime is MtimeRule.SOURCE
    assert holder(outcome(int(F.READ_WRITE), mode, EMPTY)).mtime is MtimeRule.NOW


def test_semantics_only_newer_is_strict() -> None:
    """semantics/flags/only-newer: skip only when the destination is strictly newer."""
    flags = int(F.READ_WRITE | F.WRITE_ONLY_NEWER)
    newer = outcome(flags, M.ALWAYS, SAME_NEWER)
    assert (newer.result, newer.reason, newer.target.content) == (
        FileResult.SKIPPED, "destination-newer", Content.ORIGINAL)
    equal = DestPreState(PathKind.FILE, 1000, SRC.mtime_us)
    assert outcome(flags, M.ALWAYS, equal).result is FileResult.WRITTEN
    assert outcome(flags, M.ALWAYS, SAME_OLDER).result is FileResult.WRITTEN
    assert outcome(int(F.READ_WRITE), M.ALWAYS, SAME_NEWER).result is FileResult.WRITTEN


def test_semantics_in_place_same_size() -> None:
    """semantics/overwrite/in-place-same-size: same size or empty in place, else skipped."""
    for pre in (SAME_OLDER, EMPTY, ABSENT):
        o = outcome(mode=M.IN_PLACE_SAME_SIZE, pre=pre)
        assert (o.result, o.method) == (FileResult.WRITTEN, WriteMethod.IN_PLACE)
        assert o.partfile is None
    o = outcome(mode=M.IN_PLACE_SAME_SIZE, pre=OTHER_OLDER)
    assert (o.result, o.reason, o.target.content) == (
        FileResult.SKIPPED, "size-differs", Content.ORIGINAL)


def test_semantics_never_keeps_partfile_when_target_exists() -> None:
    """semantics/overwrite/never: target untouched, partfile with the data stays beside it."""
    o = outcome(mode=M.NEVER, pre=SAME_OLDER)
    assert o.method is WriteMethod.PARTFILE_KEPT and o.target.content is Content.ORIGINAL
    assert o.partfile == partfile_name(SRC.dest_path) == "dir/file.bin.jetpart"
    assert o.partfile_state is not None and o.partfile_state.content is Content.SOURCE
    absent = outcome(mode=M.NEVER)
    assert absent.method is WriteMethod.PARTFILE_RENAME and absent.partfile is None


def test_semantics_versioned_keeps_original_as_jetbak() -> None:
    """semantics/overwrite/versioned: the original is kept as NAME.jetbak, untouched."""
    o = outcome(mode=M.VERSIONED, pre=OTHER_OLDER)
    assert o.jetbak == jetbak_name(SRC.dest_path) == "dir/file.bin.jetbak"
    assert o.jetbak_state is not None
    assert (o.jetbak_state.content, o.jetbak_state.size, o.jetbak_state.mtime) == (
        Content.ORIGINAL, 5, MtimeRule.ORIGINAL)
    assert o.target.content is Content.SOURCE
    assert outcome(mode=M.VERSIONED).jetbak is None


@pytest.mark.parametrize("kind", [PathKind.DIRECTORY, PathKind.SYMLINK, PathKind.OTHER])
def test_semantics_non_file_in_the_way_is_an_error(kind: PathKind) -> None:
    """semantics/errors/in-the-way (ours): never removed, never written through."""
    for mode in M:
        o = outcome(mode=mode, pre=DestPreState(kind))
        assert (o.result, o.reason) == (FileResult.ERROR, f"{kind}-in-the-way")
        assert not o.wants_data and o.target.kind is kind


def test_semantics_symlink_modes() -> None:
    """semantics/symlinks: FOLLOW copies the target's contents; IGNORE sends nothing."""
    link = SourceSymlink("link", SourceEntry("link", 7, 5, False))
    followed = outcome(source=link, links=SymlinkMode.FOLLOW)
    assert followed.result is FileResult.WRITTEN and followed.target.size == 7
    ignored = outcome(source=link, links=SymlinkMode.IGNORE, pre=SAME_OLDER)
    assert (ignored.result, ignored.target.content) == (FileResult.IGNORED, Content.ORIGINAL)
    assert ignored.on_wire is Content.NONE
    dangling = outcome(source=SourceSymlink("x", None))
    assert (dangling.result, dangling.reason) == (FileResult.IGNORED, "dangling-symlink")


def test_semantics_empty_directories() -> None:
    """semantics/empty-dirs: created; an existing directory is reused; a file blocks it."""
    d = SourceEntry("empty", 0, 9_000_000, is_empty_dir=True)
    assert outcome(source=d).method is WriteMethod.MKDIR
    assert outcome(int(F.READ_WRITE | F.WRITE_MTIME), source=d).target.mtime is MtimeRule.SOURCE
    assert outcome(source=d, pre=DIRECTORY).result is FileResult.WRITTEN
    assert outcome(source=d, pre=SAME_OLDER).result is FileResult.ERROR
    assert outcome(int(F.READ), source=d).result is FileResult.NOT_WRITTEN


def test_semantics_cipher_never_changes_storage() -> None:
    """semantics/cipher: the outcome differs only in the recorded cipher."""
    base = outcome(mode=M.VERSIONED, pre=SAME_OLDER)
    for level in MinCipher:
        o = outcome(mode=M.VERSIONED, pre=SAME_OLDER, cipher=level)
        assert o.cipher is level
        assert (o.result, o.method, o.target, o.jetbak_state) == (
            base.result, base.method, base.target, base.jetbak_state)


def test_semantics_full_table_invariants() -> None:
    """semantics/table/invariants: every combination obeys the cross-cutting rules."""
    pres = [ABSENT, SAME_OLDER, SAME_NEWER, OTHER_OLDER, EMPTY, DIRECTORY,
            DestPreState(PathKind.SYMLINK)]
    count = 0
    for flags, mode, links, pre in itertools.product(ALL_TRANSFER_FLAG_SETS, M, SymlinkMode,
                                                     pres):
        for source in (SRC, SourceSymlink(SRC.dest_path, SRC)):
            o = outcome(int(flags), mode, pre, source, links)
            count += 1
            writes = bool(flags & F.WRITE)
            assert o.wants_data == (o.result is FileResult.WRITTEN)
            assert writes or o.result in (FileResult.NOT_WRITTEN, FileResult.IGNORED)
            assert (o.partfile is not None) == (o.method is WriteMethod.PARTFILE_KEPT)
            assert o.partfile is None or mode is M.NEVER
            assert o.jetbak is None or (mode is M.VERSIONED and pre.kind is PathKind.FILE)
            if o.result is not FileResult.WRITTEN:
                assert o.target.mtime in (MtimeRule.NONE, MtimeRule.ORIGINAL)
            if o.result is FileResult.IGNORED:
                assert isinstance(source, SourceSymlink) and links is SymlinkMode.IGNORE
    assert count == 16 * 4 * 2 * 7 * 2


def test_semantics_effective_cipher_is_the_strongest() -> None:
    """semantics/cipher/effective: never below either server's minimum nor the request."""
    assert expected_cipher(0, 2, 1) is MinCipher.ENCRYPTED_128
    assert expected_cipher(3, 0, 0) is MinCipher.ENCRYPTED_256
    assert expected_cipher(1, 0, 0) is MinCipher.UNENCRYPTED
    with pytest.raises(UsageError):
        expected_cipher(4, 0, 0)


def test_semantics_synthetic_bytes_are_offset_consistent() -> None:
    """semantics/synthetic: any sub-range agrees with the whole; big ranges work."""
    whole = synthetic_bytes(0, 300_000)
    for start, length in [(0, 1), (256, 256), (65_000, 2_000), (131_041, 100_000)]:
        assert synthetic_bytes(start, length) == whole[start:start + length]
    big = synthetic_bytes(123, 9 << 20)  # past the pre-tiled buffer
    assert len(big) == 9 << 20
    assert big[(5 << 20) : (5 << 20) + 4096] == synthetic_bytes(123 + (5 << 20), 4096)
    assert synthetic_bytes(0, 256) != synthetic_bytes(256, 256)
    assert len(set(whole[:4096])) > 200
    with pytest.raises(UsageError):
        synthetic_bytes(-1, 3)
    assert synthetic_bytes(65_521 * 3 + 5, 10) == synthetic_bytes(5, 10)


def test_semantics_transfer_status() -> None:
    """semantics/status (ours): an errored entry ends the transfer in error; skips do not."""
    skipped = outcome(mode=M.IN_PLACE_SAME_SIZE, pre=OTHER_OLDER)
    error = outcome(pre=DIRECTORY)
    assert expected_status([outcome(), skipped]).exact == "complete"
    assert expected_status([outcome(), error]).exact == "error"


@pytest.mark.parametrize("kwargs", [
    {"flags": 16}, {"flags": -1}, {"overwrite_mode": 1}, {"cipher": 9}, {"symlink_mode": 0},
])
def test_semantics_rejects_out_of_range_settings(kwargs: dict[str, int]) -> None:
    """semantics/validation: settings outside the constants are a caller error."""
    settings = {"flags": 3, "overwrite_mode": 4, "cipher": 0, "symlink_mode": 1, **kwargs}
    with pytest.raises(UsageError):
        expected_outcome(source=SRC, pre=ABSENT, **settings)


def test_semantics_values_validate_themselves() -> None:
    """semantics/validation/values: bad entries and pre-states do not construct."""
    with pytest.raises(UsageError):
        SourceEntry("f", -1, 0)
    with pytest.raises(UsageError):
        SourceEntry("d", 3, 0, is_empty_dir=True)
    with pytest.raises(UsageError):
        DestPreState(PathKind.DIRECTORY, size=4)
