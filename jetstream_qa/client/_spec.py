"""The command table of ``docs/protocol.md`` section 3, as data.

One row per wire command: its dotted name, its required and optional parameters (the Python
keyword names, which are also the wire names), and whether the client's wait on it is
stretched by its own ``timeout`` parameter. The namespace classes in :mod:`._namespaces`
call through this table, the ``jetstream-qa api`` console validates names against it, and a
unit test checks it against the markdown tables of ``docs/protocol.md`` so the three can
never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["COMMANDS", "MAX_SERVER_WAIT_SECONDS", "CommandSpec"]

MAX_SERVER_WAIT_SECONDS: Final = 3600.0
"""protocol.md 3.2: ``timeout`` of ``waitFor*``/``getRequestResult`` is capped at 3600 s."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: wire name and parameter names."""

    name: str
    """Dotted wire name: ``getServerInfo``, ``send.createTransfer``, ``recv.getSourcesAsync``."""
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    waits: bool = False
    """True when the server may hold the answer up to the call's ``timeout`` parameter."""

    def __post_init__(self) -> None:
        if not self.name or set(self.required) & set(self.optional):
            raise ValueError(f"bad command spec {self.name!r}")
        if self.waits and "timeout" not in self.optional:
            raise ValueError(f"{self.name}: a waiting command takes an optional timeout")

    @property
    def params(self) -> tuple[str, ...]:
        """Every parameter name, required first."""
        return self.required + self.optional

    @property
    def namespace(self) -> str:
        """``server``, ``send`` or ``recv`` (the ``api.<namespace>`` attribute)."""
        head, _, _ = self.name.rpartition(".")
        return head or "server"

    @property
    def method(self) -> str:
        """The Python method name (the part after the namespace)."""
        return self.name.rpartition(".")[2]


def _c(name: str, required: str = "", optional: str = "", *, waits: bool = False) -> CommandSpec:
    return CommandSpec(name, tuple(required.split()), tuple(optional.split()), waits)


_TABLE: Final = (
    # 3.1 server
    _c("getServerInfo"),
    _c("auth", "user password"),
    _c("authAsync", "user password"),
    _c("authToken", "token", "password"),
    _c("superuser"),
    _c("getRequestStatus", "requestId"),
    _c("getRequestResult", "requestId", "timeout", waits=True),
    _c("getEventLog", "", "since limit"),
    _c("createAPIToken", "", "description expiryTime password permissions path"),
    _c("getAPIToken", "token"),
    _c("getAPITokens"),
    _c("deleteAPIToken", "token"),
    _c("updateObjectUserData", "objectType objectId userData"),
    _c("deleteObjectUserData", "objectType objectId keys"),
    _c("updateGarbageCollectSettings", "", "intervalSeconds maxAgeSeconds"),
    _c("garbageCollect"),
    _c("createSharedToken", "manifestId", "downloadLimit expiryTime description password"),
    _c("getSharedToken", "token"),
    _c("getSharedTokens"),
    _c("deleteSharedToken", "token"),
    _c("getConnection", "connectionId"),
    _c("getBandwidthLimits"),
    _c("updateBandwidthLimits", "",
       "incomingRateLimit outgoingRateLimit borrowIncomingRate borrowOutgoingRate"),
    _c("getSandboxMappings"),
    _c("setSandboxMapping", "user mapping"),
    # 3.2 send
    _c("send.createManifest", "mappings", "symlinkMode"),
    _c("send.getManifest", "manifestId"),
    _c("send.getManifests"),
    _c("send.waitForManifest", "manifestId", "timeout", waits=True),
    _c("send.getManifestFiles", "manifestId"),
    _c("send.deleteManifest", "manifestId"),
    _c("send.createDestination", "destinationAddress",
       "destinationPort destinationPublicKey sendRateMax minCipher"),
    _c("send.getDestination", "destinationId"),
    _c("send.getDestinations"),
    _c("send.deleteDestination", "destinationId"),
    _c("send.createTransfer", "destinationId manifestId",
       "destinationPath priority transferFlags overwriteMode minCipher "
       "checkpointFrequencySeconds sendRateMax"),
    _c("send.getTransfer", "transferId"),
    _c("send.getTransfers"),
    _c("send.waitForTransfer", "transferId", "timeout", waits=True),
    _c("send.setSendRateAsync", "transferId sendRateMax"),
    _c("send.suspendTransfer", "transferId"),
    _c("send.resumeTransfer", "transferId"),
    _c("send.cancelTransfer", "transferId"),
    _c("send.deleteTransfer", "transferId"),
    # 3.3 recv
    _c("recv.getTransfersAsync"),
    _c("recv.getSourcesAsync"),
)

COMMANDS: Final[dict[str, CommandSpec]] = {spec.name: spec for spec in _TABLE}
"""Every command of ``docs/protocol.md`` section 3, by dotted wire name."""
