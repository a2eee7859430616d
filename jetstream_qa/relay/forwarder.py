"""Socket shell of the impairment relay: one ``epoll`` loop, no threads.

Theory of operation
-------------------
Datagrams that reach the listening socket from a client go to ``forward``. Each client
address gets its own upstream socket, connected to ``forward``, so replies arriving on it go
back to that client, and several senders can share the relay. Every readable socket is drained
in batches with ``recvfrom_into`` into one preallocated buffer. Without impairment a datagram
is sent straight from that buffer (no copy). With impairment it goes through the direction's
:class:`~jetstream_qa.relay.model.ImpairmentModel`, and its delayed copies wait in a timer
heap. Sends are blocking, so a slow receiver applies back-pressure, and the relay does not drop
anything the model did not tell it to drop. The loop wakes at least every 100 ms to honour the
stop flag and the time and datagram budgets.

Impairment acts per wire datagram even when a sender batches with UDP segmentation offload
(``UDP_SEGMENT``, as the reference engine does): the relay's sockets deliberately leave
``UDP_GRO`` off, so the kernel splits every batch at the sender's segment size before the
relay reads it, and each read is one datagram the sender built and sealed on its own.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.relay.model import Impairment, ImpairmentModel

__all__ = ["Relay", "RelaySettings", "format_hostport", "parse_hostport"]

MAX_DATAGRAM = 65535
BATCH = 64
"""Datagrams read from one socket before looking at the others again."""
SOCKET_BUFFER = 8 << 20
"""Requested SO_RCVBUF/SO_SNDBUF; the kernel caps it at net.core.[rw]mem_max."""
TICK_S = 0.1

_Payload = tuple[socket.socket, Any, bytes]
"""(socket to send on, address or None for a connected socket, datagram)."""


def parse_hostport(text: str, *, option: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` or ``[V6HOST]:PORT``.

    Raises:
        ConfigurationError: no port, or a port outside 0..65535 (the message names ``option``).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigurationError(f"invalid {option} {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def format_hostport(host: str, port: int) -> str:
    """``HOST:PORT``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Everything the relay needs, resolved once from the command line."""

    listen: tuple[str, int]
    forward: tuple[str, int]
    impairment: Impairment
    seed: int = 0
    max_seconds: float | None = None
    max_datagrams: int | None = None
    allow_remote: bool = False
    max_clients: int = 1024


def _resolve(address: tuple[str, int], *, allow_remote: bool, option: str) -> tuple[int, Any]:
    """Resolve to (family, sockaddr); refuse non-loopback unless ``allow_remote``."""
    try:
        infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot resolve {option} {address[0]!r}: {exc}") from None
    family, _, _, _, sockaddr = infos[0]
    ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
    if not ip.is_loopback and not allow_remote:
        raise ConfigurationError(
            f"{option} {address[0]} is not a loopback address; pass --allow-remote to permit it")
    return family, sockaddr


def _tune(sock: socket.socket) -> None:
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        except OSError:
            pass


class Relay:
    """A bound relay; :meth:`run` forwards until a budget ends or ``should_stop()`` is true."""

    def __init__(self, settings: RelaySettings, *,
                 tap: Callable[[bytes], None] | None = None) -> None:
        """Bind the listening socket (port 0 picks a free port).

        ``tap``, when given, is called with every datagram that arrives from a client
        (before impairment): tests use it to capture traffic for replay.

        Raises:
            ConfigurationError: an address does not resolve, or is remote without permission.
        """
        self.settings = settings
        family, listen_addr = _resolve(settings.listen, allow_remote=settings.allow_remote,
                                       option="--listen")
        self._up_family, self._forward = _resolve(
            settings.forward, allow_remote=settings.allow_remote, option="--forward")
        self._listen = socket.socket(family, socket.SOCK_DGRAM)
        _tune(self._listen)
        self._listen.bind(listen_addr)
        self.address: tuple[str, int] = self._listen.getsockname()[:2]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listen, selectors.EVENT_READ, None)
        self._clients: dict[Any, socket.socket] = {}
        self.clients_seen = 0
        seed = settings.seed
        self.c2s: ImpairmentModel[_Payload] = ImpairmentModel(
            settings.impairment, seed=seed, direction="clientToServer")
        self.s2c: ImpairmentModel[_Payload] = ImpairmentModel(
            settings.impairment, seed=seed, direction="serverToClient")
        self._fast = not settings.impairment.active
        self._heap: list[tuple[float, int, _Payload]] = []
        self._seq = itertools.count()
        self._buf = bytearray(MAX_DATAGRAM)
        self._mv = memoryview(self._buf)
        self._budget = settings.max_datagrams if settings.max_datagrams is not None else -1
        self.send_errors = 0
        self._tap = tap
        if tap is not None:
            self._fast = False  # the tapped path copies each datagram once

    # --- public ----------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
        """Forward until stopped; return the exit summary (counts per direction)."""
        start = time.monotonic()
        limit = self.settings.max_seconds
        deadline = None if limit is None else start + limit
        while True:
            now = time.monotonic()
            if should_stop():
                reason = "signal"
                break
            if deadline is not None and now >= deadline:
                reason = "max-seconds"
                break
            if self._budget == 0:
                reason = "max-datagrams"
                break
            self._fire(now)
            for key, _ in self._sel.select(self._timeout(now, deadline)):
                if key.data is None:
                    self._drain_listen()
                else:
                    self._drain_upstream(key.fileobj, key.data)  # type: ignore[arg-type]
        return self._summary(reason, time.monotonic() - start)

    def close(self) -> None:
        """Close every socket."""
        for sock in [self._listen, *self._clients.values()]:
            self._sel.unregister(sock)
            sock.close()
        self._clients.clear()
        self._sel.close()

    # --- loop steps ------------------------------------------------------------------------
    def _timeout(self, now: float, deadline: float | None) -> float:
        moments = [now + TICK_S]
        if deadline is not None:
            moments.append(deadline)
        if self._heap:
            moments.append(self._heap[0][0])
        for model in (self.c2s, self.s2c):
            held = model.next_deadline()
            if held is not None:
                moments.append(held)
        return max(0.0, min(moments) - now)

    def _fire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            self._send(heapq.heappop(heap)[2])
        for model in (self.c2s, self.s2c):
            if model.next_deadline() is not None:
                self._emit(model.on_timer(now), now)

    def _drain_listen(self) -> None:
        if self._fast:
            self._pass_listen()
            return
        sock, mv = self._listen, self._mv
        for _ in range(BATCH):
            if self._budget == 0:
                return
            try:
                n, addr = sock.recvfrom_into(self._buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                self.send_errors += 1
                continue
            self._budget -= 1
            up = self._clients.get(addr) or self._new_client(addr)
            now = time.monotonic()
            data = bytes(mv[:n])
            if self._tap is not None:
                self._tap(data)
            self._emit(self.c2s.on_datagram((up, None, data), now), now)

    def _pass_listen(self) -> None:
        """Fast path without impairment: straight from the buffer, counters kept locally."""
        recv, buf, mv, clients = self._listen.recvfrom_into, self._buf, self._mv, self._clients
        dontwait = socket.MSG_DONTWAIT
        budget = self._budget if self._budget >= 0 else BATCH
        count = errors = 0
        try:
            for _ in range(min(BATCH, budget)):
                try:
                    n, addr = recv(buf, 0, dontwait)
                except BlockingIOError:
                    break
                count += 1
                up = clients.get(addr) or self._new_client(addr)
                try:
                    up.send(mv[:n])
                except OSError:
                    errors += 1
        finally:
            self._account(self.c2s.stats, count, errors)

    def _drain_upstream(self, up: socket.socket, client: Any) -> None:
        if self._fast:
            self._pass_upstream(up, client)
            return
        mv = self._mv
        for _ in range(BATCH):
            if self._budget == 0:
                return
            try:
                n = up.recv_into(self._buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:  # e.g. ICMP port unreachable from the forward address
                self.send_errors += 1
                continue
            self._budget -= 1
            now = time.monotonic()
            self._emit(self.s2c.on_datagram((self._listen, client, bytes(mv[:n])), now), now)

    def _pass_upstream(self, up: socket.socket, client: Any) -> None:
        """Fast path of replies: straight from the buffer to the client."""
        recv, buf, mv, sendto = up.recv_into, self._buf, self._mv, self._listen.sendto
        dontwait = socket.MSG_DONTWAIT
        budget = self._budget if self._budget >= 0 else BATCH
        count = errors = 0
        try:
            for _ in range(min(BATCH, budget)):
                try:
                    n = recv(buf, 0, dontwait)
                except BlockingIOError:
                    break
                except OSError:  # ICMP port unreachable from the forward address
                    self.send_errors += 1
                    continue
                count += 1
                try:
                    sendto(mv[:n], client)
                except OSError:
                    errors += 1
        finally:
            self._account(self.s2c.stats, count, errors)

    def _account(self, stats: Any, count: int, errors: int) -> None:
        """Book one fast-path batch: ``count`` datagrams read, ``errors`` of them unsent."""
        stats.received += count
        stats.forwarded += count - errors
        self.send_errors += errors
        if self._budget >= 0:
            self._budget -= count

    def _new_client(self, addr: Any) -> socket.socket:
        if len(self._clients) >= self.settings.max_clients:
            old_addr = next(iter(self._clients))
            old = self._clients.pop(old_addr)
            self._sel.unregister(old)
            old.close()
        up = socket.socket(self._up_family, socket.SOCK_DGRAM)
        _tune(up)
        up.connect(self._forward)
        self._sel.register(up, selectors.EVENT_READ, addr)
        self._clients[addr] = up
        self.clients_seen += 1
        return up

    def _emit(self, outs: list[tuple[float, _Payload]], now: float) -> None:
        for due, payload in outs:
            if due <= now:
                self._send(payload)
            else:
                heapq.heappush(self._heap, (due, next(self._seq), payload))

    def _send(self, payload: _Payload) -> None:
        sock, addr, data = payload
        try:
            if addr is None:
                sock.send(data)
            else:
                sock.sendto(data, addr)
        except OSError:
            self.send_errors += 1

    def _summary(self, reason: str, elapsed: float) -> dict[str, Any]:
        discarded = len(self._heap) + self.c2s.held_count() + self.s2c.held_count()
        return {
            "relay": "exit",
            "reason": reason,
            "elapsedS": round(elapsed, 6),
            "listen": format_hostport(self.address[0], self.address[1]),
            "forward": format_hostport(self._forward[0], self._forward[1]),
            "seed": self.settings.seed,
            "clients": self.clients_seen,
            "clientToServer": self.c2s.stats.as_dict(),
            "serverToClient": self.s2c.stats.as_dict(),
            "discarded": discarded,
            "sendErrors": self.send_errors,
        }
