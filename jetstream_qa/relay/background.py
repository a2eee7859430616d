"""The impairment relay on a background thread, for tests and benchmarks in one process.

``with BackgroundRelay(forward=(host, port), loss=0.05, seed=1) as relay:`` binds a loopback
port (``relay.address``), forwards until the block ends, and leaves the exit counters in
``relay.summary``. It is the same :class:`~jetstream_qa.relay.forwarder.Relay` that
``jetstream-qa relay`` runs; ``capture=N`` keeps the first N client datagrams (for replay and
tampering tests).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from jetstream_qa.relay.forwarder import Relay, RelaySettings
from jetstream_qa.relay.model import Impairment

__all__ = ["BackgroundRelay"]


class BackgroundRelay:
    """A relay running on a daemon thread while the ``with`` block lasts."""

    def __init__(self, forward: tuple[str, int], *, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, delay_ms: float = 0.0, jitter_ms: float = 0.0,
                 seed: int = 1, capture: int = 0, max_seconds: float = 600.0) -> None:
        settings = RelaySettings(
            listen=("127.0.0.1", 0), forward=forward, seed=seed, max_seconds=max_seconds,
            impairment=Impairment(loss=loss, duplicate=duplicate, reorder=reorder,
                                  delay_ms=delay_ms, jitter_ms=jitter_ms))
        self.captured: list[bytes] = []
        """The first ``capture`` datagrams that clients sent through the relay."""
        self._capture = capture
        self._relay = Relay(settings, tap=self._keep if capture else None)
        self.address: tuple[str, int] = self._relay.address
        self.summary: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)

    def _keep(self, datagram: bytes) -> None:
        if len(self.captured) < self._capture:
            self.captured.append(datagram)

    def _run(self) -> None:
        self.summary = self._relay.run(self._stop.is_set)

    @property
    def dropped(self) -> int:
        """Client-to-server datagrams dropped so far."""
        return int(self._relay.c2s.stats.dropped)

    def __enter__(self) -> BackgroundRelay:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._relay.close()
