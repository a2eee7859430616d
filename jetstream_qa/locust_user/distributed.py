"""Master/worker plumbing: the target handed to workers, statistics shipped to the master,
and a master's stop that waits (bounded) for every worker's final report.

- Master (or the local process) starts the target in ``init`` and sends it to workers in a
  custom message (also on request: a worker may ask before ``test_start``).
- Workers ship ``recorder.drain()`` in ``report_to_master``; the master merges each
  ``worker_report`` into its own recorder, so reports/load.json and the web UI's goodput tab
  read the same merged statistics.
- A headless ``quit`` gives workers only 0.5 s for their final report, too short for users
  settling transfers; so the master stops the workers first and waits until each reported its
  final, stopped state.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner

from jetstream_qa.locust_user.state import LOG_NAME, State, current

__all__ = ["register_master", "register_worker", "stop_workers_and_wait"]

log = logging.getLogger(LOG_NAME)
MSG_TARGET: Final = "jsqa-target"
MSG_TARGET_REQUEST: Final = "jsqa-target-request"
MSG_STOP: Final = "jsqa-stop"
_FINAL_REPORT_GRACE_S: Final = 20.0


def register_worker(runner: WorkerRunner) -> None:
    """Worker: accept the target and the master's stop; ask for the target when the master
    starts it (embedded pair)."""
    runner.register_message(MSG_TARGET, _on_target_message)
    runner.register_message(MSG_STOP, lambda environment, msg, **_: runner.stop())


def register_master(runner: MasterRunner) -> None:
    """Master: answer workers asking for the target (before it starts: they may ask early)."""
    runner.register_message(MSG_TARGET_REQUEST, _on_target_request)


def request_target(runner: WorkerRunner) -> None:
    """Worker: ask the master for the target."""
    runner.send_message(MSG_TARGET_REQUEST, None)


def broadcast_target(runner: MasterRunner) -> None:
    """Master: send the target to every worker (at test start)."""
    runner.send_message(MSG_TARGET, current().target_message())


def _on_target_request(environment: Environment, msg: Any, **_: Any) -> None:
    session = current()
    if session.target is not None:  # else the test_start broadcast brings it
        runner: Any = environment.runner
        runner.send_message(MSG_TARGET, session.target_message(), client_id=msg.node_id)


def _on_target_message(environment: Environment, msg: Any, **_: Any) -> None:
    session = current()
    if session.target is None:
        session.adopt_target(msg.data)
    State.target_ready.set()


def on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    """Worker: ship this process's statistics since the last report."""
    session = State.session
    if session is not None:
        data["jsqa"] = session.recorder.drain()
        data["jsqa_gevent"] = session.gevent_check
        stopped = getattr(State.runner, "state", None) == STATE_STOPPED
        data["jsqa_stopped_at"] = session.ended if stopped else None


def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    """Master: merge a worker's statistics."""
    session = State.session
    if session is not None and "jsqa" in data:
        session.recorder.merge(data["jsqa"])
        session.workers.add(client_id)
        if data.get("jsqa_stopped_at") is not None:
            session.stopped_workers[client_id] = float(data["jsqa_stopped_at"])
        if data.get("jsqa_gevent") and not str(session.gevent_check or "").startswith("BLOCK"):
            session.gevent_check = data["jsqa_gevent"]


def stop_workers_and_wait(environment: Environment, runner: MasterRunner) -> float:
    """Master at test stop: stop the workers, wait (``--stop-timeout`` + 20 s at most) until
    each sent its final report; returns when the run ended (the last worker's stop)."""
    session = current()
    pending = {client.id for client in runner.clients.all}
    if pending:
        runner.send_message(MSG_STOP, None)
    deadline = time.monotonic() + (environment.stop_timeout or 0) + _FINAL_REPORT_GRACE_S
    while not pending <= set(session.stopped_workers) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = pending - set(session.stopped_workers)
    if missing:
        log.warning("jetstream-qa: no final report from %d worker(s); their last seconds are "
                    "missing from reports/load.json", len(missing))
    return max([time.time() if missing or not pending else 0.0,
                *session.stopped_workers.values()])
