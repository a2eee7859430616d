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
import os
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
from types import TracebackType
from typing import Any, Final

from jetstream_qa.capture.files import FileCapture
from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.sink import (
    CaptureFailed,
    Limits,
    Sink,
    load_dissectors,
    wait_until,
)
from jetstream_qa.capture.source import CaptureFilter, CaptureSource
from jetstream_qa.capture.tcpdump import (
    LISTENING,
    TcpdumpStats,
    is_tcpdump,
    last_stats,
    stats_count,
)

__all__ = ["CommandCapture", "IfaceCapture", "open_capture"]

_STOP_TIMEOUT_S: Final = 5.0
_DRAIN_POLL_S: Final = 0.05
_SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)
_SOL_PACKET: Final = getattr(socket, "SOL_PACKET", 263)
_PACKET_STATISTICS: Final = 6
"""``<linux/if_packet.h>``: ``struct tpacket_stats {unsigned tp_packets, tp_drops;}``."""


class _LiveCapture:
    """Shared part of the live sources: sink, deadline timer, settle."""

    def __init__(self, source: CaptureSource, flt: CaptureFilter, limits: Limits, *,
                 sink: type[Sink] = Sink) -> None:
        self.source, self.filter, self.limits = source, flt, limits
        self._sink = sink(flt, limits)
        self._timer: threading.Timer | None = None
        self._drops = 0

    @property
    def packets(self) -> list[WirePacket]:
        """What was kept (complete once the block exited)."""
        return self._sink.snapshot()

    @property
    def sink(self) -> Sink:
        """The sink the packets flowed into (an ``open_capture(sink=...)`` subclass)."""
        return self._sink

    @property
    def truncated(self) -> str:
        """Why the capture stopped early (a bound), or empty."""
        return self._sink.truncated

    def snapshot(self) -> list[WirePacket]:
        """The packets kept so far."""
        return self._sink.snapshot()

    def settle(self, *, quiet_s: float = 0.3, timeout: float = 3.0) -> bool:
        """Wait (bounded) until no packet arrived for ``quiet_s``: lets the tail of the
        traffic through a lagging capture path before it stops. The quiet time counts from
        the call at the earliest, so a capture that has seen nothing yet still waits.

        Returns:
            False when packets were still arriving (a backlog being read, or traffic that
            has not ended) at ``timeout``."""
        start = time.monotonic()
        return wait_until(
            lambda: time.monotonic() - max(start, self._sink.last_arrival) >= quiet_s,
            timeout)

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until the capture has read what its source already holds, for a
        stop that must not lose a backlog. Here: until no packet arrived for 0.3 s (a
        source that cannot tell its backlog); :class:`IfaceCapture` asks the kernel.

        Returns:
            False when the backlog was not read within ``timeout``."""
        return self.settle(timeout=timeout)

    def kernel_drops(self) -> int:
        """Packets the kernel dropped because the capture did not read them in time (0 for
        sources that cannot tell)."""
        return 0

    def _arm_deadline(self) -> None:
        self._timer = threading.Timer(self.limits.timeout_s, self._deadline)
        self._timer.daemon = True
        self._timer.start()

    def _deadline(self) -> None:
        if not self._sink.truncated:
            self._sink.truncated = f"time bound reached ({self.limits.timeout_s:g} s)"
        self._stop()

    def _stop(self) -> None:
        raise NotImplementedError

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop()


class IfaceCapture(_LiveCapture):
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
            sniffer.thread.join(_STOP_TIMEOUT_S)
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


class CommandCapture(_LiveCapture):
    """A command writing a pcap stream to stdout, read by scapy's ``PcapReader``.

    When the command is tcpdump itself (:mod:`jetstream_qa.capture.tcpdump`), its own
    counts make the capture exact: :meth:`drain` waits until tcpdump's ring is empty and
    every packet it wrote has been read, and at stop its exit statistics report kernel drops
    after readiness, packets left in its ring by a stop without a drain, and a stream that
    ended short of what it wrote; any of them, or a command that exits by itself, a broken
    stream or a reader still busy, marks the capture :attr:`truncated`."""

    def __enter__(self) -> CommandCapture:
        # Import scapy before the command starts: a reader still importing it would leave
        # the stream unread, and packets the command holds when it is stopped are lost.
        load_dissectors()
        import scapy.utils  # noqa: F401

        self._stderr = tempfile.TemporaryFile()
        self._ready = threading.Event()
        self._error = ""
        self._read_count = 0
        self._baseline: TcpdumpStats | None = None
        self._drained = False
        self._final: TcpdumpStats | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        try:
            self._proc = subprocess.Popen(
                self.source.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=self._stderr, start_new_session=True)
        except OSError as exc:
            raise CaptureFailed(f"capture command cannot start: {exc}",
                                details={"source": str(self.source)}) from exc
        self._reader = threading.Thread(target=self._read, name="jsqa-capture", daemon=True)
        self._reader.start()
        ready = wait_until(lambda: self._ready.is_set() or LISTENING in self.stderr_tail()
                      or self._proc.poll() is not None, self.limits.start_timeout_s)
        if not ready or (self._proc.poll() is not None and not self._ready.is_set()):
            code, tail = self._proc.poll(), self.stderr_tail()[-300:]
            self.__exit__(None, None, None)
            state = "exited" if code is not None else "gave no pcap stream"
            raise CaptureFailed(
                f"capture command {state} within {self.limits.start_timeout_s:g} s "
                f"(exit status {code}): {tail!r}", details={"source": str(self.source)})
        self._arm_deadline()
        self._take_baseline()
        return self

    def _take_baseline(self) -> None:
        """tcpdump's counts at readiness: drops and ring contents before then (packets the
        ring took before the filter was set) are not this capture's losses."""
        if is_tcpdump(self._proc.pid) and wait_until(
                lambda: LISTENING in self._stderr_text(), self.limits.start_timeout_s):
            self._baseline = self._probe(self.limits.start_timeout_s)

    def _read(self) -> None:
        from scapy.error import Scapy_Exception
        from scapy.utils import PcapReader

        assert self._proc.stdout is not None
        try:
            reader = PcapReader(self._proc.stdout)  # type: ignore[arg-type]  # takes a stream
            self._ready.set()
            for pkt in reader:
                self._read_count += 1
                if not self._sink.offer(pkt):
                    break
        except (Scapy_Exception, EOFError, OSError, ValueError) as exc:
            self._error = f"{type(exc).__name__}: {exc}"

    def stderr_tail(self) -> str:
        """The last KiB the command wrote on stderr."""
        return self._stderr_text(1024)

    def _stderr_text(self, last: int = 1 << 20) -> str:
        try:
            size = os.fstat(self._stderr.fileno()).st_size
            return os.pread(self._stderr.fileno(), last, max(0, size - last)).decode(
                "utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _probe(self, timeout: float) -> TcpdumpStats | None:
        """tcpdump's counts now (SIGUSR1, then its new statistics line), or ``None``."""
        before = stats_count(self._stderr_text())
        try:
            os.kill(self._proc.pid, signal.SIGUSR1)
        except OSError:
            return None
        if not wait_until(lambda: stats_count(self._stderr_text()) > before
                          or self._proc.poll() is not None, timeout):
            return None
        return last_stats(self._stderr_text()) if self._proc.poll() is None else None

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until tcpdump's ring holds no more than at readiness and every
        packet it wrote has been read (its counts, see the class docstring); for another
        command, until no packet arrived for 0.3 s.

        Returns:
            False when the backlog was not read within ``timeout``."""
        base = self._baseline
        if base is None:
            return super().drain(timeout)
        deadline = time.monotonic() + timeout
        while True:
            now = self._probe(max(0.0, min(1.0, deadline - time.monotonic())))
            if now is not None and now.pending <= base.pending \
                    and self._read_count >= now.captured:
                self._drained = True
                return True
            if time.monotonic() >= deadline or self._proc.poll() is not None:
                return False
            time.sleep(_DRAIN_POLL_S)

    def kernel_drops(self) -> int:
        """Packets tcpdump's kernel ring dropped since readiness, as of its last report (0
        when the command is not tcpdump or reported nothing)."""
        final = self._final or last_stats(self._stderr_text())
        if final is None:
            return 0
        return final.dropped - (self._baseline.dropped if self._baseline else 0)

    def _losses(self, exited: int | None, final: TcpdumpStats | None) -> list[str]:
        """Why the packets read are not all the command saw (empty: nothing known lost)."""
        losses = []
        if exited is not None:
            losses.append(f"the capture command exited by itself (status {exited}) "
                          f"before the capture ended: {self.stderr_tail()[-200:]!r}")
        if self._error:
            losses.append(f"the pcap stream broke ({self._error})")
        if self._reader.is_alive():
            losses.append(f"the stream was still being read {_STOP_TIMEOUT_S:g} s after stop")
        if final is not None:
            base = self._baseline or TcpdumpStats(0, 0, 0)
            if final.dropped > base.dropped:
                losses.append(f"tcpdump's kernel ring dropped {final.dropped - base.dropped} "
                              "packet(s) it did not read in time")
            if final.pending > base.pending and not self._drained:
                losses.append(f"{final.pending - base.pending} packet(s) were still in "
                              "tcpdump's ring when it was stopped")
            if self._read_count < final.captured:
                losses.append(f"the stream ended {final.captured - self._read_count} "
                              f"packet(s) short of the {final.captured} tcpdump wrote")
        return losses

    def _stop(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            exited = proc.poll()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(_STOP_TIMEOUT_S)
            self._reader.join(_STOP_TIMEOUT_S)
            self._final = last_stats(self._stderr_text())
            losses = self._losses(exited, self._final)
            if losses and not self._sink.truncated:
                self._sink.truncated = "; ".join(losses)
            if proc.stdout is not None:
                proc.stdout.close()
            self._stderr.close()


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
