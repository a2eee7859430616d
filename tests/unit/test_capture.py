"""Unit tests of jetstream_qa.capture: sources, filters, packet values and the pure
judgements (markers, fragments, flows, pacing), all in memory."""

from __future__ import annotations

import pytest

from jetstream_qa import capture
from jetstream_qa.capture.ratechart import render_rate_chart
from jetstream_qa.conformance_core.settings import resolve
from jetstream_qa.errors import ConfigurationError, UsageError

A, B = "10.213.77.1", "10.213.77.2"


# --- sources and settings -----------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind", "value"), [
    ("iface:eth0", "iface", "eth0"),
    ("cmd:ssh staging-b tcpdump -i eth0 -U -w - 'udp port 8886'", "cmd",
     "ssh staging-b tcpdump -i eth0 -U -w - 'udp port 8886'"),
    ("file:/tmp/run.pcap", "file", "/tmp/run.pcap"),
    (" file: /tmp/with space.pcap ", "file", "/tmp/with space.pcap"),
])
def test_capture_source_parses_each_kind(text, kind, value):
    source = capture.CaptureSource.parse(text)
    assert (source.kind, source.value) == (kind, value)
    assert str(source) == f"{kind}:{value}"


def test_command_source_splits_like_a_shell():
    source = capture.CaptureSource.parse("cmd:ssh b tcpdump -w - 'udp and port 8886'")
    assert source.argv() == ["ssh", "b", "tcpdump", "-w", "-", "udp and port 8886"]
    with pytest.raises(UsageError):
        capture.CaptureSource.parse("iface:lo").argv()


@pytest.mark.parametrize("bad", ["eth0", "nic:eth0", "iface:", "cmd:   ", "file:",
                                 "iface:a-very-long-interface-name", "iface:a b",
                                 "cmd:tcpdump 'unclosed"])
def test_capture_source_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        capture.CaptureSource.parse(bad)


def test_js_capture_option_resolves_with_its_source():
    settings = resolve({}, {"JETSTREAM_CAPTURE": "iface:veth0"}, {"js_capture": "file:/x"})
    assert settings.capture == capture.CaptureSource("iface", "veth0")
    assert settings.sources["capture"] == "JETSTREAM_CAPTURE"
    assert resolve({}, {}, {"js_capture": "file:/x"}).capture.kind == "file"
    assert resolve({}, {}, {}).capture is None
    with pytest.raises(ConfigurationError, match="--js-capture 'eth0' from JETSTREAM_CAPTURE"):
        resolve({}, {"JETSTREAM_CAPTURE": "eth0"}, {})


# --- the filter ---------------------------------------------------------------------------
def test_filter_between_two_hosts_keeps_all_their_udp_and_fragments():
    flt = capture.CaptureFilter(B, 8886, (A,))
    assert not flt.same_host
    text = flt.bpf(iface="veth0")
    assert text.startswith(f"(host {B} and (host {A})) and (udp or ")
    assert "ip[6:2] & 0x3fff != 0" in text and "inbound" not in text
    assert flt.keeps(A, B, 40000, 8886) and flt.keeps(B, A, 8886, 40000)
    assert flt.keeps(A, B, 1, 2)  # another port pair: the ports case must see it
    assert flt.keeps(A, B, None, None)  # a non-first fragment
    assert not flt.keeps("10.0.0.9", B, 40000, 8886)
    assert not flt.keeps(A, "10.0.0.9", 40000, 8886)


def test_filter_on_one_host_keeps_only_the_data_port_and_inbound_on_loopback():
    flt = capture.CaptureFilter("127.0.0.1", 8886, ("127.0.0.1",))
    assert flt.same_host
    assert flt.bpf(iface="lo").startswith("inbound and (host 127.0.0.1) and "
                                          "(udp port 8886 or ")
    assert not flt.bpf(iface="eth0").startswith("inbound")
    assert flt.keeps("127.0.0.1", "127.0.0.1", 5000, 8886)
    assert not flt.keeps("127.0.0.1", "127.0.0.1", 5000, 5001)
    assert capture.is_loopback_iface("lo") and not capture.is_loopback_iface("lo0x")


def test_filter_validates_its_fields():
    with pytest.raises(ValueError):
        capture.CaptureFilter("not-an-ip", 1, (A,))
    with pytest.raises(UsageError):
        capture.CaptureFilter(B, 0, (A,))
    with pytest.raises(UsageError):
        capture.CaptureFilter(B, 8886, ())
    assert capture.resolve_host("10.1.2.3") == ("10.1.2.3",)
    assert "127.0.0.1" in capture.resolve_host("localhost")


# --- packets from scapy -------------------------------------------------------------------
def test_from_scapy_reads_udp_and_fragments():
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.l2 import Ether

    pkt = Ether() / IP(src=A, dst=B) / UDP(sport=40000, dport=8886) / b"hello"
    pkt = Ether(bytes(pkt))
    pkt.time = 12.5
    wire = capture.from_scapy(pkt)
    assert (wire.time, wire.src, wire.sport, wire.dst, wire.dport, wire.payload,
            wire.fragment, wire.ip_len) == (12.5, A, 40000, B, 8886, b"hello", False, 33)
    assert wire.datagram() == capture.Datagram(A, 40000, B, 8886, b"hello")

    frags = [IP(bytes(f)) for f in fragment(IP(src=A, dst=B) / UDP(sport=1, dport=2)
                                            / bytes(3000), fragsize=1400)]
    first, *rest = [capture.from_scapy(f) for f in frags]
    assert first.fragment and first.sport == 1
    assert rest and all(r.fragment and r.sport is None and r.payload == b"" for r in rest)
    with pytest.raises(UsageError):
        rest[0].datagram()

    v6 = IPv6(bytes(IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=3, dport=4) / b"x"))
    assert capture.from_scapy(v6).ip_len == 40 + 8 + 1
    v6frag = IPv6(bytes(IPv6(src="fd00::1", dst="fd00::2")
                        / IPv6ExtHdrFragment(offset=100, m=1) / bytes(16)))
    assert capture.from_scapy(v6frag).fragment
    assert capture.from_scapy(Ether() / b"not ip") is None
    assert capture.from_scapy(IP(src=A, dst=B, proto=6) / b"tcp-ish") is None


def test_packet_values_validate():
    with pytest.raises(UsageError):
        capture.Datagram("127.0.0.1", 70000, "127.0.0.1", 1, b"")
    with pytest.raises(UsageError):
        capture.Datagram("not-an-ip", 1, "127.0.0.1", 1, b"")
    with pytest.raises(UsageError):
        capture.WirePacket(0.0, A, B, 1, 2, -1, False, b"")
    d = capture.Datagram(A, 1, B, 2, b"a")
    assert d.with_payload(b"b") == capture.Datagram(A, 1, B, 2, b"b")


# --- markers and bits ---------------------------------------------------------------------
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


def test_count_marker_and_flip_bit():
    dgs = [capture.Datagram(A, 1, B, 2, p) for p in (b"xxMARKyy", b"nothing", b"MARKMARK")]
    assert capture.count_marker(dgs, b"MARK") == 2
    payload = bytes(range(16))
    for bit in (0, 7, 8, 127):
        out = capture.flip_bit(payload, bit)
        assert [i for i in range(16) if out[i] != payload[i]] == [bit // 8]
        assert capture.flip_bit(out, bit) == payload
    with pytest.raises(UsageError):
        capture.flip_bit(payload, 128)


# --- fragments, sizes, flows --------------------------------------------------------------
def _pkt(t=0.0, src=A, sport=40000, dst=B, dport=8886, size=1000, fragment=False):
    return capture.WirePacket(t, src, dst, sport, dport, size + 28, fragment, bytes(size))


def test_fragments_and_oversize():
    packets = [_pkt(), _pkt(fragment=True), _pkt(size=1600)]
    assert capture.fragments(packets) == [packets[1]]
    assert capture.oversize(packets, 1500) == [packets[2]]


def test_foreign_flows_names_other_ports_and_other_senders():
    flt = capture.CaptureFilter(B, 8886, (A,))
    clean = [_pkt(), _pkt(), _pkt(src=B, sport=8886, dst=A, dport=40000, size=40)]
    sender = capture.busiest_source(clean, flt)
    assert sender == (A, 40000)
    assert not capture.foreign_flows(clean, flt, sender)
    late_reply = _pkt(src=B, sport=8886, dst=A, dport=39999, size=40)
    assert not capture.foreign_flows([*clean, late_reply], flt, sender)
    second_port = _pkt(sport=40001)
    side_channel = _pkt(sport=5000, dport=5001)
    from_receiver_elsewhere = _pkt(src=B, sport=6000, dst=A, dport=40000)
    foreign = capture.foreign_flows([*clean, second_port, side_channel,
                                     from_receiver_elsewhere], flt, sender)
    assert set(foreign) == {(A, 40001, B, 8886), (A, 5000, B, 5001), (B, 6000, A, 40000)}
    assert capture.busiest_source([], flt) is None


# --- pacing -------------------------------------------------------------------------------
def _paced(rate_bps, seconds, *, size=1000, start=100.0):
    gap = size * 8 / rate_bps
    return [_pkt(t=start + i * gap, size=size) for i in range(int(seconds / gap))]


def test_rate_series_bins_payload_bits():
    packets = [_pkt(t=10.0, size=1000), _pkt(t=10.1, size=1000), _pkt(t=10.3, size=500)]
    assert capture.rate_series(packets, window_s=0.25) == [(0.0, 64000.0), (0.25, 16000.0)]
    assert capture.rate_series([]) == []
    with pytest.raises(UsageError):
        capture.rate_series(packets, window_s=0)


def test_check_rate_passes_a_paced_sender_and_catches_a_fast_one():
    ok = capture.check_rate(_paced(8e6, 2.0), 8e6)
    assert ok.within and abs(ok.mean_bps - 8e6) / 8e6 < 0.01
    assert len(ok.series) == 8 and ok.datagrams == 2000
    slightly_over = capture.check_rate(_paced(8.6e6, 2.0), 8e6)
    assert slightly_over.within  # +7.5 %: inside the 10 % tolerance
    fast = capture.check_rate(_paced(9.2e6, 2.0), 8e6)
    assert not fast.within and "ceiling 8.80 Mbit/s (+10%)" in fast.describe()
    burst = _paced(8e6, 2.0) + [_pkt(t=100.0 + i * 1e-5) for i in range(125)]
    assert capture.check_rate(burst, 8e6).within  # a start-up burst is left out
    with pytest.raises(UsageError, match="too short"):
        capture.check_rate(_paced(8e6, 0.4), 8e6)


def test_rate_chart_is_escaped_inline_svg():
    check = capture.check_rate(_paced(8e6, 2.0), 8e6)
    html = render_rate_chart(check, title="rate <script>alert(1)</script>")
    assert "<svg" in html and "<polyline" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "sendRateMax" in html and check.describe() in html
