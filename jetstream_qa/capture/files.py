"""``--js-capture file:PATH``: a pcap someone else writes while the suite runs.

Theory of operation
-------------------
Nothing runs on our side. On entry the file must exist; for a classic pcap file (what
``tcpdump -w`` writes) :class:`_PcapTail` walks the record headers to the current end
without dissecting anything, so only packets appended while the block is open are read, and
each :meth:`FileCapture.snapshot` (a case waiting for traffic mid-transfer) reads only the
complete records appended since the last one: a half-written record at the end is left for
the next read. pcapng and gzip files are read whole by scapy's ``PcapReader`` each time.

On exit the capture waits (bounded) until the file stopped growing, reads the rest, and
keeps the packets of the time window: the block's own on this host's clock, or the
transfer's ``requestTime``..``endTime`` from the API once :meth:`FileCapture.use_window`
gives it (the capture host's clock must then agree with the sender's within
:data:`WINDOW_MARGIN_S`).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.sink import CaptureFailed, Limits, Sink, load_dissectors, wait_until
from jetstream_qa.capture.source import CaptureFilter, CaptureSource

__all__ = ["WINDOW_MARGIN_S", "FileCapture"]

WINDOW_MARGIN_S: Final = 1.0
"""Slack on each side of a file capture's time window (clock granularity and skew)."""
_GLOBAL_HEADER: Final = 24
_RECORD: Final = 16
_CHUNK: Final = 16 << 20
_MAGICS: Final = {b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
                  b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9)}
"""Classic pcap magic -> (byte order, timestamp fraction units per second)."""


class _PcapTail:
    """Complete records appended to a classic pcap file since the last read."""

    def __init__(self, path: Path, header: bytes) -> None:
        self.path = path
        self.endian, self.units = _MAGICS[header[:4]]
        (self.linktype,) = struct.unpack(self.endian + "I", header[20:24])
        self.offset = _GLOBAL_HEADER

    @classmethod
    def open(cls, path: Path, *, at_end: bool) -> _PcapTail | None:
        """A tail positioned after the last complete record (``at_end``) or at the first,
        or ``None`` when the file is not (yet) a classic pcap file."""
        with open(path, "rb") as f:
            header = f.read(_GLOBAL_HEADER)
        if len(header) < _GLOBAL_HEADER or header[:4] not in _MAGICS:
            return None
        tail = cls(path, header)
        if at_end:
            tail.read(lambda _t, _d: True, dissect=False, deadline=time.monotonic() + 60)
        return tail

    def read(self, offer: Callable[[float, bytes], bool], *, dissect: bool = True,
             deadline: float) -> None:
        """Call ``offer(time, frame)`` for each complete new record (frames only when
        ``dissect``); stop early when it returns False or at ``deadline``."""
        with open(self.path, "rb") as f:
            while time.monotonic() < deadline:
                f.seek(self.offset)
                data = f.read(_CHUNK)
                pos = 0
                while pos + _RECORD <= len(data):
                    sec, frac, caplen, _wire = struct.unpack_from(self.endian + "IIII", data,
                                                                  pos)
                    end = pos + _RECORD + caplen
                    if end > len(data):
                        break
                    if dissect and not offer(sec + frac / self.units, data[pos + _RECORD:end]):
                        self.offset += end
                        return
                    pos = end
                self.offset += pos
                if len(data) < _CHUNK or pos == 0:
                    return


class FileCapture:
    """A pcap file someone else is writing: read after the fact, limited to the block's
    time window (or the API's, see :meth:`use_window`)."""

    def __init__(self, source: CaptureSource, flt: CaptureFilter, limits: Limits, *,
                 sink: type[Sink] = Sink) -> None:
        self.source, self.filter, self.limits = source, flt, limits
        self.path = Path(source.value)
        self.packets: list[WirePacket] = []
        self._sink_type = sink
        self._sink = sink(flt, limits)
        self._tail: _PcapTail | None = None
        self._opened = 0.0
        self._headerless = False
        self._window: tuple[float, float] | None = None

    @property
    def truncated(self) -> str:
        """Why reading stopped early (a bound), or empty."""
        return self._sink.truncated

    @property
    def sink(self) -> Sink:
        """The sink the packets flowed into (an ``open_capture(sink=...)`` subclass)."""
        return self._sink

    def __enter__(self) -> FileCapture:
        if not self.path.is_file():
            raise CaptureFailed(f"capture file {self.path} does not exist",
                                details={"source": str(self.source)})
        load_dissectors()
        try:
            self._tail = _PcapTail.open(self.path, at_end=True)
            self._headerless = self._tail is None and self.path.stat().st_size == 0
        except OSError as exc:
            raise CaptureFailed(f"cannot read {self.path}: {exc}",
                                details={"source": str(self.source)}) from exc
        self._opened = time.time()
        return self

    def use_window(self, start_s: float, end_s: float) -> None:
        """Judge the packets of ``[start_s, end_s]`` (epoch seconds, e.g. a transfer's
        ``requestTime``/``endTime`` from the API) instead of the block's own times."""
        self._window = (start_s, end_s)

    def snapshot(self) -> list[WirePacket]:
        """The packets the file holds now, since the block opened."""
        return self._select(self._opened, time.time())

    def settle(self, *, quiet_s: float = 0.3, timeout: float = 3.0) -> bool:
        """Wait (bounded) until the file stopped growing for ``quiet_s`` (its writer
        flushed the tail of the traffic).

        Returns:
            False when the file was still growing at ``timeout``."""
        return wait_until(self._quiet_for(quiet_s), timeout)

    def _quiet_for(self, quiet_s: float) -> Callable[[], bool]:
        state = {"size": -1, "since": time.monotonic()}

        def quiet() -> bool:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size != state["size"]:
                state.update(size=size, since=time.monotonic())
            return time.monotonic() - state["since"] >= quiet_s

        return quiet

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until the writer has flushed the judged window: the file holds a
        kept packet stamped after the window's end (a pcap is written in time order; the
        window is :meth:`use_window`'s, else up to now, plus :data:`WINDOW_MARGIN_S`), or
        it stopped growing for 0.3 s. Other traffic between the hosts (a server's
        keep-alives) keeps a file growing, so growth alone cannot tell. Reads what it
        waits on.

        Returns:
            False when neither happened within ``timeout``."""
        end = (self._window[1] if self._window else time.time()) + WINDOW_MARGIN_S
        quiet = self._quiet_for(0.3)

        def past_window() -> bool:
            if self._tail is None and not self._headerless:
                return False  # pcapng or gzip: read whole, only at exit
            kept = self._select(self._opened, time.time() + 2 * WINDOW_MARGIN_S)
            return any(p.time > end for p in kept)

        return wait_until(lambda: quiet() or past_window(), timeout)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        closed = time.time()
        if exc_type is None:
            self.settle()
            start, end = self._window or (self._opened, closed)
            self.packets = self._select(start, end)

    def _select(self, start_s: float, end_s: float) -> list[WirePacket]:
        lo, hi = start_s - WINDOW_MARGIN_S, end_s + WINDOW_MARGIN_S
        if self._tail is None and self._headerless:
            # empty at entry (its writer had flushed nothing): every record is new
            self._tail = _PcapTail.open(self.path, at_end=False)
        if self._tail is not None:
            self._read_tail()
            kept = self._sink.snapshot()
        else:
            kept = self._read_whole()
        return [p for p in kept if lo <= p.time <= hi]

    def _read_tail(self) -> None:
        from scapy.config import conf
        from scapy.packet import Raw

        assert self._tail is not None
        cls: Any = conf.l2types.get(self._tail.linktype, Raw)

        def offer(when: float, frame: bytes) -> bool:
            pkt = cls(frame)
            pkt.time = when
            return self._sink.offer(pkt)

        self._tail.read(offer, deadline=time.monotonic() + self.limits.timeout_s)

    def _read_whole(self) -> list[WirePacket]:
        """pcapng, gzip, or a file that had no pcap header yet at entry: scapy reads it
        all (bounded by the sink and the time limit)."""
        from scapy.error import Scapy_Exception
        from scapy.utils import PcapReader

        sink = self._sink_type(self.filter, self.limits)
        deadline = time.monotonic() + self.limits.timeout_s
        try:
            with PcapReader(str(self.path)) as reader:
                for pkt in reader:
                    if not sink.offer(pkt) or time.monotonic() > deadline:
                        break
        except EOFError:
            pass  # a half-written last record
        except Scapy_Exception as exc:
            if "No data could be read" not in str(exc):
                raise CaptureFailed(f"{self.path} is not a pcap/pcapng file",
                                    details={"path": str(self.path)}) from exc
        except OSError as exc:
            raise CaptureFailed(f"cannot read {self.path}: {exc}",
                                details={"path": str(self.path)}) from exc
        self._sink = sink
        return sink.snapshot()
