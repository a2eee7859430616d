"""The plugin's model without pytest machinery: verdict rule, expectations, file sets,
matrix pivot, HTML escaping, host parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jetstream_qa.conformance_core import filesets
from jetstream_qa.conformance_core.cases import CaseResult, CaseSpec, MatrixCoord, case_id_for
from jetstream_qa.conformance_core.expectations import load_expectations
from jetstream_qa.conformance_core.failures import CaseFailure, Inconclusive, classify
from jetstream_qa.conformance_core.htmlreport import matrix_view, render_evidence
from jetstream_qa.conformance_core.setting_values import HostPort, StorageRoot
from jetstream_qa.conformance_core.summary import Environment, RunSummary, exit_status
from jetstream_qa.conformance_core.verdicts import (
    CaseOutcome,
    Level,
    Verdict,
    decide,
    is_blocking,
    outcome_for_pytest,
)
from jetstream_qa.errors import ConfigurationError, NotFound, RequestTimeout

FILESETS = Path(__file__).resolve().parents[2] / "fixtures" / "filesets"


@pytest.mark.parametrize(("level", "outcome", "info", "verdict"), [
    (Level.MUST, CaseOutcome.HELD, False, Verdict.PASS),
    (Level.MUST, CaseOutcome.HELD, True, Verdict.INFO),
    (Level.MUST, CaseOutcome.BROKEN, False, Verdict.FAIL),
    (Level.SHOULD, CaseOutcome.BROKEN, False, Verdict.NON_STRICT),
    (Level.INFO, CaseOutcome.BROKEN, False, Verdict.INFO),
    (Level.INFO, CaseOutcome.HELD, False, Verdict.INFO),
    (Level.MUST, CaseOutcome.ENVIRONMENT, False, Verdict.INCONCLUSIVE),
    (Level.INFO, CaseOutcome.SUITE_ERROR, False, Verdict.INCONCLUSIVE),
    (Level.SHOULD, CaseOutcome.NOT_APPLICABLE, True, Verdict.NOT_APPLICABLE),
])
def test_decide(level: Level, outcome: CaseOutcome, info: bool, verdict: Verdict) -> None:
    assert decide(level, outcome, info_recorded=info) is verdict


def test_blocking_and_classify() -> None:
    assert is_blocking(Verdict.FAIL, strict=False)
    assert not is_blocking(Verdict.NON_STRICT, strict=False)
    assert is_blocking(Verdict.NON_STRICT, strict=True)
    assert is_blocking(Verdict.INCONCLUSIVE, strict=False)
    assert not is_blocking(Verdict.INCONCLUSIVE, strict=False, allow_inconclusive=True)
    assert classify(RequestTimeout("x")).outcome is CaseOutcome.ENVIRONMENT  # never probed
    assert classify(Inconclusive("x")).outcome is CaseOutcome.ENVIRONMENT
    assert classify(NotFound("x")).outcome is CaseOutcome.BROKEN
    assert classify(CaseFailure("r", 1, 2)).outcome is CaseOutcome.BROKEN
    assert Level.parse("may/info") is Level.INFO
    with pytest.raises(ValueError, match="unknown level"):
        Level.parse("COULD")


def _result(case_id: str, verdict: Verdict, expected: Verdict | None = None) -> CaseResult:
    spec = CaseSpec(case_id, Level.MUST, "src", "req")
    return CaseResult(spec, verdict, expected_verdict=expected)


def test_exit_status_honours_expectations() -> None:
    assert exit_status([_result("a/b", Verdict.FAIL)], strict=False) == 1
    assert exit_status([_result("a/b", Verdict.FAIL, Verdict.FAIL)], strict=False) == 0
    assert exit_status([_result("a/b", Verdict.PASS, Verdict.FAIL)], strict=False) == 0
    assert exit_status([_result("a/b", Verdict.NON_STRICT)], strict=True) == 1
    summary = RunSummary(Environment(), (_result("a/b", Verdict.PASS, Verdict.FAIL),))
    assert [r.spec.id for r in summary.unexpected] == ["a/b"]
    round_trip = CaseResult.from_dict(summary.results[0].to_dict())
    assert round_trip.to_dict() == summary.results[0].to_dict()


def test_expectations_lookup(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"cases": {"a/*": "INFO", "a/b": {"verdict": "fail",
                                                                 "reason": "JS-1"}}}))
    expectations = load_expectations(path)
    assert expectations.lookup("a/b").verdict is Verdict.FAIL  # exact id wins
    assert expectations.lookup("a/c").verdict is Verdict.INFO
    assert expectations.lookup("b/c") is None
    with pytest.raises(ConfigurationError, match="invalid --js-expectations"):
        load_expectations(tmp_path / "missing.json")


def test_case_ids() -> None:
    assert case_id_for("flags/m/{flags}", {"flags": 3}, "3") == "flags/m/3"
    assert case_id_for("flags/m", {"x": 1}, "A B[c]") == "flags/m/a-b-c"
    with pytest.raises(ValueError, match="bad case id"):
        case_id_for("NoSlash", {}, None)
    with pytest.raises(ValueError, match="placeholder"):
        case_id_for("a/{missing}", {}, None)


def test_filesets_are_deterministic(tmp_path: Path) -> None:
    recipe = filesets.load_recipe(FILESETS / "mixed.json")
    one = filesets.build(recipe, tmp_path / "one")
    two = filesets.build(recipe, tmp_path / "two", server_root="/srv/two")
    assert [e.sha256 for e in one.entries] == [e.sha256 for e in two.entries]
    assert one.entry("run.sh").executable and (tmp_path / "one" / "run.sh").stat().st_mode & 0o100
    assert (tmp_path / "one" / "link-to-a").is_symlink()
    assert one.entry("zero.bin").size == 0 and (tmp_path / "one" / "empty-dir").is_dir()
    assert two.file_mappings("/d", include=lambda e: e.path == "a.txt") == {
        "/d/a.txt": "/srv/two/a.txt"}
    assert len({e.sha256 for e in one.files}) == len(one.files)  # every file differs
    assert sorted(filesets.recipe_names(FILESETS)) == ["mixed", "single", "tree"]


def test_matrix_view_and_escaping() -> None:
    cases = [dict(_result(f"f/m/{i}", v).to_dict(),
                  matrix=MatrixCoord(3, 4, 0, 1, pre).to_dict())
             for i, (v, pre) in enumerate([(Verdict.PASS, "absent"), (Verdict.FAIL, "older")])]
    view = matrix_view(cases)
    assert view["columns"] == [(0, 1)]
    assert view["rows"][0]["cells"][0]["worst"] == "FAIL"
    html = render_evidence(dict(cases[0], actual="<script>alert(1)</script>"))
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_host_and_roots() -> None:
    assert HostPort.parse("[::1]:9") == HostPort("::1", 9)
    assert str(HostPort("::1", 9)) == "[::1]:9"
    with pytest.raises(ValueError):
        HostPort.parse("h:x")
    root = StorageRoot.parse("/mnt/a=/data/qa")
    assert root.server_path(Path("/mnt/a/x/y")) == "/data/qa/x/y"
    with pytest.raises(ValueError):
        StorageRoot.parse("relative")


@pytest.mark.parametrize(("verdict", "strict", "by_file", "setup", "skipped", "outcome"), [
    (Verdict.FAIL, False, True, False, False, "xfail"),
    (Verdict.NON_STRICT, False, True, False, False, "xfail"),
    (Verdict.FAIL, False, False, False, False, "failed"),
    (Verdict.NON_STRICT, True, False, False, False, "failed"),
    (Verdict.NON_STRICT, False, False, False, False, "passed"),
    (Verdict.PASS, False, False, False, False, "passed"),
    (Verdict.INFO, False, False, True, False, "skipped"),  # setup held: the body never ran
    (Verdict.INCONCLUSIVE, False, False, False, False, "skipped"),
    (Verdict.NOT_APPLICABLE, False, False, False, True, "keep"),
    (Verdict.PASS, False, True, False, False, "passed"),  # an expectation never hides a PASS
])
def test_pytest_outcome_of_each_verdict(verdict, strict, by_file, setup, skipped, outcome):
    assert outcome_for_pytest(verdict, strict=strict, expected_by_file=by_file,
                          during_setup=setup, already_skipped=skipped) == outcome
