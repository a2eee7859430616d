"""Helpers for Locust runs: always a subprocess (in-process Locust crashes xdist workers)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "load" / "locustfile.py"


def locust_env() -> dict[str, str]:
    """The environment of a child Locust: no inherited JetStream credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETSTREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def locust_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def written_report(proc: subprocess.CompletedProcess[str], path: Path) -> dict[str, Any]:
    """The load.json the run ``proc`` wrote at ``path``; a missing one fails the test with the
    tail of the run's stderr."""
    assert path.is_file(), proc.stderr[-3000:]
    return load_report(path)


def locust_json_counts(path: Path) -> dict[str, tuple[int, int]]:
    """``{"API getServerInfo": (requests, failures)}`` from Locust's own --json-file."""
    return {f"{row['method']} {row['name']}": (row["num_requests"], row["num_failures"])
            for row in json.loads(path.read_text(encoding="utf-8"))}


def assert_counts_match_locust(report: dict[str, Any], locust_json: Path) -> None:
    """Every request event of load.json has Locust's own count and failures, and no more."""
    ours = {key: (v["count"], v["failures"]) for key, v in report["latency"].items()}
    assert ours == locust_json_counts(locust_json)


def run_bounded(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float
                ) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` in a new session; on timeout the whole process group (Locust and
    the embedded servers it started) is killed before the error propagates."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGKILL the process group led by ``proc`` (started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
