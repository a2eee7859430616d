"""Helpers of the review-report tests (fixture inputs live in ``data/``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


def load_fixture(name: str) -> dict[str, Any]:
    """A committed fixture document from ``tests/report/data``."""
    return json.loads((DATA / name).read_text("utf-8"))


def write_json(path: Path, doc: Any) -> Path:
    """Write ``doc`` to ``path`` and return the path."""
    path.write_text(json.dumps(doc), "utf-8")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m jetstream_qa review ARGS`` through the real entry point."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "jetstream_qa", "review", "--no-progress", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd or ROOT,
        check=False,
    )
