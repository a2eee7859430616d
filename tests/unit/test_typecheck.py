"""``mypy jetstream_qa`` stays clean (the configuration in ``pyproject.toml``: strict for
``wire/``), so a type error is caught by ``./qa test`` and not only by ``./qa lint``.

mypy runs in a subprocess with its cache in the repository's ``.mypy_cache`` (gitignored):
~6 s of CPU from a cold cache on the 2-core CI machine (18 s wall beside other test runs),
about 1 s warm. Skipped when mypy is not installed (it is a dev dependency).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MYPY_TIMEOUT_S = 300.0


def test_the_package_type_checks() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "jetstream_qa"], cwd=REPO,
                          capture_output=True, text=True, timeout=MYPY_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Success" in proc.stdout
