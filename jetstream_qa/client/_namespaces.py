"""``api.server``, ``api.send`` and ``api.recv``: one method per command of protocol.md 3.

Method and parameter names are the vendor's Python names, which are also the wire names
(``docs/protocol.md`` section 3: "Parameters are the Python keyword names"). Required
parameters may be positional (``api.server.auth(user, password)``, as in the vendor
examples); optional ones are keyword-only and are not sent at all when left out, so the
server applies its documented default (``None`` is sent: it means "no limit" for rates).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar, cast

from jetstream_qa.client._spec import COMMANDS, MAX_SERVER_WAIT_SECONDS
from jetstream_qa.constants import TRANSFER_FINAL_STATUSES
from jetstream_qa.errors import JetStreamQAError, RequestTimeout, UsageError
from jetstream_qa.redaction import Credential

__all__ = ["UNSET", "Caller", "RecvInterface", "ResultCheck", "SendInterface", "ServerInterface",
           "Unset"]

ResultCheck = Callable[[Any], JetStreamQAError | None]
"""Inspects a successful result; returns an error to raise instead (``waitFor*`` expiry)."""


class Caller(Protocol):
    """What a namespace needs of its connection (:class:`~jetstream_qa.client.Api`): one
    bounded request and the default bound."""

    timeout: float

    def call(self, command: str, params: Mapping[str, Any] | None = None, *,
             timeout: float | None = None, check: ResultCheck | None = None) -> Any: ...


class Unset(enum.Enum):
    """Type of :data:`UNSET`: "parameter not given, let the server use its default"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
_T = TypeVar("_T")


class _Namespace:
    """Shared plumbing: drop unset parameters and forward to :meth:`Caller.call`."""

    _prefix = ""

    def __init__(self, api: Caller) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._api!r}>"

    def _call(self, method: str, **params: Any) -> Any:
        name = self._prefix + method
        assert name in COMMANDS, name
        return self._api.call(name, _given(params))

    def _wait(self, method: str, timeout: float | Unset | None, check: _Check | None,
              **params: Any) -> Any:
        """Call a waiting command: the client waits the server-side ``timeout`` + its own.

        Without ``timeout`` the server may wait up to its cap (3600 s), so the client does
        too; either way the wait is bounded.
        """
        if timeout is UNSET or timeout is None:
            server_wait = MAX_SERVER_WAIT_SECONDS
        else:
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
                raise UsageError(f"timeout must be a non-negative number, got {timeout!r}")
            server_wait = min(float(timeout), MAX_SERVER_WAIT_SECONDS)
        params["timeout"] = UNSET if timeout is None else timeout
        name = self._prefix + method
        return self._api.call(name, _given(params), timeout=server_wait + self._api.timeout,
                              check=check)


class _Check:
    """Turns a ``waitFor*`` answer that is still unfinished into :class:`RequestTimeout`."""

    def __init__(self, command: str, key: str, timeout: float | Unset | None,
                 finished: frozenset[str]) -> None:
        self.command, self.key, self.timeout, self.finished = command, key, timeout, finished

    def __call__(self, result: Any) -> JetStreamQAError | None:
        status = result.get("status") if isinstance(result, dict) else None
        if status in self.finished:
            return None
        waited = "its cap" if self.timeout in (UNSET, None) else f"{self.timeout:g} s"
        ident = result.get(self.key) if isinstance(result, dict) else None
        return RequestTimeout(
            f"{self.command}: {self.key} {ident!r} still {status!r} after {waited}",
            details={"command": self.command, "timeoutS": None if self.timeout is UNSET
                     else self.timeout, "last": result})


def _obj(result: Any) -> dict[str, Any]:
    return cast(dict[str, Any], result)


def _list(result: Any) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], result)


def _held(value: _T) -> _T:
    """A secret argument as a :class:`Credential` (printed ``'***'`` in any traceback's
    locals); the argument is rebound at the top of each method that takes one."""
    return cast(_T, Credential(value)) if isinstance(value, str) else value


def _given(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not UNSET}


def _request_id(request: int | Mapping[str, Any]) -> int:
    """Accept ``n`` or the ``{'requestId': n}`` dict an ``*Async`` call returned (vendor S13)."""
    value = request.get("requestId") if isinstance(request, Mapping) else request
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"expected a requestId or a {{'requestId': n}} dict, got {request!r}")
    return value


class ServerInterface(_Namespace):
    """``api.server``: session, requests, tokens, settings (protocol.md 3.1)."""

    def getServerInfo(self) -> dict[str, Any]:
        """Server Information (4.1); allowed before ``auth``."""
        return _obj(self._call("getServerInfo"))

    def auth(self, user: str, password: str) -> None:
        """Authenticate the session. Raises AuthenticationFailed on bad credentials."""
        password = _held(password)
        self._call("auth", user=user, password=password)

    def authAsync(self, user: str, password: str) -> dict[str, Any]:
        """Queued ``auth``: returns ``{'requestId': n}``; its result is ``None``."""
        password = _held(password)
        return _obj(self._call("authAsync", user=user, password=password))

    def authToken(self, token: str, *, password: str | Unset = UNSET) -> None:
        """(ours) Act as the token's owner, narrowed to its permissions and path."""
        token, password = _held(token), _held(password)
        self._call("authToken", token=token, password=password)

    def superuser(self) -> None:
        """Raise the session to superuser; PermissionDenied unless the user is one."""
        self._call("superuser")

    def getRequestStatus(self, requestId: int | Mapping[str, Any]) -> dict[str, Any]:
        """Non-blocking status of an async request (int id or ``{'requestId': n}``)."""
        return _obj(self._call("getRequestStatus",
                          requestId=_request_id(requestId)))

    def getRequestResult(self, requestId: int | Mapping[str, Any], *,
                         timeout: float | Unset | None = UNSET) -> Any:
        """Block until the async request is done and return its result (or raise its error)."""
        return self._wait("getRequestResult", timeout, None, requestId=_request_id(requestId))

    def getEventLog(self, *, since: int | Unset = UNSET, limit: int | Unset = UNSET
                    ) -> list[dict[str, Any]]:
        """Event log entries ``{_event, _timestamp, ...}``, optionally since a time (µs)."""
        return _list(self._call("getEventLog", since=since, limit=limit))

    def createAPIToken(self, *, description: str | Unset = UNSET,
                       expiryTime: int | Unset | None = UNSET,
                       password: str | Unset | None = UNSET,
                       permissions: int | Unset = UNSET,
                       path: str | Unset = UNSET) -> dict[str, Any]:
        """Create an API token (4.7); its password is never returned."""
        password = _held(password)
        return _obj(self._call("createAPIToken",
                          description=description, expiryTime=expiryTime, password=password,
                          permissions=permissions, path=path))

    def getAPIToken(self, token: str) -> dict[str, Any]:
        token = _held(token)
        return _obj(self._call("getAPIToken", token=token))

    def getAPITokens(self) -> list[dict[str, Any]]:
        return _list(self._call("getAPITokens"))

    def deleteAPIToken(self, token: str) -> None:
        token = _held(token)
        self._call("deleteAPIToken", token=token)

    def createSharedToken(self, manifestId: str, *, downloadLimit: int | Unset | None = UNSET,
                          expiryTime: int | Unset | None = UNSET,
                          description: str | Unset = UNSET,
                          password: str | Unset | None = UNSET) -> dict[str, Any]:
        """A shared link to a complete manifest (Token, vendor S8); password never returned."""
        return _obj(self._call("createSharedToken", manifestId=manifestId,
                               downloadLimit=downloadLimit, expiryTime=expiryTime,
                               description=description, password=password))

    def getSharedToken(self, token: str) -> dict[str, Any]:
        return _obj(self._call("getSharedToken", token=token))

    def getSharedTokens(self) -> list[dict[str, Any]]:
        return _list(self._call("getSharedTokens"))

    def deleteSharedToken(self, token: str) -> None:
        self._call("deleteSharedToken", token=token)

    def getConnection(self, connectionId: str) -> dict[str, Any]:
        """The connection a Destination's ``connectionId`` names (vendor S3)."""
        return _obj(self._call("getConnection", connectionId=connectionId))

    def updateObjectUserData(self, objectType: str, objectId: str | int,
                             userData: Mapping[str, str]) -> dict[str, Any]:
        """Merge ``userData`` into a manifest/destination/transfer/token; returns the object."""
        return _obj(self._call("updateObjectUserData",
                          objectType=objectType, objectId=objectId, userData=dict(userData)))

    def deleteObjectUserData(self, objectType: str, objectId: str | int,
                             keys: Sequence[str]) -> dict[str, Any]:
        """Remove ``keys`` from an object's ``userData``; returns the object."""
        return _obj(self._call("deleteObjectUserData",
                          objectType=objectType, objectId=objectId, keys=list(keys)))

    def updateGarbageCollectSettings(self, *, intervalSeconds: float | Unset = UNSET,
                                     maxAgeSeconds: float | Unset = UNSET) -> dict[str, Any]:
        return _obj(self._call("updateGarbageCollectSettings",
                          intervalSeconds=intervalSeconds, maxAgeSeconds=maxAgeSeconds))

    def garbageCollect(self) -> dict[str, Any]:
        return _obj(self._call("garbageCollect"))

    def getBandwidthLimits(self) -> dict[str, Any]:
        return _obj(self._call("getBandwidthLimits"))

    def updateBandwidthLimits(self, *, incomingRateLimit: int | Unset | None = UNSET,
                              outgoingRateLimit: int | Unset | None = UNSET,
                              borrowIncomingRate: bool | Unset = UNSET,
                              borrowOutgoingRate: bool | Unset = UNSET) -> dict[str, Any]:
        """Superuser only; rates in bit/s, ``None`` = no limit."""
        return _obj(self._call("updateBandwidthLimits",
                          incomingRateLimit=incomingRateLimit,
                          outgoingRateLimit=outgoingRateLimit,
                          borrowIncomingRate=borrowIncomingRate,
                          borrowOutgoingRate=borrowOutgoingRate))

    def getSandboxMappings(self) -> dict[str, Any]:
        return _obj(self._call("getSandboxMappings"))

    def setSandboxMapping(self, user: str, mapping: Mapping[str, Any]) -> None:
        """``setSandboxMapping("", {"": "/data"})`` is ``--sandbox-dir /data`` (vendor S26)."""
        self._call("setSandboxMapping", user=user, mapping=dict(mapping))


class SendInterface(_Namespace):
    """``api.send``: manifests, destinations, transfers (protocol.md 3.2)."""

    _prefix = "send."

    def createManifest(self, mappings: Mapping[str, str], *,
                       symlinkMode: int | Unset = UNSET) -> dict[str, Any]:
        """Build a manifest from ``{dest: src}`` (the Python direction, vendor S13)."""
        return _obj(self._call("createManifest",
                          mappings=dict(mappings), symlinkMode=symlinkMode))

    def getManifest(self, manifestId: str) -> dict[str, Any]:
        return _obj(self._call("getManifest", manifestId=manifestId))

    def getManifests(self) -> list[dict[str, Any]]:
        return _list(self._call("getManifests"))

    def waitForManifest(self, manifestId: str, *,
                        timeout: float | Unset | None = UNSET) -> dict[str, Any]:
        """The manifest once not pending. Raises RequestTimeout if still pending at expiry."""
        check = _Check("send.waitForManifest", "manifestId", timeout,
                       frozenset({"complete", "error"}))
        return _obj(self._wait("waitForManifest", timeout, check,
                          manifestId=manifestId))

    def getManifestFiles(self, manifestId: str) -> dict[str, Any]:
        return _obj(self._call("getManifestFiles", manifestId=manifestId))

    def deleteManifest(self, manifestId: str) -> None:
        self._call("deleteManifest", manifestId=manifestId)

    def createDestination(self, destinationAddress: str, *,
                          destinationPort: int | Unset = UNSET,
                          destinationPublicKey: str | Unset | None = UNSET,
                          sendRateMax: int | Unset | None = UNSET,
                          minCipher: int | Unset = UNSET) -> dict[str, Any]:
        return _obj(self._call("createDestination",
                          destinationAddress=destinationAddress, destinationPort=destinationPort,
                          destinationPublicKey=destinationPublicKey, sendRateMax=sendRateMax,
                          minCipher=minCipher))

    def getDestination(self, destinationId: str) -> dict[str, Any]:
        return _obj(self._call("getDestination",
                          destinationId=destinationId))

    def getDestinations(self) -> list[dict[str, Any]]:
        return _list(self._call("getDestinations"))

    def deleteDestination(self, destinationId: str) -> None:
        self._call("deleteDestination", destinationId=destinationId)

    def createTransfer(self, destinationId: str, manifestId: str, *,
                       destinationPath: str | Unset = UNSET, priority: int | Unset = UNSET,
                       transferFlags: int | Unset = UNSET, overwriteMode: int | Unset = UNSET,
                       minCipher: int | Unset = UNSET,
                       checkpointFrequencySeconds: float | Unset | None = UNSET,
                       sendRateMax: int | Unset | None = UNSET) -> dict[str, Any]:
        """Queue a transfer of a complete manifest to a destination (Transfer, 4.4)."""
        return _obj(self._call("createTransfer",
                          destinationId=destinationId, manifestId=manifestId,
                          destinationPath=destinationPath, priority=priority,
                          transferFlags=transferFlags, overwriteMode=overwriteMode,
                          minCipher=minCipher,
                          checkpointFrequencySeconds=checkpointFrequencySeconds,
                          sendRateMax=sendRateMax))

    def getTransfer(self, transferId: int) -> dict[str, Any]:
        return _obj(self._call("getTransfer", transferId=transferId))

    def getTransfers(self) -> list[dict[str, Any]]:
        return _list(self._call("getTransfers"))

    def waitForTransfer(self, transferId: int, *,
                        timeout: float | Unset | None = UNSET) -> dict[str, Any]:
        """The transfer once complete/error/cancelled; RequestTimeout if not at expiry."""
        check = _Check("send.waitForTransfer", "transferId", timeout,
                       TRANSFER_FINAL_STATUSES)
        return _obj(self._wait("waitForTransfer", timeout, check,
                          transferId=transferId))

    def setSendRateAsync(self, transferId: int, sendRateMax: int | None) -> dict[str, Any]:
        """Queued rate change: ``{'requestId': n}``; its result is the Transfer."""
        return _obj(self._call("setSendRateAsync",
                          transferId=transferId, sendRateMax=sendRateMax))

    def suspendTransfer(self, transferId: int) -> dict[str, Any]:
        return _obj(self._call("suspendTransfer", transferId=transferId))

    def resumeTransfer(self, transferId: int) -> dict[str, Any]:
        return _obj(self._call("resumeTransfer", transferId=transferId))

    def cancelTransfer(self, transferId: int) -> dict[str, Any]:
        return _obj(self._call("cancelTransfer", transferId=transferId))

    def deleteTransfer(self, transferId: int) -> None:
        self._call("deleteTransfer", transferId=transferId)


class RecvInterface(_Namespace):
    """``api.recv``: the receiving side (protocol.md 3.3); both commands are async."""

    _prefix = "recv."

    def getTransfersAsync(self) -> dict[str, Any]:
        """``{'requestId': n}``; the result is a list of Receive Transfer (4.5)."""
        return _obj(self._call("getTransfersAsync"))

    def getSourcesAsync(self) -> dict[str, Any]:
        """``{'requestId': n}``; the result is a list of Source (4.6)."""
        return _obj(self._call("getSourcesAsync"))
