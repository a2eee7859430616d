"""The plugin's pytest-xdist hooks: whether a run is concurrent, each case's declared wait, and
the ``--dist loadgroup`` scheduler that honours ``xdist_group`` (see :mod:`.concurrency`).

Registered by :mod:`jetstream_qa.pytest_plugin`; the xdist hooks are optional, so a run
without pytest-xdist (``-p no:xdist``) never calls them. The channel from workers to the
controller's scheduler is a directory the controller creates (``config.stash``), names in
each worker's ``workerinput`` and removes at the end: every worker writes its cases' traits
there before it reports its collection. Node ids are never changed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.conformance_core.concurrency import (
    Traits,
    group_name,
    traits_file,
    traits_to_json,
    worker_count,
)
from jetstream_qa.conformance_core.pytest_fixtures import SETTINGS
from jetstream_qa.conformance_core.settings import Settings

__all__ = ["case_traits", "concurrent", "declared_wait", "distribute", "is_worker"]

_TRAITS_DIR = pytest.StashKey[Path]()
_WORKERINPUT_KEY = "js_traits_dir"


def is_worker(config: pytest.Config) -> bool:
    """This process is a pytest-xdist worker."""
    return hasattr(config, "workerinput")


def concurrent(config: pytest.Config) -> bool:
    """The run is distributed (this is a worker, or the controller of one)."""
    return is_worker(config) or getattr(config.option, "dist", "no") != "no"


def distribute(config: pytest.Config, settings: Settings) -> None:
    """Start xdist workers, ``--dist loadgroup``, when the run should be concurrent.

    Runs before xdist's own ``pytest_configure`` (which creates the distributed session).
    Leaves alone: a worker, ``-p no:xdist``, an explicit ``-n``/``--dist``/``--tx``,
    ``--collect-only`` and ``--pdb``.
    """
    option = config.option
    if is_worker(config) or not hasattr(option, "dist") or option.dist != "no" \
            or option.tx or option.numprocesses is not None \
            or config.getoption("collectonly") or config.getoption("usepdb", False):
        return
    suite_default = bool(config.hook.pytest_js_concurrent_default(config=config))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = worker_count(settings, suite_default=suite_default, cpus=cpus)
    if workers:
        option.numprocesses, option.dist, option.tx = workers, "loadgroup", ["popen"] * workers


def declared_wait(item: pytest.Item) -> float | None:
    """The case's ``js_waits`` in seconds for the run's profile (``js_waits(3, full=330)``:
    3 s, 330 s under ``--js-profile full``; a bare ``js_waits``: 0), ``None`` without it."""
    marker = item.get_closest_marker("js_waits")
    if marker is None:
        return None
    value = marker.args[0] if marker.args else marker.kwargs.get("seconds", 0)
    if "full" in marker.kwargs and item.config.stash[SETTINGS].profile == "full":
        value = marker.kwargs["full"]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{item.nodeid}: js_waits takes seconds, got "
                                f"{value!r}") from None


def case_traits(item: pytest.Item) -> Traits:
    """The case's group (its ``xdist_group`` names, joined as xdist joins them) and wait."""
    names = (m.args[0] if m.args else m.kwargs.get("name", "default")
             for m in item.iter_markers("xdist_group"))
    return Traits(group=group_name(names), wait=declared_wait(item))


def _traits_dir(config: pytest.Config) -> Path:
    if _TRAITS_DIR not in config.stash:
        config.stash[_TRAITS_DIR] = Path(tempfile.mkdtemp(prefix="jsqa-xdist-"))
    return config.stash[_TRAITS_DIR]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Name the traits directory in each worker's input (controller side, loadgroup only)."""
    if node.config.getvalue("dist") == "loadgroup":
        node.workerinput[_WORKERINPUT_KEY] = str(_traits_dir(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Our scheduler for ``--dist loadgroup``; xdist's for every other mode."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from jetstream_qa.conformance_core.xdist_scheduling import CaseGroupScheduling
    return CaseGroupScheduling(config, log, traits_dir=config.stash.get(_TRAITS_DIR, None))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Worker side: leave the cases' traits for the scheduler before xdist's own hook sends
    the collection (tryfirst), written whole before it is renamed into place."""
    config = session.config
    directory = getattr(config, "workerinput", {}).get(_WORKERINPUT_KEY)
    if not directory:
        return
    text = traits_to_json({item.nodeid: case_traits(item) for item in session.items})
    worker_id = str(config.workerinput["workerid"])  # type: ignore[attr-defined]
    path = traits_file(Path(directory), worker_id)
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Controller side: remove the traits directory."""
    directory = config.stash.get(_TRAITS_DIR, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
