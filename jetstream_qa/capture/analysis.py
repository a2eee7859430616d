"""Pure judgements over captured packets: markers, fragments, flows, pacing.

Nothing here knows a server's datagram format: payloads are searched for a marker, packets
are grouped by address and port, and rates are computed from capture timestamps and UDP
payload lengths. Everything is unit-tested in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.source import CaptureFilter
from jetstream_qa.errors import UsageError

__all__ = [
    "RATE_TOLERANCE",
    "RATE_WINDOW_S",
    "Flow",
    "RateCheck",
    "busiest_source",
    "check_rate",
    "count_marker",
    "flip_bit",
    "flows",
    "foreign_flows",
    "fragments",
    "marker_pattern",
    "oversize",
    "rate_series",
    "to_receiver",
]

Flow = tuple[str, int, str, int]
"""(source address, source port, destination address, destination port)."""

RATE_WINDOW_S: Final = 0.25
"""Width of the bins the rate is measured over (seconds of capture time)."""
RATE_TOLERANCE: Final = 0.10
"""How far above ``sendRateMax`` the steady mean rate may be. Measured on the reference pair
across a veth pair (8 Mbit/s cap, 2 MiB, 0.25 s bins, 12 runs: 4 each with the ``iface``,
``cmd`` and ``file`` sources, on a loaded 2-core machine): steady means 7.86-8.33 Mbit/s,
at most +4.1 %. The bound by construction for our sender is +7.5 %: a token bucket lets at
most its burst (128 KiB) above the cap into any window, and 128 KiB over the 1.75 s steady
window at 1 MB/s is 7.5 %. 10 % covers both, and covers a server that counts only its
block bytes against the cap while the wire carries its headers too (a 28-64 byte header on
a 1400-byte datagram is 2-5 %).

Single bins are NOT judged: in the same runs they peaked at +29 % (10.3 Mbit/s), because a
token-bucket sender may burst (ours: up to 128 KiB) after any pause, and the capture's
timestamps carry scheduling jitter; the plot shows them. The first bin (start-up burst) and
the last (partly filled) are left out of the mean."""


class _HasPayload(Protocol):
    payload: bytes


def marker_pattern(size: int, *, marker: bytes) -> bytes:
    """``size`` bytes made of ``marker`` repeated, so every 2*len(marker) window holds it.

    Raises:
        UsageError: an empty marker or a negative size.
    """
    if not marker or size < 0:
        raise UsageError("marker_pattern needs a non-empty marker and a size >= 0")
    reps = size // len(marker) + 1
    return (marker * reps)[:size]


def count_marker(datagrams: Iterable[_HasPayload], marker: bytes) -> int:
    """How many datagrams carry ``marker`` somewhere in their payload."""
    if not marker:
        raise UsageError("count_marker needs a non-empty marker")
    return sum(1 for d in datagrams if marker in d.payload)


def flip_bit(payload: bytes, bit: int) -> bytes:
    """``payload`` with bit number ``bit`` (0 = lowest bit of byte 0) inverted.

    Raises:
        UsageError: ``bit`` outside the payload.
    """
    if not 0 <= bit < len(payload) * 8:
        raise UsageError(f"bit {bit} outside a {len(payload)}-byte payload")
    out = bytearray(payload)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def to_receiver(packets: Iterable[WirePacket], flt: CaptureFilter) -> list[WirePacket]:
    """The UDP datagrams addressed to the receiver's data port."""
    return [p for p in packets if p.dst == flt.receiver_ip and p.dport == flt.receiver_port]


def fragments(packets: Iterable[WirePacket]) -> list[WirePacket]:
    """The IP fragments among ``packets``."""
    return [p for p in packets if p.fragment]


def oversize(packets: Iterable[WirePacket], mtu: int) -> list[WirePacket]:
    """Packets whose IP length exceeds ``mtu``."""
    return [p for p in packets if p.ip_len > mtu]


def flows(packets: Iterable[WirePacket]) -> Counter[Flow]:
    """Datagrams per (src, sport, dst, dport); fragments without ports are left out."""
    return Counter((p.src, p.sport, p.dst, p.dport) for p in packets
                   if p.sport is not None and p.dport is not None)


def foreign_flows(packets: Iterable[WirePacket], flt: CaptureFilter,
                  sender: tuple[str, int]) -> Counter[Flow]:
    """Flows that break "only between the two data ports": datagrams to the receiver's
    data port from any endpoint but ``sender``, and datagrams between the hosts that do not
    touch the receiver's data port at all.

    Replies from the receiver's data port to another port of the sender's host are not
    counted: they answer an earlier transfer's sender port (a late ACK or FIN_ACK after the
    sender moved on), which is still traffic between the two servers' data ports.

    Args:
        packets: the transfer's capture.
        flt: names the receiver's data address.
        sender: the sender's data endpoint (address, port), e.g. the busiest source of
            datagrams to the receiver's data port.
    """
    receiver = (flt.receiver_ip, flt.receiver_port)

    def foreign(flow: Flow) -> bool:
        src, dst = flow[:2], flow[2:]
        if dst == receiver:
            return src != sender
        return src != receiver

    return Counter({f: n for f, n in flows(packets).items() if foreign(f)})


def busiest_source(packets: Iterable[WirePacket], flt: CaptureFilter) -> tuple[str, int] | None:
    """The endpoint that sent the most payload bytes to the receiver's data port."""
    volume: Counter[tuple[str, int]] = Counter()
    for p in to_receiver(packets, flt):
        assert p.sport is not None
        volume[(p.src, p.sport)] += len(p.payload)
    return volume.most_common(1)[0][0] if volume else None


def rate_series(packets: Sequence[WirePacket], *, window_s: float = RATE_WINDOW_S
                ) -> list[tuple[float, float]]:
    """(bin start in seconds from the first packet, bit/s of UDP payload in the bin).

    Bins are ``window_s`` wide from the first packet's timestamp; every bin is divided by
    its full width, so a partly filled last bin is under-, never over-estimated.
    """
    if window_s <= 0:
        raise UsageError("window_s must be positive")
    if not packets:
        return []
    times = sorted((p.time, len(p.payload)) for p in packets)
    t0 = times[0][0]
    nbins = int((times[-1][0] - t0) / window_s) + 1
    bins = [0] * nbins
    for t, size in times:
        bins[min(int((t - t0) / window_s), nbins - 1)] += size
    return [(round(i * window_s, 6), b * 8 / window_s) for i, b in enumerate(bins)]


@dataclass(frozen=True, slots=True)
class RateCheck:
    """The pacing of one transfer measured on the wire, against its ``sendRateMax``."""

    limit_bps: float
    tolerance: float
    window_s: float
    series: tuple[tuple[float, float], ...]
    peak_bps: float
    mean_bps: float
    datagrams: int

    @property
    def ceiling_bps(self) -> float:
        """The highest bin rate allowed: ``limit * (1 + tolerance)``."""
        return self.limit_bps * (1 + self.tolerance)

    @property
    def within(self) -> bool:
        """The steady mean at or below :attr:`ceiling_bps` (see :data:`RATE_TOLERANCE`)."""
        return self.mean_bps <= self.ceiling_bps

    def describe(self) -> str:
        return (f"steady mean {self.mean_bps / 1e6:.2f} Mbit/s (peak bin "
                f"{self.peak_bps / 1e6:.2f}) over {len(self.series)} bins of "
                f"{self.window_s:g} s ({self.datagrams} datagrams); "
                f"cap {self.limit_bps / 1e6:.2f} Mbit/s, "
                f"ceiling {self.ceiling_bps / 1e6:.2f} Mbit/s (+{self.tolerance:.0%})")


def check_rate(packets: Sequence[WirePacket], limit_bps: float, *,
               window_s: float = RATE_WINDOW_S, tolerance: float = RATE_TOLERANCE
               ) -> RateCheck:
    """Measure the data direction's rate in bins and compare it with ``limit_bps``.

    The first bin (a start-up burst) and, when there are more than two bins, the last
    (partly filled) bin are left out of the peak and the mean.

    Raises:
        UsageError: fewer than three bins of traffic (too short to judge pacing).
    """
    series = rate_series(packets, window_s=window_s)
    if len(series) < 3:
        raise UsageError(f"{len(series)} bins of {window_s:g} s: too short to judge pacing")
    steady = [bps for _, bps in series[1:-1]]
    return RateCheck(limit_bps=float(limit_bps), tolerance=tolerance, window_s=window_s,
                     series=tuple(series), peak_bps=max(steady),
                     mean_bps=sum(steady) / len(steady), datagrams=len(packets))
