"""The mutation table is honest: every registered fault is in the denominator, a fault with
no record is "not run" and fails the meta run, and only a complete run writes the table."""

from __future__ import annotations

import mutation_report as mr
import pytest


@pytest.fixture
def records_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(mr, "RECORDS", tmp_path / "meta")
    monkeypatch.setattr(mr, "TABLE", tmp_path / "mutation.md")
    return tmp_path


REGISTERED = {"f1": "auth", "f2": "auth", "f3": "flags"}


def _record(run: str, fault: str, caught: bool) -> None:
    path = mr.RECORDS / f"{fault}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mr.json.dumps({
        "kind": "fault", "fault": fault, "area": REGISTERED[fault], "expected": "FAIL",
        "cases": ["a/b"], "observed": {"a/b": "FAIL" if caught else "PASS"},
        "caught": caught, "gap": None, "run": run}))


def _clean(run: str) -> None:
    (mr.RECORDS / "clean-pair.json").write_text(mr.json.dumps(
        {"kind": "clean", "observed": {"a/b": "PASS"}, "run": run}))


def test_a_fault_without_record_is_not_run_and_fails(records_dir) -> None:
    mr.write_plan("r1", faults=list(REGISTERED), clean=True, registered=REGISTERED)
    _record("r1", "f1", True)
    _record("r1", "f2", False)
    _record("old-run", "f3", True)  # a stale record of another run does not count
    _clean("r1")
    outcome = mr.finalize(run_id="r1")
    assert outcome is not None and outcome.table is not None
    assert "1 of 3 faults caught (33 %)" in outcome.table
    assert "| `f3` | flags | - | - | not run | - | **not run** |" in outcome.table
    assert outcome.problems == ("fault 'f3' did not run (no record)",)
    assert mr.TABLE.read_text() == outcome.table


def test_a_complete_run_without_problems(records_dir) -> None:
    mr.write_plan("r2", faults=list(REGISTERED), clean=True, registered=REGISTERED)
    for fault in REGISTERED:
        _record("r2", fault, True)
    _clean("r2")
    outcome = mr.finalize(run_id="r2")
    assert outcome is not None and outcome.problems == ()
    assert "3 of 3 faults caught (100 %)" in (outcome.table or "")


@pytest.mark.parametrize(("faults", "clean"), [(["f1"], True), ([], True),
                                               (list(REGISTERED), False)])
def test_a_partial_or_clean_only_run_writes_no_table(records_dir, faults, clean) -> None:
    mr.TABLE.write_text("stale table of an earlier run")
    mr.write_plan("r3", faults=faults, clean=clean, registered=REGISTERED)
    for fault in faults:
        _record("r3", fault, True)
    outcome = mr.finalize(run_id="r3")
    assert outcome is not None and outcome.table is None
    assert "mutation table not written" in outcome.note
    assert outcome.problems == ()
    assert mr.TABLE.read_text() == "stale table of an earlier run"  # and never printed


def test_no_plan_means_no_meta_run(records_dir) -> None:
    assert mr.finalize(since=0.0) is None
