"""The shared part of the live captures (:mod:`.stream`'s interface capture and
:mod:`.command`'s command capture): the sink, the deadline timer, settle and drain."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Final

from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.sink import Limits, Sink, wait_until
from jetstream_qa.capture.source import CaptureFilter, CaptureSource

__all__ = ["STOP_TIMEOUT_S", "LiveCapture"]

STOP_TIMEOUT_S: Final = 5.0
"""How long a stopping capture waits for its reader thread (and a command for its exit)."""


class LiveCapture:
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
