"""What a ``cmd:`` capture's tcpdump says about its own capture: its statistics line.

tcpdump prints its counts on stderr at exit (three lines) and, on Linux, when it receives
SIGUSR1 (one line, without stopping)::

    tcpdump: 812 packets captured, 815 packets received by filter, 0 packets dropped by kernel

On Linux (libpcap's ``pcap_stats``) *received by filter* counts every packet the kernel
filter accepted for the capture's ring, including those it then *dropped* because the ring
was full (``PACKET_STATISTICS``: the kernel adds ``tp_drops`` to ``tp_packets``); *captured*
counts what tcpdump handed to ``-w`` (with ``-U``, written to the pipe at once). So
``received - dropped - captured`` packets sit in tcpdump's ring, not yet written
(:attr:`TcpdumpStats.pending`): a capture stopped then loses them without any drop being
counted. That is the same question ``SIOCINQ`` answers for the in-process interface capture
(:mod:`jetstream_qa.capture.stream`).

SIGUSR1 ends a process that does not handle it, so it goes only to a process whose
``/proc/PID/comm`` is ``tcpdump`` (``ip netns exec`` and ``nsenter`` exec it in place) and
only once tcpdump has printed ``listening on`` (it installs the handler just before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["LISTENING", "TcpdumpStats", "is_tcpdump", "last_stats", "stats_count"]

LISTENING: Final = "listening on"
_STATS: Final = re.compile(
    r"(\d+) packets? captured[,\s]+(\d+) packets? received by filter[,\s]+"
    r"(\d+) packets? dropped by kernel")


@dataclass(frozen=True, slots=True)
class TcpdumpStats:
    """One statistics report of tcpdump (see the module docstring for what each counts)."""

    captured: int
    received: int
    dropped: int

    @property
    def pending(self) -> int:
        """Packets accepted into tcpdump's kernel ring and not yet written."""
        return max(0, self.received - self.dropped - self.captured)


def stats_count(text: str) -> int:
    """How many statistics reports ``text`` (tcpdump's stderr) holds."""
    return len(_STATS.findall(text))


def last_stats(text: str) -> TcpdumpStats | None:
    """The last statistics report in ``text`` (tcpdump's stderr), or ``None``."""
    found = _STATS.findall(text)
    if not found:
        return None
    captured, received, dropped = (int(n) for n in found[-1])
    return TcpdumpStats(captured, received, dropped)


def is_tcpdump(pid: int) -> bool:
    """True when process ``pid`` runs tcpdump itself (not a shell, ssh or sudo around it)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "tcpdump"
    except OSError:
        return False
