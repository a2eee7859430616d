"""``--js-capture cmd:COMMAND``: a command's pcap stream, read as it arrives (see the theory
of operation in :mod:`jetstream_qa.capture.stream`; tcpdump's own accounting is in
:mod:`jetstream_qa.capture.tcpdump`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from typing import Final

from jetstream_qa.capture.live import STOP_TIMEOUT_S, LiveCapture
from jetstream_qa.capture.sink import CaptureFailed, load_dissectors, wait_until
from jetstream_qa.capture.tcpdump import (
    LISTENING,
    TcpdumpStats,
    is_tcpdump,
    last_stats,
    stats_count,
)

__all__ = ["CommandCapture"]

_DRAIN_POLL_S: Final = 0.05


class CommandCapture(LiveCapture):
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
            losses.append(f"the stream was still being read {STOP_TIMEOUT_S:g} s after stop")
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
                    proc.wait(STOP_TIMEOUT_S)
            self._reader.join(STOP_TIMEOUT_S)
            self._final = last_stats(self._stderr_text())
            losses = self._losses(exited, self._final)
            if losses and not self._sink.truncated:
                self._sink.truncated = "; ".join(losses)
            if proc.stdout is not None:
                proc.stdout.close()
            self._stderr.close()
