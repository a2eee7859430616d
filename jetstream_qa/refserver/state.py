"""Server state: the records the control plane and the data-plane engine share.

Theory of operation
-------------------
Records (:class:`ManifestRecord`, :class:`DestinationRecord`, :class:`TransferRecord`,
:class:`TokenRecord`) are plain mutable dataclasses with slots, owned by one
:class:`ServerState`. Everything runs on the server's event loop thread: handlers and the
engine mutate records in place, and nothing here locks.

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

import enum
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from jetstream_qa.constants import BLOCK_SIZE, TRANSFER_FINAL_STATUSES, FileType, SymlinkMode
from jetstream_qa.errors import NotFound, NotReady

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
    "TokenRecord",
    "TransferEvent",
    "TransferRecord",
    "TransferStatus",
    "TransitionError",
    "now_us",
    "transition",
]


def now_us() -> int:
    """Current Unix time in integer microseconds (vendor "Timestamps" page)."""
    return time.time_ns() // 1000


# --- transfer status table ---------------------------------------------------------------
class TransferStatus(enum.StrEnum):
    """Transfer ``status`` values (ours where the vendor leaves the list open)."""

    PENDING = "pending"
    SENDING = "sending"
    SUSPENDED = "suspended"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"


class TransferEvent(enum.StrEnum):
    """Events that move a transfer between statuses."""

    START = "start"
    SUSPEND = "suspend"
    RESUME = "resume"
    CANCEL = "cancel"
    FINISH_OK = "finish ok"
    FAIL = "fail"


_P, _S, _U = TransferStatus.PENDING, TransferStatus.SENDING, TransferStatus.SUSPENDED
_E = TransferEvent
TRANSFER_TRANSITIONS: Final[dict[tuple[TransferStatus, TransferEvent], TransferStatus]] = {
    # docs/protocol.md 4.4 "Status table"; complete/error/cancelled are final.
    (_P, _E.START): _S,
    (_P, _E.SUSPEND): _U,
    (_P, _E.CANCEL): TransferStatus.CANCELLED,
    (_P, _E.FAIL): TransferStatus.ERROR,
    (_S, _E.SUSPEND): _U,
    (_S, _E.CANCEL): TransferStatus.CANCELLED,
    (_S, _E.FINISH_OK): TransferStatus.COMPLETE,
    (_S, _E.FAIL): TransferStatus.ERROR,
    (_U, _E.RESUME): _P,
    (_U, _E.CANCEL): TransferStatus.CANCELLED,
    (_U, _E.FAIL): TransferStatus.ERROR,
}


class TransitionError(NotReady):
    """An event not allowed in the transfer's current status (``NotReady`` on the wire)."""

    def __init__(self, status: TransferStatus, event: TransferEvent, transfer_id: int) -> None:
        super().__init__(
            f"transfer {transfer_id}: event '{event.value}' not allowed in status "
            f"'{status.value}'",
            details={"transferId": transfer_id, "status": status.value, "event": event.value})
        self.status = status
        self.event = event


# --- records -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a call: a user, optionally through an API token, maybe elevated."""

    user: str
    token: str | None = None
    session: str | None = None
    elevated: bool = False

    def sees(self, owner: str, owner_token: str | None) -> bool:
        """True when an object with this ``owner``/``owner_token`` is visible to us."""
        if self.elevated:
            return True
        if owner != self.user:
            return False
        return self.token is None or owner_token == self.token


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One File Mapping of a manifest (``docs/protocol.md`` 4.2)."""

    src_path: str
    dest_path: str
    file_size: int
    is_empty_dir: bool
    executable: bool
    modification_time: int
    file_type: FileType

    def to_json(self) -> dict[str, Any]:
        return {"srcPath": self.src_path, "destPath": self.dest_path,
                "fileSize": self.file_size, "isEmptyDir": self.is_empty_dir,
                "executable": self.executable, "modificationTime": self.modification_time,
                "fileType": int(self.file_type)}


class ManifestStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETE = "complete"
    ERROR = "error"


@dataclass(slots=True)
class ManifestRecord:
    """A manifest: the requested ``mappings`` ({dest: src}) and, once built, its files."""

    manifest_id: str
    owner: str
    mappings: dict[str, str]
    symlink_mode: SymlinkMode = SymlinkMode.FOLLOW
    owner_token: str | None = None
    owner_token_session: str | None = None
    status: ManifestStatus = ManifestStatus.PENDING
    total_files: int | None = None
    total_size: int | None = None
    error_message: str | None = None
    files: list[FileEntry] = field(default_factory=list)
    user_data: dict[str, str] = field(default_factory=dict)
    creation_time: int = field(default_factory=now_us)
    source_base: str | None = None
    """The owner's sandbox on disk when the manifest was made (None: not sandboxed); the
    sources in ``mappings`` are below it, the ``files`` hold file-system paths."""

    def to_json(self) -> dict[str, Any]:
        """The vendor Manifest structure."""
        return {"manifestId": self.manifest_id, "status": self.status.value,
                "processing": self.status is ManifestStatus.PENDING,
                "totalFiles": self.total_files, "totalSize": self.total_size,
                "errorMessage": self.error_message, "owner": self.owner,
                "ownerToken": self.owner_token, "ownerTokenSession": self.owner_token_session,
                "userData": dict(self.user_data), "creationTime": self.creation_time,
                "symlinkMode": int(self.symlink_mode)}


@dataclass(slots=True)
class DestinationRecord:
    """A destination: the receiving server's UDP address and per-destination settings."""

    destination_id: str
    owner: str
    destination_address: str
    destination_ip: str
    destination_port: int
    destination_public_key: str | None = None
    send_rate_max: int | None = None
    min_cipher: int = 0
    owner_token: str | None = None
    owner_token_session: str | None = None
    encrypted_connection_state: str = "disconnected"
    encryption_enabled: bool = True
    last_destination_server_id: str | None = None
    last_destination_server_uid: str | None = None
    last_error: int | None = None
    last_error_message: str | None = None
    last_recv_time: int | None = None
    last_send_time: int | None = None
    connection_id: str | None = None
    user_data: dict[str, str] = field(default_factory=dict)
    creation_time: int = field(default_factory=now_us)

    def to_json(self, *, queued: int = 0) -> dict[str, Any]:
        """The vendor Destination structure; ``queued`` is ``numTransfersQueued``."""
        return {"destinationId": self.destination_id,
                "destinationAddress": self.destination_address,
                "destinationIP": self.destination_ip, "destinationPort": self.destination_port,
                "destinationPublicKey": self.destination_public_key,
                "encryptedConnectionState": self.encrypted_connection_state,
                "encryptionEnabled": self.encryption_enabled,
                "lastDestinationServerId": self.last_destination_server_id,
                "lastDestinationServerUid": self.last_destination_server_uid,
                "lastError": self.last_error, "lastErrorMessage": self.last_error_message,
                "lastRecvTime": self.last_recv_time, "lastSendTime": self.last_send_time,
                "numTransfersQueued": queued, "owner": self.owner,
                "ownerToken": self.owner_token, "ownerTokenSession": self.owner_token_session,
                "sendRateMax": self.send_rate_max, "minCipher": self.min_cipher,
                "connectionId": self.connection_id, "userData": dict(self.user_data)}


@dataclass(slots=True)
class TransferRecord:
    """A transfer on the sending side (``docs/protocol.md`` 4.4); counters are real counts."""

    transfer_id: int
    owner: str
    destination_id: str
    manifest_id: str
    destination_path: str | None = None
    priority: int = 100
    transfer_flags: int = 3
    overwrite_mode: int = 4
    min_cipher: int = 0
    effective_cipher: int | None = None
    checkpoint_frequency_seconds: float | None = None
    send_rate_max: int | None = None
    status: TransferStatus = TransferStatus.PENDING
    error_message: str | None = None
    block_size: int = BLOCK_SIZE
    total_bytes: int = 0
    blocks_sent: int = 0
    blocks_acked: int = 0
    blocks_retransmitted: int = 0
    packets_sent: int = 0
    packets_recv: int = 0
    bytes_sent: int = 0
    bytes_recv: int = 0
    queue_time: int = field(default_factory=now_us)
    request_time: int = field(default_factory=now_us)
    snapshot_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    owner_token: str | None = None
    owner_token_session: str | None = None
    user_data: dict[str, str] = field(default_factory=dict)
    file_results: list[dict[str, Any]] | None = None

    @property
    def total_blocks(self) -> int:
        """``ceil(totalBytes / blockSize)`` (Transfer structure page)."""
        return math.ceil(self.total_bytes / self.block_size)

    @property
    def finished(self) -> bool:
        return self.status in TRANSFER_FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The vendor Transfer structure (with our additions)."""
        return {"transferId": self.transfer_id, "destinationId": self.destination_id,
                "manifestId": self.manifest_id, "destinationPath": self.destination_path,
                "priority": self.priority, "transferFlags": self.transfer_flags,
                "overwriteMode": self.overwrite_mode, "minCipher": self.min_cipher,
                "effectiveCipher": self.effective_cipher,
                "checkpointFrequencySeconds": self.checkpoint_frequency_seconds,
                "sendRateMax": self.send_rate_max, "status": self.status.value,
                "processing": self.status in (TransferStatus.PENDING, TransferStatus.SENDING),
                "errorMessage": self.error_message, "blockSize": self.block_size,
                "totalBlocks": self.total_blocks, "totalBytes": self.total_bytes,
                "blocksSent": self.blocks_sent, "blocksAcked": self.blocks_acked,
                "blocksRetransmitted": self.blocks_retransmitted,
                "packetsSent": self.packets_sent, "packetsRecv": self.packets_recv,
                "bytesSent": self.bytes_sent, "bytesRecv": self.bytes_recv,
                "queueTime": self.queue_time, "requestTime": self.request_time,
                "snapshotTime": self.snapshot_time, "startTime": self.start_time,
                "endTime": self.end_time, "owner": self.owner, "ownerToken": self.owner_token,
                "ownerTokenSession": self.owner_token_session,
                "userData": dict(self.user_data),
                "fileResults": None if self.file_results is None
                else [dict(r) for r in self.file_results]}


@dataclass(slots=True)
class TokenRecord:
    """An API token; ``password_hash`` is never serialised by :meth:`to_json`."""

    token: str
    owner: str
    description: str = ""
    expiry_time: int | None = None
    password_hash: str | None = None
    permissions: int = 15
    path: str | None = None
    owner_token: str | None = None
    owner_token_session: str | None = None
    user_data: dict[str, str] = field(default_factory=dict)
    creation_time: int = field(default_factory=now_us)

    def expired(self, at_us: int) -> bool:
        return self.expiry_time is not None and at_us >= self.expiry_time

    def to_json(self) -> dict[str, Any]:
        """The vendor Token structure (the password is never returned)."""
        return {"token": self.token, "description": self.description,
                "creationTime": self.creation_time, "expiryTime": self.expiry_time,
                "owner": self.owner, "ownerToken": self.owner_token,
                "ownerTokenSession": self.owner_token_session,
                "passwordRequired": self.password_hash is not None,
                "permissions": self.permissions, "path": self.path,
                "userData": dict(self.user_data)}


def transition(record: TransferRecord, event: TransferEvent, *,
               error_message: str | None = None, at_us: int | None = None) -> TransferStatus:
    """Apply ``event`` to ``record`` through :data:`TRANSFER_TRANSITIONS`.

    Sets ``startTime`` on the first start, ``endTime`` on entering a final status, and
    ``errorMessage`` on fail. Returns the new status.

    Raises:
        TransitionError: (status, event) is not in the table; the record is unchanged.
    """
    key = (record.status, event)
    if key not in TRANSFER_TRANSITIONS:
        raise TransitionError(record.status, event, record.transfer_id)
    stamp = now_us() if at_us is None else at_us
    record.status = TRANSFER_TRANSITIONS[key]
    if event is TransferEvent.START and record.start_time is None:
        record.start_time = max(stamp, record.request_time)
    if event is TransferEvent.FAIL:
        record.error_message = error_message or "transfer failed"
    if record.status in TRANSFER_FINAL_STATUSES:
        record.end_time = max(stamp, record.start_time or record.request_time)
    return record.status


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
_R = TypeVar("_R", ManifestRecord, DestinationRecord, TransferRecord, TokenRecord)


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
        self.shared_tokens: dict[str, Any] = {}
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
        return sum(1 for t in self.transfers.values()
                   if t.destination_id == destination_id and t.status is TransferStatus.PENDING)

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
