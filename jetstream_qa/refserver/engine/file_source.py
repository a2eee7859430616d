"""The sender's source of bytes: the transfer byte space read from the manifest's files.

:class:`FileSource` reads the byte space (the files concatenated in manifest order) with
``os.preadv`` straight into the datagram buffer (flag READ), or fills it with
:func:`~jetstream_qa.refserver.engine.synthetic.synthetic_bytes` (no READ: "the sender skips
reading from disk", constants page) -- lending a view of a cached tile of the periodic pattern
when it can, so the sender copies nothing (``data_pump.py``). A source file that vanished,
shrank or now leads outside the owner's source area is a :class:`SourceError`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

from jetstream_qa.errors import TransportError
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.synthetic import PERIOD, synthetic_bytes
from jetstream_qa.refserver.sandbox import SourceArea

__all__ = ["SYNTHETIC_PERIOD", "FileSource", "SourceError"]

SYNTHETIC_PERIOD = PERIOD
"""synthetic_bytes repeats with this period (verified before it is relied on)."""


def _synthetic_periodic() -> bool:
    probe = synthetic_bytes(SYNTHETIC_PERIOD - 7, 64)
    return probe[7:] == synthetic_bytes(0, 57) and probe[:7] == synthetic_bytes(
        2 * SYNTHETIC_PERIOD - 7, 7)


class SourceError(TransportError):
    """A source file vanished, shrank or could not be read while sending."""

    code = "SourceError"


class FileSource:
    """The sender's view of the byte space (``read=False``: synthetic content).

    ``area`` (``refserver/sandbox.py``): where the manifest's owner may read. Each source is
    checked when it is opened, by the path the kernel reports for the open descriptor
    (``/proc/self/fd``, Linux), so a file swapped for a link after the manifest was built
    cannot make the sender read outside it.
    """

    def __init__(self, files: Sequence[tuple[str | None, int]], *, read: bool,
                 max_open: int = 32, area: SourceArea | None = None) -> None:
        self._area = area
        self._paths = [p for p, _ in files]
        self.layout = Layout([size for _, size in files])
        self._read = read
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._max_open = max_open
        self._tile: memoryview | None = None

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with bytes ``[offset, offset+len(view))`` of the byte space.

        Raises:
            SourceError: a source file cannot be opened or is shorter than the manifest says.
        """
        for i, in_file, pos, n in self.layout.spans(offset, len(view)):
            part = view[pos:pos + n]
            if not self._read:
                self._synthetic(part, in_file)
                continue
            fd = self._fd(i)
            got = 0
            while got < n:
                k = os.preadv(fd, [part[got:]], in_file + got)
                if k <= 0:
                    raise SourceError(f"source file {self._paths[i]!r} is shorter than its "
                                      f"manifest size", details={"path": self._paths[i]})
                got += k

    def view(self, offset: int, length: int) -> memoryview | None:
        """A zero-copy view of ``[offset, offset+length)`` when the bytes are synthetic and
        lie in one file; None otherwise (then :meth:`read_into` must be used)."""
        if self._read:
            return None
        in_file = self.layout.within(offset, length)
        if in_file is None:
            return None
        tile = self._tile
        if tile is None:
            if not _synthetic_periodic():
                return None
            tile = self._tile = memoryview(synthetic_bytes(0, SYNTHETIC_PERIOD + (1 << 17)))
        if length > len(tile) - SYNTHETIC_PERIOD:
            return None
        start = in_file % SYNTHETIC_PERIOD
        return tile[start:start + length]

    def _synthetic(self, part: memoryview, in_file: int) -> None:
        """Synthetic content (no READ), copied once from a cached tile of the pattern when
        it is periodic with period ``SYNTHETIC_PERIOD`` (checked), else computed."""
        n = len(part)
        tile = self._tile
        if tile is None and _synthetic_periodic():
            tile = self._tile = memoryview(synthetic_bytes(0, SYNTHETIC_PERIOD + (1 << 17)))
        if tile is not None and n <= len(tile) - SYNTHETIC_PERIOD:
            start = in_file % SYNTHETIC_PERIOD
            part[:] = tile[start:start + n]
        else:
            part[:] = synthetic_bytes(in_file, n)

    def _fd(self, i: int) -> int:
        fd = self._fds.get(i)
        if fd is not None:
            self._fds.move_to_end(i)
            return fd
        while len(self._fds) >= self._max_open:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        path = self._paths[i]
        try:
            fd = os.open(path or "", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(f"cannot read source file {path!r}: {exc.strerror}",
                              details={"path": path}) from None
        area = self._area
        if area is not None and not _opened_inside(fd, area):
            os.close(fd)
            shown = area.virtual(path or "")
            raise SourceError(f"source file {shown!r} now leads outside the allowed source "
                              "area; not read", details={"path": shown})
        self._fds[i] = fd
        return fd

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])


def _opened_inside(fd: int, area: SourceArea) -> bool:
    """True when the file open as ``fd`` lies inside ``area``, judged by the path the kernel
    reports for it; True where there is no ``/proc`` (the manifest check stands alone)."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True
    return area.contains(real)
