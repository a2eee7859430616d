"""No green run for a broken server: ``pytest conformance`` against hostile servers.

Each test runs the real entry point in a subprocess (``runs.run_conformance``) against a
server of ``servers.py`` (or a reference pair with a fatal fault) and requires: a non-zero
exit, FAIL verdicts whose Actual names what happened, no pytest ERROR and no INCONCLUSIVE
once the server had answered, and an end within ``cases x --js-timeout`` (plus interpreter
start-up): no case waits past its bound. A target nobody listens on is the one
INCONCLUSIVE, and ``--js-allow-inconclusive`` is the one way to exit 0 with it.
"""

from __future__ import annotations

import socket

import pytest
from servers import HostileServer
from suite_runs import STARTUP_S, Run, pair_environment, pair_options, run_conformance

from jetstream_qa.refserver.embedded import EmbeddedPair

TIMEOUT_S = 1.0
"""--js-timeout of these runs: every wait of a case is bounded by it (or a documented
multiple); small so a server that never answers costs a second per case."""
SUBSET = ("handshake/api-version/equals-expected", "handshake/hello/*",
          "handshake/server-info/*", "timeouts/request-status/*", "timeouts/request-result/*",
          "manifests/create/*", "transfers/files/content-byte-identical",
          "auth/password/wrong-password-refused", "flags/matrix/read_write-always-none-follow-*")
"""Cases of every area that talks to the target (INFO-level ones and the matrix batch runner
included: a lost server is a FAIL whatever the case's level)."""
FILES = ("test_handshake.py", "test_timeouts.py", "test_manifests.py",
         "test_transfer_files.py", "test_auth.py", "test_flags_matrix.py")
NOT_TOUCHING = {
    # the hello itself is answered by these servers: this case holds
    "handshake/hello/answered-within-connect-timeout": "PASS",
    # need a server the suite controls (a target was given): not applicable
    "handshake/server-id/changes-across-restart": "NOT_APPLICABLE",
    "handshake/server-uid/persists-across-restart": "NOT_APPLICABLE",
}

pytestmark = pytest.mark.timeout(600)


def _options(address: str, *globs: str, timeout: float = TIMEOUT_S) -> list[str]:
    options = ["--js-sender", address, "--js-timeout", f"{timeout:g}", "--js-user", "qa"]
    for glob in globs:
        options += ["--js-case", glob]
    return options


def _roots(tmp_path) -> list[str]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    return ["--js-sender-root", str(src), "--js-receiver-root", str(dst)]


def _bound(cases: int, timeout: float = TIMEOUT_S) -> float:
    return cases * timeout + STARTUP_S


def _run(options: list[str], tmp_path, deadline_s: float, *, every_file: bool = False) -> Run:
    return run_conformance(options, tmp_path / "conformance.json", deadline_s=deadline_s,
                           env={"JETSTREAM_API_PASSWORD": "not-a-real-password"},
                           files=() if every_file else FILES)


def _assert_failed_by_server(run: Run, story: str) -> None:
    assert run.exit_status == 1, run.output
    assert "ERROR" not in run.output.split("short test summary info")[-1], run.output
    unexpected = {c["id"]: (c["verdict"], c["actual"]) for c in run.cases
                  if c["verdict"] != NOT_TOUCHING.get(c["id"], "FAIL")}
    assert not unexpected, unexpected
    failed = run.with_verdict("FAIL")
    assert failed and all(not c["suiteError"] for c in run.cases)
    silent = {k: c["actual"] for k, c in failed.items() if story not in c["actual"]}
    assert not silent, f"FAILs that do not name {story!r}: {silent}"


@pytest.mark.parametrize(("behaviour", "story"), [
    ("silent-after-hello", "the server stopped answering"),
    pytest.param("one-byte-a-second", "the server stopped answering",
                 marks=pytest.mark.heavy),  # costs what silent-after-hello costs
    ("close-mid-frame", "the server dropped the session"),
    ("garbage-after-hello", "the server broke the protocol"),
])
def test_a_server_that_breaks_after_the_hello_fails(behaviour, story, tmp_path):
    with HostileServer(behaviour) as server:
        bound = _bound(len(SUBSET) * 8)
        run = _run(_options(server.address, *SUBSET) + _roots(tmp_path), tmp_path, bound)
    _assert_failed_by_server(run, story)
    assert run.duration_s <= _bound(len(run.cases)), (run.duration_s, len(run.cases))


@pytest.mark.parametrize(("behaviour", "hello_fails"), [
    ("garbage-hello", True), ("busy", True), ("wrong-request-id", False),
    ("missing-keys", False), ("deep-json", False)])
def test_a_protocol_error_in_session_setup_is_judged_not_errored(behaviour, hello_fails,
                                                                 tmp_path):
    """The handshake cases FAIL, cases needing the session FAIL, cases that never touch
    the target still run (PASS), and pytest shows no ERROR."""
    globs = ("handshake/api-version/equals-expected", "handshake/hello/*",
             "timeouts/connect/fires-at-configured-value", "manifests/create/*")
    with HostileServer(behaviour) as server:
        run = _run(_options(server.address, *globs), tmp_path, _bound(16, 2.0))
    assert run.exit_status == 1, run.output
    assert not [c for c in run.cases if c["suiteError"] or c["verdict"] == "INCONCLUSIVE"]
    assert "ERROR" not in run.output.split("short test summary info")[-1], run.output
    verdicts = run.verdicts
    assert verdicts["timeouts/connect/fires-at-configured-value"] == "PASS"
    assert verdicts["handshake/api-version/equals-expected"] == "FAIL"
    assert verdicts["manifests/create/returns-pending"] == "FAIL"
    hello = run.case("handshake/hello/answered-within-connect-timeout")
    assert hello["verdict"] == ("FAIL" if hello_fails else "PASS"), hello


def _free_port() -> int:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_target_is_inconclusive_and_fails_the_run(tmp_path):
    globs = ("handshake/api-version/equals-expected", "handshake/hello/*",
             "manifests/create/*", "timeouts/connect/fires-at-configured-value")
    options = _options(f"127.0.0.1:{_free_port()}", *globs)
    run = _run(options, tmp_path, _bound(12, 2.0))
    assert run.exit_status == 1, run.output
    inconclusive = run.with_verdict("INCONCLUSIVE")
    assert "manifests/create/returns-pending" in inconclusive
    assert all("127.0.0.1" in c["actual"] for c in inconclusive.values()), inconclusive
    assert not run.with_verdict("FAIL"), run.output
    assert run.verdicts["timeouts/connect/fires-at-configured-value"] == "PASS"
    allowed = _run([*options, "--js-allow-inconclusive"], tmp_path, _bound(12, 2.0))
    assert allowed.exit_status == 0, allowed.output
    assert allowed.verdicts == run.verdicts


def test_a_sender_that_dies_on_create_transfer_fails_named(tmp_path):
    """A reference pair whose sender exits on its first createTransfer (fault
    ``exit-on-create-transfer``): the case that made it and every later case FAIL, the dead
    server named as such; nothing is INCONCLUSIVE."""
    globs = ("transfers/files/*", "manifests/create/*",
             "flags/matrix/read_write-versioned-encrypted_256-ignore-*")
    with EmbeddedPair(faults=["exit-on-create-transfer"]) as pair:
        options = [*pair_options(pair), "--js-timeout", f"{TIMEOUT_S:g}"]
        for glob in globs:
            options += ["--js-case", glob]
        run = run_conformance(options, tmp_path / "conformance.json",
                              deadline_s=_bound(16), env=pair_environment(pair), files=FILES)
    assert run.exit_status == 1, run.output
    after = {k: v for k, v in run.verdicts.items() if not k.startswith("manifests/")}
    assert set(after.values()) == {"FAIL"}, run.verdicts  # manifests run before the death
    assert set(run.verdicts.values()) <= {"PASS", "FAIL"}, run.verdicts
    died = [c["id"] for c in run.cases if "the server has died" in c["actual"]]
    assert died, [c["actual"] for c in run.cases]
    assert run.duration_s <= _bound(len(run.cases))


@pytest.mark.heavy
def test_no_case_of_the_quick_profile_hangs_on_a_silent_server(tmp_path):
    """The whole quick profile against a server that answers the hello and then never
    answers a command: the run ends within cases x timeout, and every case that talks to
    the server FAILs (the idle-drop SHOULD is NON_STRICT: the server never drops anyone)."""
    timeout = 1.0
    with HostileServer("silent-after-hello") as server:
        run = _run(_options(server.address, timeout=timeout) + _roots(tmp_path), tmp_path,
                   _bound(600, timeout), every_file=True)
    assert run.exit_status == 1
    assert run.duration_s <= _bound(len(run.cases), timeout)
    own = {"timeouts/connect/fires-at-configured-value": "PASS",
           "timeouts/request/fires-at-configured-value": "PASS",
           "timeouts/idle/server-drops-silent-client": "NON_STRICT",
           "auth/superuser/configuration-only-after-elevation": "NOT_APPLICABLE"}
    unexpected = {c["id"]: (c["verdict"], c["actual"]) for c in run.cases
                  if c["verdict"] != {**NOT_TOUCHING, **own}.get(c["id"], "FAIL")}
    assert not unexpected, unexpected
