"""``--dist loadgroup`` under our scheduler (:mod:`jetstream_qa.conformance_core.
xdist_scheduling`): the cases of one ``xdist_group`` run on one worker, where their
module-scoped batch is set up once, and a case declaring a long wait runs alone on its worker,
nothing queued behind it.

These fail with pytest-xdist 3.8's own ``loadgroup`` under pytest 9.2 (xdist issue #1386: the
groups vanish, the six grouped cases spread over the workers and the batch is set up on each;
the lone wait gets a second case queued behind it, which cannot finish first). Each case leaves
a file named after itself and its worker in ``JSQA_TRACE``; the outer test reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

INNER = ("-p", "no:cacheprovider", "-p", "no:locust")

CONFTEST = '''
def pytest_js_concurrent_default(config):
    return True
'''

COMMON = '''
import os
import tempfile
from pathlib import Path

import pytest

TRACE = Path(os.environ["JSQA_TRACE"])


def mark_ran(request, name):
    worker = getattr(request.config, "workerinput", {}).get("workerid", "controller")
    (TRACE / f"{name}.{worker}").touch()
'''

GROUPED = COMMON + '''

@pytest.fixture(scope="module")
def batch():
    """Stands for the flag matrix's batch: one file per set-up."""
    tempfile.mkstemp(dir=TRACE, prefix="batch-setup-")


@pytest.mark.xdist_group("batch")
@pytest.mark.parametrize("n", range(6))
def test_grouped(n, batch, request):
    mark_ran(request, f"grouped-{n}")
'''

SINGLES = COMMON + '''

@pytest.mark.parametrize("n", range(6))
def test_single(n, request):
    mark_ran(request, f"single-{n}")
'''

LONE = COMMON + '''
from jetstream_qa.conformance_core.polling import poll


@pytest.mark.js_waits(120)
def test_lone(request):
    """Declares two minutes; returns as soon as every other case has run, which cannot happen
    while one of them is queued behind it on its worker (90 s: the deadline of the proof)."""
    others = lambda: len([p for p in TRACE.iterdir() if p.name.startswith(("grouped-", "single-"))])
    outcome = poll(others, lambda n: n == 12, timeout=90.0)
    assert outcome.satisfied, f"only {outcome.value} of 12 other cases ran"
    mark_ran(request, "lone")
'''


def _ran(trace: Path) -> dict[str, str]:
    """Case name -> worker that ran it (from the trace files ``NAME.WORKER``)."""
    return dict(p.name.rsplit(".", 1) for p in trace.iterdir()  # type: ignore[misc]
                if not p.name.startswith("batch-setup-"))


def _setups(trace: Path) -> int:
    return sum(1 for p in trace.iterdir() if p.name.startswith("batch-setup-"))


@pytest.fixture
def trace(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "trace"
    path.mkdir()
    monkeypatch.setenv("JSQA_TRACE", str(path))
    pytester.makepyfile(test_grouped=GROUPED, test_singles=SINGLES, test_lone=LONE)
    return path


def test_concurrent_run_honours_groups_and_runs_long_waits_alone(
        pytester: pytest.Pytester, trace: Path) -> None:
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess(*INNER, "--js-workers", "3", timeout=240)
    ran = _ran(trace)
    grouped = {ran[f"grouped-{n}"] for n in range(6)}
    assert len(grouped) == 1, f"the group ran on {sorted(grouped)}"
    assert _setups(trace) == 1
    result.assert_outcomes(passed=13)  # the lone case saw the twelve others finish
    others = {worker for name, worker in ran.items() if name != "lone"}
    assert ran["lone"] not in others, f"{ran['lone']} also ran other cases: {ran}"


def test_explicit_loadgroup_honours_groups(pytester: pytest.Pytester, trace: Path) -> None:
    """The project's own ``./qa test`` path: ``-n 2 --dist loadgroup``, no suite default."""
    result = pytester.runpytest_subprocess(*INNER, "-n", "2", "--dist", "loadgroup",
                                           "test_grouped.py", "test_singles.py", timeout=240)
    result.assert_outcomes(passed=12)
    ran = _ran(trace)
    assert len({ran[f"grouped-{n}"] for n in range(6)}) == 1, ran
    assert _setups(trace) == 1
    assert len(set(ran.values())) == 2, f"both workers ran cases: {ran}"
