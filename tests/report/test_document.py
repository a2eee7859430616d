"""The review document: attention order, status, comparison, redaction."""

from __future__ import annotations

import copy
from typing import Any

from jetstream_qa.report.baseline import Baseline
from jetstream_qa.report.document import ReviewInputs, StepOutcome, build_document
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.samples import conformance_document, load_document

SEEDED = "flags/f1-o4-c2-s1/newer"


def _inputs(conf: dict[str, Any], loads: list[dict[str, Any]], **kw: Any) -> ReviewInputs:
    return ReviewInputs(conformance=parse_conformance(conf),
                        loads=[parse_load(d) for d in loads], generated_at="t",
                        toolkit_version="0.1.0", **kw)


def test_passing_run_passes(load_doc: dict[str, Any]) -> None:
    doc = build_document(_inputs(conformance_document(300, seed=2), [load_doc]))
    assert doc["schema"] == "jetstream-qa/review/1"
    assert doc["status"] == "PASS" and doc["exitCode"] == 0 and doc["attention"] == []
    assert doc["conformance"]["total"] == 300


def test_seeded_defect_is_the_first_item(load_doc: dict[str, Any]) -> None:
    conf = conformance_document(5000, seed=4, fail=[SEEDED])
    doc = build_document(_inputs(conf, [load_doc]))
    assert doc["status"] == "FAIL" and doc["exitCode"] == 1
    assert doc["attention"][0]["id"] == SEEDED
    assert doc["conformance"]["cases"][0]["id"] == SEEDED  # the case table too
    assert doc["reasons"] == ["1 conformance case(s) FAIL"]


def test_verdict_change_comes_before_regressions() -> None:
    good = conformance_document(400, seed=5)
    bad = conformance_document(400, seed=5, fail=[SEEDED])
    base = Baseline.from_run("b", conformance=parse_conformance(good),
                             loads=[parse_load(load_document(seed=i)) for i in range(3)],
                             saved_at="", environment={})
    slow = [load_document(seed=10 + i, goodput_bps=50e6) for i in range(3)]
    doc = build_document(_inputs(bad, slow, baseline=base))
    kinds = [item["kind"] for item in doc["attention"]]
    assert kinds[0] == "verdict-change" and doc["attention"][0]["id"] == SEEDED
    assert doc["attention"][0]["before"] == "PASS" and doc["attention"][0]["after"] == "FAIL"
    assert "regression" in kinds and "fail" not in kinds  # the FAIL is listed once
    assert any("regression" in r for r in doc["reasons"])
    goodput = next(m for m in doc["comparison"]["metrics"] if m["name"] == "goodput.mean")
    assert goodput["movement"] == "REGRESSION" and len(goodput["currentSamples"]) == 3


def test_failed_check_and_missing_step_fail_the_review(load_doc: dict[str, Any]) -> None:
    failing = copy.deepcopy(load_doc)
    failing["checks"] = [{"expr": "goodput >= 1GB/s", "observed": 8e7, "threshold": 1e9,
                          "passed": False, "detail": ""}]
    steps = [StepOutcome("load run 2", 1, 3.0, False, "reports/logs/load-run2.log",
                         "reports/load-run2.json was not written")]
    doc = build_document(_inputs(conformance_document(50), [failing], steps=steps))
    kinds = [i["kind"] for i in doc["attention"]]
    assert kinds == ["check", "step"]
    assert doc["status"] == "FAIL"


def test_expected_fail_is_listed_but_waived(load_doc: dict[str, Any]) -> None:
    conf = conformance_document(100, seed=6, fail=["flags/f0-o2-c0-s1/absent"])
    conf["cases"][0]["expectedVerdict"] = "FAIL"
    doc = build_document(_inputs(conf, [load_doc]))
    assert doc["attention"][0]["waived"] is True
    assert doc["status"] == "PASS"


def test_secrets_never_reach_the_document(load_doc: dict[str, Any]) -> None:
    conf = conformance_document(50, seed=7, fail=["flags/f0-o2-c0-s1/absent"])
    conf["cases"][0]["actual"] = "auth failed for qa:Sup3rSecret!"
    conf["environment"]["password"] = "Sup3rSecret!"
    doc = build_document(_inputs(conf, [load_doc], settings={"apiToken": "tk-999999"}),
                         secrets=["Sup3rSecret!"])
    text = str(doc)
    assert "Sup3rSecret!" not in text and "tk-999999" not in text
    assert "[REDACTED]" in doc["attention"][0]["case"]["actual"]


def test_settings_that_differ_from_the_baseline_are_named() -> None:
    base = Baseline.from_run("b", conformance=None, loads=[parse_load(load_document(users=4))],
                             saved_at="", environment={})
    doc = build_document(_inputs(conformance_document(20), [load_document(users=8)],
                                 baseline=base))
    assert {"key": "users", "baseline": 4, "current": 8} in doc["comparison"]["settingsDiffer"]
