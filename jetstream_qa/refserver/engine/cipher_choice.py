"""Which cipher protects a transfer's datagrams: the sender offers, the receiver settles.

Constants page (2.9.2), "Min Cipher": each level is a *minimum*, ordered NONE (0) <
UNENCRYPTED (1, "not encrypted, but is still authenticated") < ENCRYPTED_128 (2) <
ENCRYPTED_256 (3). So data never crosses the wire below what the transfer asked for, nor
below either server's ``minCipher``:

- the sender offers ``max(transfer minCipher, destination minCipher, own minCipher)``
  (:func:`offer`) in its OPEN;
- the receiver answers ``max(offered, own minCipher)`` (:func:`settle`) in its OPEN_ACK, and
  the sender refuses an answer below its offer (``tx_handshake.py``).

Seeded faults (``jetstream_qa.refserver.faults``) live here, where the real defects would.
"""

from __future__ import annotations

from jetstream_qa.constants import MinCipher
from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.faults import FaultSet

__all__ = ["offer", "settle"]

_NO_FAULTS = FaultSet()


def _level(value: int, what: str) -> MinCipher:
    try:
        return MinCipher(value)
    except ValueError:
        raise UsageError(f"{what} {value!r} is not a MIN_CIPHER level (0..3)") from None


def offer(transfer_min: int, destination_min: int, own_min: int, *,
          faults: FaultSet = _NO_FAULTS) -> int:
    """The cipher a sender offers for a transfer: the strongest of the three minimums.

    Raises:
        UsageError: a value is not a MIN_CIPHER level.
    """
    levels = [_level(transfer_min, "transfer minCipher"),
              _level(destination_min, "destination minCipher"),
              _level(own_min, "server minCipher")]
    if faults.active("cipher-ignores-transfer-min"):
        levels = levels[1:]  # fault: only the servers' minimums count
    chosen = max(levels)
    if chosen is MinCipher.UNENCRYPTED and faults.active("unencrypted-means-none"):
        chosen = MinCipher.NONE  # fault: "not encrypted" read as "no protection at all"
    return int(chosen)


def settle(offered: int, own_min: int) -> int:
    """The cipher a receiver accepts for an offer: never below its own minimum.

    Raises:
        UsageError: a value is not a MIN_CIPHER level.
    """
    return int(max(_level(offered, "offered cipher"), _level(own_min, "server minCipher")))
