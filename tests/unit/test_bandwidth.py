"""Bandwidth management: allowance arithmetic, the ``rateCap`` field, and the cores using it.

Requirements (vendor server guide 9, "Bandwidth management"; docs/protocol.md 5.2, 5.6):
server-wide incoming and outgoing caps in bit/s, each side optionally borrowing the other's
idle allocation; the receiver enforces its incoming cap by advertising ``rateCap`` (its
allowance divided among the sessions carrying data) in OPEN_ACK and every ACK, and the sender
paces at ``min(its own caps, rateCap)``. The new field is appended after the old ones, whose
offsets do not move; any bytes still decode to a value or a ProtocolError.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, replace

import pytest
from test_data_simulation import (
    SENDER_ADDR,
    Channel,
    MemorySinks,
    MemorySource,
    make_spec,
    simulate,
)

from jetstream_qa.errors import ProtocolError
from jetstream_qa.refserver.engine.bandwidth import (
    incoming_allowance,
    outgoing_allowance,
    pacing_rate,
    rate_from_wire,
    session_cap,
)
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    ACK_FIXED,
    HEADER,
    NO_RATE_CAP,
    Ack,
    DType,
    OpenAck,
    decode_body,
    encode_body,
    unpack_header,
)

KEY = bytes(range(32))


@dataclass
class Limits:
    incoming_rate_limit: int | None = None
    outgoing_rate_limit: int | None = None
    borrow_incoming_rate: bool = False
    borrow_outgoing_rate: bool = False


# --- allowance arithmetic ------------------------------------------------------------------
def test_vendor_example_outbound_borrows_the_idle_inbound_allocation() -> None:
    # "500 Mbit/s total split 200 in / 300 out; with inbound borrowing enabled, outbound may
    # use the full 500 while nothing is incoming, and gives it back when an inbound starts"
    lim = Limits(200_000_000, 300_000_000, borrow_incoming_rate=True)
    assert outgoing_allowance(lim, incoming_active=False) == 500_000_000
    assert outgoing_allowance(lim, incoming_active=True) == 300_000_000
    # borrowing one way does not lend the other way
    assert incoming_allowance(lim, outgoing_active=False) == 200_000_000


def test_inbound_borrows_the_idle_outbound_allocation_only_when_enabled() -> None:
    lim = Limits(200_000_000, 300_000_000, borrow_outgoing_rate=True)
    assert incoming_allowance(lim, outgoing_active=False) == 500_000_000
    assert incoming_allowance(lim, outgoing_active=True) == 200_000_000
    assert outgoing_allowance(lim, incoming_active=False) == 300_000_000
    plain = Limits(200_000_000, 300_000_000)
    assert incoming_allowance(plain, outgoing_active=False) == 200_000_000


def test_unlimited_sides_neither_lend_nor_get_capped() -> None:
    assert incoming_allowance(Limits(), outgoing_active=False) is None
    assert outgoing_allowance(Limits(), incoming_active=False) is None
    # an unlimited idle side has no finite allocation to lend
    lim = Limits(40_000_000, None, borrow_incoming_rate=True, borrow_outgoing_rate=True)
    assert incoming_allowance(lim, outgoing_active=False) == 40_000_000
    # an unlimited side stays unlimited
    assert outgoing_allowance(lim, incoming_active=False) is None


def test_session_cap_divides_the_allowance_among_data_sessions() -> None:
    assert session_cap(40_000_000, 1) == 40_000_000
    assert session_cap(40_000_000, 3) == 13_333_333
    assert session_cap(None, 5) == NO_RATE_CAP
    assert session_cap(2, 1000) == 1  # never 0: 0 means "no cap" on the wire
    with pytest.raises(ValueError):
        session_cap(1000, 0)
    with pytest.raises(ValueError):
        session_cap(0, 1)


def test_pacing_rate_is_the_smallest_cap_set() -> None:
    assert pacing_rate(None, None) is None
    assert pacing_rate(100e6, None, 40e6) == 40e6
    assert pacing_rate(0, 5e6) == 5e6  # 0 = not set (sendRateMax 0, NO_RATE_CAP)
    assert rate_from_wire(NO_RATE_CAP) is None
    assert rate_from_wire(40_000_000) == 40_000_000.0


# --- encoding ------------------------------------------------------------------------------
def test_ack_rate_cap_round_trips_and_follows_the_old_fields() -> None:
    ack = Ack(100, 77, 70, 1234, 64, ((101, 200),), rate_cap=40_000_000)
    raw = encode_body(ack)
    assert decode_body(DType.ACK, raw) == ack
    # old fields keep their offsets; rateCap is the last 8 bytes
    assert ACK_FIXED.unpack_from(raw) == (100, 77, 70, 1234, 64)
    assert struct.unpack_from(">H", raw, 32) == (1,)
    assert raw[-8:] == (40_000_000).to_bytes(8, "big")
    assert len(raw) == 32 + 2 + 16 + 8
    assert Ack(1, 1, 1, 0, 8, ()).rate_cap == NO_RATE_CAP


def test_open_ack_rate_cap_round_trips_before_the_confirmation() -> None:
    oa = OpenAck(KEY, KEY, 2, 64, 10, ((12, 20),), "uid", "id", b"c" * 16, rate_cap=7)
    raw = encode_body(oa)
    assert decode_body(DType.OPEN_ACK, raw) == oa
    assert raw[-16:] == b"c" * 16
    assert raw[-24:-16] == (7).to_bytes(8, "big")
    assert oa.unsigned().endswith((7).to_bytes(8, "big"))  # covered by the confirmation


@pytest.mark.parametrize("body", [
    Ack(5, 9, 9, 100, 64, ((7, 9),), rate_cap=123),
    OpenAck(KEY, KEY, 1, 4, 0, (), "u", "", b"x" * 16, rate_cap=2**64 - 1),
], ids=["ack", "open_ack"])
def test_missing_or_extra_rate_cap_bytes_are_protocol_errors(body: Ack | OpenAck) -> None:
    raw = encode_body(body)
    kind = DType.ACK if isinstance(body, Ack) else DType.OPEN_ACK
    for cut in range(len(raw)):
        with pytest.raises(ProtocolError):
            decode_body(kind, raw[:cut])
    with pytest.raises(ProtocolError):
        decode_body(kind, raw + b"\0")


def test_rate_cap_out_of_range_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Ack(1, 1, 1, 0, 8, (), rate_cap=2**64)
    with pytest.raises(ProtocolError):
        OpenAck(KEY, KEY, 0, 1, 0, (), "u", "", b"x" * 16, rate_cap=-1)


# --- the cores -----------------------------------------------------------------------------
def _receiver(allowance: float | None) -> tuple[ReceiverEndpoint, MemorySinks]:
    sinks = MemorySinks()
    rx = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx-uid",
                          server_id="rx-id", min_cipher=0, sinks=sinks, window=64,
                          max_datagram=65000)
    rx.incoming_allowance = allowance
    return rx, sinks


DATA = random.Random(11).randbytes(2_000_000)


def _simulated_duration(allowance: float | None) -> tuple[SenderSession, float]:
    rx, sinks = _receiver(allowance)
    tx = SenderSession(make_spec(DATA, cipher=0, max_datagram=65000), MemorySource(DATA))
    simulate(tx, rx, Channel(1, latency=0.0005), Channel(2, latency=0.0005), limit_s=30)
    assert tx.state is SenderState.DONE, tx.error
    assert bytes(sinks.sinks[0].data) == DATA
    return tx, tx.last_send


def test_sender_paces_at_the_receivers_advertised_cap_in_simulated_time() -> None:
    cap = 8_000_000  # 2 MB at 8 Mbit/s: 2 s of simulated time
    tx, capped = _simulated_duration(cap)
    assert tx.peer_rate == cap and tx.bucket.rate_bps == cap
    burst = tx.bucket.burst_bytes
    assert capped >= (len(DATA) - burst) * 8 / cap
    assert capped <= len(DATA) * 8 / cap * 1.3
    free_tx, free = _simulated_duration(None)
    assert free_tx.peer_rate is None and free_tx.bucket.rate_bps is None
    assert free < capped / 2


def test_own_cap_below_the_receivers_wins() -> None:
    tx = SenderSession(make_spec(b"x" * 1000, cipher=0), MemorySource(b"x" * 1000),
                       rate_bps=1_000_000)
    tx.pump.set_peer_rate(40e6)
    assert tx.bucket.rate_bps == 1_000_000
    tx.set_rate(None)
    assert tx.bucket.rate_bps == 40e6
    tx.set_rate(50e6)
    assert tx.bucket.rate_bps == 40e6


def test_receiver_divides_its_allowance_among_sessions_carrying_data() -> None:
    cap = 8_000_000
    rx, _sinks = _receiver(cap)
    first = SenderSession(make_spec(DATA, cipher=0, max_datagram=65000), MemorySource(DATA))
    simulate(first, rx, Channel(1), Channel(2), limit_s=0.5)  # first is mid-transfer
    assert first.state is SenderState.DATA and first.peer_rate == cap
    now = 0.5
    spec = replace(make_spec(b"y" * 5000, cipher=0, max_datagram=65000), transfer_id=8)
    second = SenderSession(spec, MemorySource(b"y" * 5000), session_factory=lambda: 99)
    buf = bytearray(70000)
    (open_dgram,) = second.start(now)
    buf[:len(open_dgram)] = open_dgram
    (reply, _addr), = rx.receive(buf, len(open_dgram), ("127.0.0.1", 40001), now)
    assert unpack_header(reply).dtype is DType.OPEN_ACK
    open_ack = decode_body(DType.OPEN_ACK, reply[HEADER.size:])
    assert isinstance(open_ack, OpenAck)
    assert open_ack.rate_cap == cap // 2  # the joining session gets a share at once
    rx.tick(now + 0.001)  # both sessions now carry data: the first one's ACKs say so too
    assert rx.carrying_data and rx.rate_cap() == cap // 2
    later = now + rx.timing.keepalive
    caps = []
    for out, addr in rx.tick(later):  # keep-alive ACKs of every session past META
        if addr == SENDER_ADDR:
            first.receive(out, later)
            caps.append(first.peer_rate)
    assert caps and caps[-1] == cap // 2 and first.bucket.rate_bps == cap // 2
