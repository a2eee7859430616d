"""``jetstream.helper.Helper(api)`` as the vendor page S15 describes it.

``getFileMappings(fileList, relative_to=None)`` (static), ``getFilteredManifestFiles(
predicate)``, ``getTransferFlags(...)`` and ``sendFiles(...)`` returning a ``TransferObject``.
Only ``fileList``, ``relative_to`` and ``predicate`` are documented names; the rest are the
stand-in's own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from jetstream import constants
from jetstream.errors import JetStreamError


class TransferObject:
    """What ``sendFiles`` returns (class not documented): the transfer id and a refresh."""

    def __init__(self, api: Any, transfer: dict) -> None:
        self._api = api
        self.transferId = transfer["transferId"]
        self.transfer = transfer

    def refresh(self) -> dict:
        self.transfer = self._api.send.getTransfer(self.transferId)
        return self.transfer


class Helper:
    """Convenience calls over an api object (``api`` may be None for static helpers)."""

    def __init__(self, api: Any = None) -> None:
        self.api = api

    @staticmethod
    def getFileMappings(fileList: list, relative_to: str | None = None) -> dict:
        """``{source: target}`` for each path; targets relative to ``relative_to``."""
        mappings = {}
        for path in fileList:
            target = os.path.relpath(path, relative_to) if relative_to else path
            mappings[str(path)] = "/" + target.lstrip("/") if relative_to else str(target)
        return mappings

    def getFilteredManifestFiles(self, predicate: Callable[[dict], bool]) -> list:
        """Every manifest with the File Mappings for which ``predicate`` holds."""
        out = []
        for manifest in self._need_api().send.getManifests():
            if manifest.get("status") != "complete":
                continue
            files = self.api.send.getManifestFiles(manifest["manifestId"])
            kept = [m for m in files.get("fileMappings", []) if predicate(m)]
            if kept:
                out.append({**manifest, "fileMappings": kept})
        return out

    @staticmethod
    def getTransferFlags(readSource: bool = True, writeDestination: bool = True,
                         keepMtime: bool = False, skipNewer: bool = False) -> int:
        """The ``transferFlags`` value for the wanted read/write behaviour (S11 values)."""
        flags = constants.TRANSFER_FLAG_NONE
        flags |= constants.TRANSFER_FLAG_READ if readSource else 0
        flags |= constants.TRANSFER_FLAG_WRITE if writeDestination else 0
        flags |= constants.TRANSFER_FLAG_WRITE_MTIME if keepMtime else 0
        flags |= constants.TRANSFER_FLAG_WRITE_ONLY_NEWER if skipNewer else 0
        return flags

    def sendFiles(self, destinationId: str, fileMappings: dict,
                  destinationPath: str | None = None, manifestWaitSeconds: float = 60.0
                  ) -> TransferObject:
        """Manifest of ``{source: target}``, wait for it, start the transfer."""
        api = self._need_api()
        manifest = api.send.createManifest({t: s for s, t in fileMappings.items()})
        deadline = time.monotonic() + manifestWaitSeconds
        done = api.send.waitForManifest(manifest["manifestId"], waitSeconds=manifestWaitSeconds)
        if done.get("status") != "complete" or time.monotonic() > deadline:
            raise JetStreamError(f"manifest {done.get('status')}: {done.get('errorMessage')}",
                                 "ERR_MANIFEST")
        return TransferObject(api, api.send.createTransfer(
            destinationId, manifest["manifestId"], destinationPath=destinationPath))

    def _need_api(self) -> Any:
        if self.api is None:
            raise JetStreamError("this helper needs a connected api", "ERR_NOT_CONNECTED")
        return self.api
