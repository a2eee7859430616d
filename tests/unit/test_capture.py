"""Unit tests of jetstream_qa.capture: the pure helpers (filters, markers, bit flips)."""

from __future__ import annotations

import pytest

from jetstream_qa import capture
from jetstream_qa.errors import UsageError


def test_bpf_filter_names_inbound_udp_and_port():
    assert capture.bpf_filter(8886) == "inbound and udp and port 8886"
    for bad in (0, 65536, -1, True, "8886"):
        with pytest.raises(UsageError):
            capture.bpf_filter(bad)


def test_marker_pattern_puts_the_marker_in_every_window():
    marker = b"JSQA-MARKER-0123"
    data = capture.marker_pattern(1 << 20, marker=marker)
    assert len(data) == 1 << 20
    window = 2 * len(marker)
    for start in range(0, len(data) - window, 997):
        assert marker in data[start:start + window]
    assert capture.marker_pattern(5, marker=b"abc") == b"abcab"
    with pytest.raises(UsageError):
        capture.marker_pattern(10, marker=b"")


def _dg(payload: bytes) -> capture.Datagram:
    return capture.Datagram("127.0.0.1", 40000, "127.0.0.1", 8886, payload)


def test_count_marker_counts_datagrams_holding_it():
    dgs = [_dg(b"xxMARKyy"), _dg(b"nothing"), _dg(b"MARKMARK")]
    assert capture.count_marker(dgs, b"MARK") == 2
    assert capture.count_marker([], b"MARK") == 0


def test_flip_bit_inverts_exactly_one_bit():
    payload = bytes(range(16))
    for bit in (0, 7, 8, 127):
        out = capture.flip_bit(payload, bit)
        diff = [i for i in range(16) if out[i] != payload[i]]
        assert diff == [bit // 8]
        assert out[bit // 8] ^ payload[bit // 8] == 1 << (bit % 8)
        assert capture.flip_bit(out, bit) == payload
    with pytest.raises(UsageError):
        capture.flip_bit(payload, 128)


def test_datagram_validates_and_replaces_payload():
    d = _dg(b"a")
    e = d.with_payload(b"b")
    assert (e.src, e.sport, e.dst, e.dport, e.payload) == ("127.0.0.1", 40000, "127.0.0.1",
                                                          8886, b"b")
    with pytest.raises(UsageError):
        capture.Datagram("127.0.0.1", 70000, "127.0.0.1", 1, b"")
    with pytest.raises(UsageError):
        capture.Datagram("not-an-ip", 1, "127.0.0.1", 1, b"")


def test_remote_target_is_not_applicable():
    with pytest.raises(capture.CaptureNotApplicable, match="not on this host"):
        capture.check_capturable("192.0.2.1")


def test_not_root_is_not_applicable(monkeypatch):
    monkeypatch.setattr(capture.os, "geteuid", lambda: 1000)
    with pytest.raises(capture.CaptureNotApplicable, match="root"):
        capture.check_capturable("127.0.0.1")


def test_missing_libpcap_is_not_applicable(monkeypatch):
    import scapy.arch.common

    def no_pcap(*_a, **_k):
        raise ImportError("libpcap is not available. Cannot compile filter !")

    monkeypatch.setattr(capture.os, "geteuid", lambda: 0)
    monkeypatch.setattr(scapy.arch.common, "compile_filter", no_pcap)
    with pytest.raises(capture.CaptureNotApplicable, match="libpcap"):
        capture.check_capturable("127.0.0.1")
