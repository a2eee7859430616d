"""Server state: the records the control plane and the data-plane engine share.

Theory of operation
-------------------
Records (``records.py``: manifests, destinations, tokens; ``transfer_record.py``: transfers
and their status table) are plain mutable dataclasses with slots, owned by one
:class:`ServerState`. Everything runs on the server's event loop thread: handlers and the
engine mutate records in place, and nothing here locks. This module is the one place the
rest of the server imports them from.

Transfer status changes go through ONE table, :data:`TRANSFER_TRANSITIONS`, keyed by
(status, event) (``docs/protocol.md`` 4.4). :func:`transition` applies one event to a record
(status, ``startTime``/``endTime``, ``errorMessage``) or raises :class:`TransitionError`
naming both; :meth:`ServerState.apply` does the same and then tells the listeners (event
log, ``waitForTransfer`` waiters) and persists. The engine should use
:meth:`ServerState.apply`; counters (``blocks_sent`` ...) it updates directly on the record.

Visibility (``docs/protocol.md`` section 3, note on ownership): a :class:`Principal` sees an
object when it is elevated (``superuser()``), or owns it and either has no token or is the
token that created it. An object another principal cannot see is reported ``NotFound``, so
ids of other users' objects do not leak.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from jetstream_qa.errors import NotFound
from jetstream_qa.refserver.records import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    Principal,
    SharedTokenRecord,
    TokenRecord,
    now_us,
)
from jetstream_qa.refserver.transfer_record import (
    TRANSFER_TRANSITIONS,
    TransferEvent,
    TransferRecord,
    TransferStatus,
    TransitionError,
    transition,
)

__all__ = [
    "TRANSFER_TRANSITIONS",
    "BandwidthLimits",
    "DestinationRecord",
    "FileEntry",
    "GcSettings",
    "ManifestRecord",
    "ManifestStatus",
    "Principal",
    "ServerState",
    "SharedTokenRecord",
    "TokenRecord",
    "TransferEvent",
    "TransferRecord",
    "TransferStatus",
    "TransitionError",
    "now_us",
    "transition",
]


@dataclass(slots=True)
class BandwidthLimits:
    """Server-wide rate limits in bit/s (``None`` = unlimited); the engine honours them."""

    incoming_rate_limit: int | None = None
    outgoing_rate_limit: int | None = None
    borrow_incoming_rate: bool = False
    borrow_outgoing_rate: bool = False

    def to_json(self, *, fixed: bool) -> dict[str, Any]:
        return {"incomingRateLimit": self.incoming_rate_limit,
                "outgoingRateLimit": self.outgoing_rate_limit,
                "borrowIncomingRate": self.borrow_incoming_rate,
                "borrowOutgoingRate": self.borrow_outgoing_rate,
                "fixedOnCommandLine": fixed}


@dataclass(slots=True)
class GcSettings:
    """Garbage collection: run every ``interval_seconds``; finished objects older than
    ``max_age_seconds`` go (vendor "Lifetime management": hourly, 48 h)."""

    interval_seconds: float = 3600
    max_age_seconds: float = 48 * 3600

    def to_json(self) -> dict[str, Any]:
        return {"intervalSeconds": self.interval_seconds, "maxAgeSeconds": self.max_age_seconds}


# --- the container -------------------------------------------------------------------------
Listener = Callable[[str, Any], None]
"""``listener(kind, record)``; kind is 'manifest', 'destination', 'transfer' or 'token'."""


class _Owned(Protocol):
    owner: str
    owner_token: str | None


_R = TypeVar("_R", bound=_Owned)


class ServerState:
    """All records of one server, id allocation, visibility checks and change listeners.

    Persistence is attached from outside (``refserver.persist``) as a listener plus
    :meth:`load_records`, so this class does no file IO.
    """

    def __init__(self) -> None:
        self.manifests: dict[str, ManifestRecord] = {}
        self.destinations: dict[str, DestinationRecord] = {}
        self.transfers: dict[int, TransferRecord] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.shared_tokens: dict[str, SharedTokenRecord] = {}
        """Shared ("shareable link") tokens, ``handlers/shared.py`` (not persisted yet)."""
        self.server_id = ""
        """This run's ``serverId`` (set by the app before the engine is built)."""
        self.server_uid = ""
        """The persistent ``serverUid`` from the state directory."""
        self.bandwidth = BandwidthLimits()
        self.gc = GcSettings()
        self.sandbox_mappings: dict[str, dict[str, dict[str, str]]] = {}
        """``{user: {root: {"type": "File", "path": ...}}}``; user ``""`` = all users."""
        self._next_transfer_id = 1
        self._listeners: list[Listener] = []

    # ids
    def new_transfer_id(self) -> int:
        """Next transfer id: an integer counter from 1, never reused within a state."""
        tid = self._next_transfer_id
        self._next_transfer_id += 1
        return tid

    def new_manifest_id(self) -> str:
        """A fresh manifest id: 32 lowercase hex digits."""
        while (mid := secrets.token_hex(16)) in self.manifests:
            continue
        return mid

    def new_destination_id(self, address: str, port: int) -> str:
        """A fresh destination id, ``HOST:PORT-XXXXXXXX`` (vendor ids look like host:port)."""
        while (did := f"{address}:{port}-{secrets.token_hex(4)}") in self.destinations:
            continue
        return did

    def new_token_id(self) -> str:
        return secrets.token_urlsafe(24)

    # listeners
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def changed(self, kind: str, record: Any) -> None:
        """Tell every listener that ``record`` (of ``kind``) changed."""
        for listener in list(self._listeners):
            listener(kind, record)

    def apply(self, record: TransferRecord, event: TransferEvent, *,
              error_message: str | None = None) -> TransferStatus:
        """:func:`transition` plus notification; the engine's way to change a status.

        Raises:
            TransitionError: the event is not allowed in the record's status.
        """
        status = transition(record, event, error_message=error_message)
        self.changed("transfer", record)
        return status

    # lookups with visibility
    @staticmethod
    def _visible(table: dict[Any, _R], key: Any, who: Principal, kind: str) -> _R:
        record = table.get(key)
        if record is None or not who.sees(record.owner, record.owner_token):
            raise NotFound(f"no {kind} {key!r}", details={kind + "Id": key})
        return record

    def manifest(self, manifest_id: str, who: Principal) -> ManifestRecord:
        """The manifest, if ``who`` may see it. Raises NotFound otherwise."""
        return self._visible(self.manifests, manifest_id, who, "manifest")

    def destination(self, destination_id: str, who: Principal) -> DestinationRecord:
        return self._visible(self.destinations, destination_id, who, "destination")

    def transfer(self, transfer_id: int, who: Principal) -> TransferRecord:
        return self._visible(self.transfers, transfer_id, who, "transfer")

    def token(self, token: str, who: Principal) -> TokenRecord:
        return self._visible(self.tokens, token, who, "token")

    @staticmethod
    def visible(records: Iterable[_R], who: Principal) -> list[_R]:
        """The records of ``records`` that ``who`` may see, in order."""
        return [r for r in records if who.sees(r.owner, r.owner_token)]

    def queued_for(self, destination_id: str) -> int:
        """``numTransfersQueued``: pending transfers for a destination."""
        return self.queued().get(destination_id, 0)

    def queued(self) -> Counter[str]:
        """``numTransfersQueued`` of every destination with any, in one pass over the
        transfers (a destination list must not scan them once per destination)."""
        return Counter(t.destination_id for t in self.transfers.values()
                       if t.status is TransferStatus.PENDING)

    def load_records(self, *, manifests: Iterable[ManifestRecord] = (),
                     destinations: Iterable[DestinationRecord] = (),
                     transfers: Iterable[TransferRecord] = (),
                     tokens: Iterable[TokenRecord] = ()) -> None:
        """Install records read back from persistent storage (no listeners are called)."""
        self.manifests.update((m.manifest_id, m) for m in manifests)
        self.destinations.update((d.destination_id, d) for d in destinations)
        self.tokens.update((t.token, t) for t in tokens)
        for t in transfers:
            self.transfers[t.transfer_id] = t
            self._next_transfer_id = max(self._next_transfer_id, t.transfer_id + 1)
