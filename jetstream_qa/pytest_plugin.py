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
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from jetstream_qa.conformance_core import fixtures_impl as impl
from jetstream_qa.conformance_core.cases import (
    CaseResult,
    CaseSpec,
    MatrixCoord,
    case_id_for,
    matches,
    requirement_from_doc,
)
from jetstream_qa.conformance_core.expectations import Expectations, load_expectations
from jetstream_qa.conformance_core.failures import NotApplicableCase
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
from jetstream_qa.conformance_core.verdicts import Level, Verdict
from jetstream_qa.errors import ConfigurationError

SETTINGS = pytest.StashKey[Settings]()
EXPECTATIONS = pytest.StashKey[Expectations | None]()
RUN = pytest.StashKey[RunState]()
CASE = pytest.StashKey[CaseSpec]()
STATE = pytest.StashKey[CaseState]()

_MATRIX_PARAMS = ("flags", "overwrite", "cipher", "symlink")
_STATUS = {
    Verdict.PASS: ("passed", ".", "PASS"),
    Verdict.INFO: ("info", "i", "INFO"),
    Verdict.FAIL: ("failed", "F", "FAIL"),
    Verdict.NON_STRICT: ("non_strict", "N", "NON_STRICT"),
    Verdict.INCONCLUSIVE: ("inconclusive", "?", "INCONCLUSIVE"),
    Verdict.NOT_APPLICABLE: ("not_applicable", "n", "NOT_APPLICABLE"),
}


# --- options and settings ----------------------------------------------------------------
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
    if settings.list_cases and hasattr(config.option, "dist"):
        config.option.dist, config.option.tx = "no", []  # list in-process, no xdist workers
    config.stash[RUN] = RunState()
    if config.getoption("htmlpath", None):
        config.option.self_contained_html = True
        from jetstream_qa.conformance_core.htmlhooks import HtmlHooks
        config.pluginmanager.register(HtmlHooks(config, RUN), "jetstream_qa_html")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


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
    elif verdict in (Verdict.FAIL, Verdict.NON_STRICT) and result.expected_by_file:
        report.outcome = "skipped"
        report.wasxfail = result.expectation_reason or "expected by expectation file"
    elif verdict is Verdict.FAIL or (verdict is Verdict.NON_STRICT and strict):
        report.outcome = "failed"
    elif verdict in (Verdict.PASS, Verdict.INFO, Verdict.NON_STRICT) and report.when == "setup":
        report.outcome = "skipped"  # the case never ran: a passed setup would run its body
        report.longrepr = (str(item.path), 0, f"{verdict.value}: {result.actual}")
    elif verdict in (Verdict.PASS, Verdict.INFO, Verdict.NON_STRICT):
        report.outcome = "passed"
        report.longrepr = None
    elif report.outcome != "skipped":
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
    category, letter, word = _STATUS[verdict]
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
                              or data["verdict"] not in ("FAIL", "NON_STRICT")):
            self.run.harness_failures += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.run.harness_failures += 1


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        session.config.pluginmanager.register(_Collector(session.config.stash[RUN]),
                                              "jetstream_qa_collector")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[RUN]
    settings = config.stash[SETTINGS]
    if _is_worker(config):
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


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def js_session_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings (CLI > env > ini > default), without per-case markers."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture
def js_settings(request: pytest.FixtureRequest, js_session_settings: Settings) -> Settings:
    """This case's settings: ``@pytest.mark.js_settings(timeout=2)`` on top of the run's."""
    marker = request.node.get_closest_marker("js_settings")
    if marker is None:
        return js_session_settings
    try:
        return js_session_settings.with_overrides(
            marker.kwargs, source=f"marker js_settings on {request.node.nodeid}")
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def js_case_state(request: pytest.FixtureRequest) -> CaseState:
    """Per-case record: API objects (for evidence) and ``js_info`` observations."""
    state: CaseState = request.node.stash.setdefault(STATE, CaseState())
    return state


@pytest.fixture(scope="session")
def js_client(js_session_settings: Settings) -> impl.ClientChoice:
    """The client of the run (vendor ``jetstream`` or bundled) and its constants module."""
    return impl.client_choice(js_session_settings)


@pytest.fixture(scope="session")
def js_constants(js_client: impl.ClientChoice) -> impl.ServerConstants:
    """Constants of the client in use (vendor package values when using the vendor)."""
    return impl.ServerConstants.from_module(js_client.constants)


@pytest.fixture(scope="session")
def js_target(pytestconfig: pytest.Config, js_session_settings: Settings,
              js_client: impl.ClientChoice, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[impl.Target]:
    """The servers under test: the given target, or the embedded pair (started once).

    Probed once before any case uses it (fingerprint and :class:`Contact`): whether the
    server had answered decides if a later stall or loss is its FAIL.
    """
    with impl.target_context(js_session_settings, tmp_path_factory) as target:
        run = pytestconfig.stash[RUN]
        run.environment, run.contact = impl.probe(target, js_client, js_session_settings)
        yield target


@pytest.fixture(scope="session")
def js_environment(pytestconfig: pytest.Config, js_target: impl.Target) -> Environment:
    """Fingerprint of the sender (``getServerInfo``), recorded for every report."""
    env = pytestconfig.stash[RUN].environment
    assert env is not None  # set by js_target
    return env


@pytest.fixture
def js_connect(request: pytest.FixtureRequest, js_target: impl.Target,
               js_client: impl.ClientChoice, js_settings: Settings,
               js_case_state: CaseState, js_environment: Environment
               ) -> Iterator[Callable[..., Any]]:
    """Factory: ``js_connect(side='sender', login='user', api_version=None, timeout=None,
    address=None, credentials=None)`` -> connected API object, closed after the case.
    ``login`` is 'user', 'user2', 'superuser' or None (no auth); ``credentials`` overrides
    it (e.g. ``own.user`` of ``js_own_server``); ``timeout='client-default'`` leaves the
    client's own default. Registered for failure evidence."""
    opened: list[Any] = []
    contact = request.config.stash[RUN].contact
    yield impl.connector(js_target, js_client, js_settings, js_case_state, opened,
                         contact=contact)
    impl.close_all(opened)


@pytest.fixture
def js_own_server(js_target: impl.Target) -> Iterator[Callable[..., Any]]:
    """Factory: ``js_own_server(extra_args=())`` starts a reference server owned by this case
    (restartable: ``.restart()``, ``.address``, ``.user``); NOT_APPLICABLE unless the suite
    controls the servers (no target given). Stopped after the case."""
    if not js_target.embedded:
        raise NotApplicableCase("the suite does not control the server under test "
                                "(a target was given)")
    from jetstream_qa.conformance_core.embedded_target import OwnServer
    started: list[OwnServer] = []

    def start(*, extra_args: tuple[str, ...] = ()) -> OwnServer:
        server = OwnServer(extra_args=extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def js_sender(js_connect: Callable[..., Any]) -> Any:
    """Connected, authenticated API object of the sending server (the main user)."""
    return js_connect("sender")


@pytest.fixture
def js_receiver(js_connect: Callable[..., Any]) -> Any:
    """Connected, authenticated API object of the receiving server (the main user)."""
    return js_connect("receiver")


@pytest.fixture
def js_sender_user2(js_connect: Callable[..., Any]) -> Any:
    """The sender as a second ordinary user (NOT_APPLICABLE when none is configured)."""
    return js_connect("sender", login="user2")


@pytest.fixture
def js_superuser(js_connect: Callable[..., Any]) -> Any:
    """The sender as a superuser, ``superuser()`` already called (NOT_APPLICABLE if none)."""
    api = js_connect("sender", login="superuser")
    api.server.superuser()
    return api


@pytest.fixture
def js_scratch(js_target: impl.Target, request: pytest.FixtureRequest
               ) -> Iterator[impl.Scratch]:
    """Per-case scratch: a source dir on the sender and a destination-relative path on the
    receiver; both removed after the case."""
    scratch = impl.make_scratch(js_target, request.node.nodeid)
    yield scratch
    scratch.cleanup()


@pytest.fixture
def js_fileset(js_scratch: impl.Scratch) -> Callable[..., Any]:
    """Factory: ``js_fileset('mixed')`` builds ``fixtures/filesets/mixed.json`` in the
    scratch source dir and returns a BuiltFileSet (sizes, hashes, manifest mappings)."""
    return impl.fileset_factory(js_scratch)


@pytest.fixture
def js_info(js_case_state: CaseState) -> Callable[[str], None]:
    """``js_info(observed)`` records behaviour the docs leave open; the verdict is INFO."""
    return js_case_state.observations.append


@pytest.fixture
def js_not_applicable() -> Callable[[str], None]:
    """``js_not_applicable(reason)`` ends the case with verdict NOT_APPLICABLE."""
    def not_applicable(reason: str) -> None:
        __tracebackhide__ = True
        pytest.skip(reason)
    return not_applicable
