"""pytest plugin of jetstream-qa: options, fixtures, case ids, verdicts, report hooks.

Registered through the ``pytest11`` entry point. Thin by design (STYLE 7): settings resolve
once into :class:`~jetstream_qa.conformance_core.settings.Settings` in ``config.stash``; the
model (cases, verdicts, expectations, summaries, HTML fragments) lives in
:mod:`jetstream_qa.conformance_core`, which never imports pytest. Report objects register only
when enabled. ``docs/writing-cases.md`` is the guide for suite authors.

Outcome mapping (pytest's view of each verdict): PASS/INFO pass; FAIL fails; NON_STRICT
passes (fails under ``--js-strict``); INCONCLUSIVE and NOT_APPLICABLE are skips; a FAIL the
expectation file expects is an xfail; a suite bug (the case's own TypeError...) is an ERROR
labelled "suite bug". The exit status is decided at the end from the verdicts
(:func:`~jetstream_qa.conformance_core.summary.exit_status`: FAIL, INCONCLUSIVE unless
``--js-allow-inconclusive``, NON_STRICT under strict) plus any harness error.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from jetstream_qa.conformance_core import harness as impl
from jetstream_qa.conformance_core import pytest_fixtures, pytest_scheduling
from jetstream_qa.conformance_core.cases import (
    CaseResult,
    CaseSpec,
    MatrixCoord,
    case_id_for,
    matches,
    requirement_from_doc,
)
from jetstream_qa.conformance_core.concurrency import waits_first
from jetstream_qa.conformance_core.expectations import load_expectations
from jetstream_qa.conformance_core.pytest_fixtures import CASE, EXPECTATIONS, RUN, SETTINGS, STATE
from jetstream_qa.conformance_core.pytest_scheduling import (
    concurrent,
    declared_wait,
    distribute,
    is_worker,
)
from jetstream_qa.conformance_core.redaction import RedactionHooks
from jetstream_qa.conformance_core.session import CaseState, RunState, judge
from jetstream_qa.conformance_core.settings import OPTIONS, Settings, resolve
from jetstream_qa.conformance_core.summary import (
    Environment,
    RunSummary,
    exit_status,
    write_json,
)
from jetstream_qa.conformance_core.textreport import case_listing, summary_lines
from jetstream_qa.conformance_core.verdicts import (
    PYTEST_STATUS,
    REPORTED_AS_FAILED,
    Level,
    Verdict,
    outcome_for_pytest,
)
from jetstream_qa.errors import ConfigurationError

_MATRIX_PARAMS = ("flags", "overwrite", "cipher", "symlink")


# --- options and settings ----------------------------------------------------------------
class _HookSpecs:
    @pytest.hookspec(firstresult=True)
    def pytest_js_concurrent_default(self, config: pytest.Config) -> bool | None:
        """Return True from a suite's conftest to run its cases concurrently by default
        (``--js-workers auto`` for the embedded pair; ``--js-serial`` still wins)."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jetstream-qa", "JetStream conformance (jetstream-qa)")
    for spec in OPTIONS:
        kwargs: dict[str, Any] = {"dest": f"js_{spec.name}", "default": None,
                                  "help": f"{spec.help} [env {spec.env}; ini {spec.ini}]"}
        if spec.kind == "store_true":
            kwargs["action"] = "store_true"
        else:
            kwargs["action"] = spec.kind
            kwargs["metavar"] = spec.metavar
        group.addoption(spec.flag, **kwargs)
        parser.addini(spec.ini, spec.help, default="")


def _resolve(config: pytest.Config) -> Settings:
    cli = {spec.name: config.getoption(f"js_{spec.name}") for spec in OPTIONS}
    ini = {spec.ini: str(config.getini(spec.ini) or "") for spec in OPTIONS}
    return resolve({k: v for k, v in cli.items() if v is not None}, os.environ, ini)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "js_case(id, level='MUST', source='', profile='quick'): a conformance case (level "
        "MUST|SHOULD|MAY/INFO; source: the vendor doc page; profile='full': slow, runs only "
        "with --js-profile full)",
        "js_matrix(flags, overwrite, cipher, symlink, preState): matrix coordinates of a case",
        "js_settings(**overrides): per-case settings (marker > CLI > env > ini > default)",
        "js_waits(seconds=0, full=None): the case mostly waits for the server, up to seconds "
        "(full: under --js-profile full); dispatched first when concurrent, the longest "
        "declared wait first; a wait of a minute or more runs alone on its worker",
    ):
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(RedactionHooks(), "jetstream_qa_redaction")
    try:
        settings = _resolve(config)
        expectations = load_expectations(settings.expectations) if settings.expectations \
            else None
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    config.stash[EXPECTATIONS] = expectations
    config.pluginmanager.register(pytest_fixtures, "jetstream_qa_fixtures")
    config.pluginmanager.register(pytest_scheduling, "jetstream_qa_scheduling")
    if settings.list_cases and hasattr(config.option, "dist"):
        config.option.dist, config.option.tx = "no", []  # list in-process, no xdist workers
    distribute(config, settings)
    config.stash[RUN] = RunState()
    if config.getoption("htmlpath", None):
        config.option.self_contained_html = True
        from jetstream_qa.conformance_core.htmlhooks import HtmlHooks
        config.pluginmanager.register(HtmlHooks(config, RUN), "jetstream_qa_html")


# --- collection: case ids, selection, listing ----------------------------------------------
def _spec_for(item: pytest.Item) -> CaseSpec | None:
    marker = item.get_closest_marker("js_case")
    if marker is None:
        return None
    if not marker.args:
        raise pytest.UsageError(f"{item.nodeid}: js_case needs an id")
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec else {}
    try:
        case_id = case_id_for(str(marker.args[0]), params, callspec.id if callspec else None)
        matrix_marker = item.get_closest_marker("js_matrix")
        matrix = None
        if matrix_marker is not None:
            matrix = MatrixCoord.from_mapping(matrix_marker.kwargs)
        elif all(p in params for p in _MATRIX_PARAMS):
            matrix = MatrixCoord.from_mapping(params)
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        return CaseSpec(id=case_id, level=Level.parse(str(marker.kwargs.get("level", "MUST"))),
                        source=str(marker.kwargs.get("source", "")),
                        requirement=str(marker.kwargs.get("requirement")
                                        or requirement_from_doc(doc)),
                        matrix=matrix, nodeid=item.nodeid)
    except ValueError as exc:
        raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[SETTINGS]
    seen: dict[str, str] = {}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        spec = _spec_for(item)
        if spec is not None:
            if spec.id in seen:
                raise pytest.UsageError(f"duplicate case id {spec.id!r}: {seen[spec.id]} and "
                                        f"{item.nodeid}")
            seen[spec.id] = item.nodeid
            item.stash[CASE] = spec
        selected = not settings.case_globs or (spec is not None
                                               and matches(spec.id, settings.case_globs))
        marker = item.get_closest_marker("js_case")
        if marker is not None and marker.kwargs.get("profile", "quick") == "full" \
                and settings.profile != "full":
            selected = False  # a slow case: runs with --js-profile full only
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    if concurrent(config):  # the same stable order on every worker, as xdist requires
        keep = waits_first(keep, declared_wait)
    items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    if not session.config.stash[SETTINGS].list_cases:
        return None
    rows = [(s.id, s.level.value, s.requirement, s.source)
            for s in (item.stash.get(CASE, None) for item in session.items) if s is not None]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in case_listing(rows):
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line)
    return True


# --- verdicts ----------------------------------------------------------------------------
def _apply(report: pytest.TestReport, item: pytest.Item, result: CaseResult,
           strict: bool, *, harness_error: bool = False) -> None:
    data = result.to_dict()
    report.js_case = data  # type: ignore[attr-defined]
    item.user_properties.extend([("case_id", result.spec.id), ("verdict", data["verdict"]),
                                 ("level", result.spec.level.value)])
    if result.expected_verdict is not None:
        item.user_properties.append(("expected_verdict", result.expected_verdict.value))
    verdict = result.verdict
    if harness_error:
        report.js_harness_error = True  # type: ignore[attr-defined]
        report.outcome = "failed"  # keep pytest's traceback: the harness, not the server
        report.sections.append(("jetstream-qa", f"SUITE ERROR (not the server's fault): "
                                                f"{result.actual}"))
        return
    outcome = outcome_for_pytest(verdict, strict=strict, expected_by_file=result.expected_by_file,
                             during_setup=report.when == "setup",
                             already_skipped=report.outcome == "skipped")
    if outcome == "xfail":
        report.outcome = "skipped"
        report.wasxfail = result.expectation_reason or "expected by expectation file"
    elif outcome == "failed":
        report.outcome = "failed"
    elif outcome == "passed":
        report.outcome = "passed"
        report.longrepr = None
    elif outcome == "skipped":
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"{verdict.value}: {result.actual}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    spec = item.stash.get(CASE, None)
    if spec is None or not (call.when == "call" or (call.when == "setup"
                                                    and report.outcome != "passed")):
        return report
    exc = call.excinfo.value if call.excinfo else None
    skipped = None
    if report.skipped:
        skipped = _skip_reason(report)
        exc = None
    result = judge(spec, exc=exc, skipped_reason=skipped,
                   state=item.stash.setdefault(STATE, CaseState()),
                   duration_s=call.duration, expectations=item.config.stash[EXPECTATIONS],
                   phase=call.when, contact=item.config.stash[RUN].contact)
    _apply(report, item, result, item.config.stash[SETTINGS].strict,
           harness_error=result.suite_error)
    impl.attach_evidence(item.config, report, result)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def pytest_report_teststatus(report: pytest.TestReport,
                             config: pytest.Config) -> tuple[str, str, str] | None:
    data = getattr(report, "js_case", None)
    if data is None:
        return None
    if getattr(report, "js_harness_error", False):
        return "error", "E", "ERROR (suite bug)"
    verdict = Verdict(data["verdict"])
    if hasattr(report, "wasxfail") and report.skipped:
        return "xfailed", "x", f"{verdict.value} (expected)"
    category, letter, word = PYTEST_STATUS[verdict]
    if report.failed:
        category = "failed"
    return category, letter, word


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    data = getattr(node, "workeroutput", {}).get("js_environment")
    run = node.config.stash[RUN]
    if data and run.environment is None:
        run.environment = Environment.from_dict(data)


class _Collector:
    """Gathers case results and harness failures from reports (controller side)."""

    def __init__(self, run: RunState) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "js_case", None)
        if data is not None:
            self.run.results[data["id"]] = CaseResult.from_dict(data)
        if report.failed and (data is None or getattr(report, "js_harness_error", False)
                              or Verdict(data["verdict"]) not in REPORTED_AS_FAILED):
            self.run.harness_failures += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.run.harness_failures += 1


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if not is_worker(session.config):
        session.config.pluginmanager.register(_Collector(session.config.stash[RUN]),
                                              "jetstream_qa_collector")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[RUN]
    settings = config.stash[SETTINGS]
    if is_worker(config):
        env = run.environment
        if env is not None:
            config.workeroutput["js_environment"] = env.to_dict()  # type: ignore[attr-defined]
        return
    if not run.results and "report_json" not in settings.sources:
        return
    results = tuple(sorted(run.results.values(), key=lambda r: r.spec.id))
    verdict_exit = exit_status(results, strict=settings.strict,
                               allow_inconclusive=settings.allow_inconclusive)
    if int(session.exitstatus) in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed = verdict_exit or run.harness_failures
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
    run.exit_status = int(session.exitstatus)
    summary = RunSummary(environment=run.environment or impl.unprobed_environment(settings),
                         results=results, strict=settings.strict,
                         allow_inconclusive=settings.allow_inconclusive,
                         process_exit=run.exit_status)
    run.summary = summary
    path = settings.report_json
    if not path.is_absolute():
        path = config.invocation_params.dir / path
    run.report_path = str(write_json(summary, path))
    impl.publish_metadata(config, summary)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    run = config.stash[RUN]
    if run.summary is None:
        return
    terminalreporter.write_sep("=", "jetstream-qa conformance summary")
    for line in summary_lines(run.summary, json_path=run.report_path,
                              exit_status=run.exit_status,
                              verbose=config.get_verbosity() > 0):
        terminalreporter.write_line(line)


