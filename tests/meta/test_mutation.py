"""Fault injection: every fault of the reference server must be caught by the suites.

For each fault of ``jetstream_qa.refserver.faults.FAULTS`` (one test id each), an embedded
pair runs with the fault and the suites run in a subprocess, restricted to the cases
``catchers.FAULT_CATCHERS`` names; those cases must report FAIL (a MUST) or NON_STRICT (a
SHOULD). One clean pair runs the union of those cases once and must give no FAIL,
NON_STRICT or INCONCLUSIVE: a case only counts as catching a fault when it passes without
it. The mutation table (``reports/mutation.md``) is written at the end, only from a run that
selected every registered fault and the clean pair; its denominator is every registered
fault, and a fault with no record is listed as "not run" and fails the run
(``tests/mutation_report.py``).

Budget: each run is one pair plus one pytest process on a handful of cases (quick profile);
the tests are independent, so ``-n 2`` runs two at a time (no xdist group on purpose).

Opt-in stand-in mode (``JSQA_META_STANDIN=1``, ``meta_harness.standin_mode``): every test
runs its cases a second time through the strict vendor stand-in with its binding file; a
fault the bundled client catches must be caught through the stand-in too, and the clean
pair must stay clean through it. The table gains a "through stand-in" column.
"""

from __future__ import annotations

import pytest
from catchers import FAULT_CATCHERS, KNOWN_GAPS
from meta_harness import judge_catch, matching, run_suites, standin_mode

from jetstream_qa.refserver.faults import FAULTS


def _observed(globs: tuple[str, ...], verdicts: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for glob in globs:
        out.update(matching(glob, verdicts))
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught(fault, tmp_path, meta_record, request):
    """With ``fault`` on, each catching case reports the expected verdict. Every registered
    fault has a test (the table's denominator); a fault without a catcher, or whose run
    crashes, is recorded as not caught and fails."""
    base = {"kind": "fault", "fault": fault, "area": FAULTS[fault].area}
    catcher = FAULT_CATCHERS.get(fault)
    if catcher is None:
        meta_record(fault, {**base, "expected": "-", "cases": [], "observed": {},
                            "caught": False, "gap": "no catcher in catchers.py"})
        pytest.fail(f"fault {fault!r} has no entry in catchers.FAULT_CATCHERS")
    if fault in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[fault]))
    base.update(expected=catcher.verdict, cases=list(catcher.cases))
    try:
        run = run_suites(catcher.cases, tmp_path / "conformance.json", faults=[fault],
                         options=catcher.options)
    except BaseException as exc:
        meta_record(fault, {**base, "observed": {}, "caught": False,
                            "gap": f"run crashed: {type(exc).__name__}: {exc}"[:300]})
        raise
    catch = judge_catch(catcher, dict(run.verdicts))
    meta_record(fault, {**base, "observed": _observed(catcher.cases, dict(run.verdicts)),
                        "caught": catch.caught, "gap": KNOWN_GAPS.get(fault),
                        "durationS": round(run.duration_s, 1)})
    assert catch.caught, (f"fault {fault!r} ({FAULTS[fault].description}) not caught: "
                          f"expected {catcher.verdict} in {catch.missing}\n{run.output_tail}")
    if catcher.verdict == "FAIL":
        assert run.exit_status == 1, f"a FAIL must fail the run\n{run.output_tail}"
    if standin_mode():
        _through_standin(fault, catcher, tmp_path, meta_record, base, run)


def _through_standin(fault, catcher, tmp_path, meta_record, base, bundled) -> None:
    """The same cases through the vendor stand-in: the fault must be caught there too."""
    run = run_suites(catcher.cases, tmp_path / "standin.json", faults=[fault],
                     options=catcher.options, standin=True)
    catch = judge_catch(catcher, dict(run.verdicts))
    observed = _observed(catcher.cases, dict(run.verdicts))
    unreachable = bool(observed) and set(observed) <= set(run.bundled_only)
    meta_record(fault, {**base, "observed": _observed(catcher.cases, dict(bundled.verdicts)),
                        "caught": True, "gap": KNOWN_GAPS.get(fault),
                        "durationS": round(bundled.duration_s, 1),
                        "standin": {"observed": observed, "caught": catch.caught,
                                    "bundledOnly": unreachable,
                                    "durationS": round(run.duration_s, 1)}})
    if unreachable:  # reference-protocol cases only: no vendor client can run them
        return
    assert catch.caught, (f"fault {fault!r} caught by the bundled client but not through "
                          f"the stand-in: expected {catcher.verdict} in {catch.missing}\n"
                          f"{run.output_tail}")


@pytest.mark.timeout(300)
def test_clean_pair_passes_every_catching_case(tmp_path, meta_record):
    """Without faults the same cases give only PASS/INFO/NOT_APPLICABLE, and every catching
    case exists in the quick profile and runs (PASS or INFO, never NOT_APPLICABLE)."""
    globs = sorted({c for catcher in FAULT_CATCHERS.values() for c in catcher.cases})
    run = run_suites(globs, tmp_path / "conformance.json")
    observed = _observed(tuple(globs), dict(run.verdicts))
    record = {"kind": "clean", "observed": observed, "durationS": round(run.duration_s, 1)}
    meta_record("clean-pair", record)
    assert not run.unclean(), f"the clean pair fails cases: {run.unclean()}\n{run.output_tail}"
    not_run = [g for g in globs if not matching(g, run.verdicts)]
    assert not not_run, f"catching cases missing from the suites (quick profile): {not_run}"
    idle = {k: v for k, v in observed.items() if v not in ("PASS", "INFO")}
    assert not idle, f"catching cases that cannot catch anything here: {idle}"
    assert run.exit_status == 0, run.output_tail
    if standin_mode():
        through = run_suites(globs, tmp_path / "standin.json", standin=True)
        meta_record("clean-pair", {**record, "standin": _observed(tuple(globs),
                                                                  dict(through.verdicts))})
        assert not through.unclean(), (f"the clean pair fails cases through the stand-in: "
                                       f"{through.unclean()}\n{through.output_tail}")
        idle = {k: v for k, v in _observed(tuple(globs), dict(through.verdicts)).items()
                if v not in ("PASS", "INFO") and k not in through.bundled_only}
        assert not idle, f"catching cases that cannot catch through the stand-in: {idle}"
