"""Packet capture and re-injection on loopback, for the packet-level suite (scapy).

Theory of operation
-------------------
The packet suite watches the UDP data plane between two servers on this host. A
:class:`UdpCapture` runs scapy's ``AsyncSniffer`` on the loopback interface with the BPF
filter ``inbound and udp and port N`` (on ``lo`` every packet is seen twice, once outbound and
once inbound; ``inbound`` keeps one copy). It is bounded three ways: a datagram count, a byte
budget for stored payloads, and a wall-clock timeout after which the sniffer stops itself.

Captured datagrams are plain frozen :class:`Datagram` values, so everything after the capture
(searching for a marker, flipping a bit, forging) is pure and unit-tested in memory.
:func:`inject` writes datagrams back onto the wire with their original addresses and ports
(raw IP socket), which is how a forged or tampered datagram reaches the receive port looking
like the sender's own.

Capture needs root, libpcap (to compile the BPF filter) and a target on this host. When one
of them is missing every entry point raises :class:`CaptureNotApplicable`, which the suite
turns into a NOT_APPLICABLE verdict; it never silently captures nothing. scapy is imported
lazily, so importing this module is cheap and has no side effects.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from jetstream_qa.errors import JetStreamQAError, UsageError

__all__ = [
    "CaptureNotApplicable",
    "Datagram",
    "UdpCapture",
    "bpf_filter",
    "check_capturable",
    "count_marker",
    "flip_bit",
    "inject",
    "is_local",
    "marker_pattern",
    "send_garbage",
]

LOOPBACK_IFACE: Final = "lo"
_START_TIMEOUT_S: Final = 5.0


class CaptureNotApplicable(JetStreamQAError):
    """Packet capture is impossible here (not root, no libpcap, target not on this host).

    Not a failure of the server under test: the suite reports NOT_APPLICABLE.
    """

    code = "NotApplicable"


@dataclass(frozen=True, slots=True)
class Datagram:
    """One captured UDP datagram: addresses, ports and payload bytes."""

    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes

    def __post_init__(self) -> None:
        for port in (self.sport, self.dport):
            if not 0 <= port <= 65535:
                raise UsageError(f"bad UDP port {port!r}", details={"port": port})
        for addr in (self.src, self.dst):
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise UsageError(f"bad IP address {addr!r}", details={"address": addr}) from None

    def with_payload(self, payload: bytes) -> Datagram:
        """The same datagram (same addresses and ports) carrying ``payload`` instead."""
        return Datagram(self.src, self.sport, self.dst, self.dport, bytes(payload))


def bpf_filter(port: int) -> str:
    """The capture filter for UDP traffic to or from ``port`` arriving on an interface.

    Raises:
        UsageError: ``port`` is not 1..65535.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"bad capture port {port!r}", details={"port": repr(port)})
    return f"inbound and udp and port {port}"


def is_local(host: str) -> bool:
    """True when ``host`` resolves only to loopback addresses (so this host sees its traffic)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_capturable(host: str, *, port: int | None = None) -> None:
    """Raise :class:`CaptureNotApplicable` unless ``host`` traffic can be captured here.

    Checks, in order: ``host`` resolves only to loopback addresses; the process is root;
    scapy and libpcap can compile the BPF filter.

    Args:
        host: the receiving server's address as the suite knows it.
        port: the port the filter will name (only used to compile a realistic filter).
    """
    if not is_local(host):
        raise CaptureNotApplicable(f"target {host!r} is not on this host's loopback; "
                                   "its traffic cannot be captured here", details={"host": host})
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise CaptureNotApplicable("packet capture needs root (euid 0)",
                                   details={"euid": os.geteuid()})
    try:
        from scapy.arch.common import compile_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:
        raise CaptureNotApplicable(f"scapy unavailable: {exc}",
                                   details={"error": str(exc)}) from exc
    try:
        compile_filter(bpf_filter(port or 8886), iface=LOOPBACK_IFACE)
    except (ImportError, OSError, Scapy_Exception) as exc:
        raise CaptureNotApplicable(f"libpcap cannot compile the BPF filter: {exc}",
                                   details={"error": str(exc)}) from exc


def _to_datagram(pkt: Any) -> Datagram | None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6

    if not pkt.haslayer(UDP):
        return None
    ip = pkt[IP] if pkt.haslayer(IP) else pkt[IPv6] if pkt.haslayer(IPv6) else None
    if ip is None:
        return None
    udp = pkt[UDP]
    return Datagram(ip.src, int(udp.sport), ip.dst, int(udp.dport), bytes(udp.payload))


class UdpCapture:
    """Bounded capture of inbound UDP datagrams on loopback for one port.

    Use as a context manager; :attr:`datagrams` holds what was seen once it exits::

        with UdpCapture(recv_port, timeout_s=30) as cap:
            run_the_transfer()
        cap.datagrams

    Args:
        port: the UDP port (either end) to capture.
        max_datagrams: stop after this many datagrams.
        max_bytes: stop storing payloads past this many bytes (counted still).
        timeout_s: the sniffer stops itself after this many seconds.

    Raises:
        CaptureNotApplicable: on entry, when the sniffer cannot start.
    """

    def __init__(self, port: int, *, max_datagrams: int = 50_000, max_bytes: int = 256 << 20,
                 timeout_s: float = 60.0) -> None:
        self.filter = bpf_filter(port)
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.datagrams: list[Datagram] = []
        self.seen = 0
        self._stored_bytes = 0
        self._started = threading.Event()
        self._sniffer: Any = None
        self._timer: threading.Timer | None = None

    def _on_packet(self, pkt: Any) -> None:
        dgram = _to_datagram(pkt)
        if dgram is None:
            return
        self.seen += 1
        if self._stored_bytes + len(dgram.payload) <= self.max_bytes:
            self._stored_bytes += len(dgram.payload)
            self.datagrams.append(dgram)

    def __enter__(self) -> UdpCapture:
        # The link-layer dissectors must be registered before sniffing, or scapy cannot
        # decode the loopback interface (ARPHRD_LOOPBACK) and hands back raw packets.
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2  # noqa: F401
        from scapy.sendrecv import AsyncSniffer

        self._sniffer = AsyncSniffer(
            iface=LOOPBACK_IFACE, filter=self.filter, store=False, prn=self._on_packet,
            count=self.max_datagrams, started_callback=self._started.set)
        self._sniffer.start()
        # scapy's AsyncSniffer takes no timeout: a daemon timer stops it at the deadline.
        self._timer = threading.Timer(self.timeout_s, self._stop_sniffer)
        self._timer.daemon = True
        self._timer.start()
        if not self._started.wait(_START_TIMEOUT_S):
            self._stop()
            error = getattr(self._sniffer, "exception", None)
            raise CaptureNotApplicable(f"sniffer on {LOOPBACK_IFACE} did not start: {error}",
                                       details={"filter": self.filter})
        return self

    def _stop_sniffer(self) -> None:
        from scapy.error import Scapy_Exception

        sniffer = self._sniffer
        if sniffer is not None and sniffer.running:
            try:
                sniffer.stop(join=False)
            except Scapy_Exception:  # it stopped itself (count reached) in between
                pass

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop_sniffer()
        if self._sniffer is not None and self._sniffer.thread is not None:
            self._sniffer.thread.join(_START_TIMEOUT_S)

    @property
    def running(self) -> bool:
        """True while the sniffer is still capturing."""
        return bool(self._sniffer is not None and self._sniffer.running)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()


def marker_pattern(size: int, *, marker: bytes) -> bytes:
    """``size`` bytes made of ``marker`` repeated, so every 2*len(marker) window holds it.

    Raises:
        UsageError: an empty marker or a negative size.
    """
    if not marker or size < 0:
        raise UsageError("marker_pattern needs a non-empty marker and a size >= 0")
    reps = size // len(marker) + 1
    return (marker * reps)[:size]


def count_marker(datagrams: Iterable[Datagram], marker: bytes) -> int:
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


def inject(datagrams: Sequence[Datagram]) -> int:
    """Send ``datagrams`` as they are (source address and port included) via a raw socket.

    Returns:
        The number of datagrams written.

    Raises:
        CaptureNotApplicable: raw sockets are not allowed (not root).
    """
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.supersocket import L3RawSocket, L3RawSocket6

    sockets: dict[int, Any] = {}
    try:
        for d in datagrams:
            version = ipaddress.ip_address(d.dst).version
            if version not in sockets:
                try:
                    sockets[version] = L3RawSocket() if version == 4 else L3RawSocket6()
                except PermissionError as exc:
                    raise CaptureNotApplicable("raw sockets need root",
                                               details={"error": str(exc)}) from exc
            layer = IP if version == 4 else IPv6
            sockets[version].send(layer(src=d.src, dst=d.dst)
                                  / UDP(sport=d.sport, dport=d.dport) / d.payload)
    finally:
        for sock in sockets.values():
            sock.close()
    return len(datagrams)


def send_garbage(host: str, port: int, payloads: Iterable[bytes]) -> int:
    """Send each payload as one UDP datagram to ``host:port`` from an ephemeral port.

    Returns:
        The number of datagrams sent (an ICMP-refused send is counted and ignored).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sent = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        for payload in payloads:
            try:
                sock.sendto(payload, (host, port))
            except ConnectionRefusedError:
                pass
            sent += 1
    return sent
