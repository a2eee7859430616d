"""Reading a coalesced run of DATA datagrams as columns, sans-IO (issue 13).

Theory of operation
-------------------
A GRO read (``udp_offload.py``) holds ``count`` wire datagrams of one flow back to back, all
``segment`` bytes long except perhaps the last. Handling each in Python costs microseconds
of interpreter work that the kernel has just saved us, so the receiver first reads the
fixed fields of every full-size datagram of the read in one C-level pass: a
``struct.Struct`` exactly ``segment`` bytes long (header, first-block prefix, then padding
over the rest) walked with ``iter_unpack`` gives one row per datagram, and the rows turned
into columns are checked with ``tuple.count`` -- every magic, version and type the expected
one, every session id the same. :func:`run_columns` returns the columns only when the whole
run is that plain case; anything else (a foreign or malformed datagram anywhere in it) and
the caller handles the read datagram by datagram, exactly as without batching.

:func:`contiguous` then cuts the (authenticated) datagrams into groups whose block runs
follow each other without a gap, each of which ``ReceiverEndpoint.receive_run`` writes and
records as one run. Nothing here decides what a datagram means; it only finds where the
per-datagram rules would give the same answer for a whole group at once.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from jetstream_qa.wire.data import DATA_PREFIX, HEADER, MAGIC, VERSION, DType

__all__ = ["DATA_HEAD", "RunColumns", "contiguous", "run_columns"]

DATA_HEAD: Final = HEADER.size + DATA_PREFIX.size
"""Header and first-block prefix of a DATA datagram (28 bytes; the prefix is associated
data, never encrypted: it is readable before authentication)."""
_DATA: Final = int(DType.DATA)
_ROWS: dict[int, struct.Struct] = {}

RunColumns = tuple[int, tuple[int, ...], tuple[int, ...]]
"""``(session id, sequence numbers, first blocks)`` of the full-size datagrams of a run."""


def _row(segment: int) -> struct.Struct:
    """The Struct that reads one ``segment``-byte DATA datagram's fixed fields."""
    row = _ROWS.get(segment)
    if row is None:
        fmt = HEADER.format + DATA_PREFIX.format.lstrip(">") + f"{segment - DATA_HEAD}x"
        row = _ROWS[segment] = struct.Struct(fmt)
    return row


def run_columns(buf: bytearray | memoryview, count: int, segment: int) -> RunColumns | None:
    """The columns of the ``count`` datagrams of ``segment`` bytes at the start of ``buf``
    when every one is a DATA datagram of our version and all name the same session; None
    otherwise (including ``count < 2`` or a segment too short to carry a DATA body)."""
    if count < 2 or segment <= DATA_HEAD:
        return None
    rows = _row(segment).iter_unpack(memoryview(buf)[:count * segment])
    magics, versions, types, sids, seqs, firsts = zip(*rows, strict=True)
    if magics.count(MAGIC) != count or versions.count(VERSION) != count \
            or types.count(_DATA) != count or sids.count(sids[0]) != count:
        return None
    return sids[0], seqs, firsts


def contiguous(firsts: Sequence[int], blocks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of ``firsts`` in which each datagram's first block
    follows the previous datagram's ``blocks`` blocks (one comparison when the whole run
    is contiguous, the common case)."""
    n = len(firsts)
    if not n:
        return []
    f0 = firsts[0]
    if list(firsts) == list(range(f0, f0 + n * blocks, blocks)):
        return [(0, n)]
    out, start = [], 0
    for i in range(1, n):
        if firsts[i] != firsts[i - 1] + blocks:
            out.append((start, i))
            start = i
    out.append((start, n))
    return out
