"""The catcher table covers exactly the registered faults, and the mutation table renders."""

from __future__ import annotations

import pytest
from catchers import FAULT_CATCHERS, KNOWN_GAPS, Catcher
from meta_harness import judge_catch, mutation_table

from jetstream_qa.refserver.faults import FAULTS


def test_every_fault_has_a_catcher_and_nothing_else():
    assert set(FAULT_CATCHERS) == set(FAULTS)


def test_known_gaps_are_faults_with_a_reason():
    assert set(KNOWN_GAPS) <= set(FAULT_CATCHERS)
    assert all(reason.strip() for reason in KNOWN_GAPS.values())


def test_catcher_ids_name_the_fault_area_or_a_neighbour():
    """A catching case lives in the fault's area, except documented cross-area catches
    (storage defects seen by the flag matrix or the transfer paths, link following seen
    by the manifest listing)."""
    cross = {"flags": ("flags/", "manifests/"), "transfers": ("transfers/",),
             "robustness": ("robustness/",)}
    for name, catcher in FAULT_CATCHERS.items():
        area = FAULTS[name].area
        prefixes = cross.get(area, (f"{area}/",))
        assert all(c.startswith(prefixes) for c in catcher.cases), (name, catcher.cases)


@pytest.mark.parametrize("bad", [
    {"cases": ()}, {"cases": ("handshake/x",), "verdict": "INFO"}, {"cases": ("nope",)}])
def test_catcher_validates(bad):
    with pytest.raises(ValueError):
        Catcher(**bad)


def test_judge_catch_needs_every_entry():
    catcher = Catcher(("a/x", "b/*"))
    assert judge_catch(catcher, {"a/x": "FAIL", "b/1": "PASS", "b/2": "FAIL"}).caught
    catch = judge_catch(catcher, {"a/x": "FAIL", "b/1": "PASS"})
    assert not catch.caught and catch.missing == {"b/*": "b/1: PASS"}
    assert judge_catch(catcher, {"a/x": "FAIL"}).missing == {"b/*": "no such case was run"}
    assert not judge_catch(Catcher(("a/x",), verdict="NON_STRICT"), {"a/x": "FAIL"}).caught


def test_mutation_table_rows_and_score():
    records = [
        {"fault": "f1", "area": "auth", "expected": "FAIL", "cases": ["auth/a"],
         "observed": {"auth/a": "FAIL"}, "caught": True, "gap": None},
        {"fault": "f2", "area": "auth", "expected": "FAIL", "cases": ["auth/b"],
         "observed": {"auth/b": "INFO"}, "caught": False, "gap": "auth/c"},
    ]
    text = mutation_table(records, clean={"auth/a": "PASS"})
    assert "1 of 2 faults caught (50 %)" in text
    assert "| `f1` | auth | `auth/a` | FAIL | FAIL | PASS | yes |" in text
    assert "| `f2` | auth | `auth/b` | FAIL | INFO | not run | **NO** (missing: auth/c) |" \
        in text
