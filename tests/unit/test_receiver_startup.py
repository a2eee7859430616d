"""A starting transfer is acknowledged often, and finished as soon as it holds every block.

Requirement (issue 13, docs/protocol.md 5.5): a receiver ACKs a session after every
``max(2, window / (16 x sessions))`` DATA datagrams -- but while the session starts up after
every ``max(2, received / 16)`` if that is fewer, so a sender's window (32 datagrams at
first, 5.6) grows each round trip rather than each 5 ms ACK tick; and the receiver finishes a
transfer (fsync, results, the first FIN_ACK) on the pass that received its last block, not a
tick later. Measured before: a 1 MiB transfer took 36 ms (seven ticks of window growth) and a
one-block transfer 6-7 ms (the finishing tick). In memory, the real cores.
"""

from __future__ import annotations

import random

import pytest
from test_receiver_batch import ADDR, NOW, _pair

from jetstream_qa.wire.data import BLOCK_SIZE

DATA = random.Random(5).randbytes(700 * 5 * BLOCK_SIZE)
"""700 full 1,400-byte datagrams."""


def _expected_ack_points(count: int, shared: int) -> list[int]:
    """After which received datagram (1-based) an ACK is due, counted from the rule."""
    points, unacked = [], 0
    for received in range(1, count + 1):
        unacked += 1
        if unacked >= min(shared, max(2, received // 16)):
            points.append(received)
            unacked = 0
    return points


@pytest.mark.parametrize("window", [8192, 256])
def test_a_starting_session_is_acknowledged_every_sixteenth_of_what_it_received(
        monkeypatch: pytest.MonkeyPatch, window: int) -> None:
    rx, _, _, _, datagrams = _pair(monkeypatch, 3, window=window, data=DATA)
    shared = rx.shares.ack_every
    assert shared == window // 16
    acks = [i for i, d in enumerate(datagrams[:-1], 1)
            if rx.receive(bytearray(d), len(d), ADDR, NOW)]
    assert acks == _expected_ack_points(len(datagrams) - 1, shared)
    assert acks[:3] == [2, 4, 6]  # the shared cadence alone would wait for `shared`


def test_the_pass_that_completes_a_transfer_asks_for_a_tick_that_finishes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rx, _, sinks, _, datagrams = _pair(monkeypatch, 3, window=8192)
    for d in datagrams[:-1]:
        rx.receive(bytearray(d), len(d), ADDR, NOW)
    assert not rx.tick_soon
    last = datagrams[-1]
    rx.receive(bytearray(last), len(last), ADDR, NOW)
    transfer = next(iter(rx.transfers.values()))
    assert rx.tick_soon and transfer.finishing and transfer.results is None
    out = rx.tick(NOW)  # no time has passed: the finishing does not wait for a period
    assert not rx.tick_soon and transfer.results is not None and sinks.sinks[0].finished
    assert len(out) == 2  # the final ACK and the first FIN_ACK chunk, pushed unasked
