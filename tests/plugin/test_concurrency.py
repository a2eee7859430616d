"""Concurrent conformance runs (pytest-xdist workers, each with its own embedded pair) give the
verdicts, JSON summary and HTML report of the serial run; the default depends on the suite
and the target, and ``--js-serial`` forces one process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

INNER = ("-p", "no:cacheprovider", "-p", "no:locust")

CONFTEST = '''
def pytest_js_concurrent_default(config):
    return True
'''

CASES = '''
import pytest
from jetstream_qa import expect

SRC = "vendor/page.html"

@pytest.mark.js_case("conc/pair/server-info", source=SRC)
def test_server_info(js_sender, js_info):
    """The sender answers getServerInfo (recorded, with the worker that ran it)."""
    info = js_sender.server.getServerInfo()
    js_info(f"version {info['version']}")

@pytest.mark.js_case("conc/pair/scratch", source=SRC)
def test_scratch(js_scratch):
    """Each case gets its own scratch source dir."""
    expect.equal("the scratch source dir exists", True, js_scratch.require_source().is_dir())

@pytest.mark.js_case("conc/must/broken", source=SRC)
def test_broken():
    """A MUST that is broken (FAIL)."""
    expect.equal("two is two", 2, 3)

@pytest.mark.js_case("conc/own/not-applicable-{n}", source=SRC)
@pytest.mark.parametrize("n", [1, 2])
def test_not_applicable(n, js_not_applicable):
    """A case that cannot run here."""
    js_not_applicable("not here")

@pytest.mark.js_waits
@pytest.mark.js_case("conc/waits/transfer-listing", source=SRC)
def test_waits(js_sender):
    """A waiting case: the worker's own pair shows no transfer of another worker."""
    expect.equal("no transfers on this worker's pair", 0, len(js_sender.send.getTransfers()))

@pytest.mark.js_case("conc/where/worker", source=SRC)
def test_where(request, js_info):
    """Records whether an xdist worker ran the case (INFO); not from the environment, which
    an outer xdist run hands down."""
    js_info("worker" if hasattr(request.config, "workerinput") else "controller")
'''


def _verdicts(path: Path) -> dict[str, str]:
    """Case id -> verdict; ``conc/where/worker`` maps to where it ran instead."""
    doc = json.loads(path.read_text())
    return {case["id"]: case["actual"] if case["id"] == "conc/where/worker" else case["verdict"]
            for case in doc["cases"]}


def _html_counts(html: str) -> list[tuple[str, str]]:
    """The verdict counts of the report's summary block (``2 PASS, 1 FAIL ...``)."""
    block = re.search(r"jsqa-counts(.*?)exit status", html, re.S)
    assert block is not None, "no verdict counts in the HTML report"
    return re.findall(r"(\d+) (PASS|FAIL|NON_STRICT|INFO|INCONCLUSIVE|NOT_APPLICABLE)\b",
                      block.group(1))


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, str]]:
    result = pytester.runpytest_subprocess(*INNER, "-rA", *args, timeout=240)
    return result, _verdicts(pytester.path / "reports" / "conformance.json")


def test_concurrent_run_gives_the_serial_verdicts_and_reports(pytester: pytest.Pytester
                                                              ) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_cases=CASES)
    concurrent, parallel = _run(pytester, "--js-workers", "2", "--html=out/c.html")
    assert "created: 2/2 workers" in concurrent.stdout.str()
    serial, one = _run(pytester, "--js-serial", "--html=out/s.html")
    assert "workers" not in serial.stdout.str()
    where = parallel.pop("conc/where/worker"), one.pop("conc/where/worker")
    assert where == ("worker", "controller")
    assert parallel == one
    assert one == {"conc/pair/server-info": "INFO", "conc/pair/scratch": "PASS",
                   "conc/must/broken": "FAIL", "conc/own/not-applicable-1": "NOT_APPLICABLE",
                   "conc/own/not-applicable-2": "NOT_APPLICABLE",
                   "conc/waits/transfer-listing": "PASS"}
    assert concurrent.ret == serial.ret == 1  # the FAIL decides the exit status in both modes
    counts = []
    for name in ("c.html", "s.html"):
        html = (pytester.path / "out" / name).read_text()
        for test in ("test_server_info", "test_scratch", "test_broken", "test_waits",
                     "test_not_applicable[1]", "test_not_applicable[2]", "test_where"):
            assert f"test_cases.py::{test}" in html, (name, test)
        counts.append(_html_counts(html))
    assert counts[0] == counts[1]
    assert ("1", "FAIL") in counts[0] and ("2", "NOT_APPLICABLE") in counts[0]


def test_concurrency_default_follows_suite_and_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cases='''
import pytest

@pytest.mark.js_case("default/mode/ran", source="vendor/page.html")
def test_ran():
    """Runs anywhere."""
''')
    without_hook = pytester.runpytest_subprocess(*INNER, timeout=120)
    assert "workers" not in without_hook.stdout.str()  # a suite that did not ask: serial
    pytester.makeconftest(CONFTEST)
    given = pytester.runpytest_subprocess(*INNER, "--js-sender", "127.0.0.1:9", timeout=120)
    assert "workers" not in given.stdout.str()  # a given target: serial unless asked
    listing = pytester.runpytest_subprocess(*INNER, "--js-list-cases", timeout=120)
    assert "workers" not in listing.stdout.str() and "default/mode/ran" in listing.stdout.str()
    no_xdist = pytester.runpytest_subprocess(*INNER, "-p", "no:xdist", timeout=120)
    assert no_xdist.ret == 0 and "workers" not in no_xdist.stdout.str()
