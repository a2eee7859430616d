"""Data-plane protection (docs/protocol.md 5.9): key schedule, AEAD per cipher, replay."""

from __future__ import annotations

import os
import random

import pytest

from jetstream_qa.wire import crypto
from jetstream_qa.wire.crypto import DatagramRejected, Protector, ReplayWindow
from jetstream_qa.wire.data import HEADER, DType, pack_header

BODY = os.urandom(1000)


def _both_sides(transcript: bytes = b"open+ack") -> tuple[crypto.KeySchedule,
                                                           crypto.KeySchedule]:
    s_static, r_static = crypto.generate_ephemeral(), crypto.generate_ephemeral()
    s_eph, r_eph = crypto.generate_ephemeral(), crypto.generate_ephemeral()
    pub = crypto.public_bytes
    common = dict(session=7, sender_static=pub(s_static), receiver_static=pub(r_static),
                  sender_ephemeral=pub(s_eph), receiver_ephemeral=pub(r_eph),
                  transcript=transcript)
    sender = crypto.derive_keys(own_static=s_static, own_ephemeral=s_eph,
                                peer_static=pub(r_static), peer_ephemeral=pub(r_eph),
                                **common)  # type: ignore[arg-type]
    receiver = crypto.derive_keys(own_static=r_static, own_ephemeral=r_eph,
                                  peer_static=pub(s_static), peer_ephemeral=pub(s_eph),
                                  **common)  # type: ignore[arg-type]
    return sender, receiver


def _sealed(protector: Protector, seq: int, body: bytes = BODY) -> bytearray:
    buf = bytearray(pack_header(DType.DATA, 7, seq) + body + bytes(16))
    n = protector.seal(buf, HEADER.size, len(body), seq)
    return buf[:n]


def test_both_sides_derive_the_same_keys() -> None:
    sender, receiver = _both_sides()
    assert sender == receiver
    assert len({sender.sender_to_receiver, sender.receiver_to_sender, sender.confirm}) == 3


def test_a_party_without_the_receiver_private_key_derives_other_keys() -> None:
    """The static-static DH term binds keys to the server key pair (publicKey)."""
    s_static, r_static, mallory = (crypto.generate_ephemeral() for _ in range(3))
    s_eph, r_eph = crypto.generate_ephemeral(), crypto.generate_ephemeral()
    pub = crypto.public_bytes
    common = dict(session=1, sender_static=pub(s_static), receiver_static=pub(r_static),
                  sender_ephemeral=pub(s_eph), receiver_ephemeral=pub(r_eph), transcript=b"t")
    honest = crypto.derive_keys(own_static=s_static, own_ephemeral=s_eph,
                                peer_static=pub(r_static), peer_ephemeral=pub(r_eph),
                                **common)  # type: ignore[arg-type]
    # Mallory knows every public value and the receiver's ephemeral, not r_static's secret
    forged = crypto.derive_keys(own_static=mallory, own_ephemeral=r_eph,
                                peer_static=pub(s_static), peer_ephemeral=pub(s_eph),
                                **common)  # type: ignore[arg-type]
    assert forged.confirm != honest.confirm
    assert crypto.confirm_tag(forged, b"t") != crypto.confirm_tag(honest, b"t")


def test_transcript_change_changes_keys() -> None:
    a, _ = _both_sides(b"one")
    assert crypto.KeySchedule(a.sender_to_receiver, a.receiver_to_sender, a.confirm) == a
    b, _ = _both_sides(b"two")
    assert a != b


@pytest.mark.parametrize("cipher", [1, 2, 3])
def test_round_trip_per_cipher(cipher: int) -> None:
    keys, _ = _both_sides()
    tx = Protector(cipher, keys.sender_to_receiver, crypto.SENDER_TO_RECEIVER)
    rx = Protector(cipher, keys.sender_to_receiver, crypto.SENDER_TO_RECEIVER)
    buf = _sealed(tx, 0)
    assert len(buf) == HEADER.size + len(BODY) + 16
    encrypted = bytes(buf[HEADER.size:HEADER.size + len(BODY)]) != BODY
    assert encrypted is (cipher >= 2)  # UNENCRYPTED stays readable on the wire
    n = rx.open(buf, len(buf), HEADER.size, 0)
    assert bytes(buf[HEADER.size:HEADER.size + n]) == BODY


@pytest.mark.parametrize("cipher", [1, 2, 3])
@pytest.mark.parametrize("where", [0, 5, HEADER.size, HEADER.size + 500, -1])
def test_tampered_datagram_is_rejected(cipher: int, where: int) -> None:
    keys, _ = _both_sides()
    tx = Protector(cipher, keys.sender_to_receiver, 0)
    rx = Protector(cipher, keys.sender_to_receiver, 0)
    buf = _sealed(tx, 3)
    buf[where] ^= 0x40
    with pytest.raises(DatagramRejected):
        rx.open(buf, len(buf), HEADER.size, 3)


@pytest.mark.parametrize("cipher", [1, 2, 3])
def test_replay_is_rejected(cipher: int) -> None:
    keys, _ = _both_sides()
    tx, rx = Protector(cipher, keys.sender_to_receiver, 0), Protector(
        cipher, keys.sender_to_receiver, 0)
    first = _sealed(tx, 9)
    rx.open(bytearray(first), len(first), HEADER.size, 9)
    with pytest.raises(DatagramRejected):
        rx.open(bytearray(first), len(first), HEADER.size, 9)


@pytest.mark.parametrize("cipher", [1, 2, 3])
def test_wrong_key_or_direction_is_rejected(cipher: int) -> None:
    keys, _ = _both_sides()
    other, _ = _both_sides()
    buf = _sealed(Protector(cipher, keys.sender_to_receiver, 0), 1)
    with pytest.raises(DatagramRejected):
        Protector(cipher, other.sender_to_receiver, 0).open(bytearray(buf), len(buf), 20, 1)
    with pytest.raises(DatagramRejected):  # the same key in the other direction
        Protector(cipher, keys.sender_to_receiver, 1).open(bytearray(buf), len(buf), 20, 1)


def test_cipher_none_adds_nothing_and_checks_nothing() -> None:
    p = Protector(0, None, 0)
    buf = bytearray(pack_header(DType.DATA, 1, 1) + BODY)
    assert p.seal(buf, 20, len(BODY), 1) == len(buf)
    assert p.open(buf, len(buf), 20, 1) == len(BODY)


def test_nonces_never_repeat_within_a_direction_and_differ_across_directions() -> None:
    seen = {crypto._NONCE.pack(d, s) for d in (0, 1) for s in range(5000)}
    assert len(seen) == 10000


def test_ciphertexts_of_equal_bodies_differ_per_sequence() -> None:
    keys, _ = _both_sides()
    tx = Protector(3, keys.sender_to_receiver, 0)
    bodies = {bytes(_sealed(tx, seq)[HEADER.size:]) for seq in range(50)}
    assert len(bodies) == 50


def test_replay_window_accepts_each_sequence_once_and_refuses_old_ones() -> None:
    w = ReplayWindow(64)
    for seq in (5, 3, 10, 4):
        assert w.fresh(seq)
        w.mark(seq)
    assert not w.fresh(3) and not w.fresh(10)
    assert w.fresh(6)
    w.mark(200)
    assert not w.fresh(100)  # more than 64 below the highest
    assert w.fresh(199) and not w.fresh(200)


def test_low_order_public_key_is_a_protocol_error() -> None:
    from jetstream_qa.errors import ProtocolError

    with pytest.raises(ProtocolError):
        crypto.derive_keys(session=1, own_static=crypto.generate_ephemeral(),
                           own_ephemeral=crypto.generate_ephemeral(), peer_static=bytes(32),
                           peer_ephemeral=bytes(32), sender_static=bytes(32),
                           receiver_static=bytes(32), sender_ephemeral=bytes(32),
                           receiver_ephemeral=bytes(32), transcript=b"")


def test_effective_cipher_is_the_strongest_minimum() -> None:
    assert crypto.effective_cipher(0, 1, 3) == 3
    assert crypto.effective_cipher(2, 0, 0) == 2


def test_replay_window_marks_a_run_as_one_by_one() -> None:
    # receive_run marks the consecutive new sequence numbers of a coalesced read at once
    rng = random.Random(4)
    for _ in range(300):
        one, run = ReplayWindow(64), ReplayWindow(64)
        for seq in rng.sample(range(200), 20):
            one.mark(seq)
            run.mark(seq)
        first = one._highest + rng.choice([1, 2, 30, 63, 64, 65, 200])
        count = rng.randint(1, 70)
        assert run.fresh_run(range(first, first + count))
        for seq in range(first, first + count):
            one.mark(seq)
        run.mark_run(first, count)
        assert (run._highest, run._mask) == (one._highest, one._mask)
    assert not one.fresh_run([one._highest + 1, one._highest + 3])
    assert not one.fresh_run([one._highest])
