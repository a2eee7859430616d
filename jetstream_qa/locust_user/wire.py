"""``--js-capture``: wire evidence of a load run, next to the goodput it reports.

Only the process that owns the target captures: the master (distributed runs; workers never
capture) or the local runner (which also starts the embedded pair). At ``test_start`` it
starts the capture process (:mod:`jetstream_qa.loadrun.wire_capture`, outside gevent) with
the filter of the receiver's data address and the sender's addresses, and waits (bounded)
until the capture is open, so the first transfer is on it. At ``test_stop``, after the
run's transfers were settled, the capture stops and hands back its per-second counters; at
``quitting``, once reports/load.json was written (:func:`add_to_report`), the ``wire`` section
(:func:`~jetstream_qa.loadrun.wire_evidence.wire_section`) is added to it and a one-line
summary is logged.

There is no implicit capture on ``lo`` for the embedded pair (unlike the packet cases):
counting every packet of a load run costs a core-share the load itself needs, so it is
only done when asked. A source that does not work never stops the run: load.json's
``wire.problem`` says what happened.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from jetstream_qa.capture.source import CaptureSource, resolve_host
from jetstream_qa.loadrun.wire_evidence import MAX_SECONDS, summary_line, wire_section
from jetstream_qa.locust_user.state import LOG_NAME, State, error_text
from jetstream_qa.redaction import scrub, scrub_value

__all__ = ["add_to_report", "install"]

log = logging.getLogger(LOG_NAME)
_START_TIMEOUT_S: Final = 30.0
"""The capture process imports scapy and opens its source (its own bound is 10 s)."""
_STOP_TIMEOUT_S: Final = 60.0
"""Settle (3 s), stop the source (5 s), read a file source's tail (bounded by its size)."""


class _Wire:
    """The one capture of this process (one per test start/stop)."""

    proc: subprocess.Popen[str] | None = None
    result: dict[str, Any] | None = None


def install() -> None:
    """Register ``--js-capture`` and the capture's listeners (from ``listeners.install``)."""
    hooks: Any = events
    hooks.init_command_line_parser.add_listener(_add_argument)
    hooks.test_start.add_listener(_on_test_start)
    hooks.test_stop.add_listener(_on_test_stop)


def _add_argument(parser: Any, **_: Any) -> None:
    parser.add_argument_group("jetstream-qa wire evidence").add_argument(
        "--js-capture", default=None, metavar="SOURCE",
        help="record wire evidence over the run: iface:NAME | cmd:'COMMAND' | file:PATH "
             "(master/local process only; a failing source is reported, not fatal)")


def _owner(environment: Environment) -> str | None:
    """``master``/``local`` for the process that captures, None for a worker."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return None
    return "master" if isinstance(runner, MasterRunner) else "local"


def _on_test_start(environment: Environment, **_: Any) -> None:
    text = getattr(environment.parsed_options, "js_capture", None)
    side = _owner(environment)
    if not text or side is None or State.session is None:
        return
    _stop_capture()
    base = {"source": text, "side": side, "filter": None}
    try:
        source = CaptureSource.parse(text)
        argv = _capture_argv(environment, source)
    except Exception as exc:  # a bad option or an unreachable target: reported, not fatal
        _Wire.result = {**base, "problem": f"cannot set up the capture: {error_text(exc)}"}
        return
    _Wire.result = dict(base)
    _Wire.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
    first = _read_line(_START_TIMEOUT_S)
    if first.get("ready"):
        _Wire.result["filter"] = first.get("filter")
        log.info("jetstream-qa: capturing wire evidence from %s (%s)", scrub(text),
                 first.get("filter"))
        return
    _Wire.result["problem"] = first.get("problem") or "the capture did not start"
    _stop_capture()


def _capture_argv(environment: Environment, source: CaptureSource) -> list[str]:
    session = State.session
    assert session is not None and session.target is not None
    api = session.connect()
    try:
        data_host, data_port, _key = session.data_address(api)
    finally:
        with contextlib.suppress(Exception):
            api.disconnect()
    options: Any = environment.parsed_options
    budget = float(options.run_time or MAX_SECONDS) + float(environment.stop_timeout or 0) \
        + 120.0
    argv = [sys.executable, "-m", "jetstream_qa.loadrun.wire_capture", "--source",
            str(source), "--receiver-ip", resolve_host(data_host)[0],
            "--receiver-port", str(data_port), "--max-seconds", f"{budget:g}"]
    for ip in resolve_host(session.target.sender.host):
        argv += ["--sender-ip", ip]
    return argv


def _read_line(timeout: float) -> dict[str, Any]:
    """The capture process's next JSON line ({} on timeout, end of file or garbage)."""
    proc = _Wire.proc
    if proc is None or proc.stdout is None:
        return {}
    with gevent.Timeout(timeout, False):
        line = proc.stdout.readline()
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            return found if isinstance(found, dict) else {}
    return {}


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if _owner(environment) is not None:
        _stop_capture()


def _stop_capture() -> None:
    """Stop the running capture (if any) and keep its counters in ``_Wire.result``."""
    proc, result = _Wire.proc, _Wire.result
    if proc is None:
        return
    try:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.write("stop\n")
            proc.stdin.close()
        final = _read_line(_STOP_TIMEOUT_S)
        if result is not None and "rows" in final:
            result.update(rows=final["rows"], truncated=final.get("truncated", ""))
        elif result is not None and not result.get("problem"):
            result["problem"] = final.get("problem") or \
                f"the capture process gave no result within {_STOP_TIMEOUT_S:g} s " \
                f"(exit status {proc.poll()})"
    finally:
        _Wire.proc = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def add_to_report(environment: Environment, report_path: str) -> None:
    """Add ``wire`` to reports/load.json once the run wrote it, and log the summary line
    (master/local, at ``quitting``; nothing without ``--js-capture``)."""
    _stop_capture()
    result, _Wire.result = _Wire.result, None
    if result is None or _owner(environment) is None:
        return
    path = Path(report_path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        report["wire"] = scrub_value(wire_section(result, report))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("jetstream-qa: could not add wire evidence to %s: %s", path, exc)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    (log.warning if "problem" in report["wire"] else log.info)(
        "jetstream-qa: %s", summary_line(report["wire"]))
