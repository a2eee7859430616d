"""The Locust user of JetStream load tests and its one timing helper.

Every API call and every whole transfer goes through :meth:`JetStreamUser.measure`, which
fires exactly one ``request`` event: ``request_type`` ``API`` (name = the command, e.g.
``send.createTransfer``) or ``TRANSFER`` (name = the scenario, ``response_length`` = bytes
delivered); ``response_time`` is unrounded milliseconds; failure is the ``exception``, never
part of the name (STYLE.md 10). Every transfer is counted exactly once
(:mod:`jetstream_qa.loadrun.ledger`): its fresh ``destinationPath`` is registered before
``createTransfer`` is sent, and its TRANSFER event settles that path.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent
from locust import User, constant_throughput
from locust.env import Environment

from jetstream_qa.binding import Operations, operation_for
from jetstream_qa.constants import TransferFlag
from jetstream_qa.errors import ConfigurationError, ServerError
from jetstream_qa.loadrun.ledger import Settlement
from jetstream_qa.loadrun.redaction import scrub_exception
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.loadrun.settings import LoadSettings
from jetstream_qa.loadrun.settle import settle_transfers
from jetstream_qa.locust_user.state import LOG_NAME, State, current, error_text

__all__ = ["JetStreamUser", "Measured", "api_rate_pacing", "check_gevent", "fire_event",
           "settle"]

log = logging.getLogger(LOG_NAME)

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
    recipes: ClassVar[tuple[str, ...]] = ()
    """File-set recipes this user sends from: prepared at test start, before the first
    transfer (and so before the measured window), by :func:`prepare_filesets`."""
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
        if not State.target_ready.wait(timeout=30):
            raise ConfigurationError("no load target within 30 s (master did not send it)")
        session = current()
        if session.gevent_check is None:
            session.gevent_check = "running"
            try:
                session.gevent_check = check_gevent(session)
            except Exception as exc:
                session.gevent_check = None  # the next user tries again
                log.warning("gevent check skipped: %s", error_text(exc))
        with contextlib.suppress(Exception):  # recorded; the first call reconnects
            self._connect()

    def _connect(self) -> None:
        with self.measure("API", "connect"):
            self.api = current().connect()

    def on_stop(self) -> None:
        """Settle an interrupted transfer, then disconnect. Settling is teardown bookkeeping
        on a fresh connection (the old one may hold a half-read answer) and fires no API
        events; whatever it cannot or need not settle now, the reconciliation at test stop
        does."""
        inflight, self._inflight = self._inflight, None
        if self.api is not None:
            with contextlib.suppress(Exception):
                self.api.disconnect()
        if inflight is None or current().ledger.is_settled(inflight[1]):
            return
        try:
            api = current().connect()
        except Exception as exc:
            log.warning("could not settle transfer %s now: %s", inflight[0], error_text(exc))
            return
        try:
            # with --stop-timeout a running transfer may still finish: the reconciliation at
            # test stop gives it that long; without, it is cancelled now
            ops = Operations(current().binding, api)
            settle(self.environment, api, [ops.get_transfer(inflight[0])],
                   leave_running=bool(self.environment.stop_timeout))
        except Exception as exc:
            log.warning("could not settle transfer %s now: %s", inflight[0], error_text(exc))
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
        fire_event(self.environment, request_type, name, wall_start, wall_end,
                    measured.response_length, exc, measured.context, response_time)

    # --- API calls ----------------------------------------------------------------------
    def call(self, command: str, *args: Any, **params: Any) -> Any:
        """One API call through the binding, timed as one event named ``command``; returns
        the result, or None when it failed (the failure is already recorded).

        ``command`` is the vendor's documented method (``getServerInfo``,
        ``send.getTransfers``; no namespace means ``server``) or an operation of the
        binding's catalogue (``get_transfers``); ``params`` use the catalogue's names. A
        call the binding cannot make is a failed event naming the missing key.

        Raises:
            ConfigurationError: ``command`` names no operation of the catalogue (a
                locustfile bug, raised before any event).
        """
        name = operation_for(command)
        try:
            return self._timed(command, lambda ops: ops.call(name, *args, **params))
        except Exception:
            return None

    # --- transfers ----------------------------------------------------------------------
    @property
    def settings(self) -> LoadSettings:
        """The run's resolved ``--js-*`` settings."""
        return current().settings

    def fileset(self, recipe: str) -> Sequence[tuple[str, int]]:
        """This process's files of ``recipe`` (fixtures/load/RECIPE.json): (path, size)."""
        return current().fileset(recipe).files

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

    def _ops(self) -> Operations:
        """The binding's operations over this user's session (connecting if needed)."""
        if self.api is None or getattr(self.api, "connected", True) is False:
            self._connect()
        return Operations(current().binding, self.api)

    def _timed(self, label: str, step: Callable[[Operations], Any]) -> Any:
        """One timed API event named ``label`` around ``step(ops)``."""
        ops = self._ops()
        with self.measure("API", label):
            return step(ops)

    def _run_transfer(self, files: Sequence[tuple[str, int]], name: str, flags: int,
                      measured: Measured) -> dict[str, Any]:
        session = current()
        destination = self._destination_id()
        mappings = {path.rsplit("/", 1)[-1]: path for path, _ in files}
        manifest = self._timed("send.createManifest", lambda o: o.create_manifest(mappings))
        label = "send.waitForManifest" if self._ops().bounded_wait("wait_manifest") else \
            "send.getManifest (until complete)"
        manifest = self._timed(label, lambda o: o.wait_manifest(
            manifest["manifestId"], timeout=session.settings.timeout))
        if manifest.get("status") != "complete":
            raise ServerError(f"manifest {manifest.get('manifestId')} ended "
                              f"{manifest.get('status')}: {manifest.get('errorMessage')}")
        # the intent is registered before the request: a kill between the server creating
        # the transfer and this greenlet reading its id cannot lose it (loadrun/ledger.py)
        dest_path = session.dest_path(self.index, next(self._seq))
        session.ledger.expect(dest_path, name, measured.started)
        measured.context["destinationPath"] = dest_path
        created = self._timed("send.createTransfer", lambda o: o.create_transfer(
            destination, manifest["manifestId"], destination_path=dest_path,
            flags=int(flags)))
        transfer_id = created["transferId"]
        measured.context["transferId"] = str(transfer_id)
        session.recorder.note_transfer_id(str(transfer_id))
        self._inflight = (transfer_id, dest_path)
        try:
            final, status = self._wait_transfer(transfer_id, session.settings.transfer_timeout)
        except Exception:  # a failure of this TRANSFER (GreenletExit: on_stop settles it)
            self._inflight = None
            raise
        self._inflight = None
        if status != "complete":
            raise ServerError(f"transfer {transfer_id} ended {final.get('status')}: "
                              f"{final.get('errorMessage')}")
        measured.response_length = int(final.get("totalBytes") or 0)
        return dict(final)

    def _wait_transfer(self, transfer_id: int, timeout: float) -> tuple[dict[str, Any], Any]:
        """The transfer once final (the client's blocking wait when bound, else polling
        ``getTransfer``: one API event either way) and its status in the binding's names."""
        ops = self._ops()
        label = "send.waitForTransfer" if ops.has("wait_transfer") else \
            "send.getTransfer (until final)"
        with self.measure("API", label):
            final = ops.wait_transfer(transfer_id, timeout=timeout)
        return final, ops.status(final)

    def _destination_id(self) -> str:
        if self._destination is None:
            host, port, key = current().data_address(self.api)
            created = self._timed("send.createDestination", lambda o: o.create_destination(
                host, port, public_key=key or None))
            self._destination = str(created["destinationId"])
        return self._destination


def api_rate_pacing() -> Callable[[User], float]:
    """A ``wait_time`` giving each user ``--js-api-rate`` task runs per second (open-model
    pacing through Locust's ``constant_throughput``, read at run time)."""

    def wait(user: User) -> float:
        pacer = user.__dict__.get("_jsqa_pacer")
        if pacer is None:
            pacer = constant_throughput(current().settings.api_rate)
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
    ops = Operations(session.binding, api)
    runner = gevent.spawn(ticker)
    gevent.sleep(0)
    started, calls = time.perf_counter(), 0
    try:
        while time.perf_counter() - started < budget_s and calls < 2000:
            ops.call("get_server_info")
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


def fire_event(environment: Environment, request_type: str, name: str, wall_start: float,
               wall_end: float, response_length: int, exc: BaseException | None,
               context: dict[str, Any], response_time: float | None = None) -> None:
    """Fire one ``request`` event. A TRANSFER event with a ``destinationPath`` settles that
    path in the ledger; a second event for a settled path is dropped (exactly once)."""
    path = context.get("destinationPath")
    if request_type == "TRANSFER" and path is not None \
            and not current().ledger.settle(str(path)):
        log.warning("transfer to %s already counted; second event dropped", path)
        return
    hooks: Any = environment.events
    hooks.request.fire(
        request_type=request_type, name=name,
        response_time=max(0.0, (wall_end - wall_start) * 1000.0) if response_time is None
        else response_time,
        response_length=response_length, exception=scrub_exception(exc),
        context={"start": wall_start, "end": max(wall_end, wall_start), **context})


def settle(environment: Environment, api: Any, transfers: Sequence[dict[str, Any]], *,
           grace_s: float = 0.0, leave_running: bool = False) -> int:
    """:func:`~jetstream_qa.loadrun.settle.settle_transfers`, firing the TRANSFER events."""

    def fire(item: Settlement) -> None:
        context = {"transferId": item.transfer_id, "destinationPath": item.intent.dest_path,
                   "settledAtStop": True}
        ended = item.ended if item.ended is not None else time.time()
        fire_event(environment, "TRANSFER", item.intent.scenario,
                   item.intent.started or ended, ended, item.nbytes,
                   None if item.action == "deliver"
                   else ServerError(item.error or "transfer failed"), context)

    return settle_transfers(current(), api, transfers, fire=fire, grace_s=grace_s,
                            leave_running=leave_running)
