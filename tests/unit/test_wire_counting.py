"""Wire evidence of load runs: the counting sink (filter, bounds, GSO-sized packets) and the
``wire`` section cut to the measured window."""

from __future__ import annotations

import datetime as dt

import pytest
from scapy.layers.inet import IP, UDP

from jetstream_qa.capture.sink import Limits
from jetstream_qa.capture.source import CaptureFilter
from jetstream_qa.loadrun.wire_evidence import CountingSink, summary_line, wire_section

FLT = CaptureFilter("127.0.0.1", 9000, ("127.0.0.1",))
T0 = 1_800_000_000.0


def _pkt(when: float, payload: int, *, dport: int = 9000, sport: int = 40000,
         frag: bool = False) -> IP:
    pkt = IP(bytes(IP(src="127.0.0.1", dst="127.0.0.1", flags="MF" if frag else 0)
                   / UDP(sport=sport, dport=dport) / (b"x" * payload)))
    pkt.time = when
    return pkt


def test_counts_bytes_per_second_not_packets_times_a_size() -> None:
    sink = CountingSink(FLT, Limits())
    assert sink.offer(_pkt(T0 + 0.2, 60_000))          # a GSO super-packet
    assert sink.offer(_pkt(T0 + 0.7, 100, dport=40000, sport=9000))  # an acknowledgement
    assert sink.offer(_pkt(T0 + 1.1, 1200, frag=True))
    assert sink.offer(_pkt(T0 + 1.2, 500, dport=7777, sport=7778))  # not the data port
    rows = sink.rows()
    assert rows[str(int(T0))] == {"packets": 2, "bytes": 60_028 + 128,
                                  "toReceiverPackets": 1, "toReceiverBytes": 60_028,
                                  "fragments": 0, "largestPacket": 60_028}
    assert rows[str(int(T0) + 1)]["fragments"] == 1 and len(rows) == 2
    assert sink.snapshot() == []  # no packet kept


def test_a_bound_stops_counting_and_says_so() -> None:
    sink = CountingSink(FLT, Limits(max_bytes=1000))
    assert sink.offer(_pkt(T0, 900))
    assert not sink.offer(_pkt(T0, 900))
    assert "bound reached: 1 packets, 928 bytes" in sink.truncated
    assert sink.counted.packets == 1


def test_section_cuts_the_measured_window_and_compares() -> None:
    sink = CountingSink(FLT, Limits())
    for second in range(5):
        sink.offer(_pkt(T0 + second + 0.5, 1000 * (second + 1) - 28))
    started = T0 + 0.25
    report = {"startedAt": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
              "goodput": {"totalBytes": 14_000,
                          "window": {"startS": 1.75, "endS": 3.75, "durationS": 2.0},
                          "steady": {"meanBytesPerSecond": 2000.0}}}
    section = wire_section({"source": "iface:lo", "side": "local", "filter": "f",
                            "rows": sink.rows(), "truncated": ""}, report)
    assert section["total"]["bytes"] == 15_000
    assert section["wireToDeliveredRatio"] == pytest.approx(15_000 / 14_000)
    window = section["window"]  # seconds T0+2 and T0+3 only
    assert window["bytes"] == 3000 + 4000 and window["packets"] == 2
    assert window["wireBytesPerSecond"] == 3500.0 and window["wireToGoodputRatio"] == 1.75
    assert [row["t"] for row in section["series"]] == [-0.25, 0.75, 1.75, 2.75, 3.75]
    assert "1.071 x delivered" in summary_line(section)


def test_a_problem_is_the_whole_section() -> None:
    section = wire_section({"source": "file:/x", "side": "master", "filter": None,
                            "problem": "capture file /x does not exist"}, {})
    assert section == {"source": "file:/x", "side": "master", "filter": None,
                       "problem": "capture file /x does not exist"}
    assert summary_line(section) == "wire (file:/x): no evidence: capture file /x does not exist"
