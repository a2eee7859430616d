"""RangeSet (docs/protocol.md 5.5): interval merging agrees with a plain set model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jetstream_qa.wire.ranges import RangeSet

runs = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(runs)
def test_rangeset_matches_set_model(items: list[tuple[int, int]]) -> None:
    rs, model = RangeSet(), set()
    for start, length in items:
        added = rs.add(start, start + length)
        new = set(range(start, start + length)) - model
        assert added == len(new)
        model |= new
    assert rs.total == len(model)
    flat = {i for a, b in rs.ranges() for i in range(a, b)}
    assert flat == model
    ranges = rs.ranges()
    assert all(a < b for a, b in ranges)
    assert all(ranges[k][1] < ranges[k + 1][0] for k in range(len(ranges) - 1))  # merged
    for probe in range(0, 345, 7):
        assert (probe in rs) == (probe in model)
        missing = {i for a, b in rs.missing(probe, probe + 20) for i in range(a, b)}
        assert missing == set(range(probe, probe + 20)) - model
        nxt = rs.next_missing(probe)
        assert nxt not in model and all(i in model for i in range(probe, nxt))
    cum = rs.cumulative
    assert all(i in model for i in range(cum)) and cum not in model


def test_in_order_runs_stay_one_interval_for_a_gibibyte() -> None:
    rs = RangeSet()
    per = 253
    total = (1 << 30) // 256
    for first in range(0, total, per):
        rs.add(first, min(total, first + per))
    assert len(rs) == 1 and rs.total == total and rs.cumulative == total


def test_ranges_above_keeps_lowest_and_highest_when_limited() -> None:
    rs = RangeSet((i * 10, i * 10 + 5) for i in range(1, 101))
    got = rs.ranges_above(0, limit=10)
    assert len(got) == 10
    assert got[:5] == [(10, 15), (20, 25), (30, 35), (40, 45), (50, 55)]
    assert got[-1] == (1000, 1005)
