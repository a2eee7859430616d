"""Bounded captures from an interface, a command's pcap stream, or a pcap file.

Theory of operation
-------------------
:func:`open_capture` returns a context manager for one :class:`CaptureSource`. While it is
open, packets flow into a :class:`_Sink`, which converts each scapy packet once
(:func:`~jetstream_qa.capture.packets.from_scapy`), applies the
:class:`~jetstream_qa.capture.source.CaptureFilter` and enforces the bounds of
:class:`Limits`: packets and IP bytes kept, and a wall-clock deadline after which the
capture stops itself. A capture that hit a bound says so in :attr:`truncated`.

- ``iface``: scapy's ``AsyncSniffer`` with the filter's BPF text (libpcap compiles it).
- ``cmd``: the command runs in its own process group; a reader thread feeds its stdout to
  scapy's streaming ``PcapReader`` (pcap or pcapng). The capture is *ready* when the first
  pcap bytes arrive or the command prints tcpdump's ``listening on`` line on stderr; on exit
  the group gets SIGTERM (then SIGKILL), which ends the stream.
- ``file``: nothing runs. Each :meth:`FileCapture.snapshot` and the exit read the file again
  (it may still be growing: ``tcpdump -U -w FILE``) and keep packets inside the time window:
  the open block on this host's clock, or the transfer's window from the API once
  :meth:`FileCapture.use_window` gives it.

Every wait here has a deadline; nothing sleeps except a poll with one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from jetstream_qa.capture.packets import WirePacket, from_scapy
from jetstream_qa.capture.source import CaptureFilter, CaptureSource
from jetstream_qa.errors import JetStreamQAError

__all__ = ["CaptureFailed", "CaptureNotApplicable", "FileCapture", "Limits", "open_capture"]

_POLL_S: Final = 0.02
_STOP_TIMEOUT_S: Final = 5.0
WINDOW_MARGIN_S: Final = 1.0
"""Slack on each side of a file capture's time window (clock granularity and skew)."""


class CaptureNotApplicable(JetStreamQAError):
    """Capture is impossible here (not root, no libpcap, no source): NOT_APPLICABLE."""

    code = "NotApplicable"


class CaptureFailed(JetStreamQAError):
    """A configured capture source did not work (command died, no stream, unreadable
    file): the environment failed, not the server (INCONCLUSIVE)."""

    code = "CaptureFailed"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one capture: IP bytes and packets kept, seconds it may run, seconds a
    source has to become ready."""

    max_bytes: int = 256 << 20
    max_packets: int = 500_000
    timeout_s: float = 120.0
    start_timeout_s: float = 10.0


class _Sink:
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
            if self.truncated:
                return False
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


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


class _LiveCapture:
    """Shared part of the live sources: sink, deadline timer, settle."""

    def __init__(self, source: CaptureSource, flt: CaptureFilter, limits: Limits) -> None:
        self.source, self.filter, self.limits = source, flt, limits
        self._sink = _Sink(flt, limits)
        self._timer: threading.Timer | None = None

    @property
    def packets(self) -> list[WirePacket]:
        """What was kept (complete once the block exited)."""
        return self._sink.snapshot()

    @property
    def truncated(self) -> str:
        """Why the capture stopped early (a bound), or empty."""
        return self._sink.truncated

    def snapshot(self) -> list[WirePacket]:
        """The packets kept so far."""
        return self._sink.snapshot()

    def settle(self, *, quiet_s: float = 0.3, timeout: float = 3.0) -> None:
        """Wait (bounded) until no packet arrived for ``quiet_s``: lets the tail of the
        traffic through a lagging capture path before it stops."""
        _wait(lambda: time.monotonic() - self._sink.last_arrival >= quiet_s, timeout)

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
        # The link-layer dissectors must be registered before sniffing, or scapy hands
        # back raw packets on some interfaces (ARPHRD_LOOPBACK).
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2  # noqa: F401
        from scapy.sendrecv import AsyncSniffer

        started = threading.Event()
        self._sniffer = AsyncSniffer(
            iface=self.source.value, filter=self.filter.bpf(iface=self.source.value),
            store=False, prn=self._sink.offer, stop_filter=lambda _p: bool(self.truncated),
            started_callback=started.set)
        self._sniffer.start()
        self._arm_deadline()
        if not started.wait(self.limits.start_timeout_s):
            self.__exit__(None, None, None)
            error = getattr(self._sniffer, "exception", None)
            raise CaptureFailed(f"sniffer on {self.source.value} did not start: {error}",
                                details={"source": str(self.source)})
        return self

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


class CommandCapture(_LiveCapture):
    """A command writing a pcap stream to stdout, read by scapy's ``PcapReader``."""

    def __enter__(self) -> CommandCapture:
        self._stderr = tempfile.TemporaryFile()
        self._ready = threading.Event()
        self._error = ""
        try:
            self._proc = subprocess.Popen(
                self.source.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=self._stderr, start_new_session=True)
        except OSError as exc:
            raise CaptureFailed(f"capture command cannot start: {exc}",
                                details={"source": str(self.source)}) from exc
        self._reader = threading.Thread(target=self._read, name="jsqa-capture", daemon=True)
        self._reader.start()
        self._arm_deadline()
        ready = _wait(lambda: self._ready.is_set() or "listening on" in self.stderr_tail()
                      or self._proc.poll() is not None, self.limits.start_timeout_s)
        if not ready or (self._proc.poll() is not None and not self._ready.is_set()):
            self.__exit__(None, None, None)
            state = "exited" if self._proc.returncode is not None else "gave no pcap stream"
            raise CaptureFailed(
                f"capture command {state} within {self.limits.start_timeout_s:g} s "
                f"(exit status {self._proc.returncode}): {self.stderr_tail()[-300:]!r}",
                details={"source": str(self.source)})
        return self

    def _read(self) -> None:
        from scapy.error import Scapy_Exception
        from scapy.utils import PcapReader

        assert self._proc.stdout is not None
        try:
            reader = PcapReader(self._proc.stdout)
            self._ready.set()
            for pkt in reader:
                if not self._sink.offer(pkt):
                    break
        except (Scapy_Exception, EOFError, OSError, ValueError) as exc:
            self._error = f"{type(exc).__name__}: {exc}"

    def stderr_tail(self) -> str:
        """The last KiB the command wrote on stderr."""
        try:
            size = os.fstat(self._stderr.fileno()).st_size
            return os.pread(self._stderr.fileno(), 1024, max(0, size - 1024)).decode(
                "utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _stop(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_STOP_TIMEOUT_S)
        self._reader.join(_STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()


class FileCapture:
    """A pcap file someone else is writing (or wrote): read after the fact, limited to the
    open block's time window (or the API's, see :meth:`use_window`)."""

    def __init__(self, source: CaptureSource, flt: CaptureFilter, limits: Limits) -> None:
        self.source, self.filter, self.limits = source, flt, limits
        self.path = Path(source.value)
        self.truncated = ""
        self.packets: list[WirePacket] = []
        self._opened = 0.0
        self._window: tuple[float, float] | None = None

    def __enter__(self) -> FileCapture:
        if not self.path.is_file():
            raise CaptureFailed(f"capture file {self.path} does not exist",
                                details={"source": str(self.source)})
        self._opened = time.time()
        return self

    def use_window(self, start_s: float, end_s: float) -> None:
        """Judge the packets of ``[start_s, end_s]`` (epoch seconds, e.g. a transfer's
        ``requestTime``/``endTime`` from the API) instead of the open block's times."""
        self._window = (start_s, end_s)

    def snapshot(self) -> list[WirePacket]:
        """The packets the file holds now within the window so far."""
        return self._read(self._opened, time.time())

    def settle(self, *, quiet_s: float = 0.3, timeout: float = 3.0) -> None:
        """Wait (bounded) until the file stopped growing for ``quiet_s`` (its writer
        flushed the tail of the traffic)."""
        state = {"size": -1, "since": time.monotonic()}

        def quiet() -> bool:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size != state["size"]:
                state.update(size=size, since=time.monotonic())
            return time.monotonic() - state["since"] >= quiet_s

        _wait(quiet, timeout)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        closed = time.time()
        if exc_type is None:
            self.settle()
            start, end = self._window or (self._opened, closed)
            self.packets = self._read(start, end)

    def _read(self, start_s: float, end_s: float) -> list[WirePacket]:
        sink = _Sink(self.filter, self.limits)
        lo, hi = start_s - WINDOW_MARGIN_S, end_s + WINDOW_MARGIN_S
        deadline = time.monotonic() + self.limits.timeout_s
        try:
            _read_pcap(self.path, lambda pkt: sink.offer(pkt) if lo <= float(pkt.time) <= hi
                       else True, deadline)
        except TimeoutError:
            sink.truncated = f"time bound reached reading {self.path}"
        self.truncated = sink.truncated
        return sink.snapshot()


def _read_pcap(path: Path, offer: Callable[[Any], bool], deadline: float) -> None:
    from scapy.error import Scapy_Exception
    from scapy.utils import PcapReader

    try:
        with PcapReader(str(path)) as reader:
            for pkt in reader:
                if not offer(pkt):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(str(path))
    except (EOFError, Scapy_Exception) as exc:
        if "No data could be read" in str(exc):
            return  # an empty file (its writer has not flushed a header yet)
        if isinstance(exc, Scapy_Exception) and "Not a supported" in str(exc):
            raise CaptureFailed(f"{path} is not a pcap/pcapng file",
                                details={"path": str(path)}) from exc
    except OSError as exc:
        raise CaptureFailed(f"cannot read {path}: {exc}", details={"path": str(path)}) from exc


def open_capture(source: CaptureSource, flt: CaptureFilter, *,
                 limits: Limits | None = None) -> IfaceCapture | CommandCapture | FileCapture:
    """A capture of ``source`` keeping what ``flt`` keeps, bounded by ``limits``.

    Use as a context manager; ``packets`` is complete once the block exits, ``snapshot()``
    reads what is there while it runs.

    Raises (on entry):
        CaptureFailed: the source does not work (command died, file missing, sniffer did
            not start).
    """
    limits = limits or Limits()
    if source.kind == "iface":
        return IfaceCapture(source, flt, limits)
    if source.kind == "cmd":
        return CommandCapture(source, flt, limits)
    return FileCapture(source, flt, limits)
