"""Locust adapter: :class:`JetStreamUser`, the one timing helper, and the run's listeners.

The only module of ``jetstream_qa`` that imports Locust (and so gevent's monkey-patching).
Everything with logic lives in :mod:`jetstream_qa.loadstats` (statistics, thresholds) and
:mod:`jetstream_qa.loadrun` (settings, target, file sets, report); this module wires them to
Locust's events.

Theory of operation:

- Every API call and every whole transfer goes through :meth:`JetStreamUser.measure`, which
  fires exactly one ``request`` event: ``request_type`` ``API`` (name = the command, e.g.
  ``send.createTransfer``) or ``TRANSFER`` (name = the scenario, ``response_length`` = bytes
  delivered); ``response_time`` is unrounded milliseconds; failure is the ``exception``,
  never part of the name (STYLE.md 10).
- A listener on ``request`` feeds the process's :class:`~jetstream_qa.loadstats.LoadRecorder`
  (unrounded histograms, goodput windows). Workers ship ``recorder.drain()`` in
  ``report_to_master``; the master merges each ``worker_report``.
- Master (or the local process) starts the target in ``init`` (the embedded pair as
  subprocesses when no ``--host``), sends it to workers in a custom message, and in
  ``quitting`` cross-checks with the sender's counters, writes reports/load.json, evaluates
  ``--js-check`` thresholds and sets ``environment.process_exit_code``.
- Every transfer is counted exactly once (:mod:`jetstream_qa.loadrun.ledger`): its fresh
  ``destinationPath`` is registered before ``createTransfer`` is sent, and its TRANSFER
  event settles that path. Locust stops users by killing their greenlets, and the kill can
  land mid-task: between the server creating a transfer and the client reading its id (a
  user killed while waiting gets its GreenletExit asynchronously, after it may have started
  its next task). So a user stopped mid-transfer settles what is final in ``on_stop``, and
  at test stop (users gone) every transfer of this process that the sender lists under the
  run's prefix and no event settled yet is settled from the sender's own record: complete
  -> delivered, failed -> failure, still running after ``--stop-timeout`` more seconds (at
  once without it) -> cancelled (``transfers.cancelledAtStop``; its path is in
  ``cancelledAtStopPaths``, as a cancelled multi-file transfer may leave finished files).
  With ``--stop-timeout S`` running transfers finish, so the destination then holds exactly
  the delivered bytes.

Call :func:`install` once from the locustfile.

Known debt: the module is longer than the house's ~400 lines because the rule "only this
module imports Locust" keeps the user, the shape shell and the event listeners together;
everything that can live without Locust already lives in ``loadrun``/``loadstats``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import gevent
import gevent.event
import locust
import locust.log
from locust import LoadTestShape, User, constant_throughput, events
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner

from jetstream_qa.constants import TransferFlag
from jetstream_qa.errors import ConfigurationError, JetStreamQAError, ServerError
from jetstream_qa.loadrun.ledger import FINAL_STATUSES, Settlement
from jetstream_qa.loadrun.redaction import (
    install_log_scrubbing,
    scrub_exception,
    scrub_runner_outputs,
)
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.loadrun.settings import LoadSettings, add_arguments, settings_from_options
from jetstream_qa.loadrun.settle import settle_transfers
from jetstream_qa.loadrun.shapes import shape_tick
from jetstream_qa.redaction import scrub

__all__ = ["THRESHOLD_EXIT_CODE", "JetStreamUser", "api_rate_pacing", "check_gevent",
           "install"]

log = logging.getLogger("jetstream_qa.load")
THRESHOLD_EXIT_CODE: Final = 3
"""Exit status when a ``--js-check`` fails (Locust uses 1 for errors, 2 for crashes)."""
_MSG_TARGET: Final = "jsqa-target"
_MSG_TARGET_REQUEST: Final = "jsqa-target-request"
_MSG_STOP: Final = "jsqa-stop"
_FINAL_REPORT_GRACE_S: Final = 20.0
_FINAL: Final = FINAL_STATUSES


class _State:
    session: LoadSession | None = None
    runner: Any = None
    target_ready = gevent.event.Event()
    installed = False


def _session() -> LoadSession:
    if _State.session is None:
        raise ConfigurationError("jetstream_qa.locust_user.install() was not called "
                                 "from the locustfile")
    return _State.session


@dataclass(slots=True)
class Measured:
    """What a measured block reports: bytes, extra context (filled in by the block)."""

    response_length: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    """Wall-clock start of the block (epoch s), set by :meth:`JetStreamUser.measure`."""


class JetStreamUser(User):
    """A Locust user holding one connected, authenticated API session to the sender.

    Concrete users (load/) define tasks and ``wait_time`` only; they use :meth:`call` for API
    calls and :meth:`transfer` for whole transfers.
    """

    abstract = True
    scenario: ClassVar[str] = "default"
    """Name of this user's TRANSFER events and goodput series."""
    _indexes: ClassVar[Iterator[int]] = itertools.count()

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.api: Any = None
        self.index = next(JetStreamUser._indexes)
        self.random = random.Random(f"jsqa-user-{os.getpid()}-{self.index}")
        """Per-user random choices (which files to send)."""
        self._seq = itertools.count()
        self._destination: str | None = None
        self._inflight: tuple[int, str] | None = None
        """(transferId, destinationPath) while waiting for a transfer."""

    # --- lifecycle ----------------------------------------------------------------------
    def on_start(self) -> None:
        """Wait for the target (workers), connect and authenticate (timed as API events)."""
        if not _State.target_ready.wait(timeout=30):
            raise ConfigurationError("no load target within 30 s (master did not send it)")
        session = _session()
        if session.gevent_check is None:
            session.gevent_check = "running"
            try:
                session.gevent_check = check_gevent(session)
            except Exception as exc:
                session.gevent_check = None  # the next user tries again
                log.warning("gevent check skipped: %s", _error_text(exc))
        with contextlib.suppress(Exception):  # recorded; the first call reconnects
            self._connect()

    def _connect(self) -> None:
        with self.measure("API", "connect"):
            self.api = _session().connect()

    def on_stop(self) -> None:
        """Settle an interrupted transfer, then disconnect. Settling is teardown bookkeeping
        on a fresh connection (the old one may hold a half-read answer) and fires no API
        events; whatever it cannot or need not settle now, the reconciliation at test stop
        does."""
        inflight, self._inflight = self._inflight, None
        if self.api is not None:
            with contextlib.suppress(Exception):
                self.api.disconnect()
        if inflight is None or _session().ledger.is_settled(inflight[1]):
            return
        try:
            api = _session().connect()
        except Exception as exc:
            log.warning("could not settle transfer %s now: %s", inflight[0], _error_text(exc))
            return
        try:
            # with --stop-timeout a running transfer may still finish: the reconciliation at
            # test stop gives it that long; without, it is cancelled now
            _settle(self.environment, api, [api.send.getTransfer(inflight[0])],
                    leave_running=bool(self.environment.stop_timeout))
        except Exception as exc:
            log.warning("could not settle transfer %s now: %s", inflight[0], _error_text(exc))
        finally:
            with contextlib.suppress(Exception):
                api.disconnect()

    # --- the one timing helper ----------------------------------------------------------
    @contextlib.contextmanager
    def measure(self, request_type: str, name: str) -> Iterator[Measured]:
        """Time the block and fire one request event; an exception in the block is the
        event's ``exception`` and is re-raised. A stopping user (``GreenletExit``) fires
        nothing."""
        wall, start = time.time(), time.perf_counter()
        measured = Measured(started=wall)
        try:
            yield measured
        except Exception as exc:
            self._fire(request_type, name, wall, time.time(), measured, exc,
                       (time.perf_counter() - start) * 1000.0)
            raise
        self._fire(request_type, name, wall, time.time(), measured, None,
                   (time.perf_counter() - start) * 1000.0)

    def _fire(self, request_type: str, name: str, wall_start: float, wall_end: float,
              measured: Measured, exc: BaseException | None,
              response_time: float | None = None) -> None:
        _fire_event(self.environment, request_type, name, wall_start, wall_end,
                    measured.response_length, exc, measured.context, response_time)

    # --- API calls ----------------------------------------------------------------------
    def call(self, command: str, *args: Any, **params: Any) -> Any:
        """One API call (``getServerInfo``, ``send.getTransfers``...), timed; returns the
        result, or None when it failed (the failure is already recorded)."""
        try:
            return self._call(command, *args, **params)
        except Exception:
            return None

    def _call(self, command: str, *args: Any, **params: Any) -> Any:
        if self.api is None or getattr(self.api, "connected", True) is False:
            self._connect()
        namespace, _, method = command.rpartition(".")
        bound = getattr(getattr(self.api, namespace or "server"), method)
        with self.measure("API", command):
            return bound(*args, **params)

    # --- transfers ----------------------------------------------------------------------
    @property
    def settings(self) -> LoadSettings:
        """The run's resolved ``--js-*`` settings."""
        return _session().settings

    def fileset(self, recipe: str) -> Sequence[tuple[str, int]]:
        """This process's files of ``recipe`` (fixtures/load/RECIPE.json): (path, size)."""
        return _session().fileset(recipe).files

    def transfer(self, files: Sequence[tuple[str, int]], *, scenario: str | None = None,
                 flags: int = TransferFlag.READ_WRITE) -> dict[str, Any] | None:
        """Send ``files`` to the receiver as one transfer and wait for it (one TRANSFER
        event named after the scenario, bytes delivered as its length). Returns the final
        Transfer structure, or None on failure (recorded)."""
        name = scenario or self.scenario
        try:
            with self.measure("TRANSFER", name) as measured:
                final = self._run_transfer(files, name, flags, measured)
        except Exception:
            return None
        return final

    def _run_transfer(self, files: Sequence[tuple[str, int]], name: str, flags: int,
                      measured: Measured) -> dict[str, Any]:
        session = _session()
        destination = self._destination_id()
        mappings = {path.rsplit("/", 1)[-1]: path for path, _ in files}
        manifest = self._call("send.createManifest", mappings)
        manifest = self._call("send.waitForManifest", manifest["manifestId"],
                              timeout=session.settings.timeout)
        if manifest.get("status") != "complete":
            raise ServerError(f"manifest {manifest.get('manifestId')} ended "
                              f"{manifest.get('status')}: {manifest.get('errorMessage')}")
        # the intent is registered before the request: a kill between the server creating
        # the transfer and this greenlet reading its id cannot lose it (loadrun/ledger.py)
        dest_path = session.dest_path(self.index, next(self._seq))
        session.ledger.expect(dest_path, name, measured.started)
        measured.context["destinationPath"] = dest_path
        created = self._call("send.createTransfer", destination, manifest["manifestId"],
                             destinationPath=dest_path, transferFlags=int(flags))
        transfer_id = created["transferId"]
        measured.context["transferId"] = str(transfer_id)
        session.recorder.note_transfer_id(str(transfer_id))
        self._inflight = (transfer_id, dest_path)
        try:
            final = self._wait_transfer(transfer_id, session.settings.transfer_timeout)
        except Exception:  # a failure of this TRANSFER (GreenletExit: on_stop settles it)
            self._inflight = None
            raise
        self._inflight = None
        if final.get("status") != "complete":
            raise ServerError(f"transfer {transfer_id} ended {final.get('status')}: "
                              f"{final.get('errorMessage')}")
        measured.response_length = int(final.get("totalBytes") or 0)
        return dict(final)

    def _wait_transfer(self, transfer_id: int, timeout: float) -> dict[str, Any]:
        if hasattr(self.api.send, "waitForTransfer"):
            return dict(self._call("send.waitForTransfer", transfer_id, timeout=timeout))
        deadline = time.monotonic() + timeout  # vendor without waitForTransfer: poll
        while True:
            state = dict(self._call("send.getTransfer", transfer_id))
            if state.get("status") in _FINAL or time.monotonic() > deadline:
                return state
            gevent.sleep(0.2)

    def _destination_id(self) -> str:
        if self._destination is None:
            host, port, key = _session().data_address(self.api)
            params: dict[str, Any] = {"destinationPort": port}
            if key:
                params["destinationPublicKey"] = key
            created = self._call("send.createDestination", host, **params)
            self._destination = str(created["destinationId"])
        return self._destination


def api_rate_pacing() -> Callable[[User], float]:
    """A ``wait_time`` giving each user ``--js-api-rate`` task runs per second (open-model
    pacing through Locust's ``constant_throughput``, read at run time)."""

    def wait(user: User) -> float:
        pacer = user.__dict__.get("_jsqa_pacer")
        if pacer is None:
            pacer = constant_throughput(_session().settings.api_rate)
            user.__dict__["_jsqa_pacer"] = pacer
        return float(pacer(user))

    return wait


def check_gevent(session: LoadSession, *, budget_s: float = 0.2) -> str:
    """Do the client's calls let other greenlets run? Calls ``getServerInfo`` for about
    ``budget_s`` while a ticker greenlet counts 1 ms sleeps; a client that blocks the gevent
    hub (a C-level socket, a thread) starves the ticker and every user would serialise."""
    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        while True:
            gevent.sleep(0.001)
            ticks += 1

    api = session.connect()
    runner = gevent.spawn(ticker)
    gevent.sleep(0)
    started, calls = time.perf_counter(), 0
    try:
        while time.perf_counter() - started < budget_s and calls < 2000:
            api.server.getServerInfo()
            calls += 1
    finally:
        runner.kill()
        api.disconnect()
    if ticks >= 2:
        return f"cooperative ({session.client_kind} client, {calls} calls, {ticks} ticks)"
    verdict = (f"BLOCKING: the {session.client_kind} client does not yield to gevent "
               f"({calls} calls, {ticks} ticks); Locust users serialise and load numbers are "
               "NOT valid")
    log.error(verdict)
    return verdict


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


# --- listeners ------------------------------------------------------------------------
def install() -> None:
    """Register the options and listeners with Locust (idempotent; call from the locustfile)."""
    if _State.installed:
        return
    _State.installed = True
    hooks: Any = events
    hooks.init_command_line_parser.add_listener(lambda parser, **_: add_arguments(parser))
    hooks.init.add_listener(_on_init)
    hooks.request.add_listener(_on_request)
    hooks.report_to_master.add_listener(_on_report_to_master)
    hooks.worker_report.add_listener(_on_worker_report)
    hooks.test_start.add_listener(_on_test_start)
    hooks.test_stop.add_listener(_on_test_stop)
    hooks.quitting.add_listener(_on_quitting)
    hooks.quitting.add_listener(scrub_runner_outputs)


def _on_init(environment: Environment, runner: Any = None, **_: Any) -> None:
    install_log_scrubbing()
    try:
        session = _State.session = LoadSession(settings_from_options(environment.parsed_options))
    except ConfigurationError as exc:
        sys.stderr.write(f"jetstream-qa: {exc}\n")
        sys.exit(2)
    _State.runner = runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(_MSG_TARGET, _on_target_message)
        runner.register_message(_MSG_STOP, lambda environment, msg, **_: runner.stop())
        if not session.settings.embedded:  # workers may name the target themselves
            session.start_target()
            _State.target_ready.set()
        else:
            runner.send_message(_MSG_TARGET_REQUEST, None)
        return
    if isinstance(runner, MasterRunner):  # before the target starts: workers may ask early
        runner.register_message(_MSG_TARGET_REQUEST, _on_target_request)
    try:
        session.start_target()
    except (JetStreamQAError, OSError) as exc:
        sys.stderr.write(f"jetstream-qa: could not start the load target: {exc}\n")
        session.close()
        sys.exit(1)
    _State.target_ready.set()
    if session.settings.shape != "none" and runner is not None:
        environment.shape_class = JetStreamShape(session.settings.shape)
        environment.shape_class.runner = runner


def _on_target_request(environment: Environment, msg: Any, **_: Any) -> None:
    session = _session()
    if session.target is not None:  # else the test_start broadcast brings it
        runner: Any = environment.runner
        runner.send_message(_MSG_TARGET, session.target_message(), client_id=msg.node_id)


def _on_target_message(environment: Environment, msg: Any, **_: Any) -> None:
    session = _session()
    if session.target is None:
        session.adopt_target(msg.data)
    _State.target_ready.set()


def _error_text(exc: BaseException) -> str:
    return scrub(f"{type(exc).__name__}: {exc}")[:300]


def _fire_event(environment: Environment, request_type: str, name: str, wall_start: float,
                wall_end: float, response_length: int, exc: BaseException | None,
                context: dict[str, Any], response_time: float | None = None) -> None:
    """Fire one ``request`` event. A TRANSFER event with a ``destinationPath`` settles that
    path in the ledger; a second event for a settled path is dropped (exactly once)."""
    path = context.get("destinationPath")
    if request_type == "TRANSFER" and path is not None \
            and not _session().ledger.settle(str(path)):
        log.warning("transfer to %s already counted; second event dropped", path)
        return
    hooks: Any = environment.events
    hooks.request.fire(
        request_type=request_type, name=name,
        response_time=max(0.0, (wall_end - wall_start) * 1000.0) if response_time is None
        else response_time,
        response_length=response_length, exception=scrub_exception(exc),
        context={"start": wall_start, "end": max(wall_end, wall_start), **context})


def _settle(environment: Environment, api: Any, transfers: Sequence[dict[str, Any]], *,
            grace_s: float = 0.0, leave_running: bool = False) -> int:
    """:func:`~jetstream_qa.loadrun.settle.settle_transfers`, firing the TRANSFER events."""

    def fire(item: Settlement) -> None:
        context = {"transferId": item.transfer_id, "destinationPath": item.intent.dest_path,
                   "settledAtStop": True}
        ended = item.ended if item.ended is not None else time.time()
        _fire_event(environment, "TRANSFER", item.intent.scenario,
                    item.intent.started or ended, ended, item.nbytes,
                    None if item.action == "deliver"
                    else ServerError(item.error or "transfer failed"), context)

    return settle_transfers(_session(), api, transfers, fire=fire, grace_s=grace_s,
                            leave_running=leave_running)


def _reconcile(environment: Environment) -> None:
    """At test stop (users stopped): settle every transfer this process created from the
    sender's own records, so that each one is counted exactly once (loadrun/ledger.py).
    Running ones get ``--stop-timeout`` seconds to finish, like the users got."""
    session = _session()
    if session.ledger.unsettled == 0:
        return
    try:
        api = session.connect()
        try:
            settled = _settle(environment, api, api.send.getTransfers(),
                              grace_s=float(environment.stop_timeout or 0.0))
        finally:
            with contextlib.suppress(Exception):
                api.disconnect()
    except Exception as exc:
        log.error("jetstream-qa: could not reconcile the run's transfers with the sender "
                  "(%s); reports/load.json may miss some", _error_text(exc))
        return
    log.info("jetstream-qa: settled %d transfer(s) at stop from the sender's records",
             settled)
    if session.ledger.unsettled:
        log.info("jetstream-qa: %d transfer(s) were never created (their users stopped "
                 "before the sender answered)", session.ledger.unsettled)


def _on_request(request_type: str, name: str, response_time: float, response_length: int,
                exception: BaseException | None = None, context: dict[str, Any] | None = None,
                **_: Any) -> None:
    session = _State.session
    if session is None:
        return
    context = context or {}
    session.recorder.record_request(request_type, name, float(response_time), at=time.time(),
                                    error=None if exception is None else _error_text(exception))
    if request_type == "TRANSFER" and "start" in context:
        session.recorder.record_transfer(name, start=context["start"], end=context["end"],
                                         nbytes=int(response_length or 0),
                                         ok=exception is None,
                                         transfer_id=context.get("transferId"))


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    session = _State.session
    if session is not None:
        data["jsqa"] = session.recorder.drain()
        data["jsqa_gevent"] = session.gevent_check
        stopped = getattr(_State.runner, "state", None) == STATE_STOPPED
        data["jsqa_stopped_at"] = session.ended if stopped else None


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    session = _State.session
    if session is not None and "jsqa" in data:
        session.recorder.merge(data["jsqa"])
        session.workers.add(client_id)
        if data.get("jsqa_stopped_at") is not None:
            session.stopped_workers[client_id] = float(data["jsqa_stopped_at"])
        if data.get("jsqa_gevent") and not str(session.gevent_check or "").startswith("BLOCK"):
            session.gevent_check = data["jsqa_gevent"]


def _on_test_start(environment: Environment, **_: Any) -> None:
    session = _session()
    session.ended = None
    if isinstance(environment.runner, WorkerRunner):
        return
    session.started = time.time()
    session.stopped_workers.clear()
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(_MSG_TARGET, session.target_message())


def _on_test_stop(environment: Environment, **_: Any) -> None:
    """Local/worker: settle every transfer with the sender, then note the end. Master: a
    headless ``quit`` gives workers only 0.5 s for their final report, too short for users
    settling transfers; so stop the workers first and wait (bounded) until each reported its
    final, stopped state."""
    session = _State.session
    if session is None:
        return
    runner: Any = environment.runner
    if not isinstance(runner, MasterRunner):
        _reconcile(environment)  # before ``ended``: a worker's final report waits for it
        session.ended = time.time()
        return
    pending = {client.id for client in runner.clients.all}
    if pending:
        runner.send_message(_MSG_STOP, None)
    deadline = time.monotonic() + (environment.stop_timeout or 0) + _FINAL_REPORT_GRACE_S
    while not pending <= set(session.stopped_workers) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = pending - set(session.stopped_workers)
    if missing:
        log.warning("jetstream-qa: no final report from %d worker(s); their last seconds are "
                    "missing from reports/load.json", len(missing))
    session.ended = max([time.time() if missing or not pending else 0.0,
                         *session.stopped_workers.values()])


def _on_quitting(environment: Environment, **_: Any) -> None:
    session = _State.session
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
    extra = {"runner": type(runner).__name__,
             "workers": len(session.workers)}
    run_settings = {"users": options.num_users, "spawnRate": options.spawn_rate,
                    "runTimeS": options.run_time,
                    "scenario": sorted(cls.__name__ for cls in environment.user_classes),
                    "impairment": {"loss": session.settings.loss,
                                   "delayMs": session.settings.delay_ms}}
    report, results = session.finish(locust_version=locust.__version__, extra_env=extra,
                                      extra_settings=run_settings)
    goodput = report["goodput"]
    log.info("jetstream-qa: goodput %.1f B/s (%d bytes in %.3f s), report %s",
             goodput["meanBytesPerSecond"] or 0.0, goodput["totalBytes"], goodput["elapsedS"],
             session.settings.report)
    failed = [r for r in results if not r.passed]
    for result in results:
        (log.error if not result.passed else log.info)("jetstream-qa check %s", result.detail)
        if not result.passed:
            sys.stderr.write(f"jetstream-qa check {result.detail}\n")
    if failed:
        environment.process_exit_code = THRESHOLD_EXIT_CODE
    elif results and not runner.exceptions and not locust.log.unhandled_greenlet_exception:
        # thresholds decide (k6-style): passing checks clear Locust's request-error exit
        # status, but never hide an exception in an event handler (Locust's exit 2)
        environment.process_exit_code = 0
