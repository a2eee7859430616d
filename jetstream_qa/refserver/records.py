"""The server's records other than transfers, as the vendor structures describe them.

Records are plain mutable dataclasses with slots, owned by one
:class:`~jetstream_qa.refserver.state.ServerState`; everything runs on the server's event loop
thread, so nothing here locks. Each record serialises itself to its vendor structure with
``to_json()``. A :class:`Principal` is who makes a call and decides what it may see
(``docs/protocol.md`` section 3, note on ownership): an elevated principal sees everything;
otherwise it sees what its user owns, and a token session only what that token created.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.constants import FileType, Permission, SymlinkMode

__all__ = [
    "DestinationRecord",
    "FileEntry",
    "ManifestRecord",
    "ManifestStatus",
    "Principal",
    "SharedTokenRecord",
    "TokenRecord",
    "now_us",
]


def now_us() -> int:
    """Current Unix time in integer microseconds (vendor "Timestamps" page)."""
    return time.time_ns() // 1000


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


@dataclass(slots=True, kw_only=True)
class SharedTokenRecord(TokenRecord):
    """A shared ("shareable link") token to one manifest: an API token's fields plus the
    link's (vendor Token structure, S8); it only ever grants DOWNLOAD and has no path."""

    manifest_id: str
    permissions: int = int(Permission.DOWNLOAD)
    download_limit: int | None = None
    download_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The vendor Token structure of a shared token (S8)."""
        common = TokenRecord.to_json(self)  # not super(): slots=True makes a new class
        user_data = common.pop("userData")
        del common["path"]
        return {**common, "manifestId": self.manifest_id,
                "downloadCount": self.download_count, "downloadLimit": self.download_limit,
                "userData": user_data}
