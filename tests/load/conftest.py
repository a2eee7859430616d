"""Fixtures of the Locust tests (helpers live in load_helpers.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from load_helpers import locust_cmd, locust_env, run_bounded


@pytest.fixture
def run_locust(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``locust -f load/locustfile.py ARGS`` in ``tmp_path`` with a hard timeout (the
    whole process group, embedded servers included, is killed if it runs over)."""

    def run(args: Sequence[str], *, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        proc = run_bounded(locust_cmd(*args), cwd=tmp_path, env=locust_env(), timeout=timeout)
        (tmp_path / "locust.stderr").write_text(proc.stderr, encoding="utf-8")  # post-mortems
        return proc

    return run
