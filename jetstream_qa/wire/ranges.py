"""Sets of block indices as sorted intervals, sans-IO: what a receiver holds, what a sender
knows is acknowledged (``docs/protocol.md`` 5.5: ACKs carry a cumulative index plus ranges).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

__all__ = ["RangeSet"]


class RangeSet:
    """A set of block indices stored as sorted, disjoint, non-adjacent ``[start, end)``
    intervals (two parallel lists searched with ``bisect``): adding a run costs O(log n)
    plus the merge, so 4M blocks received in order stay one interval."""

    __slots__ = ("_ends", "_starts", "total")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.total = 0
        """Number of indices held."""
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> int:
        """Add ``[start, end)``; return how many indices were new."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        if starts and ends[-1] == start:  # fast path: in-order arrival
            ends[-1] = end
            self.total += end - start
            return end - start
        i = bisect_left(ends, start)
        j = bisect_right(starts, end)
        if i == j:
            starts.insert(i, start)
            ends.insert(i, end)
            self.total += end - start
            return end - start
        covered = 0
        for k in range(i, j):
            covered += ends[k] - starts[k]
        new_start = min(start, starts[i])
        new_end = max(end, ends[j - 1])
        starts[i:j] = [new_start]
        ends[i:j] = [new_end]
        added = (new_end - new_start) - covered
        self.total += added
        return added

    def contains(self, start: int, end: int) -> bool:
        """True when every index of ``[start, end)`` is held (True for an empty run)."""
        if end <= start:
            return True
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.contains(index, index + 1)

    def next_missing(self, index: int) -> int:
        """The smallest index >= ``index`` that is not held."""
        i = bisect_right(self._starts, index) - 1
        if i >= 0 and self._ends[i] > index:
            return self._ends[i]
        return index

    def next_held(self, index: int) -> int | None:
        """The start of the first held run at or after ``index``, or None."""
        i = bisect_right(self._starts, index) - 1
        if i >= 0 and self._ends[i] > index:
            return index
        i += 1
        return self._starts[i] if i < len(self._starts) else None

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The runs of ``[start, end)`` that are not held, ascending."""
        out: list[tuple[int, int]] = []
        pos = start
        while pos < end:
            pos = self.next_missing(pos)
            if pos >= end:
                break
            nxt = self.next_held(pos)
            stop = end if nxt is None or nxt > end else nxt
            out.append((pos, stop))
            pos = stop
        return out

    @property
    def cumulative(self) -> int:
        """Every index below this is held."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def ranges_above(self, index: int, *, limit: int) -> list[tuple[int, int]]:
        """At most ``limit`` intervals lying wholly above ``index``: the lowest half and
        the highest half when there are more (the newest data is usually highest)."""
        i = bisect_right(self._starts, index)
        n = len(self._starts) - i
        if n <= limit:
            idx: Iterable[int] = range(i, len(self._starts))
        else:
            low = limit - limit // 2
            idx = [*range(i, i + low), *range(len(self._starts) - limit // 2,
                                              len(self._starts))]
        return [(self._starts[k], self._ends[k]) for k in idx]

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.ranges())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and self.ranges() == other.ranges()

    def __repr__(self) -> str:
        return f"RangeSet({self.ranges()!r})"
