"""Who runs concurrently and on how many workers (:mod:`jetstream_qa.conformance_core.
concurrency`): the decision table, without pytest or xdist."""

from __future__ import annotations

import pytest

from jetstream_qa.conformance_core.concurrency import (
    MAX_AUTO_WORKERS,
    waits_first,
    worker_count,
)
from jetstream_qa.conformance_core.settings import resolve
from jetstream_qa.errors import ConfigurationError

GIVEN = {"sender": "127.0.0.1:8886"}


def _count(cli: dict[str, object], *, suite: bool = True, cpus: int | None = 2,
           env: dict[str, str] | None = None) -> int:
    return worker_count(resolve(cli, env or {}, {}), suite_default=suite, cpus=cpus)


def test_embedded_pair_of_a_suite_that_asks_is_concurrent_by_default() -> None:
    assert _count({}) == 4  # 2 per CPU on 2 CPUs
    assert _count({}, cpus=1) == 2
    assert _count({}, cpus=64) == MAX_AUTO_WORKERS
    assert _count({}, cpus=None) == 2


def test_serial_unless_the_suite_asks_or_for_a_given_target() -> None:
    assert _count({}, suite=False) == 0
    assert _count(GIVEN) == 0
    assert _count({**GIVEN, "workers": "3"}) == 3
    assert _count({}, suite=False, env={"JETSTREAM_WORKERS": "auto"}) == 4


def test_serial_and_listing_always_win() -> None:
    assert _count({"serial": True, "workers": "4"}) == 0
    assert _count({}, env={"JETSTREAM_SERIAL": "1"}) == 0
    assert _count({"list_cases": True}) == 0
    assert _count({"workers": "0"}) == 0


def test_bad_worker_count_names_value_and_source() -> None:
    with pytest.raises(ConfigurationError, match="invalid --js-workers 'many' from "
                                                 "JETSTREAM_WORKERS"):
        resolve({}, {"JETSTREAM_WORKERS": "many"}, {})


def test_run_wide_settings_are_refused_as_markers() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'workers'"):
        resolve({}, {}, {}).with_overrides({"workers": "2"}, source="marker")


def test_waiting_cases_go_first_longest_first_in_stable_order() -> None:
    items = ["a", "W1", "b", "W2", "L300", "c", "L10"]
    declared = {"W1": 0.0, "W2": 0.0, "L300": 300.0, "L10": 10.0}
    assert waits_first(items, declared.get) == ["L300", "L10", "W1", "W2", "a", "b", "c"]
