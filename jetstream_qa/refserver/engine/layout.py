"""The transfer byte space: files of a manifest concatenated in order (sans-IO).

``docs/protocol.md`` 5.1: file ``i`` occupies ``[start_i, start_i + size_i)``; empty files and
empty directories occupy nothing. :meth:`Layout.spans` cuts a run of the byte space into
per-file pieces, which is how a DATA datagram that straddles files is read and written.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence

__all__ = ["Layout"]


class Layout:
    """Offsets of each file in the transfer byte space."""

    __slots__ = ("_index", "_starts", "sizes", "total")

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = list(sizes)
        starts, index, pos = [], [], 0
        for i, size in enumerate(self.sizes):
            if size < 0:
                raise ValueError(f"file {i} has negative size {size}")
            if size:
                starts.append(pos)
                index.append(i)
                pos += size
        self._starts, self._index = starts, index
        self.total = pos

    def spans(self, offset: int, length: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(file index, offset in file, offset in run, byte count)`` covering
        ``[offset, offset+length)``.

        Raises:
            ValueError: the run leaves the byte space.
        """
        if offset < 0 or length < 0 or offset + length > self.total:
            raise ValueError(f"run [{offset}, +{length}) outside 0..{self.total}")
        starts, index, sizes = self._starts, self._index, self.sizes
        k = bisect_right(starts, offset) - 1
        done = 0
        while done < length:
            i = index[k]
            in_file = offset + done - starts[k]
            n = min(sizes[i] - in_file, length - done)
            yield i, in_file, done, n
            done += n
            k += 1

    def within(self, offset: int, length: int) -> int | None:
        """The offset in its file of a run ``[offset, offset+length)`` lying wholly inside
        one file, or None (it straddles files or leaves the byte space). The fast path of
        :meth:`spans` for the common case (one lookup, no generator)."""
        starts = self._starts
        k = bisect_right(starts, offset) - 1
        if k < 0 or offset + length > self.total:
            return None
        in_file = offset - starts[k]
        if in_file + length > self.sizes[self._index[k]]:
            return None
        return in_file

    def file_range(self, i: int) -> tuple[int, int]:
        """``[start, end)`` of file ``i`` in the byte space."""
        pos = 0
        for k, size in enumerate(self.sizes):
            if k == i:
                return pos, pos + size
            pos += size
        raise IndexError(i)

    def ranges(self) -> list[tuple[int, int]]:
        """``[start, end)`` of every file, in order."""
        out, pos = [], 0
        for size in self.sizes:
            out.append((pos, pos + size))
            pos += size
        return out
