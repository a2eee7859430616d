"""Datagram decoding is total: any bytes give a message or a ProtocolError, nothing else.

Requirement (DESIGN.md "it must survive hostile input"; docs/protocol.md 5.2): decoders raise
only ProtocolError, and the receiver core counts a bad datagram instead of raising.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.data import (
    HEADER,
    Ack,
    DType,
    Meta,
    Open,
    decode_body,
    encode_body,
    pack_header,
    unpack_header,
)

KINDS = [k for k in DType if k is not DType.DATA]
SEEDS = [
    encode_body(Open(1, 1000, 3, 3, 4, 0, 1400, 10, bytes(32), bytes(range(32)),
                     bytes(range(1, 33)), "uid", "id", "dest")),
    encode_body(Ack(5, 9, 9, 100, 64, ((7, 9), (20, 30)))),
    encode_body(Meta(0, b"meta")),
]


def _decode(data: bytes) -> None:
    try:
        header = unpack_header(data)
    except ProtocolError:
        return
    if header.dtype is DType.DATA:
        return
    try:
        decode_body(header.dtype, data[HEADER.size:])
    except ProtocolError:
        pass


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.5 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op < 0.75:
            del buf[rng.randrange(len(buf) + 1):]
        else:
            buf += rng.randbytes(rng.randint(1, 40))
    return bytes(buf)


def test_100k_random_and_mutated_datagrams_raise_only_protocol_error() -> None:
    rng = random.Random(20261127)
    for i in range(100_000):
        if i % 3 == 0:
            data = rng.randbytes(rng.randint(0, 200))
        else:
            kind = rng.choice(KINDS)
            body = rng.choice(SEEDS) if i % 3 == 1 else rng.randbytes(rng.randint(0, 120))
            data = _mutate(rng, pack_header(kind, rng.getrandbits(64), rng.getrandbits(64))
                           + body)
        _decode(data)  # anything but ProtocolError propagates and fails the test


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(KINDS), st.binary(max_size=300))
def test_any_body_decodes_or_raises_protocol_error(kind: DType, body: bytes) -> None:
    try:
        decode_body(kind, body)
    except ProtocolError:
        pass


def test_receiver_core_counts_garbage_and_never_raises() -> None:
    from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
    from jetstream_qa.wire import crypto

    class NoSinks:
        def open(self, spec: object) -> object:
            raise AssertionError("garbage must never reach storage")

    core = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="u",
                            server_id="i", min_cipher=0, sinks=NoSinks())  # type: ignore[arg-type]
    rng = random.Random(7)
    buf = bytearray(70000)
    for i in range(20_000):
        kind = rng.choice(list(DType))
        raw = rng.randbytes(rng.randint(0, 100)) if i % 2 else _mutate(
            rng, pack_header(kind, rng.getrandbits(64), 0) + rng.choice(SEEDS))
        buf[:len(raw)] = raw
        core.receive(buf, len(raw), ("127.0.0.1", 5000 + i % 7), float(i) * 1e-4)
        core.tick(float(i) * 1e-4)
    assert core.datagrams == 20_000
    assert core.malformed + core.rejected > 10_000


@pytest.mark.parametrize("length", [0, 1, 19])
def test_short_datagrams_are_malformed(length: int) -> None:
    with pytest.raises(ProtocolError):
        unpack_header(bytes(length))
