"""jetstream_qa.capture against real loopback sockets (needs root and libpcap; else skipped).

Kept beside the pure tests because it needs no server: two UDP sockets on 127.0.0.1.
"""

from __future__ import annotations

import socket
import time

import pytest

from jetstream_qa import capture

pytestmark = pytest.mark.packet


@pytest.fixture
def receiver():
    try:
        capture.check_capturable("127.0.0.1")
    except capture.CaptureNotApplicable as exc:
        pytest.skip(str(exc))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    yield sock
    sock.close()


def _recv_until(sock: socket.socket, want: bytes, deadline_s: float = 5.0) -> tuple:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        data, addr = sock.recvfrom(65535)
        if data == want:
            return data, addr
    raise AssertionError(f"{want!r} never arrived")


def test_capture_sees_each_inbound_datagram_once_and_reinjects_it(receiver):
    port = receiver.getsockname()[1]
    with capture.UdpCapture(port, timeout_s=10) as cap:
        capture.send_garbage("127.0.0.1", port, [b"one-MARK", b"two", b"three-MARK"])
        for want in (b"one-MARK", b"two", b"three-MARK"):
            _recv_until(receiver, want)
        deadline = time.monotonic() + 5
        while cap.seen < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [d.payload for d in cap.datagrams] == [b"one-MARK", b"two", b"three-MARK"]
    assert capture.count_marker(cap.datagrams, b"MARK") == 2
    original = cap.datagrams[1]
    flipped = original.with_payload(capture.flip_bit(original.payload, 3))
    assert capture.inject([flipped]) == 1
    _data, addr = _recv_until(receiver, flipped.payload)
    assert addr == (original.src, original.sport)


def test_capture_is_bounded_by_count(receiver):
    port = receiver.getsockname()[1]
    with capture.UdpCapture(port, max_datagrams=2, timeout_s=10) as cap:
        capture.send_garbage("127.0.0.1", port, [b"a", b"b", b"c", b"d"])
        deadline = time.monotonic() + 5
        while cap.running and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(cap.datagrams) == 2
