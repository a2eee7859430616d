"""``JetStream().api(serverAddress, serverPort)`` and its namespaces, strictly as documented.

Documented (api.md sections 2-3): ``connect()``, ``with api:``, ``api.server`` with ``auth``,
``authAsync``, ``getRequestStatus``, ``getRequestResult``, ``getServerInfo``, ``superuser``,
``getEventLog``, the API- and shared-token calls, ``setSandboxMapping``,
``getSandboxMappings``, ``updateBandwidthLimits``, ``updateGarbageCollectSettings``,
``garbageCollect``, ``update/deleteObjectUserData``, ``getConnection``; ``api.send`` with the
manifest, destination and transfer calls and ``setSendRateAsync``; a receive side with
``getTransfersAsync`` / ``getSourcesAsync``.

Where the docs name no parameter (or no method: token login, pause, cancel; or the receive
namespace's attribute), the stand-in picks its OWN spelling, unlike jetstream-qa's
(``cipherFloor`` not ``minCipher``, ``abortTransfer`` not ``cancelTransfer``, ``api.receive``
not ``api.recv``), so the suites reach them only through a binding file. Undocumented status
strings are its own too (``transferring``, ``paused``, ``canceled``). There is no
``waitForTransfer``, ``deleteManifest``, ``deleteTransfer`` or ``getBandwidthLimits``.
"""

from __future__ import annotations

from typing import Any

from jetstream import constants
from jetstream._link import Link
from jetstream.errors import JetStreamError

_STATUS = {"sending": "transferring", "suspended": "paused", "cancelled": "canceled"}
_LINKS = {constants.LINKS_FOLLOW: 1, constants.LINKS_IGNORE: 2}
_WIRE_BITS = {"uploads": 1, "downloads": 2, "deleteRename": 4, "createLinks": 8}
_BLOCKING_CAP = 3600.0


def _statuses(value: Any) -> Any:
    """The stand-in's spelling of the undocumented transfer statuses."""
    if isinstance(value, list):
        return [_statuses(v) for v in value]
    if isinstance(value, dict) and "transferId" in value and value.get("status") in _STATUS:
        return {**value, "status": _STATUS[value["status"]]}
    return value


def _rights_to_wire(rights: int | None) -> int | None:
    if rights is None:
        return None
    return sum(_WIRE_BITS[n] for n, bit in constants.PERMISSIONS.items() if rights & bit)


def _token(value: Any) -> Any:
    if isinstance(value, list):
        return [_token(v) for v in value]
    if isinstance(value, dict) and isinstance(value.get("permissions"), int):
        bits = value["permissions"]
        mine = sum(constants.PERMISSIONS[n] for n, b in _WIRE_BITS.items() if bits & b)
        return {**value, "permissions": mine}
    return value


def _request_id(request: Any) -> Any:
    return request.get("requestId") if isinstance(request, dict) else request


class _Space:
    def __init__(self, api: Api) -> None:
        self._api = api

    def _call(self, command: str, wait: float | None = None, **params: Any) -> Any:
        given = {k: v for k, v in params.items() if v is not None}
        return self._api._link_or_raise().call(command, given, wait)


class ServerInterface(_Space):
    """``api.server``."""

    def getServerInfo(self) -> dict:
        return self._call("getServerInfo")

    def auth(self, user: str, password: str) -> None:
        self._call("auth", user=user, password=password)

    def authAsync(self, user: str, password: str) -> dict:
        return self._call("authAsync", user=user, password=password)

    def loginWithToken(self, tokenId: str, tokenPassword: str | None = None) -> None:
        self._call("authToken", token=tokenId, password=tokenPassword)

    def superuser(self) -> None:
        self._call("superuser")

    def getRequestStatus(self, request: Any) -> dict:
        return self._call("getRequestStatus", requestId=_request_id(request))

    def getRequestResult(self, request: Any, waitSeconds: float | None = None) -> Any:
        wait = _BLOCKING_CAP if waitSeconds is None else float(waitSeconds)
        return _token(_statuses(self._call("getRequestResult", wait,
                                           requestId=_request_id(request),
                                           timeout=waitSeconds)))

    def getEventLog(self, sinceTime: int | None = None, maxEntries: int | None = None) -> list:
        return self._call("getEventLog", since=sinceTime, limit=maxEntries)

    def createAPIToken(self, tokenDescription: str | None = None, expiresAt: int | None = None,
                       tokenPassword: str | None = None, rights: int | None = None,
                       sandboxPath: str | None = None) -> dict:
        return _token(self._call("createAPIToken", description=tokenDescription,
                                 expiryTime=expiresAt, password=tokenPassword,
                                 permissions=_rights_to_wire(rights), path=sandboxPath))

    def getAPIToken(self, tokenId: str) -> dict:
        return _token(self._call("getAPIToken", token=tokenId))

    def getAPITokens(self) -> list:
        return _token(self._call("getAPITokens"))

    def deleteAPIToken(self, tokenId: str) -> None:
        self._call("deleteAPIToken", token=tokenId)

    def createSharedToken(self, manifest: str, maxDownloads: int | None = None,
                          expiresAt: int | None = None, tokenDescription: str | None = None,
                          tokenPassword: str | None = None) -> dict:
        return _token(self._call("createSharedToken", manifestId=manifest,
                                 downloadLimit=maxDownloads, expiryTime=expiresAt,
                                 description=tokenDescription, password=tokenPassword))

    def getSharedToken(self, tokenId: str) -> dict:
        return _token(self._call("getSharedToken", token=tokenId))

    def getSharedTokens(self) -> list:
        return _token(self._call("getSharedTokens"))

    def updateObjectUserData(self, kind: str, ident: Any, data: dict) -> dict:
        return self._call("updateObjectUserData", objectType=kind, objectId=ident,
                          userData=data)

    def deleteObjectUserData(self, kind: str, ident: Any, names: list) -> dict:
        return self._call("deleteObjectUserData", objectType=kind, objectId=ident, keys=names)

    def updateGarbageCollectSettings(self, checkIntervalSeconds: float | None = None,
                                     expireAfterSeconds: float | None = None) -> dict:
        return self._call("updateGarbageCollectSettings", intervalSeconds=checkIntervalSeconds,
                          maxAgeSeconds=expireAfterSeconds)

    def garbageCollect(self) -> dict:
        return self._call("garbageCollect")

    def updateBandwidthLimits(self, incomingLimit: int | None = None,
                              outgoingLimit: int | None = None, borrowIncoming: bool | None = None,
                              borrowOutgoing: bool | None = None) -> dict:
        return self._call("updateBandwidthLimits", incomingRateLimit=incomingLimit,
                          outgoingRateLimit=outgoingLimit, borrowIncomingRate=borrowIncoming,
                          borrowOutgoingRate=borrowOutgoing)

    def getSandboxMappings(self) -> dict:
        return self._call("getSandboxMappings")

    def setSandboxMapping(self, user: str, mapping: dict) -> None:
        self._call("setSandboxMapping", user=user, mapping=mapping)

    def getConnection(self, connectionId: str) -> dict:
        return self._call("getConnection", connectionId=connectionId)


class SendInterface(_Space):
    """``api.send``."""

    def createManifest(self, mappings: dict, linkPolicy: int | None = None) -> dict:
        if linkPolicy is not None and linkPolicy not in _LINKS:
            raise JetStreamError(f"unknown link policy {linkPolicy!r}", "ERR_INVALID")
        return self._call("send.createManifest", mappings=mappings,
                          symlinkMode=_LINKS.get(linkPolicy))  # type: ignore[arg-type]

    def getManifest(self, manifestId: str) -> dict:
        return self._call("send.getManifest", manifestId=manifestId)

    def getManifests(self) -> list:
        return self._call("send.getManifests")

    def waitForManifest(self, manifestId: str, waitSeconds: float | None = None) -> dict:
        wait = _BLOCKING_CAP if waitSeconds is None else float(waitSeconds)
        return self._call("send.waitForManifest", wait, manifestId=manifestId,
                          timeout=waitSeconds)

    def getManifestFiles(self, manifestId: str) -> dict:
        return self._call("send.getManifestFiles", manifestId=manifestId)

    def createDestination(self, destinationAddress: str, sendRateMax: int | None = None,
                          udpPort: int | None = None, remoteKey: str | None = None,
                          cipherFloor: int | None = None) -> dict:
        return self._call("send.createDestination", destinationAddress=destinationAddress,
                          sendRateMax=sendRateMax, destinationPort=udpPort,
                          destinationPublicKey=remoteKey, minCipher=cipherFloor)

    def getDestination(self, destinationId: str) -> dict:
        return self._call("send.getDestination", destinationId=destinationId)

    def getDestinations(self) -> list:
        return self._call("send.getDestinations")

    def deleteDestination(self, destinationId: str) -> None:
        self._call("send.deleteDestination", destinationId=destinationId)

    def createTransfer(self, destinationId: str, manifestId: str,
                       destinationPath: str | None = None, priority: int | None = None,
                       transferFlags: int | None = None,
                       checkpointFrequencySeconds: float | None = None,
                       overwritePolicy: int | None = None, cipherFloor: int | None = None,
                       rateLimit: int | None = None) -> dict:
        return _statuses(self._call(
            "send.createTransfer", destinationId=destinationId, manifestId=manifestId,
            destinationPath=destinationPath, priority=priority, transferFlags=transferFlags,
            checkpointFrequencySeconds=checkpointFrequencySeconds,
            overwriteMode=overwritePolicy, minCipher=cipherFloor, sendRateMax=rateLimit))

    def getTransfer(self, transferId: int) -> dict:
        return _statuses(self._call("send.getTransfer", transferId=transferId))

    def getTransfers(self) -> list:
        return _statuses(self._call("send.getTransfers"))

    def setSendRateAsync(self, transferId: int, newRate: int | None) -> dict:
        return self._api._link_or_raise().call(
            "send.setSendRateAsync", {"transferId": transferId, "sendRateMax": newRate})

    def pauseTransfer(self, transferId: int) -> dict:
        return _statuses(self._call("send.suspendTransfer", transferId=transferId))

    def unpauseTransfer(self, transferId: int) -> dict:
        return _statuses(self._call("send.resumeTransfer", transferId=transferId))

    def abortTransfer(self, transferId: int) -> dict:
        return _statuses(self._call("send.cancelTransfer", transferId=transferId))


class ReceiveInterface(_Space):
    """The receive side (its attribute name is not documented: here ``api.receive``)."""

    def getTransfersAsync(self) -> dict:
        return self._call("recv.getTransfersAsync")

    def getSourcesAsync(self) -> dict:
        return self._call("recv.getSourcesAsync")


class Api:
    """One API session; ``with api:`` connects on entry and disconnects on exit (S13)."""

    def __init__(self, serverAddress: str = constants.DEFAULT_SERVER_ADDRESS,
                 serverPort: int = constants.DEFAULT_API_PORT) -> None:
        self.serverAddress = serverAddress
        self.serverPort = serverPort
        self.server = ServerInterface(self)
        self.send = SendInterface(self)
        self.receive = ReceiveInterface(self)
        self._link: Link | None = None

    def connect(self) -> None:
        """Connect; fails if unresponsive for DEFAULT_TIMEOUT_SECONDS (10 s, S11)."""
        if self._link is None:
            self._link = Link(self.serverAddress, self.serverPort,
                              constants.DEFAULT_TIMEOUT_SECONDS, constants.API_VERSION)

    def disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def __enter__(self) -> Api:
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()

    def _link_or_raise(self) -> Link:
        if self._link is None:
            raise JetStreamError("not connected", "ERR_NOT_CONNECTED")
        return self._link
