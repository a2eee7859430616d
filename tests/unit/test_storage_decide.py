"""storage/decide: the server's own decision per entry, cipher choice and synthetic content.

Expectations here are written from the vendor text (constants page of 2.9.2,
``shared/jetstream-docs/vendor-constants-2.9.2.txt``) and ``docs/semantics.md``, not from
the server's code; ``test_storage_matrix.py`` compares the whole product with the judge.
"""

from __future__ import annotations

import hashlib

import pytest

from jetstream_qa.constants import MinCipher, OverwriteMode, TransferFlag
from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.engine import cipher_choice
from jetstream_qa.refserver.engine.decide import (
    Decision,
    Entry,
    Existing,
    Found,
    Method,
    Result,
    backup_path,
    decide_entry,
    partfile_path,
)
from jetstream_qa.refserver.engine.synthetic import synthetic_bytes, synthetic_view
from jetstream_qa.refserver.faults import FaultSet

RW = int(TransferFlag.READ_WRITE)
ONLY_NEWER = int(TransferFlag.WRITE_ONLY_NEWER)
SRC_US = 1_700_000_000_000_000
SRC = Entry("f", 100, SRC_US)
NONE_THERE = Existing()
SAME_OLDER = Existing(Found.FILE, 100, SRC_US - 1)
SAME_NEWER = Existing(Found.FILE, 100, SRC_US + 1)
SAME_EQUAL = Existing(Found.FILE, 100, SRC_US)
EMPTY = Existing(Found.FILE, 0, SRC_US - 1)
OTHER_SIZE = Existing(Found.FILE, 7, SRC_US - 1)
M = OverwriteMode


def decide(flags: int, mode: OverwriteMode, existing: Existing, *, entry: Entry = SRC,
           fault: str | None = None) -> Decision:
    return decide_entry(flags, int(mode), entry, existing,
                        faults=FaultSet([fault] if fault else []))


def test_names_of_partfile_and_backup() -> None:
    """OVERWRITE_VERSIONED: "backed up with a .jetbak extension"; .jetpart is ours."""
    assert backup_path("/r/a.txt") == "/r/a.txt.jetbak"
    assert partfile_path("/r/a.txt") == "/r/a.txt.jetpart"


@pytest.mark.parametrize("flags", [0, 1, 4 | 8, 1 | 4 | 8])
def test_without_write_nothing_is_written(flags: int) -> None:
    """TRANSFER_FLAG_READ: "the destination skips writing"; NONE: neither."""
    got = decide(flags, M.ALWAYS, SAME_OLDER)
    assert (got.result, got.method, got.wants_data) == (Result.NOT_WRITTEN, Method.NOTHING,
                                                        False)


@pytest.mark.parametrize(("mode", "existing", "method", "backup"), [
    (M.ALWAYS, SAME_OLDER, Method.PARTFILE_RENAMED, False),
    (M.ALWAYS, NONE_THERE, Method.PARTFILE_RENAMED, False),
    (M.NEVER, SAME_OLDER, Method.PARTFILE_KEPT, False),
    (M.NEVER, NONE_THERE, Method.PARTFILE_RENAMED, False),
    (M.VERSIONED, SAME_OLDER, Method.PARTFILE_RENAMED, True),
    (M.VERSIONED, NONE_THERE, Method.PARTFILE_RENAMED, False),
    (M.IN_PLACE_SAME_SIZE, SAME_OLDER, Method.IN_PLACE, False),
    (M.IN_PLACE_SAME_SIZE, EMPTY, Method.IN_PLACE, False),
    (M.IN_PLACE_SAME_SIZE, NONE_THERE, Method.IN_PLACE, False),
])
def test_overwrite_modes(mode: OverwriteMode, existing: Existing, method: Method,
                         backup: bool) -> None:
    """The four overwrite modes of the constants page (absent targets: ours)."""
    got = decide(RW, mode, existing)
    assert (got.result, got.method, got.keep_backup) == (Result.WRITTEN, method, backup)


def test_in_place_same_size_skips_another_size_but_not_an_empty_file() -> None:
    """IN_PLACE_SAME_SIZE: "only if the existing file is same or zero (0) size"."""
    assert decide(RW, M.IN_PLACE_SAME_SIZE, OTHER_SIZE).result is Result.SKIPPED
    assert decide(RW, M.IN_PLACE_SAME_SIZE, EMPTY).result is Result.WRITTEN
    zero = Entry("z", 0, SRC_US)
    assert decide(RW, M.IN_PLACE_SAME_SIZE, EMPTY, entry=zero).result is Result.WRITTEN
    assert decide(RW, M.IN_PLACE_SAME_SIZE, OTHER_SIZE, entry=zero).result is Result.SKIPPED


@pytest.mark.parametrize("mode", list(M))
def test_only_newer_skips_strictly_newer_and_writes_equal(mode: OverwriteMode) -> None:
    """WRITE_ONLY_NEWER: "do not write a file whose destination copy exists and is newer";
    ours: an equal mtime is not newer."""
    flags = RW | ONLY_NEWER
    assert decide(flags, mode, SAME_NEWER).result is Result.SKIPPED
    assert decide(flags, mode, SAME_EQUAL).result is Result.WRITTEN
    assert decide(flags, mode, SAME_OLDER).result is Result.WRITTEN
    assert decide(RW, mode, SAME_NEWER).result is Result.WRITTEN


@pytest.mark.parametrize("found", [Found.DIRECTORY, Found.SYMLINK, Found.OTHER])
def test_something_in_the_way_is_an_error(found: Found) -> None:
    got = decide(RW, M.ALWAYS, Existing(found))
    assert (got.result, got.detail) == (Result.ERROR, f"{found}-in-the-way")


def test_empty_directory_entries() -> None:
    """Manifest Files ``isEmptyDir``: "the transfer creates an empty directory"."""
    d = Entry("d", 0, SRC_US, is_empty_dir=True)
    made = decide(RW | 4, M.NEVER, NONE_THERE, entry=d)
    assert (made.method, made.source_mtime, made.wants_data) == (Method.MKDIR, True, False)
    assert decide(RW, M.NEVER, Existing(Found.DIRECTORY), entry=d).method is Method.MKDIR
    assert decide(RW, M.NEVER, SAME_OLDER, entry=d).result is Result.ERROR
    assert decide(1, M.NEVER, NONE_THERE, entry=d).result is Result.NOT_WRITTEN


def test_write_mtime_is_part_of_the_decision() -> None:
    assert decide(RW | 4, M.ALWAYS, NONE_THERE).source_mtime
    assert not decide(RW, M.ALWAYS, NONE_THERE).source_mtime


@pytest.mark.parametrize(("flags", "mode"), [(16, M.ALWAYS), (-1, M.ALWAYS), (True, M.ALWAYS),
                                             (RW, 1), (RW, 6)])
def test_out_of_range_settings_are_refused(flags: int, mode: int) -> None:
    with pytest.raises(UsageError):
        decide_entry(flags, mode, SRC, NONE_THERE)


# (fault, flags, mode, existing, the decision without the fault differs from the faulty one)
DECISION_FAULTS = [
    ("none-flag-writes", 0, M.ALWAYS, NONE_THERE),
    ("only-newer-without-flag", RW, M.ALWAYS, SAME_NEWER),
    ("only-newer-ignored-in-place", RW | ONLY_NEWER, M.IN_PLACE_SAME_SIZE, SAME_NEWER),
    ("only-newer-inverted", RW | ONLY_NEWER, M.ALWAYS, SAME_OLDER),
    ("same-size-overwrites-any", RW, M.IN_PLACE_SAME_SIZE, OTHER_SIZE),
    ("same-size-refuses-empty", RW, M.IN_PLACE_SAME_SIZE, EMPTY),
    ("never-overwrites", RW, M.NEVER, SAME_OLDER),
    ("never-writes-in-place", RW, M.NEVER, SAME_OLDER),
    ("always-keeps-original", RW, M.ALWAYS, SAME_OLDER),
]


@pytest.mark.parametrize(("fault", "flags", "mode", "existing"), DECISION_FAULTS,
                         ids=[f[0] for f in DECISION_FAULTS])
def test_each_decision_fault_changes_its_rule_only(fault: str, flags: int, mode: OverwriteMode,
                                                   existing: Existing) -> None:
    assert decide(flags, mode, existing, fault=fault) != decide(flags, mode, existing)
    # the same fault leaves a plain new file under ALWAYS alone
    plain = decide(RW, M.ALWAYS, NONE_THERE)
    assert decide(RW, M.ALWAYS, NONE_THERE, fault=fault) == plain


def test_empty_dir_fault() -> None:
    d = Entry("d", 0, SRC_US, is_empty_dir=True)
    assert decide(RW, M.ALWAYS, NONE_THERE, entry=d, fault="empty-dir-not-created").method \
        is Method.NOTHING


# --- cipher choice ---------------------------------------------------------------------
C = MinCipher


@pytest.mark.parametrize(("transfer", "destination", "own", "want"), [
    (C.NONE, C.NONE, C.NONE, C.NONE), (C.ENCRYPTED_128, C.NONE, C.UNENCRYPTED, C.ENCRYPTED_128),
    (C.NONE, C.ENCRYPTED_256, C.NONE, C.ENCRYPTED_256), (C.NONE, C.NONE, C.UNENCRYPTED,
                                                         C.UNENCRYPTED)])
def test_sender_offers_the_strongest_minimum(transfer: int, destination: int, own: int,
                                             want: int) -> None:
    """Min Cipher levels are minimums: data never crosses below any of them."""
    assert cipher_choice.offer(transfer, destination, own) == want


def test_receiver_never_settles_below_its_minimum() -> None:
    assert cipher_choice.settle(C.NONE, C.ENCRYPTED_128) == C.ENCRYPTED_128
    assert cipher_choice.settle(C.ENCRYPTED_256, C.UNENCRYPTED) == C.ENCRYPTED_256
    with pytest.raises(UsageError):
        cipher_choice.settle(4, 0)


def test_cipher_faults() -> None:
    ignores = FaultSet(["cipher-ignores-transfer-min"])
    assert cipher_choice.offer(C.ENCRYPTED_128, C.NONE, C.NONE, faults=ignores) == C.NONE
    assert cipher_choice.offer(C.NONE, C.UNENCRYPTED, C.NONE, faults=ignores) == C.UNENCRYPTED
    as_none = FaultSet(["unencrypted-means-none"])
    assert cipher_choice.offer(C.UNENCRYPTED, C.NONE, C.NONE, faults=as_none) == C.NONE
    assert cipher_choice.offer(C.ENCRYPTED_128, C.NONE, C.NONE, faults=as_none) == \
        C.ENCRYPTED_128


# --- synthetic content -----------------------------------------------------------------
def _definition(offset: int, length: int) -> bytes:
    """docs/semantics.md, written out: byte i = P[i % 65521], P = concatenated
    SHA-256(b"jetstream-qa synthetic %d" % k), cut to 65521 bytes."""
    pattern = b"".join(hashlib.sha256(b"jetstream-qa synthetic %d" % k).digest()
                       for k in range(65521 // 32 + 1))[:65521]
    return bytes(pattern[(offset + i) % 65521] for i in range(length))


@pytest.mark.parametrize(("offset", "length"), [(0, 300), (65_500, 100), (1 << 22, 64),
                                                (3 * 65521 - 5, 10), (7, 0)])
def test_synthetic_bytes_follow_the_documented_definition(offset: int, length: int) -> None:
    want = _definition(offset, length)
    assert synthetic_bytes(offset, length) == want
    assert bytes(synthetic_view(offset, length)) == want


def test_synthetic_long_ranges_agree_with_short_ones() -> None:
    long = synthetic_bytes(1000, (4 << 20) + 70_000)  # past the precomputed tile
    assert long[-50:] == synthetic_bytes(1000 + len(long) - 50, 50)
    with pytest.raises(UsageError):
        synthetic_bytes(-1, 3)
