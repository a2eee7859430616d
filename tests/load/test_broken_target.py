"""A Locust run against a broken target exits non-zero naming what happened (issue 10):
a server that accepts and never answers, and one that answers the hello and then nothing,
single process and master/worker headless."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from load_helpers import free_port, kill_group, locust_cmd, locust_env, run_bounded

from jetstream_qa.constants import API_VERSION

BROKEN_TARGET_EXIT_CODE = 4  # jetstream_qa.locust_user.BROKEN_TARGET_EXIT_CODE (no locust here)


def _read_frame(conn: socket.socket) -> bytes:
    head = b""
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return b""
        head += chunk
    (size,) = struct.unpack(">I", head)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            return b""
        body += chunk
    return body


@contextlib.contextmanager
def silent_server(*, answer_hello: bool) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts and then never answers (``answer_hello``: it
    answers the client's hello with a server hello, docs/protocol.md 2.2, then nothing).
    Connections stay open until the server stops."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            if answer_hello:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    if _read_frame(conn):
                        hello = json.dumps({"type": "hello", "role": "server",
                                            "apiVersion": API_VERSION, "serverId": "silent",
                                            "version": "0", "authRequired": True}).encode()
                        conn.sendall(struct.pack(">I", len(hello)) + hello)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


ARGS = ["--headless", "-u", "2", "-r", "2", "-t", "3s", "--js-timeout", "1",
        "--js-report", "load.json", "LargeFilesUser"]


@pytest.mark.parametrize("answer_hello", [False, True], ids=["never-answers", "hello-only"])
def test_local_run_against_a_silent_server_fails_naming_it(tmp_path: Path,
                                                           answer_hello: bool) -> None:
    with silent_server(answer_hello=answer_hello) as port:
        proc = run_bounded(locust_cmd(*ARGS, "--host", f"jetstream://127.0.0.1:{port}"),
                           cwd=tmp_path, env=locust_env(), timeout=90)
    assert proc.returncode == BROKEN_TARGET_EXIT_CODE, proc.stderr[-3000:]
    assert "FAILED: the run completed no transfer" in proc.stderr
    assert "FAILED: the target stopped answering" in proc.stderr
    report = json.loads((tmp_path / "load.json").read_text(encoding="utf-8"))
    assert len(report["problems"]) == 2
    assert report["goodput"]["totalBytes"] == 0


def test_headless_master_and_worker_against_a_silent_server_fail(tmp_path: Path) -> None:
    master_port = str(free_port())
    with silent_server(answer_hello=True) as port:
        host = ["--host", f"jetstream://127.0.0.1:{port}"]
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            locust_cmd("--worker", "--master-host", "127.0.0.1", "--master-port", master_port,
                       "--js-timeout", "1", *host, "LargeFilesUser"),
            cwd=tmp_path, env=locust_env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            master = run_bounded(
                locust_cmd(*ARGS, *host, "--master", "--master-bind-host", "127.0.0.1",
                           "--master-bind-port", master_port, "--expect-workers", "1",
                           "--expect-workers-max-wait", "30"),
                cwd=tmp_path, env=locust_env(), timeout=120)
        finally:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(worker)
            log.close()
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert master.returncode == BROKEN_TARGET_EXIT_CODE, master.stderr[-3000:] + worker_log[-2000:]
    assert "FAILED: the run completed no transfer" in master.stderr
    assert "FAILED: the target stopped answering" in master.stderr
