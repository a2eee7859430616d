"""Packet capture for the packet-level suites: sources, filters, bounded readers, pure
judgements and re-injection (scapy, imported lazily).

Modules: :mod:`.source` (``--js-capture`` values and the capture filter, with the BPF
gotchas), :mod:`.packets` (captured packets as frozen values), :mod:`.sink` (errors, bounds),
:mod:`.stream` (live captures and ``open_capture``; the interface capture), :mod:`.command`
(a command's pcap stream) with :mod:`.tcpdump` (tcpdump's own counts), :mod:`.live` (what
the two live captures share), :mod:`.files` (a pcap file written meanwhile),
:mod:`.analysis` (markers, fragments, flows, pacing), :mod:`.inject` (writing datagrams onto
the wire). Two more are imported by name only, to keep this package
cheap and free of the judge: :mod:`.harness` (the suites' glue, verdict exceptions) and
:mod:`.ratechart` (the pacing plot).

Importing this package has no side effects and does not import scapy.
"""

from jetstream_qa.capture.analysis import (
    RATE_TOLERANCE,
    RATE_WINDOW_S,
    RateCheck,
    busiest_source,
    check_rate,
    count_marker,
    flip_bit,
    flows,
    foreign_flows,
    fragments,
    marker_pattern,
    oversize,
    rate_series,
    to_receiver,
)
from jetstream_qa.capture.files import FileCapture
from jetstream_qa.capture.inject import inject, send_garbage
from jetstream_qa.capture.packets import Datagram, WirePacket, from_scapy
from jetstream_qa.capture.sink import CaptureFailed, CaptureNotApplicable, Limits
from jetstream_qa.capture.source import (
    CaptureFilter,
    CaptureSource,
    is_loopback_iface,
    resolve_host,
)
from jetstream_qa.capture.stream import open_capture

__all__ = [
    "RATE_TOLERANCE",
    "RATE_WINDOW_S",
    "CaptureFailed",
    "CaptureFilter",
    "CaptureNotApplicable",
    "CaptureSource",
    "Datagram",
    "FileCapture",
    "Limits",
    "RateCheck",
    "WirePacket",
    "busiest_source",
    "check_rate",
    "count_marker",
    "flip_bit",
    "flows",
    "foreign_flows",
    "fragments",
    "from_scapy",
    "inject",
    "is_loopback_iface",
    "marker_pattern",
    "open_capture",
    "oversize",
    "rate_series",
    "resolve_host",
    "send_garbage",
    "to_receiver",
]
