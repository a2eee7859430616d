"""Run one review step (a pytest or Locust subprocess) with a bounded wait and live progress.

Theory of operation: the child runs in its own process group with stdout+stderr merged into a
pipe; a reader thread (started per step, never at import) copies every line to the step's log
file and hands it to the main thread through a queue. The main thread polls that queue with a
short timeout, advances the progress bar (per finished test for pytest, by elapsed time for
Locust), and enforces the step's deadline: past it the whole process group is terminated, then
killed. Secrets are scrubbed from each line before it is written to the log.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jetstream_qa.report.redact import REDACTED

__all__ = ["ProgressSink", "StepResult", "pytest_progress", "run_step", "time_progress"]

_TEST_DONE = re.compile(
    r"\b(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS|PASS|FAIL|NON_STRICT|INFO|INCONCLUSIVE|"
    r"NOT_APPLICABLE)\b"
)
"""A finished test in ``pytest -v`` output: pytest's words, or the plugin's verdicts."""
_COLLECTED = re.compile(r"collected (\d+) items?|\d+ workers? \[(\d+) items?\]")
"""The total: pytest's ``collected N items``, or pytest-xdist's ``4 workers [N items]``."""


class ProgressSink(Protocol):
    """What a step reports progress to (a rich task, or nothing)."""

    def __call__(self, *, completed: float | None = None, total: float | None = None,
                 description: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class StepResult:
    """How a subprocess step ended."""

    exit_code: int | None
    duration_s: float
    timed_out: bool
    tail: tuple[str, ...]


LineHandler = Callable[[str, float], None]


def pytest_progress(sink: ProgressSink) -> LineHandler:
    """Advance ``sink`` per finished test, using pytest's ``collected N items`` as the total."""
    done = 0

    def handle(line: str, _elapsed: float) -> None:
        nonlocal done
        m = _COLLECTED.search(line)
        if m:
            sink(total=max(int(m.group(1) or m.group(2)), 1))
        elif _TEST_DONE.search(line) and "::" in line:
            done += 1
            sink(completed=done)

    return handle


def time_progress(sink: ProgressSink, expected_s: float) -> LineHandler:
    """Advance ``sink`` by elapsed time against ``expected_s`` (capped below 100 %)."""
    sink(total=max(expected_s, 1.0))

    def handle(_line: str, elapsed: float) -> None:
        sink(completed=min(elapsed, expected_s * 0.99))

    return handle


def _scrub(line: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            line = line.replace(secret, REDACTED)
    return line


def _pump(stream, lines: queue.Queue[str | None]) -> None:  # type: ignore[no-untyped-def]
    try:
        for raw in iter(stream.readline, b""):
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
    finally:
        lines.put(None)


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_step(
    argv: Sequence[str],
    *,
    log_path: Path,
    timeout_s: float,
    on_line: LineHandler,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    secrets: Sequence[str] = (),
    tail_lines: int = 15,
) -> StepResult:
    """Run ``argv`` to completion or until ``timeout_s``; log every line to ``log_path``.

    Args:
        argv: the command (``[python, -m, pytest, ...]``).
        log_path: file receiving the merged, secret-scrubbed output.
        timeout_s: deadline for the whole step; the process group is killed past it.
        on_line: called with each output line and the elapsed seconds (also with ``""`` about
            every 0.25 s so time-based progress moves while the child is quiet).
        env / cwd: child environment and working directory.
        secrets: values scrubbed from the log.

    Returns:
        Exit code (None when killed for the deadline), duration, and the last lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    lines: queue.Queue[str | None] = queue.Queue()
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        )
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        timed_out, eof = False, False
        try:
            while not eof:
                elapsed = time.monotonic() - start
                if elapsed > timeout_s:
                    timed_out = True
                    break
                try:
                    line = lines.get(timeout=0.25)
                except queue.Empty:
                    on_line("", elapsed)
                    continue
                if line is None:
                    eof = True
                    continue
                line = _scrub(line, secrets)
                log.write(line + "\n")
                tail = [*tail[-(tail_lines - 1):], line]
                on_line(line, elapsed)
        finally:
            if proc.poll() is None:
                try:
                    proc.wait(timeout=10 if eof else 0)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _stop(proc)
            reader.join(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        if timed_out:
            log.write(f"[jetstream-qa review] step killed after its {timeout_s:.0f} s deadline\n")
    return StepResult(
        exit_code=None if timed_out else proc.returncode,
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        tail=tuple(tail),
    )
