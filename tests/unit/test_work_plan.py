"""Work units of our ``--dist loadgroup`` scheduler (:func:`jetstream_qa.conformance_core.
concurrency.plan_work`): groups, dispatch order, lone waits, the traits the workers send and
each case's declared wait per profile; without pytest-xdist."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jetstream_qa.conformance_core.concurrency import (
    ALONE_WAIT_S,
    Traits,
    group_name,
    plan_work,
    scope_of,
    traits_from_json,
    traits_to_json,
)
from jetstream_qa.conformance_core.pytest_fixtures import SETTINGS
from jetstream_qa.conformance_core.pytest_scheduling import declared_wait
from jetstream_qa.conformance_core.settings import resolve

M = "conformance/test_flags_matrix.py::test_flag_matrix"


def test_group_name_joins_sorted_unique_names_as_xdist_does() -> None:
    assert group_name(["b", "a", "b"]) == "a_b"
    assert group_name([]) is None


def test_scope_is_the_group_then_xdists_suffix_then_the_node_id() -> None:
    traits = {f"{M}[x]": Traits(group="matrix")}
    assert scope_of(f"{M}[x]", traits) == "matrix"
    assert scope_of("t.py::test_a@grp", {}) == "grp"  # a worker that wrote xdist's suffix
    assert scope_of("t.py::test_a[a@b]", {}) == "t.py::test_a[a@b]"  # '@' inside the params
    assert scope_of("t.py::test_a", traits) == "t.py::test_a"


def test_plan_groups_units_longest_wait_first_then_biggest_then_collection_order() -> None:
    ids = ["a", f"{M}[1]", "w0", "b", f"{M}[2]", "expire", "w10", f"{M}[3]"]
    traits = {f"{M}[{n}]": Traits(group="matrix") for n in (1, 2, 3)}
    traits |= {"w0": Traits(wait=0.0), "w10": Traits(wait=10.0),
               "expire": Traits(wait=330.0)}
    plan = plan_work(ids, traits)
    assert plan.units == (("expire", ("expire",)), ("w10", ("w10",)), ("w0", ("w0",)),
                          ("matrix", (f"{M}[1]", f"{M}[2]", f"{M}[3]")), ("a", ("a",)),
                          ("b", ("b",)))
    assert plan.alone == frozenset({"expire"})
    in_order = plan_work(ids, traits, biggest_first=False)
    assert [scope for scope, _ids in in_order.units][3:] == ["a", "matrix", "b"]


def test_a_unit_waits_as_long_as_its_longest_case_and_short_waits_never_run_alone() -> None:
    traits = {"g1": Traits(group="g", wait=ALONE_WAIT_S), "g2": Traits(group="g"),
              "short": Traits(wait=ALONE_WAIT_S - 1)}
    plan = plan_work(["short", "g2", "g1"], traits)
    assert plan.units[0] == ("g", ("g2", "g1"))
    assert plan.alone == frozenset({"g"})


def test_traits_cross_as_json_with_only_the_cases_that_have_any() -> None:
    traits = {"a": Traits(group="g"), "b": Traits(wait=3.0), "c": Traits()}
    text = traits_to_json(traits)
    assert traits_from_json(text) == {"a": Traits(group="g"), "b": Traits(wait=3.0)}
    with pytest.raises(ValueError, match="expected an object"):
        traits_from_json("[]")


class _Item:
    """Just what ``declared_wait`` reads of a pytest item: its closest marker and the run's
    settings in ``config.stash``."""

    def __init__(self, mark: pytest.MarkDecorator | None, profile: str) -> None:
        self._mark = mark.mark if mark is not None else None
        self.nodeid = "t.py::test_case"
        self.config = SimpleNamespace(stash={SETTINGS: resolve({"profile": profile}, {}, {})})

    def get_closest_marker(self, name: str) -> object:
        return self._mark if name == "js_waits" else None


@pytest.mark.parametrize(("mark", "quick", "full"), [
    (pytest.mark.js_waits(3, full=330), 3.0, 330.0),
    (pytest.mark.js_waits(10), 10.0, 10.0),
    (pytest.mark.js_waits, 0.0, 0.0),
    (None, None, None),
])
def test_declared_wait_follows_the_profile(mark: pytest.MarkDecorator | None,
                                           quick: float | None, full: float | None) -> None:
    assert declared_wait(_Item(mark, "quick")) == quick  # type: ignore[arg-type]
    assert declared_wait(_Item(mark, "full")) == full  # type: ignore[arg-type]


def test_a_wait_that_is_not_seconds_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="js_waits takes seconds, got 'long'"):
        declared_wait(_Item(pytest.mark.js_waits("long"), "quick"))  # type: ignore[arg-type]
