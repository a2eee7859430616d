"""Deliberate defects of the reference server, for proving that the suites catch them.

``jetstream-qa serve --fault NAME[,NAME]`` switches faults on. Each fault names the area of
the suites that must catch it; ``tests/meta`` starts a server with each fault, runs that area,
and requires a FAIL (or NON_STRICT for a SHOULD) in the listed case ids. The server code asks
``faults.active(NAME)`` at the one place the defect lives; with no fault configured every
check is a frozenset lookup on an empty set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jetstream_qa.errors import ConfigurationError

__all__ = ["FAULTS", "Fault", "FaultSet", "parse_faults"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One named defect: what breaks, and which suite area must notice."""

    name: str
    area: str
    description: str


FAULTS: dict[str, Fault] = {f.name: f for f in (
    # handshake
    Fault("wrong-api-version", "handshake", "hello and getServerInfo report apiVersion 39"),
    Fault("hang-before-hello", "handshake", "accepts TCP but never answers the client hello"),
    Fault("server-info-missing-fields", "handshake",
          "getServerInfo omits revision and serverUid"),
    # timeouts
    Fault("request-status-blocks", "timeouts",
          "getRequestStatus waits until the request is done instead of answering at once"),
    Fault("no-handshake-deadline", "timeouts", "never drops a client that sends nothing"),
    # auth and ownership
    Fault("accept-any-password", "auth", "auth succeeds whatever the password"),
    Fault("no-auth-required", "auth", "commands work without auth"),
    Fault("leak-transfers", "auth", "every user sees every user's transfers"),
    Fault("leak-manifests", "auth", "every user sees every user's manifests"),
    Fault("superuser-for-all", "auth", "superuser() elevates ordinary users"),
    Fault("token-never-expires", "auth", "API tokens keep working after expiryTime"),
    Fault("leak-password", "auth", "getServerInfo carries the session password"),
    # manifests
    Fault("manifest-wrong-size", "manifests", "File Mapping fileSize off by one"),
    Fault("manifest-no-exec-bit", "manifests", "File Mapping executable always False"),
    Fault("manifest-skip-empty-dirs", "manifests", "empty directories left out of manifests"),
    Fault("manifest-missing-ok", "manifests",
          "a missing source completes the manifest instead of erroring"),
    Fault("pending-manifest-usable", "manifests",
          "createTransfer accepts a manifest still pending (refuses only one in error)"),
    # flags and storage
    Fault("ignore-flag-read", "flags", "sender reads source files even without READ"),
    Fault("ignore-flag-write", "flags", "receiver writes files even without WRITE"),
    Fault("ignore-write-mtime", "flags", "WRITE_MTIME does not set the destination mtime"),
    Fault("mtime-off-by-one", "flags", "WRITE_MTIME sets mtime one second late"),
    Fault("only-newer-inverted", "flags", "WRITE_ONLY_NEWER skips older destinations instead"),
    Fault("same-size-overwrites-any", "flags",
          "IN_PLACE_SAME_SIZE writes over a file of another size"),
    Fault("never-overwrites", "flags", "OVERWRITE_NEVER replaces the existing file"),
    Fault("no-partfile", "flags", "OVERWRITE_NEVER leaves no partfile behind"),
    Fault("no-jetbak", "flags", "OVERWRITE_VERSIONED keeps no .jetbak"),
    Fault("follow-symlinks-under-ignore", "flags", "SYMLINK_IGNORE follows links"),
    # the server's own decision code (refserver/engine/decide.py, finish.py, storage.py,
    # cipher_choice.py; manifests.py for links)
    Fault("none-flag-writes", "flags",
          "TRANSFER_FLAG_NONE (0) is taken as 'unset': the receiver writes as READ_WRITE"),
    Fault("only-newer-without-flag", "flags",
          "the WRITE_ONLY_NEWER skip applies whether the flag is set or not"),
    Fault("only-newer-ignored-in-place", "flags",
          "IN_PLACE_SAME_SIZE writes over a newer copy despite WRITE_ONLY_NEWER"),
    Fault("mtime-set-before-data", "flags",
          "WRITE_MTIME is applied when the file is opened; the data written after moves it"),
    Fault("same-size-refuses-empty", "flags",
          "IN_PLACE_SAME_SIZE skips an existing empty (0-byte) file"),
    Fault("never-writes-in-place", "flags",
          "OVERWRITE_NEVER writes its data into the existing file instead of a partfile"),
    Fault("always-keeps-original", "flags",
          "OVERWRITE_ALWAYS leaves the existing file and its partfile beside it"),
    Fault("versioned-backup-is-new", "flags",
          "OVERWRITE_VERSIONED backs up after replacing: NAME.jetbak holds the new data"),
    Fault("follow-uses-lstat", "flags",
          "SYMLINK_FOLLOW lists a link with its own size and mtime, not its target's"),
    Fault("write-outside-root", "transfers", "destinationPath '..' is not refused"),
    # transfers
    Fault("counters-lie", "transfers", "blocksAcked reported larger than blocksSent"),
    Fault("retransmits-not-counted", "transfers",
          "blocksRetransmitted stays 0: resent blocks count only in blocksSent"),
    Fault("ignore-priority", "transfers", "queued transfers run in creation order"),
    Fault("corrupt-block", "transfers", "receiver flips a bit in the first block it writes"),
    Fault("executable-bit-dropped", "transfers", "written files never get the executable bit"),
    Fault("zero-byte-not-created", "transfers",
          "a 0-byte file, which no data block reaches, is never created"),
    Fault("empty-dir-not-created", "transfers",
          "an isEmptyDir entry is skipped: the empty directory never appears"),
    # packets
    Fault("plaintext-when-encrypted", "packets",
          "data sent unencrypted while the transfer claims ENCRYPTED_*"),
    Fault("accept-forged", "packets", "datagrams failing authentication are written"),
    Fault("cipher-ignores-transfer-min", "packets",
          "the sender's cipher choice ignores the transfer's minCipher (servers' only)"),
    Fault("unencrypted-means-none", "packets",
          "MIN_CIPHER_UNENCRYPTED is chosen as NONE: no authentication of datagrams"),
    # robustness
    Fault("crash-on-malformed-frame", "robustness", "the server exits on a malformed frame"),
    Fault("exit-on-create-transfer", "transfers",
          "the sending server exits on its first createTransfer (dies mid-run)"),
)}


class FaultSet:
    """The faults a server runs with; ``active(name)`` is the only question code asks."""

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = frozenset(names)
        unknown = sorted(names - FAULTS.keys())
        if unknown:
            raise ConfigurationError(
                f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}",
                details={"unknown": unknown})
        self._names = names

    def active(self, name: str) -> bool:
        """True when fault ``name`` is switched on (``name`` must be a known fault)."""
        if name not in FAULTS:
            raise KeyError(f"unknown fault {name!r}")
        return name in self._names

    @property
    def names(self) -> frozenset[str]:
        return self._names

    def __bool__(self) -> bool:
        return bool(self._names)


def parse_faults(values: Iterable[str]) -> FaultSet:
    """Parse ``--fault`` values (each a comma-separated list) into a :class:`FaultSet`.

    Raises:
        ConfigurationError: a name is not a known fault (the message lists the known ones).
    """
    names = {part.strip() for value in values for part in value.split(",") if part.strip()}
    return FaultSet(names)
