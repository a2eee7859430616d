"""The sender's half of the handshake, sans-IO: the OPEN it sends, the OPEN_ACK it accepts.

``docs/protocol.md`` 5.3 step 3: the sender checks the key confirmation (a wrong one is
ignored: it keeps retrying OPEN), that the session cipher is not below what it asked, and,
when the destination has ``destinationPublicKey``, that the receiver's static key equals it
(else the transfer fails). The keys (5.9) come from both static and both ephemeral X25519
keys and the transcript: the OPEN body followed by the OPEN_ACK body without its
confirmation.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from jetstream_qa.errors import ProtocolError
from jetstream_qa.refserver.engine.sender_model import SendSpec
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import Open, OpenAck

__all__ = ["open_body", "refusal", "session_keys"]


def open_body(spec: SendSpec, ephemeral: X25519PrivateKey, meta_digest: bytes) -> Open:
    """The OPEN of a session whose ephemeral key is ``ephemeral``."""
    return Open(spec.transfer_id, spec.total_bytes, spec.cipher, spec.flags,
                spec.overwrite_mode, spec.checkpoint_ms, spec.max_datagram, len(spec.meta),
                meta_digest, crypto.public_bytes(ephemeral), crypto.public_bytes(spec.static_key),
                spec.server_uid, spec.server_id, spec.destination_path)


def refusal(spec: SendSpec, ack: OpenAck) -> str | None:
    """Why the transfer must fail on this OPEN_ACK (a pinned key that differs, a cipher
    below the one asked for), or None."""
    if spec.peer_static is not None and ack.static != spec.peer_static:
        return "destination public key does not match destinationPublicKey"
    if ack.cipher < spec.cipher:
        return f"receiver chose cipher {ack.cipher} below {spec.cipher}"
    return None


def session_keys(spec: SendSpec, session: int, ephemeral: X25519PrivateKey, open_raw: bytes,
                 ack: OpenAck) -> tuple[crypto.Protector, crypto.Protector] | None:
    """The session's (sending, receiving) protectors at the cipher ``ack`` names, or None
    when ``ack`` does not prove the receiver holds its key (forged or corrupted, or a public
    key of low order: keep retrying OPEN). ``open_raw``: the OPEN body sent."""
    transcript = open_raw + ack.unsigned()
    try:
        keys = crypto.derive_keys(
            session=session, own_static=spec.static_key, own_ephemeral=ephemeral,
            peer_static=ack.static, peer_ephemeral=ack.ephemeral,
            sender_static=crypto.public_bytes(spec.static_key), receiver_static=ack.static,
            sender_ephemeral=crypto.public_bytes(ephemeral),
            receiver_ephemeral=ack.ephemeral, transcript=transcript)
    except ProtocolError:
        return None
    if not hmac.compare_digest(crypto.confirm_tag(keys, transcript), ack.confirm):
        return None
    wire = 0 if spec.leak_plaintext else ack.cipher  # fault: claims the cipher, sends clear
    return (crypto.Protector(wire, keys.sender_to_receiver, crypto.SENDER_TO_RECEIVER),
            crypto.Protector(wire, keys.receiver_to_sender, crypto.RECEIVER_TO_SENDER))
