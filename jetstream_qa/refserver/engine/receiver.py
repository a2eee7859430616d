"""The receive port: one UDP socket, one thread, around a :class:`ReceiverEndpoint`.

The thread reads each datagram with ``recvfrom_into`` into one preallocated buffer
(``MSG_DONTWAIT``; ``poll`` when the socket is empty) or, where the kernel coalesces
(``UDP_GRO``, see :mod:`~jetstream_qa.refserver.engine.udp_offload`), reads several at once
with ``recvmsg_into`` (one flow's datagrams back to back, the segment size in a control
message). A single datagram goes to the sans-IO core's ``receive``; a coalesced read goes
whole to ``receive_run``, which handles the plain case (one session's authentic DATA with
contiguous new blocks) a run at a time and everything else datagram by datagram, with the
same outcome as one by one (a bad datagram inside a coalesced read is dropped alone). The
core authenticates and decrypts in place and writes through storage; the thread sends
whatever it answers. Timers (ACKs, checkpoints, expiry) run every 5 ms. Nothing a
datagram contains can stop the thread: the core counts bad input, and any unexpected
exception is logged and counted, never raised.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable

from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.udp_offload import enable_gro, recv_batch

__all__ = ["ReceiverThread", "open_receive_socket"]

log = logging.getLogger("jetstream_qa.refserver.engine")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
TICK = 0.005


def open_receive_socket(host: str, port: int, *, rcvbuf: int = 16 << 20) -> socket.socket:
    """Bind the UDP receive socket with a large receive buffer (forced when privileged)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, port))
    return sock


class ReceiverThread(threading.Thread):
    """Runs the receive loop until :meth:`stop`."""

    def __init__(self, core: ReceiverEndpoint, sock: socket.socket, *,
                 allowance: Callable[[], float | None] | None = None,
                 udp_offload: bool = True) -> None:
        super().__init__(name="jq-recv", daemon=True)
        self.core = core
        self._allowance = allowance
        """Returns the current incoming allowance (bit/s, None = unlimited); read every
        tick into the core (``docs/protocol.md`` 5.6)."""
        self.sock = sock
        self.address = sock.getsockname()
        self.errors = 0
        self.gro = udp_offload and enable_gro(sock)
        """Whether reads may return several datagrams (``UDP_GRO``), split by the segment
        size the kernel reports with them."""
        self.coalesced_reads = 0
        """Reads that carried more than one datagram (GRO at work)."""
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            self._loop()
        finally:
            self.sock.close()

    def _loop(self) -> None:
        sock = self.sock
        buf = bytearray(65600)
        view = memoryview(buf)
        gro = self.gro
        recv = sock.recvfrom_into
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        stopped = self._stop_event.is_set
        core = self.core
        flags = socket.MSG_DONTWAIT
        next_tick = 0.0
        segment = 0
        while not stopped():
            try:
                if gro:
                    n, segment, addr = recv_batch(sock, buf, flags)
                else:
                    n, addr = recv(buf, 0, flags)
            except (BlockingIOError, InterruptedError):
                n = -1
            except OSError:
                n = 0  # an ICMP error reported on the socket; nothing to read
            now = time.monotonic()
            if n >= 0:
                if not gro:
                    segment = n
                if n:
                    self._handle(view, n, segment, addr, now)
            else:
                poller.poll(max(0.0, next_tick - now) * 1000.0 + 0.1)
                now = time.monotonic()
            if now >= next_tick or core.tick_soon:
                self._send(self._tick(now))
                next_tick = now + TICK

    def _handle(self, view: memoryview, n: int, segment: int, addr: tuple[str, int],
                now: float) -> None:
        """One read of ``n`` bytes: one datagram (``segment >= n``) or a coalesced run the
        core takes at once (same outcome as one by one)."""
        try:
            if segment >= n:
                out = self.core.receive(view, n, addr, now)
            else:
                self.coalesced_reads += 1
                out = self.core.receive_run(view, n, segment, addr, now)
        except Exception:  # hostile input must never stop the receiver
            self.errors += 1
            self.core.malformed += 1
            if self.errors <= 10:
                log.exception("receiver: unexpected error on a read of %d bytes from %s",
                              n, addr)
            return
        if out:
            self._send(out)

    def _tick(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        try:
            if self._allowance is not None:
                self.core.incoming_allowance = self._allowance()
            return self.core.tick(now)
        except Exception:  # a timer bug must not stop the receive port
            self.errors += 1
            if self.errors <= 10:
                log.exception("receiver: timer failed")
            return []

    def _send(self, out: list[tuple[bytes, tuple[str, int]]]) -> None:
        for data, addr in out:
            try:
                self.sock.sendto(data, addr)
            except OSError:
                pass
