"""Meta-tests' bookkeeping: one record per fault, the run's plan, and the mutation table.

Each test of ``test_mutation.py`` stores a JSON record in ``reports/meta/`` tagged with the
run's id (pytest-xdist's ``testrunuid``, shared by all workers of one run, or a fresh id
without xdist); at collection each process stores the run's plan (which faults and whether
the clean pair were selected). The table is built once per run from the records, by
``tests/mutation_report.finalize``: here when the run has no xdist workers, in
``tests/conftest.py`` on the xdist controller otherwise. It counts every registered fault,
lists those without a record as "not run" (which fails the run), and is written only when
the run selected every fault and the clean pair.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mutation_report import (
    RECORDS,
    Outcome,
    finalize,
    load_records,
    settle,
    write_outcome,
    write_plan,
)

from jetstream_qa.refserver.faults import FAULTS

__all__ = ["load_records"]

_RUN_ID = pytest.StashKey[str]()
_OUTCOME = pytest.StashKey[Outcome]()
_FAULT_TEST = "test_fault_is_caught"
_CLEAN_TEST = "test_clean_pair_passes_every_catching_case"


def _run_id(config: pytest.Config) -> str:
    if _RUN_ID not in config.stash:
        worker = getattr(config, "workerinput", None)
        config.stash[_RUN_ID] = worker["testrunuid"] if worker else uuid.uuid4().hex
    return config.stash[_RUN_ID]


def _alone(config: pytest.Config) -> bool:
    """True without xdist (no worker, no controller): this process builds the table."""
    return not hasattr(config, "workerinput") and not config.pluginmanager.has_plugin(
        "dsession")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After deselection (-k, -m): store which faults and whether the clean pair run."""
    faults, clean = [], False
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name == _FAULT_TEST:
            faults.append(item.callspec.params["fault"])  # type: ignore[attr-defined]
        clean = clean or name == _CLEAN_TEST
    if faults or clean:
        write_plan(_run_id(config), faults=faults, clean=clean,
                   registered={name: fault.area for name, fault in FAULTS.items()})


@pytest.fixture
def meta_record(pytestconfig: pytest.Config) -> Callable[[str, dict[str, Any]], Path]:
    """``meta_record(name, data)`` stores one record of this run; returns its path."""

    def store(name: str, data: dict[str, Any]) -> Path:
        RECORDS.mkdir(parents=True, exist_ok=True)
        path = RECORDS / f"{name}.json"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**data, "run": _run_id(pytestconfig)}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
        return path

    return store


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not _alone(config) or _RUN_ID not in config.stash:
        return
    settle(session, _OUTCOME, finalize(run_id=_run_id(config)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    write_outcome(terminalreporter, config.stash.get(_OUTCOME, None))
