"""Field primitives of the data-plane bodies, sans-IO: integers, strings and range lists.

``docs/protocol.md`` 5.2 "Body layouts": integers are big-endian; ``str8``/``str16`` are a
u8/u16 byte length then that many UTF-8 bytes; a *range* is ``start u64, end u64`` (blocks
``[start, end)``); a range list is ``count u16`` then ``count`` ranges, ascending, disjoint,
non-empty, all ``>=`` the preceding cumulative value. :class:`Reader` is the one cursor every
body decoder reads with: any overrun, bad string or out-of-order range is a
:class:`~jetstream_qa.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from typing import Final

from jetstream_qa.errors import ProtocolError

__all__ = [
    "MAX_U64",
    "META_LIMIT",
    "NO_RATE_CAP",
    "RANGE",
    "U8",
    "U16",
    "U32",
    "U64",
    "Reader",
    "check_ranges",
    "ranges_bytes",
    "require",
    "text_bytes",
    "utf8",
]

MAX_U64: Final = 2**64 - 1
META_LIMIT: Final = 64 << 20
"""Largest compressed META (and per-file results) a receiver accepts (5.2: 1..64 MiB)."""
NO_RATE_CAP: Final = 0
"""``rateCap`` value meaning "this receiver sets no cap" (ACK / OPEN_ACK, protocol.md 5.6)."""
U8, U16, U32, U64 = (struct.Struct(f">{c}") for c in "BHIQ")
RANGE: Final = struct.Struct(">QQ")
"""One held range on the wire: ``start u64, end u64`` (16 bytes)."""

Ranges = tuple[tuple[int, int], ...]


def require(cond: bool, what: str) -> None:
    """Raise :class:`ProtocolError` ``what`` unless ``cond``."""
    if not cond:
        raise ProtocolError(what)


def utf8(raw: bytes) -> str:
    """``raw`` as text. Raises ProtocolError when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("message is not UTF-8") from None


def text_bytes(value: str, size_fmt: struct.Struct) -> bytes:
    """``value`` as a length-prefixed string (``str8`` with :data:`U8`, ``str16`` with
    :data:`U16`)."""
    raw = value.encode("utf-8")
    return size_fmt.pack(len(raw)) + raw


def ranges_bytes(ranges: Ranges) -> bytes:
    """A range list: ``count u16`` then the ranges."""
    return U16.pack(len(ranges)) + b"".join(RANGE.pack(a, b) for a, b in ranges)


def check_ranges(ranges: Ranges, above: int) -> None:
    """Require a valid range list above ``above`` (a message field, before encoding)."""
    prev = above
    require(len(ranges) <= 0xFFFF, "too many ranges")
    for a, b in ranges:
        require(prev <= a < b <= MAX_U64, "ranges must be ascending, disjoint, non-empty")
        prev = b


class Reader:
    """Bounds-checked cursor over a body; every overrun is a ProtocolError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def take(self, n: int) -> bytes:
        require(0 <= n <= len(self._data) - self._pos, "body truncated")
        out = bytes(self._data[self._pos:self._pos + n])
        self._pos += n
        return out

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        raw = self.take(fmt.size)
        return fmt.unpack(raw)

    def text(self, size_fmt: struct.Struct, limit: int) -> str:
        """A length-prefixed UTF-8 string of at most ``limit`` bytes."""
        (n,) = self.unpack(size_fmt)
        require(n <= limit, f"string of {n} bytes exceeds {limit}")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None

    def ranges(self, *, above: int) -> Ranges:
        """A range list whose ranges all lie at or above ``above``."""
        (count,) = self.unpack(U16)
        out: list[tuple[int, int]] = []
        prev = above
        for _ in range(count):
            a, b = self.unpack(RANGE)
            require(prev <= a < b, "ranges must be ascending, disjoint and non-empty")
            out.append((a, b))
            prev = b
        return tuple(out)

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._pos)

    def end(self) -> None:
        require(self._pos == len(self._data), "trailing bytes after body")
