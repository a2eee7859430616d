"""The receive thread with coalesced reads (UDP_GRO) and with offload switched off.

Requirement (issue 13, docs/protocol.md 5): a GRO read holding many wire datagrams is cut at
the segment size the kernel reports and each datagram is authenticated and written on its
own; a corrupted datagram inside a coalesced read is dropped alone (counted ``rejected``),
its neighbours are written. Real sockets on loopback, the real receiver core; the handshake
runs in memory between the real sender and receiver cores.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest
from test_data_simulation import MemorySinks, MemorySource, make_spec

from jetstream_qa.refserver.engine import receiver
from jetstream_qa.refserver.engine.receiver import ReceiverThread
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState
from jetstream_qa.refserver.engine.udp_offload import BatchSender, enable_gro, probe_gso
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import BLOCK_SIZE

DATA = random.Random(13).randbytes(100 * 5 * BLOCK_SIZE + 1000)
"""100 full 1,400-byte datagrams (5 blocks each) and a short last one."""


def _offload() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return probe_gso(s) and enable_gro(s)


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    tx.connect(rx.getsockname())
    try:
        yield tx, rx
    finally:
        tx.close()
        rx.close()  # the thread closes it too; closing twice is harmless


def _handshake(tx_addr: tuple[str, int], cipher: int) -> tuple[SenderSession,
                                                                ReceiverEndpoint, MemorySinks]:
    """Sender and receiver cores up to DATA, in memory, the sender at ``tx_addr``."""
    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx",
                          server_id="rx", min_cipher=0, sinks=sinks, window=4096,
                          max_datagram=1400)
    tx = SenderSession(make_spec(DATA, cipher=cipher), MemorySource(DATA))
    # the receive thread's clock is time.monotonic(): the handshake happens "now" for it
    start = now = time.monotonic()
    queue = tx.start(now)
    while tx.state is not SenderState.DATA:
        assert now < start + 5.0, f"handshake stuck in {tx.state}"
        answers = [o for d in queue
                   for o, _a in rx.receive(bytearray(d), len(d), tx_addr, now)]
        answers += [o for o, _a in rx.tick(now)]
        queue = [d for a in answers for d in tx.receive(a, now)] + tx.tick(now)
        now += 0.01
    tx.window.cwnd = 1e6  # every DATA datagram at once: this test is not about pacing
    return tx, rx, sinks


def _data_datagrams(tx: SenderSession) -> list[bytes]:
    out, buf = [], bytearray(1500)
    while n := tx.fill_data(buf, time.monotonic()):
        out.append(bytes(buf[:n]))
    return out


def _run_receiver(rx: ReceiverEndpoint, sock: socket.socket, *, offload: bool,
                  send: list[bytes], tx_sock: socket.socket) -> ReceiverThread:
    thread = ReceiverThread(rx, sock, udp_offload=offload)
    before = rx.datagrams
    thread.start()
    try:
        batch = BatchSender(tx_sock, gso=probe_gso(tx_sock), max_datagram=1400)
        for d in send:
            batch.add(memoryview(d))
        batch.flush()
        deadline = time.monotonic() + 20.0
        while rx.datagrams - before < len(send) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a counter with a deadline, not a fixed wait
    finally:
        thread.stop()
        thread.join(5.0)
    return thread


@pytest.mark.parametrize("offload", [True, False], ids=["gro", "forced-fallback"])
@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_gso_batch_is_parsed_datagram_by_datagram(
        sockets: tuple[socket.socket, socket.socket], offload: bool, cipher: int) -> None:
    if offload and not _offload():
        pytest.skip("kernel lacks UDP GSO/GRO")
    tx_sock, rx_sock = sockets
    tx, rx, sinks = _handshake(tx_sock.getsockname(), cipher)
    datagrams = _data_datagrams(tx)
    assert len(datagrams) == 101 and len(datagrams[-1]) < len(datagrams[0])
    baseline = rx.datagrams
    thread = _run_receiver(rx, rx_sock, offload=offload, send=datagrams, tx_sock=tx_sock)
    assert thread.gro is offload
    assert rx.datagrams - baseline == len(datagrams)
    assert rx.rejected == rx.malformed == 0
    assert bytes(sinks.sinks[0].data) == DATA
    assert (thread.coalesced_reads > 0) is offload


@pytest.mark.parametrize("offload", [True, False], ids=["gro", "forced-fallback"])
def test_corrupted_segment_in_a_coalesced_read_is_dropped_alone(
        sockets: tuple[socket.socket, socket.socket], offload: bool) -> None:
    if offload and not _offload():
        pytest.skip("kernel lacks UDP GSO/GRO")
    tx_sock, rx_sock = sockets
    tx, rx, sinks = _handshake(tx_sock.getsockname(), 3)
    datagrams = _data_datagrams(tx)
    bad = bytearray(datagrams[7])
    bad[100] ^= 0x40  # inside the ciphertext: the tag no longer matches
    datagrams[7] = bytes(bad)
    thread = _run_receiver(rx, rx_sock, offload=offload, send=datagrams, tx_sock=tx_sock)
    assert (thread.coalesced_reads > 0) is offload
    assert rx.rejected == 1 and rx.malformed == 0
    held = sinks.sinks[0].data
    lost = range(7 * 5 * BLOCK_SIZE, 8 * 5 * BLOCK_SIZE)  # the 5 blocks of datagram 7
    assert held[:lost.start] == DATA[:lost.start]
    assert held[lost.stop:] == DATA[lost.stop:]
    assert held[lost.start:lost.stop] == bytes(len(lost))  # never written
    transfer = next(iter(rx.transfers.values()))
    assert transfer.held.total == transfer.total_blocks - 5


def test_the_receive_thread_finishes_a_transfer_without_waiting_for_its_tick(
        sockets: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the tick period an hour, the transfer is finished (results, the FIN_ACK pushed)
    only because the pass that completes it asks for a tick at once (``tick_soon``)."""
    monkeypatch.setattr(receiver, "TICK", 3600.0)
    tx_sock, rx_sock = sockets
    tx, rx, sinks = _handshake(tx_sock.getsockname(), 3)
    thread = ReceiverThread(rx, rx_sock, udp_offload=False)
    thread.start()
    transfer = next(iter(rx.transfers.values()))
    try:
        for d in _data_datagrams(tx):
            tx_sock.send(d)
        deadline = time.monotonic() + 10.0
        while transfer.results is None and time.monotonic() < deadline:
            time.sleep(0.01)  # polling with a deadline, not a fixed wait
    finally:
        thread.stop()
        tx_sock.send(b"wake")  # the loop sleeps in poll() until the next tick or a datagram
        thread.join(5.0)
    assert not thread.is_alive()
    assert transfer.results is not None and bytes(sinks.sinks[0].data) == DATA
