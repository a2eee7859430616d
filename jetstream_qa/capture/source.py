"""Where a capture comes from (``--js-capture``) and which packets it keeps (the filter).

A :class:`CaptureSource` is one of three kinds, written ``KIND:VALUE``:

- ``iface:NAME``: a local interface on the path between the two servers (scapy sniffs it);
- ``cmd:COMMAND``: any command that writes a pcap stream to stdout (``ssh staging-b tcpdump
  -i eth0 -U -w - udp``, ``kubectl exec ... tcpdump ...``); read as it arrives;
- ``file:PATH``: a capture written by someone else while the suite ran; read after the fact,
  limited to the transfer's time window.

A :class:`CaptureFilter` is built from the servers' addresses and the receiver's data port.
It renders the BPF expression handed to libpcap (iface sources; the ``cmd:`` recipe in
``docs/staging.md`` uses the same text) and applies the same rule in Python to every packet
whatever the source, so a command that captured more than asked never pollutes a verdict.

The BPF gotchas live here and only here: on a loopback interface every packet is seen twice
(once outbound, once inbound), so its filter is prefixed ``inbound``; on any other
interface ``inbound`` would hide the direction leaving this host, so it is never used. Port
primitives never match non-first IP fragments (they carry no UDP header), so the filter
keeps fragments between the two hosts explicitly: the no-fragment case must see them.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
from dataclasses import dataclass
from typing import Final

from jetstream_qa.errors import UsageError

__all__ = ["KINDS", "CaptureFilter", "CaptureSource", "is_loopback_iface", "resolve_host"]

KINDS: Final = ("iface", "cmd", "file")
_IFNAMSIZ: Final = 15
_FRAGMENTS: Final = "((ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44))"
"""IPv4 with MF set or a fragment offset; IPv6 whose first extension header is Fragment."""


@dataclass(frozen=True, slots=True)
class CaptureSource:
    """A parsed ``--js-capture`` value: ``kind`` is ``iface``, ``cmd`` or ``file``."""

    kind: str
    value: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown capture kind {self.kind!r}")
        if not self.value.strip():
            raise ValueError(f"{self.kind}: needs a value")

    @classmethod
    def parse(cls, text: str) -> CaptureSource:
        """Parse ``iface:NAME``, ``cmd:COMMAND`` or ``file:PATH``.

        Raises:
            ValueError: another prefix, an empty value, a bad interface name, or a command
                that is not valid shell-like quoting.
        """
        kind, sep, value = text.strip().partition(":")
        if not sep or kind not in KINDS:
            raise ValueError("expected iface:NAME, cmd:'COMMAND' or file:PATH")
        value = value.strip()
        if not value:
            raise ValueError(f"{kind}: needs a value after the colon")
        if kind == "iface" and (len(value) > _IFNAMSIZ or any(c.isspace() or c == "/"
                                                             for c in value)):
            raise ValueError(f"bad interface name {value!r}")
        if kind == "cmd":
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split the command: {exc}") from None
            if not argv:
                raise ValueError("cmd: needs a command")
        return cls(kind, value)

    def argv(self) -> list[str]:
        """The command's argument vector (``cmd`` sources only)."""
        if self.kind != "cmd":
            raise UsageError(f"{self} is not a command source")
        return shlex.split(self.value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def is_loopback_iface(name: str) -> bool:
    """True for a loopback interface (``lo``), where each packet is seen twice."""
    return name == "lo" or name.startswith("lo:")


def resolve_host(host: str) -> tuple[str, ...]:
    """The IP addresses ``host`` names (itself when it is a literal), sorted, no duplicates.

    Raises:
        UsageError: the name does not resolve.
    """
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot resolve {host!r}: {exc}", details={"host": host}) from None
    return tuple(sorted({str(ipaddress.ip_address(i[4][0])) for i in infos}))


@dataclass(frozen=True, slots=True)
class CaptureFilter:
    """Keeps UDP between the sender's addresses and the receiver's data address.

    When the two servers are different hosts it keeps every UDP datagram between them (the
    only-between-data-ports case needs to see any other port pair); when they share an
    address (one host, or loopback) it keeps only datagrams to or from the receiver's data
    port, since the rest of that host's UDP is not the transfer's. Fragments between the
    hosts are always kept.

    Args:
        receiver_ip: the receiver's data address (an IP literal).
        receiver_port: the receiver's UDP data port.
        sender_ips: the sender's addresses (IP literals).
    """

    receiver_ip: str
    receiver_port: int
    sender_ips: tuple[str, ...]

    def __post_init__(self) -> None:
        for ip in (self.receiver_ip, *self.sender_ips):
            ipaddress.ip_address(ip)
        if isinstance(self.receiver_port, bool) or not 1 <= self.receiver_port <= 65535:
            raise UsageError(f"bad receiver port {self.receiver_port!r}")
        if not self.sender_ips:
            raise UsageError("a capture filter needs the sender's address")

    @property
    def same_host(self) -> bool:
        """True when the receiver's address is one of the sender's."""
        return self.receiver_ip in self.sender_ips

    def bpf(self, *, iface: str | None = None) -> str:
        """The libpcap filter text; ``inbound``-prefixed on a loopback ``iface``."""
        senders = " or ".join(f"host {ip}" for ip in self.sender_ips)
        pair = f"host {self.receiver_ip}" if self.same_host else \
            f"host {self.receiver_ip} and ({senders})"
        udp = f"udp port {self.receiver_port}" if self.same_host else "udp"
        text = f"({pair}) and ({udp} or {_FRAGMENTS})"
        if iface is not None and is_loopback_iface(iface):
            text = f"inbound and {text}"
        return text

    def keeps(self, src: str, dst: str, sport: int | None, dport: int | None) -> bool:
        """The same rule in Python (ports are ``None`` for a non-first fragment)."""
        ends = {src, dst}
        if self.receiver_ip not in ends:
            return False
        other = dst if src == self.receiver_ip else src
        if other not in self.sender_ips and not (self.same_host and src == dst):
            return False
        if sport is None or dport is None:
            return True
        return not self.same_host or self.receiver_port in (sport, dport)
