"""What the reference sender puts on the wire for a file when it does not read the disk.

Constants page (2.9.2), TRANSFER_FLAG_WRITE: "the sender skips reading from disk, the
destination writes". The vendor does not say what such a sender sends; ours (OURS,
``docs/semantics.md``, "synthetic content") is: byte ``i`` of every file is
``P[i % 65521]``, where ``P`` is SHA-256(``b"jetstream-qa synthetic %d" % k``) for
k = 0, 1, ... concatenated and cut to 65521 bytes. Any sub-range agrees with the whole, so a
block written at the wrong offset is visible. The period is a prime, coprime to the 256-byte
block, so no two blocks of a file repeat until 65521 blocks.
"""

from __future__ import annotations

import hashlib

from jetstream_qa.errors import UsageError

__all__ = ["PERIOD", "synthetic_bytes", "synthetic_view"]

PERIOD = 65521
"""The pattern repeats every PERIOD bytes."""
_TILE_BYTES = 4 << 20
"""One precomputed run of the pattern: any range up to this length is a slice of it."""


def _pattern() -> bytes:
    digests = (hashlib.sha256(b"jetstream-qa synthetic %d" % k).digest()
               for k in range(PERIOD // 32 + 1))
    return b"".join(digests)[:PERIOD]


_PATTERN = _pattern()
_TILE = _PATTERN * (_TILE_BYTES // PERIOD + 2)
_TILE_VIEW = memoryview(_TILE)


def _tile_start(offset: int, length: int) -> int | None:
    """Where bytes ``[offset, offset+length)`` start in the precomputed tile; None when the
    range runs past it. Raises UsageError for a negative offset or length."""
    if offset < 0 or length < 0:
        raise UsageError(f"offset {offset} and length {length} must be >= 0")
    start = offset % PERIOD
    return start if start + length <= len(_TILE) else None


def synthetic_bytes(offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)`` of a file sent without READ.

    Raises:
        UsageError: a negative offset or length.
    """
    start = _tile_start(offset, length)
    if start is not None:
        return _TILE[start:start + length]
    head = _PATTERN[offset % PERIOD:]
    whole, rest = divmod(length - len(head), PERIOD)
    return b"".join((head, _PATTERN * whole, _PATTERN[:rest]))


def synthetic_view(offset: int, length: int) -> memoryview:
    """:func:`synthetic_bytes` as a read-only view, without a copy for ranges up to 4 MiB.

    Raises:
        UsageError: a negative offset or length.
    """
    start = _tile_start(offset, length)
    if start is None:
        return memoryview(synthetic_bytes(offset, length))
    return _TILE_VIEW[start:start + length]
