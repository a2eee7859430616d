"""Shared pieces of the transfer benchmarks: an embedded pair, one timed transfer, a raw UDP
blast peer. Numbers are measured, never asserted; each script prints ratios against a peer
measured in the same invocation (DESIGN.md: "Performance is measured by benchmarks as ratios
against a peer run in the same process tree")."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time
from pathlib import Path
from typing import Any

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair

GIB = 1 << 30
DATAGRAM = 20 + 8 + 253 * 256
"""The engine's DATA datagram at MIN_CIPHER_NONE on loopback (header + prefix + 253 blocks)."""


def data_datagram(max_datagram: int) -> int:
    """The engine's full DATA datagram at MIN_CIPHER_NONE for ``serve --max-datagram``:
    header (20) + first-block prefix (8) + the whole 256-byte blocks that fit with a tag."""
    return 28 + (max_datagram - 44) // 256 * 256


def timed_transfer(pair: EmbeddedPair, src: Path, dest: str, **kw: Any) -> dict[str, Any]:
    """Run one transfer of ``src``; returns the final Transfer plus ``goodput`` (bytes/s over
    the server's own startTime..endTime)."""
    with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=60) as api:
        api.server.auth(pair.user.name, pair.user.password)
        m = api.send.createManifest(mappings={f"/{dest}": str(src)})
        m = api.send.waitForManifest(m["manifestId"], timeout=120)
        d = api.send.createDestination("127.0.0.1", destinationPort=pair.receiver.recv_port)
        t0 = time.monotonic()
        t = api.send.createTransfer(d["destinationId"], m["manifestId"], **kw)
        t = api.send.waitForTransfer(t["transferId"], timeout=3000)
        wall = time.monotonic() - t0
    if t["status"] != "complete":
        raise SystemExit(f"transfer failed: {t['errorMessage']}")
    engine_s = (t["endTime"] - t["startTime"]) / 1e6
    return {**t, "engineSeconds": engine_s, "wallSeconds": wall,
            "goodput": t["totalBytes"] / engine_s}


def sparse_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def _blast_receiver(q: Any, size: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE, like the engine
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("127.0.0.1", 0))
    q.put(s.getsockname()[1])
    buf = bytearray(size + 64)
    s.settimeout(2.0)
    n = got = 0
    first = last = 0.0
    try:
        while True:
            k = s.recv_into(buf)
            last = time.perf_counter()
            if not n:
                first = last
            n += 1
            got += k
    except TimeoutError:
        pass
    q.put((n, got, max(1e-9, last - first)))


def blast_pair(size: int) -> tuple[Any, Any, socket.socket]:
    """A process receiving ``size``-byte datagrams on loopback (:func:`_blast_receiver`) and
    a UDP socket connected to it (4 MiB send buffer): ``(process, its result queue,
    socket)``; the queue yields ``(datagrams, bytes, seconds)`` once the blast is over."""
    q: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_blast_receiver, args=(q, size))
    proc.start()
    port = q.get(timeout=30)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect(("127.0.0.1", port))
    return proc, q, s


def raw_udp_blast(total: int, size: int = DATAGRAM) -> dict[str, float]:
    """Blast ``total`` bytes in ``size``-byte datagrams from this process to a receiving
    process as fast as Python can; returns sent and received rates (bytes/s) and loss."""
    proc, q, s = blast_pair(size)
    data = memoryview(os.urandom(size))
    count = total // size
    t0 = time.perf_counter()
    for _ in range(count):
        s.send(data)
    sent_s = time.perf_counter() - t0
    n, got, recv_s = q.get(timeout=60)
    proc.join(10)
    return {"sentRate": count * size / sent_s, "recvRate": got / recv_s,
            "loss": 1 - n / count, "datagrams": count}


def mb(x: float) -> str:
    return f"{x / 1e6:8.1f} MB/s"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
