"""UDP segmentation offload and receive coalescing (refserver/engine/udp_offload.py).

Requirement (issue 13, docs/protocol.md 5): GSO only batches system calls. Every segment of a
batch leaves as a datagram of its own, byte for byte the datagram that was built (same size
except the last of a batch); a GRO read is cut at the segment size the kernel reports; where
the kernel lacks GSO, or refuses it at send time, datagrams go one per call, unchanged.
Live cases run on loopback and are skipped where the kernel has no UDP_SEGMENT/UDP_GRO.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from jetstream_qa.refserver.engine.udp_offload import (
    SOL_UDP,
    UDP_GRO,
    UDP_SEGMENT,
    BatchSender,
    enable_gro,
    gro_segment,
    probe_gso,
    recv_batch,
    split,
)


def _kernel_has_offload() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return probe_gso(s) and enable_gro(s)


live = pytest.mark.skipif(not _kernel_has_offload(), reason="kernel lacks UDP GSO/GRO")


@pytest.fixture
def link() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected sending socket and its bound receiving socket on loopback (2 s timeout)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    try:
        yield tx, rx
    finally:
        tx.close()
        rx.close()


def _datagrams(sizes: list[int]) -> list[bytes]:
    return [bytes([i % 251]) * n for i, n in enumerate(sizes)]


def _read_plain(rx: socket.socket, count: int) -> list[bytes]:
    return [rx.recv(65535) for _ in range(count)]


def test_split_cuts_at_the_segment_size_and_keeps_a_short_tail() -> None:
    assert list(split(1324 * 3 + 100, 1324)) == [(0, 1324), (1324, 1324), (2648, 1324),
                                                (3972, 100)]
    assert list(split(500, 500)) == [(0, 500)]
    assert list(split(500, 0)) == [(0, 500)]  # no segment size: one datagram


def test_gro_segment_comes_from_the_udp_gro_control_message_only() -> None:
    size = struct.pack("=i", 1324)
    assert gro_segment([(SOL_UDP, UDP_GRO, size)], 5000) == 1324
    assert gro_segment([], 5000) == 5000
    assert gro_segment([(socket.SOL_SOCKET, UDP_GRO, size)], 5000) == 5000


@live
def test_gso_batch_leaves_as_the_datagrams_that_were_built(
        link: tuple[socket.socket, socket.socket]) -> None:
    tx, rx = link
    # a full batch, a short datagram that ends a batch, a longer one that cannot join
    sizes = [1324] * 60 + [700] + [1324] * 3 + [1000, 1324, 1324]
    sent = _datagrams(sizes)
    batch = BatchSender(tx, gso=probe_gso(tx), max_datagram=1400)
    assert batch.gso and batch.max_segments == 46  # 65000 // 1400
    for d in sent:
        batch.add(memoryview(d))
    batch.flush()
    assert _read_plain(rx, len(sent)) == sent
    assert batch.calls < len(sent) // 10 and batch.errors == 0


@live
def test_gso_batch_of_two_part_datagrams_keeps_each_datagram_whole(
        link: tuple[socket.socket, socket.socket]) -> None:
    """The engine's zero-copy path: header from its buffer, payload from a lent view."""
    tx, rx = link
    payloads = _datagrams([1280] * 10 + [300])
    batch = BatchSender(tx, gso=True, max_datagram=1400)
    for i, p in enumerate(payloads):
        batch.add(memoryview(b"H%027d" % i), memoryview(p))
    batch.flush()
    assert _read_plain(rx, len(payloads)) == [b"H%027d" % i + p for i, p in enumerate(payloads)]


@live
def test_gro_read_carries_the_segment_size_and_splits_into_the_sent_datagrams(
        link: tuple[socket.socket, socket.socket]) -> None:
    tx, rx = link
    assert enable_gro(rx)
    sent = _datagrams([1324] * 20 + [900])
    tx.sendmsg([b"".join(sent)], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", 1324))])
    buf = bytearray(65600)
    got: list[bytes] = []
    while len(got) < len(sent):
        n, segment, _addr = recv_batch(rx, buf)
        assert segment == 1324 or n <= 1324
        got += [bytes(buf[off:off + length]) for off, length in split(n, segment)]
    assert got == sent


def test_forced_fallback_sends_one_datagram_per_call(
        link: tuple[socket.socket, socket.socket]) -> None:
    tx, rx = link
    sent = _datagrams([1324] * 9 + [77])
    batch = BatchSender(tx, gso=False, max_datagram=1400)
    for d in sent:
        batch.add(memoryview(d))
        assert batch.pending == 0
    batch.flush()
    assert batch.calls == len(sent)
    assert _read_plain(rx, len(sent)) == sent


class _RefusingSocket:
    """A socket whose kernel refuses UDP_SEGMENT at send time (EIO: no checksum offload)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendmsg(self, parts: Any, ancillary: Any = ()) -> int:
        if ancillary:
            raise OSError(errno.EIO, "Input/output error")
        data = b"".join(bytes(p) for p in parts)
        self.sent.append(data)
        return len(data)

    def send(self, data: Any) -> int:
        self.sent.append(bytes(data))
        return len(data)


def test_gso_refused_at_send_time_falls_back_and_loses_nothing() -> None:
    sock = _RefusingSocket()
    sent = _datagrams([1324] * 5 + [200])
    batch = BatchSender(sock, gso=True, max_datagram=1400)  # type: ignore[arg-type]
    for d in sent:
        batch.add(memoryview(d))
    batch.flush()
    assert sock.sent == sent
    assert batch.gso is False and batch.errors == 0


@live
@pytest.mark.parametrize("loss", [0.0, 0.3])
def test_relay_impairs_a_gso_batch_per_wire_datagram(
        link: tuple[socket.socket, socket.socket], loss: float) -> None:
    """The relay leaves UDP_GRO off, so it reads, counts and drops each datagram of a GSO
    batch on its own (issue 13: "still drops, duplicates and reorders per wire datagram")."""
    from jetstream_qa.relay.background import BackgroundRelay

    _tx, rx = link
    sent = _datagrams([1324] * 45 + [500])
    with BackgroundRelay(forward=rx.getsockname(), loss=loss, seed=3) as relay, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.connect(relay.address)
        batch = BatchSender(tx, gso=probe_gso(tx), max_datagram=1400)
        for d in sent:
            batch.add(memoryview(d))
        batch.flush()
        assert batch.calls == 1  # all 46 (the short one last) in one GSO send
        got: list[bytes] = []
        with pytest.raises(TimeoutError):  # every forwarded datagram, then 2 s of silence
            while True:
                got.append(rx.recv(65535))
    stats = relay.summary["clientToServer"]
    assert stats["received"] == len(sent)
    assert stats["dropped"] + stats["forwarded"] == len(sent)
    assert (stats["dropped"] > 0) is (loss > 0)
    assert len(got) == stats["forwarded"] and set(got) <= set(sent)


class _RecordingSocket:
    """Records every system call: (parts joined, GSO segment size or None)."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, int | None]] = []

    def sendmsg(self, parts: Any, ancillary: Any = ()) -> int:
        data = b"".join(bytes(p) for p in parts)
        size = struct.unpack("=H", ancillary[0][2])[0] if ancillary else None
        self.calls.append((data, size))
        return len(data)

    def send(self, data: Any) -> int:
        self.calls.append((bytes(data), None))
        return len(data)


@pytest.mark.parametrize("gso", [True, False])
@pytest.mark.parametrize("sizes", [[1324] * 46, [1324] * 20 + [300], [1324] * 3,
                                   [1324] * 10 + [796] + [1324] * 5, [1324] * 47,
                                   [300] + [1324] * 4, [1324]])
def test_add_run_sends_what_add_sends(gso: bool, sizes: list[int]) -> None:
    # a run built in slots (the sender's fill_run): queued in one step when it is one GSO
    # batch already, else datagram by datagram -- the same system calls either way
    stride = 1500
    slots = memoryview(bytearray(stride * len(sizes)))
    parts: list[tuple[int, memoryview | None]] = []
    for j, d in enumerate(_datagrams(sizes)):
        extra = memoryview(d[28:]) if j % 2 else None  # lent payloads on odd datagrams
        head = d[:28] if extra is not None else d
        slots[j * stride:j * stride + len(head)] = head
        parts.append((len(head), extra))
    one, run = _RecordingSocket(), _RecordingSocket()
    a = BatchSender(one, gso=gso, max_datagram=1400)  # type: ignore[arg-type]
    b = BatchSender(run, gso=gso, max_datagram=1400)  # type: ignore[arg-type]
    for j, (n, extra) in enumerate(parts):
        a.add(slots[j * stride:j * stride + n], extra)
    a.flush()
    b.add_run(slots, stride, parts)
    b.flush()
    assert run.calls == one.calls
