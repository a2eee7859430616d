"""A transfer on the sending side: its record and its status table.

Transfer status changes go through ONE table, :data:`TRANSFER_TRANSITIONS`, keyed by
(status, event) (``docs/protocol.md`` 4.4). :func:`transition` applies one event to a record
(status, ``startTime``/``endTime``, ``errorMessage``) or raises :class:`TransitionError`
naming both; :meth:`~jetstream_qa.refserver.state.ServerState.apply` does the same and then
tells the listeners. The statuses the table never leaves are
:data:`jetstream_qa.constants.TRANSFER_FINAL_STATUSES`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Final

from jetstream_qa.constants import BLOCK_SIZE, TRANSFER_FINAL_STATUSES
from jetstream_qa.errors import NotReady
from jetstream_qa.refserver.records import now_us

__all__ = [
    "TRANSFER_TRANSITIONS",
    "TransferEvent",
    "TransferRecord",
    "TransferStatus",
    "TransitionError",
    "transition",
]


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

