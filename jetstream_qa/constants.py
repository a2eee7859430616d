"""JetStream API constants, per API version.

Source: the vendor's ``jetstream.constants`` page for release 2.9.2
(``jetstream-api/2.9.2/api/python/jetstream.constants.html``), restated in
``shared/jetstream-docs/constants-2.9.2.md``. Values marked OURS are not printed by the
vendor page (the two symbolic-link modes and the members of ``PERMISSIONS``); the reference
server defines them and ``docs/semantics.md`` says so. Against a real server with the vendor
package installed, the suites read those from the vendor package instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "API_VERSION",
    "BLOCK_SIZE",
    "BUILD_VERSION",
    "DEFAULT_API_PORT",
    "DEFAULT_RECV_PORT",
    "DEFAULT_SERVER_ADDRESS",
    "DEFAULT_TIMEOUT_SECONDS",
    "FILETYPE_DIRECTORY",
    "FILETYPE_REGULAR_FILE",
    "MIN_CIPHER_ENCRYPTED_128",
    "MIN_CIPHER_ENCRYPTED_256",
    "MIN_CIPHER_NONE",
    "MIN_CIPHER_UNENCRYPTED",
    "OVERWRITE_ALWAYS",
    "OVERWRITE_IN_PLACE_SAME_SIZE",
    "OVERWRITE_NEVER",
    "OVERWRITE_VERSIONED",
    "PROFILES",
    "SYMLINK_FOLLOW",
    "SYMLINK_IGNORE",
    "TRANSFER_FINAL_STATUSES",
    "TRANSFER_FLAG_NONE",
    "TRANSFER_FLAG_READ",
    "TRANSFER_FLAG_READ_WRITE",
    "TRANSFER_FLAG_WRITE",
    "TRANSFER_FLAG_WRITE_MTIME",
    "TRANSFER_FLAG_WRITE_ONLY_NEWER",
    "ApiProfile",
    "FileType",
    "MinCipher",
    "OverwriteMode",
    "Permission",
    "SymlinkMode",
    "TransferFlag",
    "profile_for",
]

# --- version ---------------------------------------------------------------------------
API_VERSION = 40
"""API version the 2.9.2 package speaks (2.9.0 spoke 39, 1.9.0 spoke 27)."""
BUILD_VERSION = (2, 9, 2)

# --- defaults --------------------------------------------------------------------------
DEFAULT_API_PORT = 8886
DEFAULT_RECV_PORT = 8886
"""UDP receive port (server primer: ``--recv-port``, default 8886)."""
DEFAULT_SERVER_ADDRESS = "localhost"
DEFAULT_TIMEOUT_SECONDS = 10

BLOCK_SIZE = 256
"""Transfer structure page: ``blockSize`` is "currently 256" bytes."""

# --- transfer statuses -----------------------------------------------------------------
TRANSFER_FINAL_STATUSES: frozenset[str] = frozenset({"complete", "error", "cancelled"})
"""Transfer ``status`` values a transfer never leaves (``waitForTransfer`` returns "once
finished"). The vendor spells ``complete`` and ``error`` (S2/S5); ``cancelled`` is OURS
(``docs/protocol.md`` 4.4 status table: "final: every event is refused with NotReady")."""


class FileType(enum.IntEnum):
    """Manifest flags: the kind of a manifest mapping item."""

    DIRECTORY = 2
    REGULAR_FILE = 4


FILETYPE_DIRECTORY = FileType.DIRECTORY
FILETYPE_REGULAR_FILE = FileType.REGULAR_FILE


class MinCipher(enum.IntEnum):
    """Minimum transfer cipher; ordered weakest to strongest."""

    NONE = 0
    """No encryption, no validation."""
    UNENCRYPTED = 1
    """Readable on the path but authenticated: cannot be altered or forged."""
    ENCRYPTED_128 = 2
    ENCRYPTED_256 = 3


MIN_CIPHER_NONE = MinCipher.NONE
MIN_CIPHER_UNENCRYPTED = MinCipher.UNENCRYPTED
MIN_CIPHER_ENCRYPTED_128 = MinCipher.ENCRYPTED_128
MIN_CIPHER_ENCRYPTED_256 = MinCipher.ENCRYPTED_256


class OverwriteMode(enum.IntEnum):
    """What happens when the destination file already exists (API 39/40 names)."""

    IN_PLACE_SAME_SIZE = 2
    """Write in place, only over a same-size or empty file."""
    NEVER = 3
    """Write through a partfile and never replace; the partfile stays."""
    ALWAYS = 4
    """Write through a partfile, then replace the existing file."""
    VERSIONED = 5
    """Partfile, replace, keep the original as ``NAME.jetbak``."""


OVERWRITE_IN_PLACE_SAME_SIZE = OverwriteMode.IN_PLACE_SAME_SIZE
OVERWRITE_NEVER = OverwriteMode.NEVER
OVERWRITE_ALWAYS = OverwriteMode.ALWAYS
OVERWRITE_VERSIONED = OverwriteMode.VERSIONED


class TransferFlag(enum.IntFlag):
    """Transfer flags are bits; WRITE_MTIME and WRITE_ONLY_NEWER combine with any R/W mode."""

    NONE = 0
    """Neither read nor write: network only, for performance and network debugging."""
    READ = 1
    """The sender reads source files (without it: synthetic content of the right size)."""
    WRITE = 2
    """The receiver writes files (without it: nothing appears at the destination)."""
    READ_WRITE = 3
    WRITE_MTIME = 4
    """Destination mtime = source mtime."""
    WRITE_ONLY_NEWER = 8
    """Skip a file whose existing destination copy is newer than the source."""


TRANSFER_FLAG_NONE = TransferFlag.NONE
TRANSFER_FLAG_READ = TransferFlag.READ
TRANSFER_FLAG_WRITE = TransferFlag.WRITE
TRANSFER_FLAG_READ_WRITE = TransferFlag.READ_WRITE
TRANSFER_FLAG_WRITE_MTIME = TransferFlag.WRITE_MTIME
TRANSFER_FLAG_WRITE_ONLY_NEWER = TransferFlag.WRITE_ONLY_NEWER

ALL_TRANSFER_FLAG_SETS: tuple[TransferFlag, ...] = tuple(TransferFlag(v) for v in range(16))
"""The 16 combinations: 4 read/write modes x WRITE_MTIME x WRITE_ONLY_NEWER."""


class SymlinkMode(enum.IntEnum):
    """OURS: the vendor page documents two symlink constants without names or values."""

    FOLLOW = 1
    """Follow the link and copy the target's contents."""
    IGNORE = 2
    """Ignore symbolic links; do not copy them."""


SYMLINK_FOLLOW = SymlinkMode.FOLLOW
SYMLINK_IGNORE = SymlinkMode.IGNORE


class Permission(enum.IntFlag):
    """OURS: ``PERMISSIONS`` is listed without members; these mirror the client's link rights."""

    NONE = 0
    UPLOAD = 1
    DOWNLOAD = 2
    DELETE_RENAME = 4
    CREATE_LINKS = 8
    ALL = 15


@dataclass(frozen=True, slots=True)
class ApiProfile:
    """Constants as a given API version names them; never assume one version's values."""

    api_version: int
    build_version: tuple[int, int, int]
    overwrite_modes: dict[str, int]
    has_min_cipher: bool
    has_api_tokens: bool


PROFILES: dict[int, ApiProfile] = {
    40: ApiProfile(
        api_version=40,
        build_version=(2, 9, 2),
        overwrite_modes={m.name: m.value for m in OverwriteMode},
        has_min_cipher=True,
        has_api_tokens=True,
    ),
    39: ApiProfile(
        api_version=39,
        build_version=(2, 9, 0),
        overwrite_modes={m.name: m.value for m in OverwriteMode},
        has_min_cipher=True,
        has_api_tokens=True,
    ),
    27: ApiProfile(
        api_version=27,
        build_version=(1, 9, 0),
        overwrite_modes={
            "IN_PLACE_NEVER": 0,
            "IN_PLACE_ALWAYS": 1,
            "IN_PLACE_SAME_SIZE": 2,
            "WITH_PARTFILE_NEVER": 3,
            "WITH_PARTFILE_ALWAYS": 4,
            "WITH_PARTFILE_BACKUP": 5,
        },
        has_min_cipher=False,
        has_api_tokens=False,
    ),
}


def profile_for(api_version: int) -> ApiProfile:
    """Return the constants profile of ``api_version``.

    Raises:
        KeyError: no profile is known for that version (the message names it).
    """
    try:
        return PROFILES[api_version]
    except KeyError:
        raise KeyError(f"no constants profile for API version {api_version}") from None
