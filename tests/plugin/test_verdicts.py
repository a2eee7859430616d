"""Case ids, listing, glob selection, verdict mapping, exit codes, expectation files and the
JSON summary, through real inner pytest runs of fake cases (no server needed: the embedded
pair starts only when a case asks for a server fixture)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

INNER = ("-p", "no:cacheprovider", "-p", "no:locust")

CASES = '''
import pytest
from jetstream_qa import expect
from jetstream_qa.errors import ConnectTimeout

SRC = "vendor/page.html"

@pytest.mark.js_case("alpha/holds/passes", source=SRC)
def test_pass(tmp_path):
    """A requirement that holds."""
    expect.equal("one is one", 1, 1)

@pytest.mark.js_case("alpha/must/broken", level="MUST", source=SRC)
def test_must_broken():
    """A MUST that is broken."""
    expect.equal("two is two", 2, 3)

@pytest.mark.js_case("beta/should/broken", level="SHOULD", source=SRC)
def test_should_broken():
    """A SHOULD that is broken."""
    assert 1 == 2, "one is not two"

@pytest.mark.js_case("beta/info/recorded", level="MUST", source=SRC)
def test_info(js_info):
    """Behaviour the docs leave open, recorded."""
    js_info("observed: 42")

@pytest.mark.js_case("gamma/env/unreachable", source=SRC)
def test_inconclusive():
    """The environment fails mid-case."""
    raise ConnectTimeout("staging unreachable")

@pytest.mark.js_case("gamma/na/no-root", source=SRC)
def test_not_applicable(js_not_applicable):
    """Needs root."""
    js_not_applicable("packet capture needs root")

@pytest.mark.js_case("gamma/matrix/{flags}-{overwrite}", source=SRC)
@pytest.mark.parametrize("flags", [1, 3])
@pytest.mark.parametrize("overwrite", [4])
@pytest.mark.parametrize("cipher", [0])
@pytest.mark.parametrize("symlink", [1])
def test_matrix(flags, overwrite, cipher, symlink):
    """A matrix point."""
'''


@pytest.fixture
def cases(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_cases=CASES)
    return pytester


def _json(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "conformance.json").read_text())


def _verdicts(pytester: pytest.Pytester) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in _json(pytester)["cases"]}


def test_verdict_mapping_and_exit_code(cases: pytest.Pytester) -> None:
    result = cases.runpytest(*INNER, "--js-case=alpha/holds/*", "--js-case=beta/*",
                             "--js-case=gamma/*", "--js-allow-inconclusive")
    assert result.ret == 0, "a broken SHOULD alone must not fail the run"
    assert _verdicts(cases) == {
        "alpha/holds/passes": "PASS", "beta/should/broken": "NON_STRICT",
        "beta/info/recorded": "INFO", "gamma/env/unreachable": "INCONCLUSIVE",
        "gamma/na/no-root": "NOT_APPLICABLE", "gamma/matrix/1-4": "PASS",
        "gamma/matrix/3-4": "PASS"}
    result.stdout.fnmatch_lines(["*jetstream-qa conformance summary*",
                                 "NON_STRICT*SHOULD*beta/should/broken*",
                                 "*verdicts: 3 PASS, 0 FAIL, 1 NON_STRICT, 1 INFO, "
                                 "1 INCONCLUSIVE, 1 NOT_APPLICABLE*"])


def test_strict_fails_on_non_strict(cases: pytest.Pytester) -> None:
    result = cases.runpytest(*INNER, "--js-strict", "--js-case=beta/should/*")
    assert result.ret == 1
    assert _verdicts(cases) == {"beta/should/broken": "NON_STRICT"}


def test_must_failure_fails_with_evidence(cases: pytest.Pytester) -> None:
    result = cases.runpytest(*INNER, "--js-case=alpha/*")
    assert result.ret == 1
    case = next(c for c in _json(cases)["cases"] if c["id"] == "alpha/must/broken")
    assert (case["verdict"], case["requirement"], case["expected"], case["actual"]) == (
        "FAIL", "two is two", "2", "3")
    result.stdout.fnmatch_lines(["*Requirement: two is two*", "*Expected:*2*",
                                 "*Actual:*3*"])


def test_list_cases_runs_nothing(cases: pytest.Pytester) -> None:
    result = cases.runpytest(*INNER, "--js-list-cases", "--js-case=gamma/*")
    assert result.ret == 0
    lines = [" ".join(line.split()) for line in result.stdout.lines]
    assert "gamma/env/unreachable MUST The environment fails mid-case. [vendor/page.html]" \
        in lines
    result.stdout.fnmatch_lines(["gamma/matrix/1-4*", "4 cases"])
    assert "alpha/" not in result.stdout.str()
    assert not (cases.path / "reports" / "conformance.json").exists()
    result.assert_outcomes()


def test_glob_selection_deselects_the_rest(cases: pytest.Pytester) -> None:
    result = cases.runpytest(*INNER, "--js-case=gamma/matrix/*")
    result.assert_outcomes(passed=2, deselected=6)
    matrix = {c["id"]: c["matrix"] for c in _json(cases)["cases"]}
    assert matrix["gamma/matrix/3-4"] == {"flags": 3, "overwrite": 4, "cipher": 0,
                                          "symlink": 1, "preState": "absent"}


def test_expectation_file(cases: pytest.Pytester, tmp_path: Path) -> None:
    expectations = tmp_path / "known.json"
    expectations.write_text(json.dumps({"schema": "jetstream-qa/expectations/1", "cases": {
        "alpha/must/broken": {"verdict": "FAIL", "reason": "JS-1: known"},
        "alpha/holds/*": {"verdict": "FAIL", "reason": "was broken in 2.9.1"}}}))
    result = cases.runpytest(*INNER, "--js-case=alpha/*", f"--js-expectations={expectations}")
    assert result.ret == 0, "an expected FAIL and an unexpected PASS do not fail the run"
    by_id = {c["id"]: c for c in _json(cases)["cases"]}
    assert by_id["alpha/must/broken"]["expectedVerdict"] == "FAIL"
    assert by_id["alpha/must/broken"]["unexpected"] is False
    assert by_id["alpha/holds/passes"]["unexpected"] is True
    result.assert_outcomes(xfailed=1, passed=1)


def test_expectation_file_errors_name_the_file(cases: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": {"a/b": {"verdict": "MAYBE"}}}')
    result = cases.runpytest(*INNER, f"--js-expectations={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid expectation verdict 'MAYBE' for 'a/b'*bad.json*"])


def test_json_summary_shape(cases: pytest.Pytester) -> None:
    cases.runpytest(*INNER, "--js-case=alpha/*", "--js-case=gamma/matrix/*")
    doc = _json(cases)
    assert set(doc) >= {"schema", "generatedAt", "environment", "counts", "cases",
                        "exitStatus"}
    assert doc["schema"] == "jetstream-qa/conformance/1" and doc["exitStatus"] == 1
    assert set(doc["environment"]) >= {"serverVersion", "apiVersion", "serverId", "revision",
                                       "minCipher", "host", "clientKind", "profile",
                                       "target", "toolkitVersion", "python"}
    assert set(doc["counts"]) == {"PASS", "FAIL", "NON_STRICT", "INFO", "INCONCLUSIVE",
                                  "NOT_APPLICABLE"}
    for case in doc["cases"]:
        assert set(case) >= {"id", "area", "verdict", "requirement", "source", "durationS",
                             "expected", "actual", "calls", "matrix", "expectedVerdict",
                             "unexpected"}
        assert isinstance(case["calls"], list) and isinstance(case["durationS"], float)
    assert doc["counts"]["PASS"] == 3 and doc["counts"]["FAIL"] == 1


def test_junit_carries_the_verdict(cases: pytest.Pytester) -> None:
    cases.runpytest(*INNER, "--js-case=beta/*", "--junitxml=junit.xml")
    xml = (cases.path / "junit.xml").read_text()
    assert '<property name="verdict" value="NON_STRICT"' in xml
    assert '<property name="case_id" value="beta/info/recorded"' in xml


def test_duplicate_and_bad_ids_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest
        @pytest.mark.js_case("Bad Id", source="x")
        def test_a():
            """x"""
    ''')
    result = pytester.runpytest(*INNER)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bad case id 'Bad Id'*"])


def test_no_cases_no_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    assert "jetstream-qa conformance summary" not in result.stdout.str()


def test_unreachable_target_is_inconclusive(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A target that refuses connections from the start makes its cases INCONCLUSIVE, not
    FAIL; the run exits non-zero (the server was not judged) unless INCONCLUSIVE is allowed."""
    monkeypatch.setenv("JETSTREAM_API_PASSWORD", "unused-secret")
    pytester.makepyfile('''
        import pytest
        @pytest.mark.js_case("env/unreachable/sender", source="x")
        def test_x(js_sender):
            """Needs the sender."""
    ''')
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = pytester.runpytest(*INNER, f"--js-sender=127.0.0.1:{port}", "--js-user=u",
                                "--js-timeout=2")
    assert result.ret == 1
    assert _verdicts(pytester) == {"env/unreachable/sender": "INCONCLUSIVE"}
    case = _json(pytester)["cases"][0]
    assert "no connection with 127.0.0.1" in case["actual"], case["actual"]
    allowed = pytester.runpytest(*INNER, f"--js-sender=127.0.0.1:{port}", "--js-user=u",
                                 "--js-timeout=2", "--js-allow-inconclusive")
    assert allowed.ret == 0
    assert _verdicts(pytester) == {"env/unreachable/sender": "INCONCLUSIVE"}


def test_harness_error_fails_the_run(pytester: pytest.Pytester) -> None:
    """A fixture broken by our own bug is not the server's fault (no FAIL) but must not pass
    silently: the case is INCONCLUSIVE, pytest shows the error, the run exits non-zero."""
    pytester.makepyfile('''
        import pytest

        @pytest.fixture
        def broken():
            raise ValueError("bug in the harness")

        @pytest.mark.js_case("harness/broken/fixture", source="x")
        def test_x(broken):
            """Needs a working fixture."""
    ''')
    result = pytester.runpytest(*INNER)
    assert result.ret == 1
    assert _verdicts(pytester) == {"harness/broken/fixture": "INCONCLUSIVE"}
    assert _json(pytester)["exitStatus"] == 1
    result.stdout.fnmatch_lines(["*ValueError: bug in the harness*"])


def test_suite_bug_in_a_case_is_an_error_not_a_fail(pytester: pytest.Pytester) -> None:
    """A TypeError raised by the case's own code is a suite error: pytest ERROR labelled
    "suite bug", no FAIL charged to the server, and the run exits non-zero."""
    pytester.makepyfile('''
        import pytest

        @pytest.mark.js_case("harness/broken/case", source="x")
        def test_x():
            """A case with a bug of its own."""
            return len(42)
    ''')
    result = pytester.runpytest(*INNER)
    assert result.ret == 1
    case = _json(pytester)["cases"][0]
    assert (case["verdict"], case["suiteError"]) == ("INCONCLUSIVE", True)
    assert case["actual"].startswith("suite bug: TypeError")
    result.stdout.fnmatch_lines(["*SUITE ERROR*harness/broken/case*", "*1 error*"])
