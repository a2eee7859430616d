"""Running ``pytest conformance`` in a subprocess against a given target, as QA would.

:func:`run_conformance` runs the real entry point (``python -m pytest conformance --js-sender
... --js-report-json PATH``) with a deadline, and returns the exit status, the JSON summary's
cases and the output tail. No JETSTREAM_*/PYTEST_* variable of the caller leaks in.
:func:`pair_options` and :func:`pair_environment` point a run at a started
:class:`~jetstream_qa.refserver.embedded.EmbeddedPair` (passwords only in the environment).
Shared by ``tests/hostile`` and ``tests/meta`` (``tests/`` is on ``sys.path`` through its
conftest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jetstream_qa.refserver.embedded import EmbeddedPair, EmbeddedServer

__all__ = ["REPO", "Run", "pair_environment", "pair_options", "run_conformance",
           "server_options"]

REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 30.0
"""Allowance for interpreter start, collection and the probe, on top of cases x timeout."""


@dataclass(frozen=True, slots=True)
class Run:
    """One conformance run: exit status, cases of the JSON summary, output tail, seconds."""

    exit_status: int
    cases: tuple[dict[str, Any], ...]
    output: str
    duration_s: float

    @property
    def verdicts(self) -> dict[str, str]:
        return {c["id"]: c["verdict"] for c in self.cases}

    def case(self, case_id: str) -> dict[str, Any]:
        return next(c for c in self.cases if c["id"] == case_id)

    def with_verdict(self, verdict: str) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.cases if c["verdict"] == verdict}


def run_conformance(options: Sequence[str], report: Path, *, deadline_s: float,
                    env: Mapping[str, str] | None = None,
                    files: Sequence[str] = ()) -> Run:
    """Run the suites with ``options``; fail (AssertionError) if they outlive ``deadline_s``
    or write no JSON summary. ``files`` (names under ``conformance/``) narrows collection;
    default: every suite."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JETSTREAM_", "PYTEST_"))}
    paths = [str(REPO / "conformance" / f) for f in files] or [str(REPO / "conformance")]
    command = [sys.executable, "-m", "pytest", *paths, "-p",
               "no:cacheprovider", "-p", "no:xdist", "-q", "--js-client", "bundled",
               "--js-report-json", str(report), *options]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=REPO, env={**base, **(env or {})},
                              capture_output=True, text=True, timeout=deadline_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the run outlived its bound of {deadline_s:g} s: "
                             f"{(exc.stdout or '')[-3000:]!s}") from None
    took = time.monotonic() - started
    output = (proc.stdout + proc.stderr)[-6000:]
    try:
        summary = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssertionError(f"no JSON summary ({exc}); exit {proc.returncode}:\n{output}") \
            from None
    return Run(proc.returncode, tuple(summary["cases"]), output, took)


def server_options(sender: EmbeddedServer, receiver: EmbeddedServer) -> list[str]:
    """``--js-*`` options naming both servers (bundled client) and their roots."""
    return ["--js-client", "bundled",
            "--js-sender", f"{sender.host}:{sender.api_port}",
            "--js-receiver", f"{receiver.host}:{receiver.api_port}",
            "--js-receiver-data", f"{receiver.recv_host}:{receiver.recv_port}",
            "--js-sender-root", str(sender.storage_root),
            # the receiver's sandbox is its storage root: server path '/' (embedded_target)
            "--js-receiver-root", f"{receiver.storage_root}=/"]


def pair_options(pair: EmbeddedPair) -> list[str]:
    """``--js-*`` options naming both servers, their roots and users (no passwords)."""
    return [*server_options(pair.sender, pair.receiver),
            "--js-user", pair.user.name, "--js-user2", pair.other_user.name,
            "--js-superuser", pair.superuser.name]


def pair_environment(pair: EmbeddedPair) -> dict[str, str]:
    """The passwords of the pair's users, as the JETSTREAM_* variables the plugin reads."""
    return {"JETSTREAM_API_PASSWORD": pair.user.password,
            "JETSTREAM_API_PASSWORD2": pair.other_user.password,
            "JETSTREAM_API_SUPERUSER_PASSWORD": pair.superuser.password,
            "PYTHONDONTWRITEBYTECODE": "1"}
