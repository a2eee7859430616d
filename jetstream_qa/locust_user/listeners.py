"""The run's listeners: options, target start, file-set preparation, statistics, and the end
of the run (reconciliation with the sender, reports/load.json, thresholds, exit status).

- ``init``: resolve the ``--js-*`` settings once; master/local start the target (the embedded
  pair as subprocesses when no ``--host``); workers get it from the master
  (:mod:`.distributed`); the web UI gets its goodput tab (:mod:`.webui`).
- file sets: every process with users prepares the file sets its user classes send from
  (``JetStreamUser.recipes``) as soon as it knows the target (local: in ``init``; worker:
  when the master's target arrives, in a greenlet ``test_start`` waits for), so generating
  them is neither inside the measured window nor in Locust's ``--run-time`` (a cached set
  from an earlier run with the same seed is reused).
- ``request``: every event feeds the process's recorder.
- ``test_stop``: the moment users are told to stop is noted (the measured window ends at the
  last full second before it); then every transfer of this process is settled with the
  sender's own records (each counted exactly once, :mod:`jetstream_qa.loadrun.ledger`).
- ``quitting`` (master/local): probe the target, write the report, evaluate ``--js-check``,
  and set the exit status: a run that completed no transfer or whose target stopped
  answering exits :data:`BROKEN_TARGET_EXIT_CODE` with a message naming what happened.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any, Final

import gevent
import locust
import locust.log
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from jetstream_qa.binding import Operations
from jetstream_qa.errors import ConfigurationError, JetStreamQAError
from jetstream_qa.loadrun.health import run_problems
from jetstream_qa.loadrun.redaction import install_log_scrubbing, scrub_runner_outputs
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.loadrun.settings import add_arguments, resolve_warmup, settings_from_options
from jetstream_qa.loadrun.shapes import shape_tick
from jetstream_qa.loadstats.units import human_rate
from jetstream_qa.locust_user import distributed, webui, wire
from jetstream_qa.locust_user.state import LOG_NAME, State, current, error_text
from jetstream_qa.locust_user.user import JetStreamUser, settle

__all__ = ["BROKEN_TARGET_EXIT_CODE", "THRESHOLD_EXIT_CODE", "JetStreamShape", "install"]

log = logging.getLogger(LOG_NAME)
THRESHOLD_EXIT_CODE: Final = 3
"""Exit status when a ``--js-check`` fails (Locust uses 1 for errors, 2 for crashes)."""
BROKEN_TARGET_EXIT_CODE: Final = 4
"""Exit status when the run completed no transfer or the target stopped answering."""


class JetStreamShape(LoadTestShape):
    """``--js-shape step|spike|soak`` over ``-u`` (peak), ``-r`` and ``-t`` (duration)."""

    use_common_options = True

    def __init__(self, shape: str) -> None:
        base: Any = super()
        base.__init__()
        self.shape = shape

    def tick(self) -> tuple[int, float] | None:
        me: Any = self
        options = me.runner.environment.parsed_options
        return shape_tick(self.shape, me.get_run_time(), users=options.num_users or 1,
                          spawn_rate=options.spawn_rate or 1.0,
                          duration=options.run_time or None)


def install() -> None:
    """Register the options and listeners with Locust (idempotent; call from the locustfile)."""
    if State.installed:
        return
    State.installed = True
    hooks: Any = events
    hooks.init_command_line_parser.add_listener(lambda parser, **_: add_arguments(parser))
    hooks.init.add_listener(_on_init)
    hooks.request.add_listener(_on_request)
    hooks.report_to_master.add_listener(distributed.on_report_to_master)
    hooks.worker_report.add_listener(distributed.on_worker_report)
    hooks.test_start.add_listener(_on_test_start)
    hooks.test_stop.add_listener(_on_test_stop)
    hooks.quitting.add_listener(_on_quitting)
    hooks.quitting.add_listener(scrub_runner_outputs)
    wire.install()  # after the run's own test_stop (settles transfers): --js-capture


def _on_init(environment: Environment, runner: Any = None, web_ui: Any = None,
             **_: Any) -> None:
    install_log_scrubbing()
    try:
        session = State.session = LoadSession(settings_from_options(environment.parsed_options))
    except ConfigurationError as exc:
        sys.stderr.write(f"jetstream-qa: {exc}\n")
        sys.exit(2)
    State.runner = runner
    if isinstance(runner, WorkerRunner):
        distributed.register_worker(runner)
        State.prepared = gevent.spawn(_prepare_filesets, environment, session)
        if not session.settings.embedded:  # workers may name the target themselves
            session.start_target()
            State.target_ready.set()
        else:
            distributed.request_target(runner)
        return
    if isinstance(runner, MasterRunner):
        distributed.register_master(runner)
    try:
        session.start_target()
    except (JetStreamQAError, OSError) as exc:
        sys.stderr.write(f"jetstream-qa: could not start the load target: {exc}\n")
        session.close()
        sys.exit(1)
    State.target_ready.set()
    if not isinstance(runner, MasterRunner):
        _prepare_filesets(environment, session)
    if web_ui is not None:
        webui.install(environment, web_ui)
    if session.settings.shape != "none" and runner is not None:
        environment.shape_class = JetStreamShape(session.settings.shape)
        environment.shape_class.runner = runner


def _on_request(request_type: str, name: str, response_time: float, response_length: int,
                exception: BaseException | None = None, context: dict[str, Any] | None = None,
                **_: Any) -> None:
    session = State.session
    if session is None:
        return
    context = context or {}
    session.recorder.record_request(request_type, name, float(response_time), at=time.time(),
                                    error=None if exception is None else error_text(exception))
    if request_type == "TRANSFER" and "start" in context:
        session.recorder.record_transfer(name, start=context["start"], end=context["end"],
                                         nbytes=int(response_length or 0),
                                         ok=exception is None,
                                         transfer_id=context.get("transferId"))


def _recipes(environment: Environment) -> list[str]:
    names: set[str] = set()
    for cls in environment.user_classes or ():
        if isinstance(cls, type) and issubclass(cls, JetStreamUser):
            names.update(cls.recipes)
    return sorted(names)


def _prepare_filesets(environment: Environment, session: LoadSession) -> None:
    """Generate (or reuse) every file set the users send from, before any user starts."""
    recipes = _recipes(environment)
    if not recipes:
        return
    if not State.target_ready.wait(timeout=120):  # the sources live where the target says
        log.warning("jetstream-qa: no target yet; file sets are prepared on first use")
        return
    started = time.monotonic()

    def progress(recipe: str, done: int, total: int) -> None:
        gevent.sleep(0)  # let heartbeats through while writing gigabytes
        if done == total or done % 16 == 0:
            log.info("jetstream-qa: file set %s: %d/%d files", recipe, done, total)

    for recipe in recipes:
        fileset = session.fileset(recipe, progress=progress)
        log.info("jetstream-qa: file set %s ready (%d files, %d bytes, %s)", recipe,
                 len(fileset.files), fileset.total_bytes, fileset.origin)
    session.prepare_s = time.monotonic() - started


def _on_test_start(environment: Environment, **_: Any) -> None:
    session = current()
    session.ended = None
    session.stopping = None
    if isinstance(environment.runner, MasterRunner):
        session.started = time.time()
        session.stopped_workers.clear()
        distributed.broadcast_target(environment.runner)
        return
    if not isinstance(environment.runner, WorkerRunner):
        session.started = time.time()
    elif State.prepared is not None:
        State.prepared.join(timeout=600)  # normally done while the master waited


def _reconcile(environment: Environment) -> None:
    """At test stop (users stopped): settle every transfer this process created from the
    sender's own records, so that each one is counted exactly once (loadrun/ledger.py).
    Running ones get ``--stop-timeout`` seconds to finish, like the users got."""
    session = current()
    if session.ledger.unsettled == 0:
        return
    try:
        api = session.connect()
        try:
            records = Operations(session.binding, api).call("get_transfers")
            settled = settle(environment, api, records,
                             grace_s=float(environment.stop_timeout or 0.0))
        finally:
            with contextlib.suppress(Exception):
                api.disconnect()
    except Exception as exc:
        log.error("jetstream-qa: could not reconcile the run's transfers with the sender "
                  "(%s); reports/load.json may miss some", error_text(exc))
        return
    log.info("jetstream-qa: settled %d transfer(s) at stop from the sender's records",
             settled)
    if session.ledger.unsettled:
        log.info("jetstream-qa: %d transfer(s) were never created (their users stopped "
                 "before the sender answered)", session.ledger.unsettled)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    """Note when the users were told to stop, then settle (local/worker) or wait for the
    workers' final reports (master)."""
    session = State.session
    if session is None:
        return
    if session.stopping is None:
        session.stopping = time.time()
    runner: Any = environment.runner
    if not isinstance(runner, MasterRunner):
        _reconcile(environment)  # before ``ended``: a worker's final report waits for it
        session.ended = time.time()
        return
    session.ended = distributed.stop_workers_and_wait(environment, runner)


def _on_quitting(environment: Environment, **_: Any) -> None:
    session = State.session
    if session is None:
        return
    try:
        if not isinstance(environment.runner, WorkerRunner) and session.started is not None:
            _finish(environment, session)
    finally:
        session.close()


def _finish(environment: Environment, session: LoadSession) -> None:
    runner: Any = environment.runner
    options: Any = environment.parsed_options
    probe_error = session.probe()
    extra = {"runner": type(runner).__name__, "workers": len(session.workers)}
    run_settings = {"users": options.num_users, "spawnRate": options.spawn_rate,
                    "runTimeS": options.run_time,
                    "scenario": sorted(cls.__name__ for cls in environment.user_classes),
                    "impairment": {"loss": session.settings.loss,
                                   "delayMs": session.settings.delay_ms}}
    transfer_users = any(getattr(cls, "recipes", ()) for cls in environment.user_classes)
    problems = run_problems(session.recorder, transfer_users=transfer_users,
                            probe_error=probe_error)
    report, results = session.finish(locust_version=locust.__version__, extra_env=extra,
                                     extra_settings=run_settings, problems=problems,
                                     reachable=probe_error is None,
                                     warmup_s=resolve_warmup(session.settings,
                                                             users=options.num_users,
                                                             spawn_rate=options.spawn_rate))
    log.info("jetstream-qa: %s, report %s", _goodput_line(report["goodput"]),
             session.settings.report)
    wire.add_to_report(environment, session.settings.report)
    for result in results:
        (log.error if not result.passed else log.info)("jetstream-qa check %s", result.detail)
        if not result.passed:
            sys.stderr.write(f"jetstream-qa check {result.detail}\n")
    for problem in problems:
        log.error("jetstream-qa: FAILED: %s", problem)
        sys.stderr.write(f"jetstream-qa: FAILED: {problem}\n")
    if problems:
        environment.process_exit_code = BROKEN_TARGET_EXIT_CODE
    elif any(not r.passed for r in results):
        environment.process_exit_code = THRESHOLD_EXIT_CODE
    elif results and not runner.exceptions and not locust.log.unhandled_greenlet_exception:
        # thresholds decide (k6-style): passing checks clear Locust's request-error exit
        # status, but never hide an exception in an event handler (Locust's exit 2)
        environment.process_exit_code = 0


def _goodput_line(goodput: dict[str, Any]) -> str:
    """``goodput 623.4 MB/s steady (95 % CI 610.2-636.5 MB/s, 25 s window); mean with
    ramp-up 541.0 MB/s (16.3 GB in 30.0 s)``."""
    steady = goodput.get("steady") or {}
    window = goodput.get("window") or {}
    mean = f"{human_rate(goodput.get('meanBytesPerSecond'))} " \
           f"({human_rate(goodput.get('totalBytes'), per_second=False)} in " \
           f"{goodput.get('elapsedS', 0.0):.1f} s)"
    if steady.get("meanBytesPerSecond") is None:
        return f"goodput: no steady-state window ({window.get('note', 'no transfer')}); " \
               f"whole-run mean {mean}"
    state = str(steady.get("steadyState") or "")
    caveat = f"; steady state {state}" if state and state != "reached" else ""
    return (f"goodput {human_rate(steady['meanBytesPerSecond'])} steady "
            f"(95 % CI {human_rate(steady['ciLow'])} - {human_rate(steady['ciHigh'])}, "
            f"{window['durationS']:.0f} s window){caveat}; whole-run mean {mean}")
