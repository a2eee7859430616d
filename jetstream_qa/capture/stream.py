"""Bounded captures from an interface, a command's pcap stream, or a pcap file.

Theory of operation
-------------------
:func:`open_capture` returns a context manager for one :class:`CaptureSource`. While it
is open, packets flow into a :class:`~jetstream_qa.capture.sink.Sink`, which converts each
scapy packet once (:func:`~jetstream_qa.capture.packets.from_scapy`), applies the
:class:`~jetstream_qa.capture.source.CaptureFilter` and enforces the bounds of
:class:`Limits`: packets and IP bytes kept, and a wall-clock deadline after which the
capture stops itself. A capture that hit a bound says so in :attr:`truncated`.

- ``iface``: scapy's ``AsyncSniffer`` with the filter's BPF text (libpcap compiles it).
- ``cmd``: the command runs in its own process group; a reader thread feeds its stdout to
  scapy's streaming ``PcapReader`` (pcap or pcapng). The capture is *ready* when the first
  pcap bytes arrive or the command prints tcpdump's ``listening on`` line on stderr; on exit
  the group gets SIGTERM (then SIGKILL), which ends the stream. When the command is tcpdump
  itself, its statistics (:mod:`jetstream_qa.capture.tcpdump`) play the part ``SIOCINQ`` and
  ``PACKET_STATISTICS`` play for ``iface``: :meth:`CommandCapture.drain` waits until its ring
  is empty and all it wrote was read, and what it dropped or still held marks the capture
  truncated. Measured (2 cores, busy): a 20,000-datagram burst stopped after the old 0.3 s
  quiet wait lost 84-91 % with nothing said; drained, only the ring's overflow is lost and
  reported. On ``lo`` libpcap 1.10.3 leaves the last packet in the ring until another
  arrives (measured): a tcpdump capture of ``lo`` then says one packet was left.
- ``file``: nothing runs; see :mod:`jetstream_qa.capture.files`.

Every wait here has a deadline; nothing sleeps except a poll with one.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import threading
import time
from typing import Any, Final

from jetstream_qa.capture.command import CommandCapture
from jetstream_qa.capture.files import FileCapture
from jetstream_qa.capture.live import STOP_TIMEOUT_S, LiveCapture
from jetstream_qa.capture.sink import CaptureFailed, Limits, Sink, load_dissectors, wait_until
from jetstream_qa.capture.source import CaptureFilter, CaptureSource

__all__ = ["CommandCapture", "IfaceCapture", "open_capture"]

_SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)
_SOL_PACKET: Final = getattr(socket, "SOL_PACKET", 263)
_PACKET_STATISTICS: Final = 6
"""``<linux/if_packet.h>``: ``struct tpacket_stats {unsigned tp_packets, tp_drops;}``."""


class IfaceCapture(LiveCapture):
    """scapy sniffing a local interface with the filter's BPF text."""

    def __enter__(self) -> IfaceCapture:
        load_dissectors()
        from scapy.config import conf
        from scapy.error import Scapy_Exception
        from scapy.sendrecv import AsyncSniffer

        iface = self.source.value
        try:
            self._socket = conf.L2listen(iface=iface, filter=self.filter.bpf(iface=iface))
        except (OSError, Scapy_Exception) as exc:
            raise CaptureFailed(f"cannot listen on {iface}: {exc}",
                                details={"source": str(self.source)}) from exc
        _grow_buffer(self._socket, self.limits.queue_bytes)
        started = threading.Event()
        self._sniffer = AsyncSniffer(
            opened_socket=self._socket, store=False, prn=self._on_packet,
            stop_filter=lambda _p: bool(self.truncated), started_callback=started.set)
        self._sniffer.start()
        if not started.wait(self.limits.start_timeout_s):
            self.__exit__(None, None, None)
            error = getattr(self._sniffer, "exception", None)
            raise CaptureFailed(f"sniffer on {self.source.value} did not start: {error}",
                                details={"source": str(self.source)})
        self._arm_deadline()
        self._forget_drops_before_ready()
        return self

    def _forget_drops_before_ready(self) -> None:
        """Zero the drop count at readiness: until the socket was bound and its filter
        attached it queued every packet of every interface in scapy's 64 KiB, so any other
        traffic (another test's transfer on ``lo``) made the kernel drop there, packets the
        filter would never have kept and that crossed before the capture was ready."""
        self.kernel_drops()
        self._drops = 0

    def _on_packet(self, pkt: Any) -> None:
        # returns None: scapy prints whatever a prn callback returns
        self._sink.offer(pkt)

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until the packet socket's kernel queue is empty (``SIOCINQ`` is 0):
        everything that crossed the interface before the call has then been read (the
        packet in hand reaches the sink before the sniffer's loop ends at stop). Unlike
        :meth:`settle` this ends while traffic goes on (a protocol's keep-alives), as long
        as the reader keeps up."""
        raw = getattr(self._socket, "ins", None)
        if raw is None:
            return super().drain(timeout)

        def queued() -> int:
            buf = fcntl.ioctl(raw.fileno(), termios.FIONREAD, b"\0\0\0\0")
            return int(struct.unpack("i", buf)[0])

        deadline = time.monotonic() + timeout
        try:
            return wait_until(lambda: queued() == 0, timeout)
        except OSError:  # the socket cannot tell: the quiet rule, within what is left
            return super().drain(max(0.0, deadline - time.monotonic()))

    def kernel_drops(self) -> int:
        """Packets the kernel dropped from this packet socket's queue so far
        (``PACKET_STATISTICS``; reading resets the kernel's count, so it is summed here)."""
        raw = getattr(getattr(self, "_socket", None), "ins", None)
        if raw is not None:
            with contextlib.suppress(OSError):
                _, drops = struct.unpack(
                    "II", raw.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8))
                self._drops += drops
        return self._drops

    def _stop(self) -> None:
        from scapy.error import Scapy_Exception

        sniffer = getattr(self, "_sniffer", None)
        if sniffer is None:
            return
        if sniffer.running:
            with contextlib.suppress(Scapy_Exception):
                sniffer.stop(join=False)
        if sniffer.thread is not None:
            sniffer.thread.join(STOP_TIMEOUT_S)
        drops = self.kernel_drops()
        if drops and not self._sink.truncated:
            self._sink.truncated = (f"the kernel dropped {drops} packet(s) the capture did "
                                    "not read in time")
        self._socket.close()


def _grow_buffer(sock: Any, size: int) -> None:
    """Give the packet socket a large kernel queue (scapy sets 64 KiB, which drops bursts
    while Python dissects); SO_RCVBUFFORCE passes the rmem_max cap as root."""
    raw = getattr(sock, "ins", None)
    if raw is None:
        return
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            raw.setsockopt(socket.SOL_SOCKET, option, size)
            return
        except OSError:
            continue


def open_capture(source: CaptureSource, flt: CaptureFilter, *, limits: Limits | None = None,
                 sink: type[Sink] = Sink) -> IfaceCapture | CommandCapture | FileCapture:
    """A capture of ``source`` keeping what ``flt`` keeps, bounded by ``limits``.

    Use as a context manager; ``packets`` is complete once the block exits, ``snapshot()``
    reads what is there while it runs.

    Raises (on entry):
        CaptureFailed: the source does not work (command died, file missing, sniffer did
            not start).
    """
    limits = limits or Limits()
    if source.kind == "iface":
        return IfaceCapture(source, flt, limits, sink=sink)
    if source.kind == "cmd":
        return CommandCapture(source, flt, limits, sink=sink)
    return FileCapture(source, flt, limits, sink=sink)
