"""Meta-tests' bookkeeping: one record per fault, and the mutation table at the end.

Each test of ``test_mutation.py`` stores a JSON record in ``reports/meta/`` tagged with the
run's id (pytest-xdist's ``testrunuid``, shared by all workers of one run, or a fresh id
without xdist). At session end every process that ran meta-tests rebuilds
``reports/mutation.md`` from the records of this run (written atomically, so the last worker
to finish leaves the complete table); without xdist the table is also printed in the
terminal summary.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from meta_harness import REPO, mutation_table

RECORDS = REPO / "reports" / "meta"
TABLE = REPO / "reports" / "mutation.md"
_RUN_ID = pytest.StashKey[str]()
_USED = pytest.StashKey[bool]()


def _run_id(config: pytest.Config) -> str:
    if _RUN_ID not in config.stash:
        worker = getattr(config, "workerinput", None)
        config.stash[_RUN_ID] = worker["testrunuid"] if worker else uuid.uuid4().hex
    return config.stash[_RUN_ID]


@pytest.fixture
def meta_record(pytestconfig: pytest.Config) -> Callable[[str, dict[str, Any]], Path]:
    """``meta_record(name, data)`` stores one record of this run; returns its path."""

    def store(name: str, data: dict[str, Any]) -> Path:
        pytestconfig.stash[_USED] = True
        RECORDS.mkdir(parents=True, exist_ok=True)
        path = RECORDS / f"{name}.json"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**data, "run": _run_id(pytestconfig)}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
        return path

    return store


def load_records(run_id: str) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """(fault records, clean-pair verdicts or None) stored by the run ``run_id``."""
    faults: list[dict[str, Any]] = []
    clean = None
    for path in sorted(RECORDS.glob("*.json")) if RECORDS.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("run") != run_id:
            continue
        if data.get("kind") == "clean":
            clean = data["observed"]
        elif data.get("kind") == "fault":
            faults.append(data)
    return faults, clean


def _write_table(config: pytest.Config) -> str | None:
    faults, clean = load_records(_run_id(config))
    if not faults:
        return None
    text = mutation_table(faults, clean=clean)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    tmp = TABLE.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, TABLE)
    return text


def pytest_sessionfinish(session: pytest.Session) -> None:
    if session.config.stash.get(_USED, False):
        _write_table(session.config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.stash.get(_USED, False) or not TABLE.exists():
        return
    terminalreporter.write_sep("=", f"mutation table ({TABLE.relative_to(REPO)})")
    terminalreporter.write_line(TABLE.read_text(encoding="utf-8"))
