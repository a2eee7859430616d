"""jetstream_qa.capture's sources with real files, processes and sockets (no server).

The ``file:`` and ``cmd:`` sources need nothing special: a pcap file written here, and a
child process writing a pcap stream. The ``iface:`` source and re-injection need root and
libpcap (else skipped) and use two UDP sockets on 127.0.0.1.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import threading
import time

import pytest

from jetstream_qa import capture
from jetstream_qa.capture import harness
from jetstream_qa.conformance_core.polling import poll

A, B = "10.213.77.1", "10.213.77.2"
FLT = capture.CaptureFilter(B, 8886, (A,))


def _frame(payload: bytes, t: float, *, src: str = A, dport: int = 8886):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    pkt = Ether() / IP(src=src, dst=B) / UDP(sport=40000, dport=dport) / payload
    pkt.time = t
    return pkt


def _writer(path, *, append: bool):
    from scapy.utils import PcapWriter

    return PcapWriter(str(path), append=append, sync=True, linktype=1)


def test_file_source_reads_only_what_is_appended_while_open(tmp_path):
    path = tmp_path / "run.pcap"
    with _writer(path, append=False) as w:
        w.write(_frame(b"before", time.time() - 0.5))
    with capture.open_capture(capture.CaptureSource("file", str(path)), FLT) as cap:
        with _writer(path, append=True) as w:
            w.write(_frame(b"one", time.time()))
            w.write(_frame(b"other-host", time.time(), src="10.9.9.9"))
        assert [p.payload for p in cap.snapshot()] == [b"one"]
        with _writer(path, append=True) as w:
            w.write(_frame(b"two", time.time()))
        with open(path, "ab") as f:  # a record its writer has not finished yet
            f.write(bytes(10))
        assert [p.payload for p in cap.snapshot()] == [b"one", b"two"]
    assert [p.payload for p in cap.packets] == [b"one", b"two"]
    assert cap.truncated == ""


def test_file_source_judges_the_api_window(tmp_path):
    path = tmp_path / "run.pcap"
    path.touch()  # empty at entry: its writer has not flushed the header yet
    with capture.open_capture(capture.CaptureSource("file", str(path)), FLT) as cap:
        now = time.time()
        with _writer(path, append=False) as w:
            w.write(_frame(b"early", now - 30))
            w.write(_frame(b"inside", now))
        harness.finish(cap, {"requestTime": int((now - 0.1) * 1e6),
                             "endTime": int((now + 0.1) * 1e6)})
    assert [p.payload for p in cap.packets] == [b"inside"]


def test_file_source_drains_past_the_window_while_keepalives_grow_it(tmp_path):
    """A file that never stops growing (a server's keep-alives between the hosts, ~10 a
    second in the netns suite) is drained once it holds a packet stamped after the judged
    window: growth alone cannot tell, and a drain that waited for quiet would call the
    capture truncated."""
    path = tmp_path / "run.pcap"
    with _writer(path, append=False) as w:
        w.write(_frame(b"before", time.time() - 5))
    stop = threading.Event()

    def keepalives() -> None:
        with _writer(path, append=True) as w:
            while not stop.wait(0.05):
                w.write(_frame(b"keepalive", time.time()))

    with capture.open_capture(capture.CaptureSource("file", str(path)), FLT) as cap:
        now = time.time()
        with _writer(path, append=True) as w:
            w.write(_frame(b"inside", now))
        feeder = threading.Thread(target=keepalives, daemon=True)
        feeder.start()
        try:
            cap.use_window(now - 0.1, now + 0.1)
            assert cap.drain(10)
        finally:
            stop.set()
            feeder.join(5)
    payloads = [p.payload for p in cap.packets]  # the window +- WINDOW_MARGIN_S
    assert payloads[0] == b"inside" and set(payloads) == {b"inside", b"keepalive"}
    assert cap.truncated == ""


def test_file_source_failures_are_capture_failures(tmp_path):
    missing = capture.CaptureSource("file", str(tmp_path / "missing.pcap"))
    with pytest.raises(capture.CaptureFailed, match="does not exist"):
        capture.open_capture(missing, FLT).__enter__()
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file at all")
    with (pytest.raises(capture.CaptureFailed, match="not a pcap"),
          capture.open_capture(capture.CaptureSource("file", str(junk)), FLT) as cap):
        cap.snapshot()


STREAMER = """
import sys, time
import scapy.layers.inet, scapy.layers.l2
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter
out = PcapWriter(sys.stdout.buffer, sync=True, linktype=1)
for i in range(int(sys.argv[1])):
    out.write(Ether() / IP(src=sys.argv[2], dst=sys.argv[3]) / UDP(sport=40000, dport=8886)
              / (b"pkt%d" % i))
print("listening on fake", file=sys.stderr, flush=True)
time.sleep(60)  # stays until the capture stops it
"""


def _streamer(count: int) -> capture.CaptureSource:
    argv = [sys.executable, "-c", STREAMER, str(count), A, B]
    return capture.CaptureSource("cmd", shlex.join(argv))


def test_command_source_streams_until_stopped():
    with capture.open_capture(_streamer(5), FLT) as cap:
        got = poll(cap.snapshot, lambda p: len(p) == 5, timeout=20)
        assert got.satisfied, got.value
        pid = cap._proc.pid
    assert [p.payload for p in cap.packets] == [b"pkt%d" % i for i in range(5)]
    assert cap._proc.returncode is not None  # stopped, not left behind
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_command_source_bounds_packets_and_time():
    limits = capture.Limits(max_packets=3, timeout_s=30)
    with capture.open_capture(_streamer(10), FLT, limits=limits) as cap:
        poll(lambda: cap.truncated, bool, timeout=20)
    assert len(cap.packets) == 3 and "bound reached" in cap.truncated
    timed = capture.Limits(timeout_s=0.5)
    with capture.open_capture(_streamer(1), FLT, limits=timed) as cap:
        poll(lambda: cap.truncated, bool, timeout=20)
    assert "time bound" in cap.truncated


def test_command_source_that_fails_is_a_capture_failure():
    dies = capture.CaptureSource("cmd", shlex.join(
        [sys.executable, "-c", "import sys; sys.exit('ssh: connect refused')"]))
    with pytest.raises(capture.CaptureFailed, match=r"exited.*connect refused"):
        capture.open_capture(dies, FLT).__enter__()
    silent = capture.CaptureSource("cmd", shlex.join(
        [sys.executable, "-c", "import time; time.sleep(60)"]))
    with pytest.raises(capture.CaptureFailed, match="gave no pcap stream"):
        capture.open_capture(silent, FLT,
                             limits=capture.Limits(start_timeout_s=0.5)).__enter__()
    missing = capture.CaptureSource("cmd", "/nonexistent/tcpdump -w -")
    with pytest.raises(capture.CaptureFailed, match="cannot start"):
        capture.open_capture(missing, FLT).__enter__()


def test_plan_without_a_source_names_the_option():
    from jetstream_qa.conformance_core.failures import NotApplicableCase

    with pytest.raises(NotApplicableCase, match="--js-capture"):
        harness.plan_capture(None, sender_host=A, data_host=B, data_port=8886)
    plan = harness.plan_capture(capture.CaptureSource("file", "/tmp/x.pcap"),
                                sender_host=A, data_host=B, data_port=8886)
    assert not plan.implicit and plan.mtu is None and plan.filter == FLT


# --- root only: sniffing loopback and raw re-injection ---------------------------------------
@pytest.fixture
def receiver():
    if os.geteuid() != 0:
        pytest.skip("sniffing and raw sockets need root")
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


@pytest.mark.packet
def test_loopback_capture_sees_each_datagram_once_and_reinjects_it(receiver):
    port = receiver.getsockname()[1]
    plan = harness.plan_capture(None, sender_host="127.0.0.1", data_host="127.0.0.1",
                                data_port=port)
    assert plan.implicit and plan.source == capture.CaptureSource("iface", "lo")
    with harness.capturing(plan, timeout_s=10) as cap:
        capture.send_garbage("127.0.0.1", port, [b"one-MARK", b"two", b"three-MARK"])
        for want in (b"one-MARK", b"two", b"three-MARK"):
            _recv_until(receiver, want)
        poll(cap.snapshot, lambda p: len(p) >= 3, timeout=5)
    assert [d.payload for d in cap.packets] == [b"one-MARK", b"two", b"three-MARK"]
    assert capture.count_marker(cap.packets, b"MARK") == 2
    original = cap.packets[1].datagram()
    flipped = original.with_payload(capture.flip_bit(original.payload, 3))
    assert capture.inject([flipped]) == 1
    _data, addr = _recv_until(receiver, flipped.payload)
    assert addr == (original.src, original.sport)


@pytest.mark.packet
def test_loopback_capture_that_falls_behind_says_the_kernel_dropped_packets(receiver):
    """A capture whose reader is too slow for its kernel queue is incomplete and says so
    (``PACKET_STATISTICS``), rather than handing back a count short of the wire."""
    from jetstream_qa.capture.sink import Limits, Sink

    class _SlowSink(Sink):
        def offer(self, pkt):
            time.sleep(0.01)  # a starved reader: the kernel queue fills meanwhile
            return super().offer(pkt)

    port = receiver.getsockname()[1]
    flt = capture.CaptureFilter("127.0.0.1", port, ("127.0.0.1",))
    limits = Limits(queue_bytes=4096)  # a queue of a few packets
    with capture.open_capture(capture.CaptureSource("iface", "lo"), flt, limits=limits,
                              sink=_SlowSink) as cap:
        capture.send_garbage("127.0.0.1", port, [b"x" * 1000] * 500)
        assert cap.kernel_drops() > 0
    assert "the kernel dropped" in cap.truncated
    assert len(cap.packets) < 500
