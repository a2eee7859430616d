"""Unit tests of conformance_core.matrix.planning: the product, the pairwise array, batching."""

from __future__ import annotations

import itertools

import pytest

from jetstream_qa.conformance_core.matrix import planning as matrix
from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode
from jetstream_qa.errors import ConfigurationError, UsageError

FIVE = [tuple(range(16)), tuple(int(m) for m in OverwriteMode), tuple(int(c) for c in MinCipher),
        tuple(int(s) for s in SymlinkMode), matrix.PRE_STATES]


def _rows(cases):
    return [(c.flags, c.overwrite, c.cipher, c.symlink, c.pre_state) for c in cases]


def test_full_product_is_every_combination_once():
    cases = matrix.full_product()
    assert len(cases) == 16 * 4 * 4 * 2 * 7 == 3584
    assert set(_rows(cases)) == set(itertools.product(*FIVE))


def test_full_product_batches_into_one_transfer_per_group():
    batches = matrix.batches(matrix.full_product())
    assert len(batches) == 512
    assert all(b.pre_states == matrix.PRE_STATES for b in batches)
    assert len({b.group for b in batches}) == 512


def test_quick_plan_covers_every_pair_of_all_five_coordinates():
    rows = _rows(matrix.quick_plan())
    assert matrix.missing_pairs(rows, FIVE) == set()


def test_quick_plan_is_a_fraction_of_full_and_deterministic():
    quick = matrix.quick_plan()
    assert quick == matrix.quick_plan()
    assert len(matrix.batches(quick)) * 4 <= len(matrix.batches(matrix.full_product()))
    assert len(set(quick)) == len(quick)


def test_missing_pairs_detects_a_dropped_row():
    rows = _rows(matrix.quick_plan())
    # Removing all rows holding one (flags, overwrite) pair must leave that pair uncovered.
    pruned = [r for r in rows if not (r[0] == 5 and r[1] == 3)]
    assert (0, 5, 1, 3) in matrix.missing_pairs(pruned, FIVE)


@pytest.mark.parametrize("params", [
    [(0, 1), (0, 1), (0, 1)],
    [(1, 2, 3), ("a", "b"), (True, False), (7,)],
    [tuple(range(5)), tuple(range(5)), tuple(range(3)), tuple(range(2))],
])
def test_pairwise_covers_all_pairs_of_small_spaces(params):
    rows = matrix.pairwise(params)
    assert matrix.missing_pairs(rows, params) == set()
    assert len(rows) < len(list(itertools.product(*params))) or len(params) < 3


def test_pairwise_of_binary_triple_is_minimal():
    assert len(matrix.pairwise([(0, 1)] * 3)) == 4


def test_pairwise_rejects_bad_parameters():
    with pytest.raises(UsageError):
        matrix.pairwise([(), (1, 2)])
    with pytest.raises(UsageError):
        matrix.pairwise([(1, 1), (1, 2)])


def test_plan_profiles():
    assert len(matrix.plan("full")) == 3584
    assert matrix.plan("quick") == matrix.quick_plan()
    with pytest.raises(ConfigurationError, match="'medium'"):
        matrix.plan("medium")


def test_case_id_and_coordinates():
    case = matrix.MatrixCase(3 | 4, int(OverwriteMode.VERSIONED), int(MinCipher.ENCRYPTED_256),
                             int(SymlinkMode.IGNORE), "same_size_newer")
    assert case.case_id == (
        "flags/matrix/read_write+write_mtime-versioned-encrypted_256-ignore-same_size_newer")
    assert case.coordinates() == {"flags": 7, "overwrite": 5, "cipher": 3, "symlink": 2,
                                  "preState": "same_size_newer"}
    assert matrix.flags_token(0 | 8) == "none+write_only_newer"


def test_case_ids_are_unique_across_the_product():
    ids = [c.case_id for c in matrix.full_product()]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("bad", [
    dict(flags=16), dict(flags=-1), dict(overwrite=1), dict(cipher=4), dict(symlink=0),
    dict(pre_state="missing"), dict(flags=True),
])
def test_case_validates_fields(bad):
    fields = dict(flags=3, overwrite=4, cipher=0, symlink=1, pre_state="absent") | bad
    with pytest.raises(UsageError):
        matrix.MatrixCase(**fields)


def test_batches_group_in_first_seen_order_and_dedupe():
    a = matrix.MatrixCase(3, 4, 0, 1, "empty")
    b = matrix.MatrixCase(3, 4, 0, 1, "absent")
    c = matrix.MatrixCase(0, 2, 1, 2, "directory")
    out = matrix.batches([a, c, b, a])
    assert [x.group for x in out] == [a.group, c.group]
    assert out[0].pre_states == ("absent", "empty")
    assert out[0].cases() == (b, a)


def test_batch_rejects_duplicate_pre_states():
    with pytest.raises(UsageError):
        matrix.Batch(matrix.TransferGroup(3, 4, 0, 1), ("absent", "absent"))


def test_batches_isolate_pre_states_only_for_groups_that_write():
    full = matrix.batches(matrix.full_product(), isolate=("directory",))
    assert len(full) == 512 + 256
    for batch in full:
        writes = bool(batch.group.flags & 2)
        if batch.pre_states == ("directory",):
            assert writes
        elif writes:
            assert "directory" not in batch.pre_states and len(batch.pre_states) == 6
        else:
            assert batch.pre_states == matrix.PRE_STATES
    judged = [c for b in full for c in b.cases()]
    assert sorted(judged) == sorted(matrix.full_product())


def test_slug_is_the_case_id_tail():
    case = matrix.MatrixCase(0, 2, 1, 2, "empty")
    assert case.case_id == "flags/matrix/" + case.slug
    assert case.slug == "none-in_place_same_size-unencrypted-ignore-empty"
