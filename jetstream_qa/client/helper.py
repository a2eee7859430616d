"""The bundled client's ``Helper``: the vendor's ``jetstream.helper.Helper`` (S15) over our API.

Vendor page S15: ``Helper(api)`` (``api`` may be None for methods that need no connection);
``getFileMappings(fileList, relative_to=None)`` (static) turns paths into a source -> target
mapping dict, targets relative to ``relative_to`` when given; ``getFilteredManifestFiles(
predicate)`` applies ``predicate(fileMapping)`` to every manifest's File Mappings and returns
the manifests with their matching mappings; ``getTransferFlags(...)`` builds the
``transferFlags`` value; ``sendFiles(...)`` starts a transfer and returns a ``TransferObject``.
Only ``fileList``, ``relative_to`` and ``predicate`` are documented names; the other keywords
are ours.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jetstream_qa.constants import TransferFlag
from jetstream_qa.errors import NotReady, UsageError

__all__ = ["Helper", "TransferObject"]


class TransferObject:
    """What :meth:`Helper.sendFiles` returns: the transfer's id and its latest structure."""

    def __init__(self, api: Any, transfer: Mapping[str, Any]) -> None:
        self._api = api
        self.transferId: int = transfer["transferId"]
        self.transfer = dict(transfer)

    def refresh(self) -> dict[str, Any]:
        """Re-read the Transfer structure (``getTransfer``)."""
        self.transfer = dict(self._api.send.getTransfer(self.transferId))
        return self.transfer


class Helper:
    """Convenience calls over a connected bundled ``Api`` (``None`` for the static ones)."""

    def __init__(self, api: Any = None) -> None:
        self.api = api

    @staticmethod
    def getFileMappings(fileList: Iterable[str | os.PathLike[str]],
                        relative_to: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """``{source: target}``; with ``relative_to`` each target is ``/`` + the path
        relative to it.

        Raises:
            UsageError: a path lies outside ``relative_to``.
        """
        mappings: dict[str, str] = {}
        for item in fileList:
            path = os.fspath(item)
            if relative_to is None:
                mappings[path] = path
                continue
            rel = os.path.relpath(path, os.fspath(relative_to))
            if rel == os.pardir or rel.startswith(os.pardir + os.sep):
                raise UsageError(f"{path} is not under {os.fspath(relative_to)}")
            mappings[path] = "/" + rel.replace(os.sep, "/")
        return mappings

    @staticmethod
    def getTransferFlags(*, read: bool = True, write: bool = True, writeMtime: bool = False,
                         writeOnlyNewer: bool = False) -> int:
        """The ``transferFlags`` bits for the wanted behaviour (constants page S11)."""
        flags = TransferFlag.NONE
        for wanted, bit in ((read, TransferFlag.READ), (write, TransferFlag.WRITE),
                            (writeMtime, TransferFlag.WRITE_MTIME),
                            (writeOnlyNewer, TransferFlag.WRITE_ONLY_NEWER)):
            if wanted:
                flags |= bit
        return int(flags)

    def getFilteredManifestFiles(self, predicate: Callable[[dict[str, Any]], bool]
                                 ) -> list[dict[str, Any]]:
        """Every complete manifest with the File Mappings ``predicate`` keeps (none: left out)."""
        api = self._need_api()
        kept: list[dict[str, Any]] = []
        for manifest in api.send.getManifests():
            if manifest.get("status") != "complete":
                continue
            files = api.send.getManifestFiles(manifest["manifestId"]).get("fileMappings", [])
            matching = [m for m in files if predicate(m)]
            if matching:
                kept.append({**manifest, "fileMappings": matching})
        return kept

    def sendFiles(self, destinationId: str, fileMappings: Mapping[str, str], *,
                  destinationPath: str | None = None, timeout: float = 60.0,
                  **transferOptions: Any) -> TransferObject:
        """Manifest of ``{source: target}`` (the Helper direction), wait for it within
        ``timeout``, start the transfer to ``destinationId``.

        Raises:
            NotReady: the manifest ended in 'error' (its errorMessage) or stayed pending.
        """
        api = self._need_api()
        created = api.send.createManifest({t: s for s, t in fileMappings.items()})
        manifest = api.send.waitForManifest(created["manifestId"], timeout=timeout)
        if manifest.get("status") != "complete":
            raise NotReady(f"manifest {manifest.get('manifestId')} is "
                           f"{manifest.get('status')}: {manifest.get('errorMessage')}")
        options = dict(transferOptions)
        if destinationPath is not None:
            options["destinationPath"] = destinationPath
        return TransferObject(api, api.send.createTransfer(destinationId,
                                                           manifest["manifestId"], **options))

    def _need_api(self) -> Any:
        if self.api is None:
            raise UsageError("this Helper method needs a connected api (Helper(api))")
        return self.api
