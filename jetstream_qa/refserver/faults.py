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


def _area(area: str, *faults: tuple[str, str]) -> tuple[Fault, ...]:
    """The faults of one suite area, each given as ``(name, description)``."""
    return tuple(Fault(name, area, description) for name, description in faults)


FAULTS: dict[str, Fault] = {f.name: f for f in (
    *_area("handshake",
           ("wrong-api-version", "hello and getServerInfo report apiVersion 39"),
           ("hang-before-hello", "accepts TCP but never answers the client hello"),
           ("server-info-missing-fields", "getServerInfo omits revision and serverUid")),
    *_area("timeouts",
           ("request-status-blocks",
            "getRequestStatus waits until the request is done instead of answering at once"),
           ("no-handshake-deadline", "never drops a client that sends nothing")),
    *_area("auth",
           ("accept-any-password", "auth succeeds whatever the password"),
           ("no-auth-required", "commands work without auth"),
           ("leak-transfers", "every user sees every user's transfers"),
           ("leak-manifests", "every user sees every user's manifests"),
           ("superuser-for-all", "superuser() elevates ordinary users"),
           ("token-never-expires", "API tokens keep working after expiryTime"),
           ("leak-password", "getServerInfo carries the session password")),
    *_area("manifests",
           ("manifest-wrong-size", "File Mapping fileSize off by one"),
           ("manifest-no-exec-bit", "File Mapping executable always False"),
           ("manifest-skip-empty-dirs", "empty directories left out of manifests"),
           ("manifest-missing-ok", "a missing source completes the manifest instead of erroring"),
           ("pending-manifest-usable",
            "createTransfer accepts a manifest still pending (refuses only one in error)")),
    *_area("flags",
           ("ignore-flag-read", "sender reads source files even without READ"),
           ("ignore-flag-write", "receiver writes files even without WRITE"),
           ("ignore-write-mtime", "WRITE_MTIME does not set the destination mtime"),
           ("mtime-off-by-one", "WRITE_MTIME sets mtime one second late"),
           ("only-newer-inverted", "WRITE_ONLY_NEWER skips older destinations instead"),
           ("same-size-overwrites-any", "IN_PLACE_SAME_SIZE writes over a file of another size"),
           ("never-overwrites", "OVERWRITE_NEVER replaces the existing file"),
           ("no-partfile", "OVERWRITE_NEVER leaves no partfile behind"),
           ("no-jetbak", "OVERWRITE_VERSIONED keeps no .jetbak"),
           ("follow-symlinks-under-ignore", "SYMLINK_IGNORE follows links"),
           # the server's own decision code (refserver/engine/decide.py, finish.py,
           # storage.py, cipher_choice.py; manifests.py for links)
           ("none-flag-writes",
            "TRANSFER_FLAG_NONE (0) is taken as 'unset': the receiver writes as READ_WRITE"),
           ("only-newer-without-flag",
            "the WRITE_ONLY_NEWER skip applies whether the flag is set or not"),
           ("only-newer-ignored-in-place",
            "IN_PLACE_SAME_SIZE writes over a newer copy despite WRITE_ONLY_NEWER"),
           ("mtime-set-before-data",
            "WRITE_MTIME is applied when the file is opened; the data written after moves it"),
           ("same-size-refuses-empty", "IN_PLACE_SAME_SIZE skips an existing empty (0-byte) file"),
           ("never-writes-in-place",
            "OVERWRITE_NEVER writes its data into the existing file instead of a partfile"),
           ("always-keeps-original",
            "OVERWRITE_ALWAYS leaves the existing file and its partfile beside it"),
           ("versioned-backup-is-new",
            "OVERWRITE_VERSIONED backs up after replacing: NAME.jetbak holds the new data"),
           ("follow-uses-lstat",
            "SYMLINK_FOLLOW lists a link with its own size and mtime, not its target's")),
    *_area("transfers",
           ("write-outside-root", "destinationPath '..' is not refused"),
           ("counters-lie", "blocksAcked reported larger than blocksSent"),
           ("retransmits-not-counted",
            "blocksRetransmitted stays 0: resent blocks count only in blocksSent"),
           ("ignore-priority", "queued transfers run in creation order"),
           ("corrupt-block", "receiver flips a bit in the first block it writes"),
           ("executable-bit-dropped", "written files never get the executable bit"),
           ("zero-byte-not-created",
            "a 0-byte file, which no data block reaches, is never created"),
           ("empty-dir-not-created",
            "an isEmptyDir entry is skipped: the empty directory never appears")),
    *_area("packets",
           ("plaintext-when-encrypted",
            "data sent unencrypted while the transfer claims ENCRYPTED_*"),
           ("accept-forged", "datagrams failing authentication are written"),
           ("cipher-ignores-transfer-min",
            "the sender's cipher choice ignores the transfer's minCipher (servers' only)"),
           ("unencrypted-means-none",
            "MIN_CIPHER_UNENCRYPTED is chosen as NONE: no authentication of datagrams")),
    *_area("robustness",
           ("crash-on-malformed-frame", "the server exits on a malformed frame")),
    *_area("transfers",
           ("exit-on-create-transfer",
            "the sending server exits on its first createTransfer (dies mid-run)")),

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
