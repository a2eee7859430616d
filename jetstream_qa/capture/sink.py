"""What every capture shares: its errors, its bounds, and the filtered, bounded sink its
packets flow into."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from jetstream_qa.capture.packets import WirePacket, from_scapy
from jetstream_qa.capture.source import CaptureFilter
from jetstream_qa.errors import JetStreamQAError

__all__ = ["CaptureFailed", "CaptureNotApplicable", "Limits", "Sink", "load_dissectors",
           "wait_until"]

_POLL_S: Final = 0.02


class CaptureNotApplicable(JetStreamQAError):
    """Capture is impossible here (not root, no libpcap, no source): NOT_APPLICABLE."""

    code = "NotApplicable"


class CaptureFailed(JetStreamQAError):
    """A configured capture source did not work (command died, no stream, unreadable
    file): the environment failed, not the server (INCONCLUSIVE)."""

    code = "CaptureFailed"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one capture: IP bytes and packets kept, seconds it may run once ready (or
    a file may take to read), seconds a source has to become ready, and the kernel queue an
    interface capture asks for (what it can fall behind by before the kernel drops)."""

    max_bytes: int = 256 << 20
    max_packets: int = 500_000
    timeout_s: float = 120.0
    start_timeout_s: float = 10.0
    queue_bytes: int = 32 << 20


class Sink:
    """Thread-safe filtered, bounded list of packets."""

    def __init__(self, flt: CaptureFilter, limits: Limits) -> None:
        self.filter, self.limits = flt, limits
        self.packets: list[WirePacket] = []
        self.kept_bytes = 0
        self.truncated = ""
        self.last_arrival = 0.0
        self._lock = threading.Lock()

    def offer(self, pkt: Any) -> bool:
        """Keep ``pkt`` if the filter does; False once a bound is reached (stop reading)."""
        wire = from_scapy(pkt)
        self.last_arrival = time.monotonic()
        if wire is None or not self.filter.keeps(wire.src, wire.dst, wire.sport, wire.dport):
            return not self.truncated
        with self._lock:
            return not self.truncated and self._take(wire)

    def _take(self, wire: WirePacket) -> bool:
        """Keep ``wire``, which the filter kept (called with the lock held, before any bound
        was reached); False, with ``truncated`` saying which bound, once one is reached."""
        if (len(self.packets) >= self.limits.max_packets
                or self.kept_bytes + wire.ip_len > self.limits.max_bytes):
            self.truncated = (f"bound reached: {len(self.packets)} packets, "
                              f"{self.kept_bytes} bytes kept")
            return False
        self.packets.append(wire)
        self.kept_bytes += wire.ip_len
        return True

    def snapshot(self) -> list[WirePacket]:
        with self._lock:
            return list(self.packets)


def load_dissectors() -> None:
    """Register scapy's link and IP layers. Before this, a sniffer or ``PcapReader`` hands
    back undissected ``Raw`` packets (every link type, not only ARPHRD_LOOPBACK)."""
    import scapy.layers.inet
    import scapy.layers.inet6
    import scapy.layers.l2  # noqa: F401


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True
