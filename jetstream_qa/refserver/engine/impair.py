"""A seeded UDP impairment relay for tests and benchmarks (loopback only).

``ImpairedRelay(target, loss=0.05, seed=1)`` listens on ``127.0.0.1:<port>`` and forwards
every datagram to ``target`` (a reference server's receive port), dropping, duplicating or
delaying (reordering) each with the given probabilities; answers from the target go back to
the last sender seen, impaired the same way. Point a destination at ``relay.address`` to run
a transfer over a lossy path. Used as a context manager; the thread stops on exit.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import threading
import time
from types import TracebackType

__all__ = ["ImpairedRelay"]


class ImpairedRelay:
    """See the module docstring. Counters: ``forwarded``, ``dropped``, ``duplicated``."""

    def __init__(self, target: tuple[str, int], *, loss: float = 0.0, dup: float = 0.0,
                 reorder: float = 0.0, delay: float = 0.002, seed: int = 1,
                 capture: int = 0) -> None:
        if not target[0].startswith("127.") and target[0] != "::1":
            raise ValueError("the relay forwards to loopback addresses only")
        self.target = target
        self.loss, self.dup, self.reorder, self.delay = loss, dup, reorder, delay
        self._rng = random.Random(seed)
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (self._front, self._back):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._front.bind(("127.0.0.1", 0))
        self._back.bind(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._front.getsockname()
        self._client: tuple[str, int] | None = None
        self._held: list[tuple[float, int, bytes, bool]] = []
        self._n = 0
        self.forwarded = self.dropped = self.duplicated = 0
        self.capture = capture
        self.captured: list[bytes] = []
        """The first ``capture`` datagrams seen going upstream (for replay tests)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jq-relay", daemon=True)

    def __enter__(self) -> ImpairedRelay:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._front.close()
        self._back.close()

    def _impair(self, data: bytes, upstream: bool, now: float) -> None:
        rng = self._rng
        if rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 1
        if rng.random() < self.dup:
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            extra = rng.random() * self.delay if rng.random() < self.reorder else 0.0
            self._n += 1
            heapq.heappush(self._held, (now + extra, self._n, data, upstream))

    def _flush(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            _, _, data, upstream = heapq.heappop(self._held)
            try:
                if upstream:
                    self._back.sendto(data, self.target)
                elif self._client is not None:
                    self._front.sendto(data, self._client)
                self.forwarded += 1
            except OSError:
                pass

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._front, select.POLLIN)
        poller.register(self._back, select.POLLIN)
        front = self._front.fileno()
        while not self._stop.is_set():
            timeout = 50.0
            if self._held:
                timeout = max(0.0, (self._held[0][0] - time.monotonic()) * 1000)
            for fd, _ in poller.poll(timeout):
                sock = self._front if fd == front else self._back
                for _ in range(64):
                    try:
                        data, addr = sock.recvfrom(65536, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue
                    if fd == front:
                        self._client = addr
                        if len(self.captured) < self.capture:
                            self.captured.append(data)
                    self._impair(data, fd == front, time.monotonic())
            self._flush(time.monotonic())
