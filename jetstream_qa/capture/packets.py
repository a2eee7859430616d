"""Captured packets as plain frozen values, and the one place scapy packets become them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from jetstream_qa.errors import UsageError

__all__ = ["Datagram", "WirePacket", "from_scapy"]


def _check_port(port: int) -> None:
    if isinstance(port, bool) or not 0 <= port <= 65535:
        raise UsageError(f"bad UDP port {port!r}", details={"port": port})


def _check_ip(addr: str) -> None:
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise UsageError(f"bad IP address {addr!r}", details={"address": addr}) from None


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram: addresses, ports and payload bytes (what :func:`inject` sends)."""

    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes

    def __post_init__(self) -> None:
        _check_port(self.sport)
        _check_port(self.dport)
        _check_ip(self.src)
        _check_ip(self.dst)

    def with_payload(self, payload: bytes) -> Datagram:
        """The same datagram (same addresses and ports) carrying ``payload`` instead."""
        return Datagram(self.src, self.sport, self.dst, self.dport, bytes(payload))


@dataclass(frozen=True, slots=True)
class WirePacket:
    """One captured IP packet carrying UDP (or a fragment of it).

    ``time`` is the capture timestamp (seconds since the epoch, the capture host's clock);
    ``ip_len`` the IP packet's length on the wire (header included); ``fragment`` is true
    for any IP fragment (IPv4 MF flag or offset, IPv6 Fragment header). A non-first
    fragment has no UDP header: its ports are ``None`` and its payload empty.
    """

    time: float
    src: str
    dst: str
    sport: int | None
    dport: int | None
    ip_len: int
    fragment: bool
    payload: bytes

    def __post_init__(self) -> None:
        _check_ip(self.src)
        _check_ip(self.dst)
        for port in (self.sport, self.dport):
            if port is not None:
                _check_port(port)
        if self.ip_len < 0:
            raise UsageError(f"negative IP length {self.ip_len}")

    def datagram(self) -> Datagram:
        """This packet as a :class:`Datagram` (not for a non-first fragment).

        Raises:
            UsageError: the packet has no UDP header.
        """
        if self.sport is None or self.dport is None:
            raise UsageError("a non-first fragment is not a datagram")
        return Datagram(self.src, self.sport, self.dst, self.dport, self.payload)


def from_scapy(pkt: Any) -> WirePacket | None:
    """The :class:`WirePacket` of a scapy packet, or ``None`` when it is neither UDP nor an
    IP fragment."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment

    if pkt.haslayer(IP):
        ip = pkt[IP]
        offset = int(ip.frag)
        fragment = bool(int(ip.flags) & 0x1) or offset > 0
        ip_len = int(ip.len) if ip.len is not None else len(ip)
        has_udp = offset == 0 and pkt.haslayer(UDP)
    elif pkt.haslayer(IPv6):
        ip = pkt[IPv6]
        frag_hdr = pkt.getlayer(IPv6ExtHdrFragment)
        fragment = frag_hdr is not None
        ip_len = 40 + int(ip.plen) if ip.plen is not None else len(ip)
        has_udp = pkt.haslayer(UDP) and (frag_hdr is None or int(frag_hdr.offset) == 0)
    else:
        return None
    if has_udp:
        udp = pkt[UDP]
        return WirePacket(float(pkt.time), ip.src, ip.dst, int(udp.sport), int(udp.dport),
                          ip_len, fragment, bytes(udp.payload))
    if fragment:
        return WirePacket(float(pkt.time), ip.src, ip.dst, None, None, ip_len, True, b"")
    return None
