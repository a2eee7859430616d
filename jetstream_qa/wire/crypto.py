"""Data-plane protection, sans-IO: key exchange, key schedule, AEAD, replay window.

Theory of operation
-------------------
Each server has a persistent X25519 key pair (``getServerInfo()['publicKey']``). A session
(one OPEN/OPEN_ACK exchange, ``docs/protocol.md`` 5.3) adds one ephemeral X25519 key per side.
Both sides compute

    ikm  = X25519(eph_s, eph_r) || X25519(static_s, static_r)
    salt = SHA-256("jetstream-qa data v1" || session id)
    info = "jq-keys" || static_s || static_r || eph_s || eph_r || SHA-256(transcript)
    okm  = HKDF-SHA256(ikm, salt, info, 96) = key_s2r(32) || key_r2s(32) || key_confirm(32)

where the transcript is the OPEN body followed by the OPEN_ACK body without its confirmation.
The static-static term means only a holder of the receiver's private key derives the keys; the
receiver proves it in OPEN_ACK with ``confirm = HMAC-SHA256(key_confirm, transcript)[:16]``.

Protection per MIN_CIPHER level (vendor constants page: UNENCRYPTED = "cannot be altered or
forged", ENCRYPTED_* = encrypted), applied to every datagram after the handshake:

- NONE (0): plain; no tag.
- UNENCRYPTED (1): plain body + 16-byte GMAC tag (AES-256-GCM over an empty plaintext with the
  header and body as associated data).
- ENCRYPTED_128 (2) / ENCRYPTED_256 (3): AES-128/256-GCM of the body, header as associated
  data, 16-byte tag (first 16 / all 32 bytes of the direction key).

The nonce is ``u32 direction || u64 sequence``; each direction's sequence starts at 0 per
session and only grows, so a (key, nonce) pair is never reused. Receivers drop (and count) a
datagram whose tag fails or whose sequence was already seen or is older than the replay window
(:class:`ReplayWindow`, 4096 sequences). Protection is in place: the body is encrypted and
decrypted inside the datagram buffer, with no copy.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jetstream_qa.errors import ProtocolError

__all__ = [
    "RECEIVER_TO_SENDER",
    "REPLAY_WINDOW",
    "SENDER_TO_RECEIVER",
    "TAG_SIZE",
    "DatagramRejected",
    "KeySchedule",
    "Protector",
    "ReplayWindow",
    "confirm_tag",
    "derive_keys",
    "effective_cipher",
    "generate_ephemeral",
    "public_bytes",
]

TAG_SIZE: Final = 16
REPLAY_WINDOW: Final = 4096
SENDER_TO_RECEIVER: Final = 0
RECEIVER_TO_SENDER: Final = 1
_NONCE: Final = struct.Struct(">IQ")
_SALT_LABEL: Final = b"jetstream-qa data v1"
_INFO_LABEL: Final = b"jq-keys"


class DatagramRejected(ProtocolError):
    """A datagram failed authentication or replay checks; it must be dropped and counted."""

    code = "ProtocolError"


def effective_cipher(requested: int, sender_min: int, receiver_min: int) -> int:
    """``max(requested, sender minCipher, receiver minCipher)``: data never crosses the wire
    below the stronger of the two servers' minimum (DESIGN.md, semantics)."""
    return max(int(requested), int(sender_min), int(receiver_min))


def generate_ephemeral() -> X25519PrivateKey:
    """A fresh X25519 key for one session."""
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    """The raw 32-byte public key of ``key``."""
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class KeySchedule:
    """The three 32-byte keys of one session."""

    sender_to_receiver: bytes
    receiver_to_sender: bytes
    confirm: bytes

    def __post_init__(self) -> None:
        if not all(len(k) == 32 for k in (self.sender_to_receiver, self.receiver_to_sender,
                                          self.confirm)):
            raise ValueError("session keys are 32 bytes each")


def _dh(private: X25519PrivateKey, peer: bytes) -> bytes:
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        raise ProtocolError("invalid X25519 public key (low order or malformed)") from None


def derive_keys(*, session: int, own_static: X25519PrivateKey, own_ephemeral: X25519PrivateKey,
                peer_static: bytes, peer_ephemeral: bytes, sender_static: bytes,
                receiver_static: bytes, sender_ephemeral: bytes, receiver_ephemeral: bytes,
                transcript: bytes) -> KeySchedule:
    """Derive a session's keys (see the module docstring). Both sides call this with the
    same public values; each passes its own private keys and the peer's public keys.

    Raises:
        ProtocolError: a peer public key is malformed or of low order.
    """
    ikm = _dh(own_ephemeral, peer_ephemeral) + _dh(own_static, peer_static)
    salt = hashlib.sha256(_SALT_LABEL + struct.pack(">Q", session)).digest()
    info = (_INFO_LABEL + sender_static + receiver_static + sender_ephemeral
            + receiver_ephemeral + hashlib.sha256(transcript).digest())
    okm = HKDF(algorithm=hashes.SHA256(), length=96, salt=salt, info=info).derive(ikm)
    return KeySchedule(okm[:32], okm[32:64], okm[64:])


def confirm_tag(schedule: KeySchedule, transcript: bytes) -> bytes:
    """The OPEN_ACK key confirmation: ``HMAC-SHA256(key_confirm, transcript)[:16]``."""
    return hmac.new(schedule.confirm, transcript, hashlib.sha256).digest()[:TAG_SIZE]


class ReplayWindow:
    """Sliding window over 64-bit sequence numbers: accepts each number once, refuses any
    number more than ``size`` below the highest seen. Mark only AFTER authentication."""

    __slots__ = ("_full", "_highest", "_mask", "size")

    def __init__(self, size: int = REPLAY_WINDOW) -> None:
        self.size = size
        self._highest = -1
        self._mask = 0
        self._full = (1 << size) - 1

    def fresh(self, seq: int) -> bool:
        """True when ``seq`` has not been seen and is inside the window."""
        if seq > self._highest:
            return True
        back = self._highest - seq
        return back < self.size and not (self._mask >> back) & 1

    def mark(self, seq: int) -> None:
        """Record ``seq`` as seen (call after :meth:`fresh` and authentication succeed)."""
        if seq > self._highest:
            shift = seq - self._highest
            self._mask = ((self._mask << shift) | 1) & self._full if shift < self.size else 1
            self._highest = seq
        else:
            self._mask |= 1 << (self._highest - seq)

    def fresh_run(self, seqs: Sequence[int]) -> bool:
        """True when ``seqs`` are consecutive and all above the highest seen (so each is
        fresh, and marking them together equals marking them one by one)."""
        first = seqs[0]
        return first > self._highest and list(seqs) == list(range(first, first + len(seqs)))

    def mark_run(self, first: int, count: int) -> None:
        """Record ``first .. first+count-1``, all above the highest seen (:meth:`fresh_run`),
        in one step: the result of :meth:`mark` on each in turn."""
        last = first + count - 1
        self._mask = ((self._mask << (last - self._highest)) | ((1 << count) - 1)) & self._full
        self._highest = last


class Protector:
    """Seals or opens the datagrams of one direction of one session, in place.

    ``seal(buf, header_len, body_len, seq)`` protects ``buf[header_len:header_len+body_len]``
    (the header ``buf[:header_len]`` is associated data) and returns the datagram length
    (body + tag). ``open(buf, length, header_len, seq)`` checks replay and authenticity,
    decrypts in place and returns the body length.
    """

    __slots__ = ("_aead", "_direction", "cipher", "replay")

    def __init__(self, cipher: int, key: bytes | None, direction: int) -> None:
        if not 0 <= cipher <= 3:
            raise ValueError(f"cipher {cipher} outside 0..3")
        self.cipher = cipher
        self._direction = direction
        self.replay = ReplayWindow()
        self._aead: AESGCM | None = None
        if cipher:
            if key is None or len(key) != 32:
                raise ValueError("a 32-byte key is needed above MIN_CIPHER_NONE")
            self._aead = AESGCM(key[:16] if cipher == 2 else key)

    @property
    def overhead(self) -> int:
        """Bytes the protection adds to a datagram."""
        return TAG_SIZE if self.cipher else 0

    def seal(self, buf: bytearray | memoryview, header_len: int, body_len: int,
             seq: int) -> int:
        """Protect the body in place; return the full datagram length."""
        end = header_len + body_len
        aead = self._aead
        if aead is None:
            return end
        mv = memoryview(buf)
        nonce = _NONCE.pack(self._direction, seq)
        if self.cipher == 1:
            mv[end:end + TAG_SIZE] = aead.encrypt(nonce, b"", mv[:end])
        else:
            aead.encrypt_into(nonce, mv[header_len:end], mv[:header_len],
                              mv[header_len:end + TAG_SIZE])
        return end + TAG_SIZE

    def seal_from(self, buf: bytearray | memoryview, header_len: int, body: memoryview,
                  seq: int) -> int:
        """Like :meth:`seal` for a body held elsewhere (e.g. a cached source view): the
        protected body lands in ``buf`` after the header without a separate plaintext copy
        (AES-GCM encrypts straight from ``body``). Returns the full datagram length."""
        n = len(body)
        end = header_len + n
        aead = self._aead
        mv = memoryview(buf)
        if aead is None or self.cipher == 1:
            mv[header_len:end] = body
            return self.seal(buf, header_len, n, seq)
        aead.encrypt_into(_NONCE.pack(self._direction, seq), body, mv[:header_len],
                          mv[header_len:end + TAG_SIZE])
        return end + TAG_SIZE

    def seal_run(self, buf: bytearray | memoryview, offs: Sequence[int], header_len: int,
                 bodies: Sequence[memoryview], seq: int) -> list[int]:
        """:meth:`seal_from` for each of ``bodies`` in turn: body ``i`` lands after the
        header already at ``buf[offs[i]:]``, sealed with sequence ``seq + i``. Returns the
        datagram lengths (the GSO batch of a sender, sealed in one call)."""
        aead = self._aead
        mv = memoryview(buf)
        if aead is None or self.cipher == 1:
            return [self.seal_from(mv[off:], header_len, body, seq + i)
                    for i, (off, body) in enumerate(zip(offs, bodies, strict=True))]
        pack, direction = _NONCE.pack, self._direction
        lengths = []
        for i, off in enumerate(offs):
            body = bodies[i]
            head = off + header_len
            end = head + len(body) + TAG_SIZE
            aead.encrypt_into(pack(direction, seq + i), body, mv[off:head], mv[head:end])
            lengths.append(end - off)
        return lengths

    def open(self, buf: bytearray | memoryview, length: int, header_len: int,
             seq: int) -> int:
        """Authenticate and decrypt in place; return the body length.

        Raises:
            DatagramRejected: replayed or too old sequence, short datagram, bad tag.
        """
        aead = self._aead
        if aead is None:
            return length - header_len
        if length < header_len + TAG_SIZE:
            raise DatagramRejected("datagram shorter than its tag")
        if not self.replay.fresh(seq):
            raise DatagramRejected(f"sequence {seq} replayed or outside the window")
        mv = memoryview(buf)
        end = length - TAG_SIZE
        nonce = _NONCE.pack(self._direction, seq)
        try:
            if self.cipher == 1:
                aead.decrypt(nonce, mv[end:length], mv[:end])
            else:
                aead.decrypt_into(nonce, mv[header_len:length], mv[:header_len],
                                  mv[header_len:end])
        except InvalidTag:
            raise DatagramRejected("authentication tag mismatch") from None
        self.replay.mark(seq)
        return end - header_len

    def open_run(self, buf: bytearray | memoryview, offs: Sequence[int], length: int,
                 header_len: int, seqs: Sequence[int]) -> list[int]:
        """:meth:`open` on the datagrams ``buf[off:off+length]`` (sequence ``seqs[i]`` for
        ``offs[i]``), in order; returns the indices that failed (replayed, too old, short,
        bad tag), the others are decrypted in place. When the sequence numbers are
        consecutive and new (the common case of a coalesced read) the replay window is
        checked and marked once for the run; otherwise datagram by datagram. Either way
        the outcome is that of :meth:`open` on each in turn."""
        aead = self._aead
        if aead is None:
            return []
        replay = self.replay
        if length < header_len + TAG_SIZE or not seqs or not replay.fresh_run(seqs):
            return self._open_each(buf, offs, length, header_len, seqs)
        mv = memoryview(buf)
        end = length - TAG_SIZE
        pack, direction, mac_only = _NONCE.pack, self._direction, self.cipher == 1
        bad: list[int] = []
        for i, off in enumerate(offs):
            try:
                if mac_only:
                    aead.decrypt(pack(direction, seqs[i]), mv[off + end:off + length],
                                 mv[off:off + end])
                else:
                    aead.decrypt_into(pack(direction, seqs[i]),
                                      mv[off + header_len:off + length],
                                      mv[off:off + header_len],
                                      mv[off + header_len:off + end])
            except InvalidTag:
                bad.append(i)
        if not bad:
            replay.mark_run(seqs[0], len(seqs))
        else:
            dropped = set(bad)
            for i, seq in enumerate(seqs):
                if i not in dropped:
                    replay.mark(seq)
        return bad

    def _open_each(self, buf: bytearray | memoryview, offs: Sequence[int], length: int,
                   header_len: int, seqs: Sequence[int]) -> list[int]:
        mv = memoryview(buf)
        bad = []
        for i, off in enumerate(offs):
            try:
                self.open(mv[off:off + length], length, header_len, seqs[i])
            except DatagramRejected:
                bad.append(i)
        return bad
