"""The judge's own generator of synthetic content (``docs/semantics.md``, synthetic content).

Written from the spec text, not from the server's code: byte ``i`` of every file sent without
READ is ``P[i % 65521]``, where ``P`` is SHA-256(``b"jetstream-qa synthetic %d" % k``) for
k = 0, 1, 2, ... concatenated and cut to 65521 bytes. OURS (rule ``names/synthetic/pattern``):
the vendor does not say what a sender without READ sends; against other servers only the size
and "not the source's bytes" are held to.
"""

from __future__ import annotations

import functools
import hashlib

from jetstream_qa.errors import UsageError

__all__ = ["PERIOD", "synthetic_bytes"]

PERIOD = 65521
"""The pattern's length (a prime, so it never lines up with 256-byte blocks)."""


@functools.cache
def _pattern() -> bytes:
    count = PERIOD // 32 + 1  # SHA-256 digests of 32 bytes each, enough to cover PERIOD
    chunks = [hashlib.sha256(b"jetstream-qa synthetic %d" % k).digest() for k in range(count)]
    return b"".join(chunks)[:PERIOD]


def synthetic_bytes(offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset + length)`` of a synthetic file.

    Raises:
        UsageError: a negative offset or length.
    """
    if offset < 0 or length < 0:
        raise UsageError(f"offset {offset} and length {length} must be >= 0")
    pattern = _pattern()
    start = offset % PERIOD
    repeats = (start + length) // PERIOD + 1
    return (pattern * repeats)[start:start + length]
