"""The receiver's answer to an OPEN, sans-IO: session cipher, keys and OPEN_ACK.

``docs/protocol.md`` 5.3 step 2: for a new session the receiver computes the session cipher
``max(OPEN cipher, its own minCipher)`` (``cipher_choice.settle``), the keys (5.9: both static
and both ephemeral X25519 keys, the transcript of OPEN and OPEN_ACK) and answers OPEN_ACK with
the blocks it already holds for the transfer, its window share and its ``rateCap``. The
OPEN_ACK is sealed once and kept on the session: a repeated OPEN of the same session gets the
same bytes again. Which OPEN gets a session at all (busy transfers, room) is the endpoint's
decision (``receiver_core.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.errors import ProtocolError
from jetstream_qa.refserver.engine import cipher_choice
from jetstream_qa.refserver.engine.receiver_model import Addr, RxSession, RxTransfer
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import TAG_SIZE, Open, OpenAck, open_ack_range_limit

__all__ = ["Offer", "RxIdentity", "accept_open"]


@dataclass(frozen=True, slots=True)
class RxIdentity:
    """Who the receiver is to its senders, and its own limits."""

    static_key: Any
    """The server's X25519 private key (its ``publicKey`` is the public half)."""
    server_uid: str
    server_id: str
    min_cipher: int
    max_datagram: int
    static_pub: bytes = field(init=False)
    """The raw public half of ``static_key``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "static_pub", crypto.public_bytes(self.static_key))


@dataclass(frozen=True, slots=True)
class Offer:
    """What the endpoint grants a new session in its OPEN_ACK."""

    window: int
    """DATA datagrams the sender may have in flight (its share of the receive buffer)."""
    rate_cap: int
    """bit/s it may send at (5.6; 0 = no cap)."""
    leak_plaintext: bool = False
    """Fault ``plaintext-when-encrypted``: claim the cipher, protect nothing."""


def accept_open(me: RxIdentity, t: RxTransfer, body: Open, raw: bytes, sid: int, addr: Addr,
                now: float, offer: Offer) -> RxSession | None:
    """A new session ``sid`` of transfer ``t`` answering OPEN ``body`` (its bytes ``raw``):
    keys derived, OPEN_ACK sealed into ``open_ack``, ``t.session`` and ``t.cipher`` set.
    Returns None when a public key of the OPEN is unusable (malformed or of low order)."""
    eph = crypto.generate_ephemeral()
    eph_pub = crypto.public_bytes(eph)
    cipher = cipher_choice.settle(body.cipher, me.min_cipher)
    cum = t.held.cumulative
    limit = open_ack_range_limit(min(body.max_datagram, me.max_datagram))
    ranges = tuple(t.held.ranges_above(cum, limit=limit))
    draft = OpenAck(eph_pub, me.static_pub, cipher, offer.window, cum, ranges, me.server_uid,
                    me.server_id, bytes(TAG_SIZE), rate_cap=offer.rate_cap)
    transcript = raw + draft.unsigned()
    try:
        keys = crypto.derive_keys(
            session=sid, own_static=me.static_key, own_ephemeral=eph,
            peer_static=body.static, peer_ephemeral=body.ephemeral,
            sender_static=body.static, receiver_static=me.static_pub,
            sender_ephemeral=body.ephemeral, receiver_ephemeral=eph_pub,
            transcript=transcript)
    except ProtocolError:
        return None
    wire = 0 if offer.leak_plaintext else cipher  # fault: claims `cipher`, sends clear
    sess = RxSession(sid, t, addr, body.max_datagram, raw,
                     crypto.Protector(wire, keys.sender_to_receiver, crypto.SENDER_TO_RECEIVER),
                     crypto.Protector(wire, keys.receiver_to_sender, crypto.RECEIVER_TO_SENDER),
                     now)
    t.session = sid
    t.cipher = cipher
    sess.open_ack = sess.seal(dataclasses.replace(
        draft, confirm=crypto.confirm_tag(keys, transcript)))
    return sess
