"""Wire evidence of a load run (``--js-capture``): counters, not packets, and the ``wire``
section of reports/load.json.

:class:`CountingSink` is a :class:`~jetstream_qa.capture.sink.Sink` (same filter, same
bounds) that keeps no packet: per capture second it adds packets and IP bytes (header
included; with UDP GSO one captured packet is a super-packet of up to 64 KB, so bytes are
summed, never packets times a datagram size), the bytes towards the receiver's data port, IP
fragments and the largest packet. Memory is bounded by the number of seconds kept
(:data:`MAX_SECONDS`), whatever the rate.

:func:`wire_section` cuts those per-second counters to the run's measured window
(``goodput.window`` of the report) and compares them with the goodput the run reported: the
wire carries IP/UDP and protocol headers, acknowledgements and retransmissions, so a
ratio below 1 means the capture missed traffic (drops, wrong path), not a fast server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.sink import Limits, Sink
from jetstream_qa.capture.source import CaptureFilter

__all__ = ["MAX_SECONDS", "CountingSink", "SecondCounts", "summary_line", "wire_section"]

MAX_SECONDS: Final = 86_400
"""Per-second rows kept (a day); later seconds mark the capture truncated."""


@dataclass(slots=True)
class SecondCounts:
    """What one capture second saw (mutable while counting; plain ints)."""

    packets: int = 0
    bytes: int = 0
    to_receiver_packets: int = 0
    to_receiver_bytes: int = 0
    fragments: int = 0
    largest: int = 0

    def add(self, other: SecondCounts) -> None:
        self.packets += other.packets
        self.bytes += other.bytes
        self.to_receiver_packets += other.to_receiver_packets
        self.to_receiver_bytes += other.to_receiver_bytes
        self.fragments += other.fragments
        self.largest = max(self.largest, other.largest)

    def to_dict(self) -> dict[str, int]:
        return {"packets": self.packets, "bytes": self.bytes,
                "toReceiverPackets": self.to_receiver_packets,
                "toReceiverBytes": self.to_receiver_bytes, "fragments": self.fragments,
                "largestPacket": self.largest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecondCounts:
        return cls(int(data["packets"]), int(data["bytes"]), int(data["toReceiverPackets"]),
                   int(data["toReceiverBytes"]), int(data["fragments"]),
                   int(data["largestPacket"]))


class CountingSink(Sink):
    """A bounded, filtered sink that counts per second instead of keeping packets.

    ``limits.max_packets`` and ``limits.max_bytes`` bound what is *counted* (a capture past
    them stops and says so in ``truncated``); nothing is stored but the per-second rows.
    """

    def __init__(self, flt: CaptureFilter, limits: Limits) -> None:
        super().__init__(flt, limits)
        self.seconds: dict[int, SecondCounts] = {}
        self.counted = SecondCounts()

    def _take(self, wire: WirePacket) -> bool:
        """Count ``wire`` (the filter kept it; the lock is held); False once a bound is
        reached: packets, bytes or :data:`MAX_SECONDS` seconds."""
        second, total = int(wire.time), self.counted
        if (total.packets >= self.limits.max_packets
                or total.bytes + wire.ip_len > self.limits.max_bytes
                or (second not in self.seconds and len(self.seconds) >= MAX_SECONDS)):
            self.truncated = (f"bound reached: {total.packets} packets, "
                              f"{total.bytes} bytes, {len(self.seconds)} s counted")
            return False
        inbound = self._inbound(wire)
        one = SecondCounts(1, wire.ip_len, int(inbound), wire.ip_len if inbound else 0,
                           int(wire.fragment), wire.ip_len)
        self.seconds.setdefault(second, SecondCounts()).add(one)
        total.add(one)
        self.kept_bytes = total.bytes
        return True

    def _inbound(self, wire: WirePacket) -> bool:
        if wire.dst != self.filter.receiver_ip:
            return False
        return wire.dport is None or wire.dport == self.filter.receiver_port

    def snapshot(self) -> list[Any]:
        """No packets are kept (the file source's time-window selection sees none)."""
        return []

    def rows(self) -> dict[str, dict[str, int]]:
        """``{"EPOCH_SECOND": counts}`` (JSON-ready), in time order."""
        with self._lock:
            return {str(s): c.to_dict() for s, c in sorted(self.seconds.items())}


def _span(rows: Mapping[int, SecondCounts], start: float, end: float) -> SecondCounts:
    """Sum of the whole capture seconds inside ``[start, end)`` (epoch seconds; the
    measured window's bounds are whole seconds with the default 1 s series window)."""
    total = SecondCounts()
    for second, row in rows.items():
        if second >= start and second + 1 <= end:
            total.add(row)
    return total


def wire_section(capture: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The ``wire`` section of load.json from a capture's result and the run's report.

    Args:
        capture: ``{"source", "side", "filter", "rows": {"EPOCH_SECOND": counts},
            "truncated", "problem"}`` as the capture process returned it.
        report: the load.json document (``startedAt``, ``goodput``).
    """
    section: dict[str, Any] = {k: capture.get(k) for k in ("source", "side", "filter")}
    if capture.get("problem"):
        section["problem"] = capture["problem"]
        return section
    import datetime as dt

    t0 = dt.datetime.fromisoformat(report["startedAt"]).timestamp()
    rows = {int(k): SecondCounts.from_dict(v) for k, v in (capture.get("rows") or {}).items()}
    whole = SecondCounts()
    for row in rows.values():
        whole.add(row)
    goodput = report.get("goodput") or {}
    delivered = int(goodput.get("totalBytes") or 0)
    section.update({"truncated": capture.get("truncated") or "",
                    "total": whole.to_dict(),
                    "deliveredBytes": delivered,
                    "wireToDeliveredRatio": whole.bytes / delivered if delivered else None})
    window = goodput.get("window") or {}
    if window.get("durationS"):
        # startedAt and the window's offsets are rounded to microseconds: back to seconds
        span = _span(rows, round(t0 + window["startS"], 3), round(t0 + window["endS"], 3))
        steady = (goodput.get("steady") or {}).get("meanBytesPerSecond")
        rate = span.bytes / window["durationS"]
        section["window"] = {**span.to_dict(), "startS": window["startS"],
                             "endS": window["endS"], "wireBytesPerSecond": rate,
                             "reportedBytesPerSecond": steady,
                             "wireToGoodputRatio": rate / steady if steady else None}
    section["series"] = [{"t": round(second - t0, 6), **row.to_dict()}
                         for second, row in sorted(rows.items())]
    return section


def summary_line(section: Mapping[str, Any]) -> str:
    """One line for the end of the run."""
    from jetstream_qa.loadstats.units import human_rate

    source = section.get("source")
    if section.get("problem"):
        return f"wire ({source}): no evidence: {section['problem']}"
    total = section["total"]
    ratio = section.get("wireToDeliveredRatio")
    text = (f"wire ({source}): {total['packets']} packets, "
            f"{human_rate(total['bytes'], per_second=False)}"
            f" ({'n/a' if ratio is None else f'{ratio:.3f}'} x delivered), "
            f"{total['fragments']} IP fragments, largest packet {total['largestPacket']} B")
    window = section.get("window")
    if window and window.get("wireToGoodputRatio") is not None:
        text += (f"; window {human_rate(window['wireBytesPerSecond'])} on the wire = "
                 f"{window['wireToGoodputRatio']:.3f} x goodput")
    if section.get("truncated"):
        text += f"; TRUNCATED: {section['truncated']}"
    return text
