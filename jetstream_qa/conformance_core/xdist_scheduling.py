"""Our ``--dist loadgroup`` scheduler: xdist's scope scheduling with the work units of
:func:`~jetstream_qa.conformance_core.concurrency.plan_work` (groups from the workers' case
traits, longest declared wait first, long waits alone on their worker).

Imported only by the ``pytest_xdist_make_scheduler`` hook (:mod:`.pytest_scheduling`), so a
run without pytest-xdist never imports it. It builds on ``LoadScopeScheduling``'s bookkeeping
(``workqueue``, ``assigned_work``, ``registered_collections``, ``_assign_work_unit``,
``_reschedule``), as xdist's own ``LoadGroupScheduling`` does; ``pyproject.toml`` keeps
pytest-xdist below 4 for that, and ``tests/plugin/test_scheduling.py`` fails when the groups or
the lone waits stop being honoured.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from jetstream_qa.conformance_core.concurrency import (
    Traits,
    plan_work,
    scope_of,
    traits_file,
    traits_from_json,
)

__all__ = ["CaseGroupScheduling"]


class CaseGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """``--dist loadgroup`` that honours ``xdist_group`` under pytest 9.2 and runs long
    declared waits alone (see :mod:`.concurrency`)."""

    collection: list[str] | None  # LoadScopeScheduling's, typed for mypy (xdist is Any here)

    def __init__(self, config: pytest.Config, log: Any = None, *,
                 traits_dir: Path | None = None) -> None:
        super().__init__(config, log)
        self._traits_dir = traits_dir
        self._traits: dict[str, Traits] | None = None

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        """xdist's bookkeeping, then the node's traits: the worker wrote them before it sent
        its collection, so they are on disk by now."""
        super().add_node_collection(node, collection)
        if self._traits is None:
            self._traits = self._read_traits(str(node.workerinput["workerid"]))

    def _read_traits(self, worker_id: str) -> dict[str, Traits] | None:
        if self._traits_dir is None:
            return None
        path = traits_file(self._traits_dir, worker_id)
        try:
            return traits_from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # a remote worker: xdist's @group suffix only
            self.log(f"no case traits from {worker_id} ({exc}); groups from node ids only")
            return None

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid, self._traits or {})

    def schedule(self) -> None:
        """The initial distribution (later calls top up every node, as xdist's do)."""
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        plan = plan_work(self.collection, self._traits or {},
                         biggest_first=bool(getattr(self.config.option,
                                                    "loadscopereorder", True)))
        for scope, ids in plan.units:
            self.workqueue[scope] = dict.fromkeys(ids, False)
        for _ in range(len(self.nodes) - len(self.workqueue)):  # more workers than units
            unused, _work = self.assigned_work.popitem()
            unused.shutdown()
        self._first_units(plan.alone)
        for node in self.nodes:
            self._reschedule(node)  # a second unit each, so that each starts; not the lone
        if not self.workqueue:
            for node in self.nodes:
                node.shutdown()

    def _first_units(self, alone: frozenset[str]) -> None:
        """One unit per node; a lone unit's node gets its shutdown right behind it (it then
        starts the unit at once and takes nothing more), while another node remains."""
        nodes = self.nodes
        retired = 0
        for node in nodes:
            if not self.workqueue:
                return
            lone = next(iter(self.workqueue)) in alone and retired < len(nodes) - 1
            self._assign_work_unit(node)
            if lone:
                node.shutdown()
                retired += 1
