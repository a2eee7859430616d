"""Linux UDP segmentation offload (GSO) and receive coalescing (GRO) for the engine's sockets.

Theory of operation
-------------------
A wire datagram of ``docs/protocol.md`` section 5 is small (1,400 bytes by default, what a
real network carries), so one system call per datagram bounds a Python sender and
receiver. High-speed QUIC stacks batch the calls instead, and so do we:

- **Send** (``UDP_SEGMENT``, Linux >= 4.18): :class:`BatchSender` writes n complete datagrams
  back to back and hands them to one ``sendmsg`` with a ``UDP_SEGMENT`` control message
  naming the segment size; the kernel cuts them into n datagrams. Every datagram in a batch
  has the segment size except the last, which may be shorter (the kernel's rule), and every
  datagram was built, sequenced and sealed on its own, so losing one costs one datagram. A
  sender that builds a whole batch at once (``DataPump.fill_run``) hands it over with
  :meth:`BatchSender.add_run`.
- **Receive** (``UDP_GRO``, Linux >= 5.0): with the option on, one read may return several
  datagrams of one flow back to back, with the segment size in a ``UDP_GRO`` control message;
  :func:`split` cuts the buffer at that size and each piece is handled (authenticated,
  counted, dropped if bad) as the datagram it was on the wire (the receiver's core takes the
  whole read, ``ReceiverEndpoint.receive_run``, with the same outcome). Without the control message
  the read is one datagram.

Both are probed once per socket (``setsockopt``); where the kernel lacks them, or a send with
``UDP_SEGMENT`` fails (``EIO``: the route's device cannot checksum segments), the socket goes
on with one datagram per system call. ``serve --udp-offload off`` forces that fallback.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator, Sequence
from typing import Final

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_SEGMENTS",
    "BatchSender",
    "enable_gro",
    "gro_segment",
    "probe_gso",
    "recv_batch",
    "split",
]

SOL_UDP: Final = getattr(socket, "SOL_UDP", 17)
UDP_SEGMENT: Final = getattr(socket, "UDP_SEGMENT", 103)
UDP_GRO: Final = getattr(socket, "UDP_GRO", 104)
MAX_SEGMENTS: Final = 64
"""``UDP_MAX_SEGMENTS`` of the kernel (include/linux/udp.h): datagrams per GSO send."""
MAX_BATCH_BYTES: Final = 65000
"""Bytes per GSO send: the batch is one UDP payload before segmentation (<= 65,507)."""
_GSO_SIZE: Final = struct.Struct("=H")
"""The ``UDP_SEGMENT`` control message carries a ``__u16`` (net/ipv4/udp.c, udp_cmsg_send)."""
_GRO_SIZE: Final = struct.Struct("=i")
"""The ``UDP_GRO`` control message carries an ``int`` (udp_cmsg_recv)."""
GRO_ANCILLARY: Final = socket.CMSG_SPACE(_GRO_SIZE.size)


def probe_gso(sock: socket.socket) -> bool:
    """Whether the kernel accepts ``UDP_SEGMENT`` on ``sock`` (value 0: no default size;
    the size is given per send)."""
    try:
        sock.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
    except OSError:
        return False
    return True


def enable_gro(sock: socket.socket) -> bool:
    """Switch on receive coalescing on ``sock``; False where the kernel lacks it."""
    try:
        sock.setsockopt(SOL_UDP, UDP_GRO, 1)
    except OSError:
        return False
    return True


def gro_segment(ancdata: list[tuple[int, int, bytes]], length: int) -> int:
    """The segment size of a read of ``length`` bytes: from its ``UDP_GRO`` control message,
    else ``length`` (one datagram)."""
    for level, kind, data in ancdata:
        if level == SOL_UDP and kind == UDP_GRO and len(data) >= _GRO_SIZE.size:
            (size,) = _GRO_SIZE.unpack_from(data)
            if size > 0:
                return int(size)
    return length


def split(length: int, segment: int, start: int = 0) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` of each datagram in a read of ``length`` bytes coalesced at
    ``segment`` bytes (the last may be shorter), from offset ``start`` on."""
    step = segment if segment > 0 else length
    for off in range(start, length, step):
        yield off, min(step, length - off)


def recv_batch(sock: socket.socket, buf: bytearray,
               flags: int = 0) -> tuple[int, int, tuple[str, int]]:
    """One read on a GRO socket: ``(bytes, segment size, sender address)``."""
    n, anc, _, addr = sock.recvmsg_into([buf], GRO_ANCILLARY, flags)
    return n, gro_segment(anc, n), addr


class BatchSender:
    """Collects complete datagrams and sends them with as few system calls as GSO allows.

    :meth:`add` takes one datagram as one or two buffers (header part and a lent payload);
    datagrams are sent when the batch is full, when one is shorter than the segment size
    (it ends the batch), before one longer than it, and on :meth:`flush`. The buffers must
    stay unchanged until then (the caller fills a region of its own buffer per datagram and
    reuses it once sent: see :attr:`pending`). Without GSO every datagram is sent at
    once. Send errors are swallowed like a plain ``send`` of the engine's (receiver down,
    buffer full: the protocol's timers retry) and counted in :attr:`errors`.
    """

    def __init__(self, sock: socket.socket, *, gso: bool, max_datagram: int) -> None:
        self.sock = sock
        self.gso = gso
        self.max_segments = max(1, min(MAX_SEGMENTS, MAX_BATCH_BYTES // max_datagram))
        self._parts: list[memoryview | bytes] = []
        self._count = 0
        self._segment = 0
        self._bytes = 0
        self.errors = 0
        self.calls = 0

    @property
    def pending(self) -> int:
        """Datagrams queued and not yet sent: after :meth:`add`, the queued datagrams are
        always the last ``pending`` added, so a caller may reuse any other buffer region."""
        return self._count

    def add(self, head: memoryview, extra: memoryview | None = None) -> None:
        """Queue one datagram (``head`` followed by ``extra``, if any)."""
        n = len(head) + (len(extra) if extra is not None else 0)
        if not self.gso:
            self._send_one(head, extra)
            return
        alone = bool(self._count) and n > self._segment
        if alone:  # longer than the segment size: cannot join, ends the batch after it
            self.flush()
        parts = self._parts
        parts.append(head)
        if extra is not None:
            parts.append(extra)
        if not self._count:
            self._segment = n
        self._count += 1
        self._bytes += n
        if alone or n < self._segment or self._count >= self.max_segments:
            self.flush()

    def add_run(self, slots: memoryview, stride: int,
                parts: Sequence[tuple[int, memoryview | None]]) -> None:
        """:meth:`add` for each datagram of a run built in ``slots``: datagram ``j`` is
        ``slots[j*stride:j*stride+n]`` followed by ``extra`` for ``parts[j] == (n, extra)``.
        When the batch is empty and the run is one GSO batch already (every datagram the
        first one's size but the last, which is no longer; at most :attr:`max_segments`)
        it is queued in one step -- the same batch :meth:`add` would queue, without its
        per-datagram checks; otherwise datagram by datagram."""
        k = len(parts)
        sizes = [n if e is None else n + len(e) for n, e in parts]
        seg = sizes[0] if k else 0
        if not self.gso or self._count or k < 2 or k > self.max_segments \
                or sizes[:-1].count(seg) != k - 1 or sizes[-1] > seg:
            for j, (n, extra) in enumerate(parts):
                self.add(slots[j * stride:j * stride + n], extra)
            return
        iov: list[memoryview | bytes] = []
        for j, (n, extra) in enumerate(parts):
            iov.append(slots[j * stride:j * stride + n])
            if extra is not None:
                iov.append(extra)
        self._parts, self._count, self._segment, self._bytes = iov, k, seg, sum(sizes)
        if sizes[-1] < seg or k >= self.max_segments:
            self.flush()

    def flush(self) -> None:
        """Send what is queued."""
        count = self._count
        if not count:
            return
        parts = self._parts
        try:
            if count == 1:
                self.sock.sendmsg(parts)
            else:
                self.sock.sendmsg(parts, [(SOL_UDP, UDP_SEGMENT,
                                           _GSO_SIZE.pack(self._segment))])
            self.calls += 1
        except OSError as exc:
            if count > 1 and exc.errno in (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT):
                self._fall_back()
            else:
                self.errors += 1
        finally:
            self._parts = []
            self._count = self._bytes = 0

    def _fall_back(self) -> None:
        """GSO refused at send time: switch it off for this socket and send the batch one
        datagram at a time (the parts regrouped by datagram size)."""
        self.gso = False
        data = b"".join(self._parts)
        step = self._segment
        for off in range(0, len(data), step):
            self._send_one(memoryview(data)[off:off + step], None)

    def _send_one(self, head: memoryview, extra: memoryview | None) -> None:
        try:
            if extra is None:
                self.sock.send(head)
            else:
                self.sock.sendmsg((head, extra))
            self.calls += 1
        except OSError:
            self.errors += 1
