"""The secret-leak matrix (issue 12): {wrong user, a server that refuses logins mid-run, a
server that echoes the password in its errors, results or hello} x {terminal, pytest-html,
JUnit, conformance JSON, Locust HTML/CSV/JSON/stdout, load.json} -> zero occurrences of the
password, through the real entry points (``pytest conformance ...`` and ``locust ...`` in
subprocesses).

A run only proves something if it reached the server with the password: each scenario also
asserts that the server saw a login (or that the run failed on the login it was given).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_server import HostileServer, Hostility

from jetstream_qa.refserver.embedded import EmbeddedServer, ServerUser

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Sekr1t-PW-4711"
CASES = ("handshake/server-info/identity-fields-typed", "handshake/api-version/equals-expected",
         "auth/password/*", "auth/session/*", "auth/secrets/*")
"""A fast subset that logs in many times, with and without the right password."""
_RUN_TIMEOUT_S = 120


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETSTREAM_")}
    env["JETSTREAM_API_PASSWORD"] = PASSWORD
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _conformance(tmp_path: Path, target: str, user: str, *, workers: int = 0) -> str:
    """One conformance run writing every report; returns terminal output (stdout + stderr).
    ``workers``: run under pytest-xdist (reports then travel from worker processes)."""
    parallel = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-p", "no:cacheprovider",
           *parallel, "-l", "-rA", "--js-sender", target, "--js-user", user,
           "--js-timeout", "5", "--junitxml", "j.xml", "--html", "r.html",
           "--js-report-json", "c.json", *(arg for c in CASES for arg in ("--js-case", c))]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=_RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    return proc.stdout + proc.stderr


def _hits(tmp_path: Path, terminal: str) -> dict[str, int]:
    outputs = {"terminal": terminal}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            outputs[path.name] = path.read_text(encoding="utf-8", errors="replace")
    return {name: text.count(PASSWORD) for name, text in outputs.items()}


def _assert_clean(tmp_path: Path, terminal: str, expected: tuple[str, ...]) -> None:
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert set(expected) <= written, (expected, written, terminal[-3000:])
    hits = _hits(tmp_path, terminal)
    assert sum(hits.values()) == 0, {k: v for k, v in hits.items() if v}


_CONFORMANCE_FILES = ("j.xml", "r.html", "c.json")


def test_wrong_user_against_the_reference_server(tmp_path: Path) -> None:
    """The issue's repro: the right password under a mistyped user name."""
    with EmbeddedServer(name="leak-wrong-user", users=[ServerUser("qa", PASSWORD)],
                        ready_timeout=30) as server:
        terminal = _conformance(tmp_path, f"127.0.0.1:{server.api_port}", "qa-typo")
    assert "AuthenticationFailed" in terminal
    _assert_clean(tmp_path, terminal, _CONFORMANCE_FILES)


@pytest.mark.parametrize(("hostility", "workers"), [
    pytest.param({"echo_error": True}, 0, id="echoes-password-in-errors"),
    pytest.param({"echo_result": True}, 0, id="echoes-password-in-results"),
    pytest.param({"echo_hello": True}, 0, id="echoes-password-in-hello"),
    pytest.param({"refuse_after": 2, "echo_error": True}, 2,
                 id="refuses-logins-mid-run-under-xdist"),
])
def test_hostile_server_conformance_outputs(tmp_path: Path, hostility: dict,
                                            workers: int) -> None:
    """``workers=2``: reports are made in xdist workers and shipped to the controller."""
    with HostileServer(Hostility("qa", PASSWORD, **hostility)) as server:
        terminal = _conformance(tmp_path, server.target, "qa", workers=workers)
        logins, refused = server.logins, server.refused
    assert logins >= 1, terminal[-3000:]
    assert refused >= 1 or not hostility.get("refuse_after"), "the lockout never started"
    assert not workers or f"{workers} workers" in terminal
    _assert_clean(tmp_path, terminal, _CONFORMANCE_FILES)


def test_wrong_user_against_a_server_that_echoes_it(tmp_path: Path) -> None:
    """Every login fails and every refusal repeats the password tried."""
    with HostileServer(Hostility("qa", PASSWORD, echo_error=True)) as server:
        terminal = _conformance(tmp_path, server.target, "qa-typo")
    assert "AuthenticationFailed" in terminal
    _assert_clean(tmp_path, terminal, _CONFORMANCE_FILES)


@pytest.mark.parametrize("hostility", [
    pytest.param({"echo_error": True, "refuse_after": 1}, id="refuses-and-echoes"),
    pytest.param({"echo_result": True}, id="echoes-in-results"),
])
def test_hostile_server_locust_outputs(tmp_path: Path, hostility: dict) -> None:
    """Locust's HTML, CSV (stats, failures, exceptions), --json-file, stdout/stderr and our
    load.json, against a server that refuses logins after the first and echoes the password."""
    with HostileServer(Hostility("qa", PASSWORD, **hostility)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "load" / "locustfile.py"),
             "--headless", "-u", "2", "-r", "2", "-t", "3s", "--host", server.target,
             "--js-user", "qa", "--js-report", "load.json", "--csv", "out", "--html",
             "out.html", "--json-file", "locust", "--stop-timeout", "2", "ApiStormUser"],
            cwd=tmp_path, env=_env(), capture_output=True, text=True,
            timeout=_RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
        logins = server.logins
    terminal = proc.stdout + proc.stderr
    assert logins >= 1, terminal[-3000:]
    _assert_clean(tmp_path, terminal, ("out.html", "out_failures.csv", "locust.json",
                                       "load.json"))
