"""Values of the send side (sans-IO): what a sender announces, its states and its timers.

:class:`SendSpec` is everything a sender puts in OPEN (``docs/protocol.md`` 5.3);
:class:`SenderState` the states of ``sender_core.SenderSession`` (its module docstring draws
them); :class:`Timing` its timers; :class:`Source` the seam the DATA bytes come through (the
engine plugs ``file_source.FileSource`` in; tests plug memory in).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from jetstream_qa.wire.data import DEFAULT_MAX_DATAGRAM

__all__ = ["FINISHED", "SendSpec", "SenderState", "Source", "Timing"]


class Source(Protocol):
    """Where DATA bytes come from: the transfer's byte space."""

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with bytes ``[offset, offset+len(view))`` of the transfer."""


class SenderState(enum.Enum):
    """Where a sending session is (``sender_core.py`` draws the transitions)."""

    OPENING = "opening"
    META = "meta"
    DATA = "data"
    CLOSING = "closing"
    DONE = "done"
    FAILED = "failed"


FINISHED: Final = frozenset({SenderState.DONE, SenderState.FAILED})
"""States a session never leaves."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Timers of a sender (seconds)."""

    open_retry: float = 0.25
    open_retry_max: float = 2.0
    open_give_up: float = 60.0
    """OPEN is retried with backoff this long (receiver down) before the transfer fails."""
    peer_timeout: float = 5.0
    """Silence of the receiver (no datagram) in META/DATA/CLOSING: re-handshake."""
    control_retry: float = 0.2
    """META and FIN retransmission interval."""


@dataclass(frozen=True, slots=True)
class SendSpec:
    """Everything a sender announces in OPEN (``docs/protocol.md`` 5.3)."""

    transfer_id: int
    total_bytes: int
    cipher: int
    flags: int
    overwrite_mode: int
    checkpoint_ms: int
    meta: bytes
    """The zlib-compressed JSON file list (5.4)."""
    destination_path: str
    server_uid: str
    server_id: str
    static_key: X25519PrivateKey
    peer_static: bytes | None = None
    """The destination's pinned ``destinationPublicKey`` (raw 32 bytes), if configured."""
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    leak_plaintext: bool = False
    """Fault ``plaintext-when-encrypted``: protect nothing while claiming the cipher."""
