"""Writing datagrams onto the wire: re-injection with original addresses (raw socket) and
plain garbage from an ephemeral port."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from jetstream_qa.capture.packets import Datagram
from jetstream_qa.capture.sink import CaptureNotApplicable

__all__ = ["inject", "send_garbage"]


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
