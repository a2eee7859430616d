"""``send`` namespace, part 1: manifests and destinations.

Vendor "Manifest" page: ``createManifest`` returns at once with ``status 'pending'``,
``processing True`` and null totals; the manifest then becomes ``complete`` (usable by
``createTransfer``) or ``error`` (with ``errorMessage``). Building walks the real file system
in a worker thread (``refserver.manifests``). Vendor "Destination" page: a destination is the
receiving server's host and UDP port, optional public key and send rate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import Callable
from typing import Any

from jetstream_qa.constants import MinCipher, Permission, SymlinkMode
from jetstream_qa.errors import ConflictError, InvalidArgument, NotReady, PermissionDenied
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.faults import FaultSet
from jetstream_qa.refserver.handlers.common import check_range, json_when, visible_json
from jetstream_qa.refserver.manifests import ManifestBuildError, build_manifest, check_mappings
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.sandbox import SourceArea, source_area
from jetstream_qa.refserver.state import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    TransferRecord,
)

__all__: list[str] = []

log = logging.getLogger("jetstream_qa.refserver")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


# --- manifests ---------------------------------------------------------------------------
async def _build(ctx: Context, record: ManifestRecord, area: SourceArea) -> None:
    """Fill ``record`` from the file system: complete, or error naming the path."""
    try:
        result = await asyncio.to_thread(build_manifest, record.mappings, record.symlink_mode,
                                         faults=FaultSet(ctx.app.config.faults), area=area)
    except ManifestBuildError as exc:
        if ctx.app.config.has_fault("manifest-missing-ok") and "not found" in str(exc):
            record.files, record.total_files, record.total_size = [], 0, 0
            record.status = ManifestStatus.COMPLETE
        else:
            record.status, record.error_message = ManifestStatus.ERROR, str(exc)
    except Exception as exc:  # anything else still ends the manifest, never hangs it
        log.exception("manifest %s failed", record.manifest_id)
        record.status = ManifestStatus.ERROR
        record.error_message = f"internal error: {type(exc).__name__}"
    else:
        record.files = result.files
        record.total_files, record.total_size = result.total_files, result.total_size
        record.status = ManifestStatus.COMPLETE
    ctx.state.changed("manifest", record)
    ctx.app.events.emit("manifestUpdated", record.to_json(),
                        owner=record.owner, owner_token=record.owner_token)


@command("send.createManifest")
async def create_manifest(ctx: Context, *, mappings: dict[str, Any],
                          symlinkMode: int = int(SymlinkMode.FOLLOW)) -> dict[str, Any]:
    """Queue a manifest of ``{dest: src}``; returns it with ``status 'pending'``."""
    who = ctx.who()
    ctx.session.require(ctx.state, Permission.DOWNLOAD)
    if symlinkMode not in tuple(SymlinkMode):
        raise InvalidArgument(f"symlinkMode must be 1 (follow) or 2 (ignore), got "
                              f"{symlinkMode}", details={"param": "symlinkMode"})
    clean = check_mappings(mappings)
    ctx.session.require_path(ctx.state, list(clean.values()))
    area = _source_area(ctx, clean)
    record = ManifestRecord(manifest_id=ctx.state.new_manifest_id(), owner=who.user,
                            mappings=clean, symlink_mode=SymlinkMode(symlinkMode),
                            owner_token=who.token, owner_token_session=who.session,
                            source_base=area.base)
    ctx.state.manifests[record.manifest_id] = record
    ctx.state.changed("manifest", record)
    reply = record.to_json()
    ctx.app.events.emit("manifestCreated", reply,
                        owner=record.owner, owner_token=record.owner_token)
    ctx.app.spawn(_build(ctx, record, area))
    return reply


def _source_area(ctx: Context, mappings: dict[str, str]) -> SourceArea:
    """Where the caller's manifest may read (``refserver/sandbox.py``): their sandbox, or
    anywhere but the server's state directory; elevated sessions are not sandboxed.

    Raises:
        PermissionDenied: a source lies outside it (symlinks resolved), or the user's
            sandbox path cannot be expanded for their name.
    """
    who, cfg = ctx.who(), ctx.app.config
    area = source_area(ctx.state.sandbox_mappings, user=who.user, elevated=who.elevated,
                       storage_root=str(cfg.storage_root), state_dir=str(cfg.state_dir))
    for src in mappings.values():
        path = area.physical(src)
        if os.path.lexists(path) and not area.allows(path):
            raise PermissionDenied(f"source {src!r} is outside the allowed source area",
                                   details={"path": src})
    return area


def _manifest(ctx: Context, manifest_id: str) -> ManifestRecord:
    return ctx.state.manifest(manifest_id, ctx.who(leak="leak-manifests"))


@command("send.getManifest")
async def get_manifest(ctx: Context, *, manifestId: str) -> dict[str, Any]:
    return _manifest(ctx, manifestId).to_json()


@command("send.getManifests")
async def get_manifests(ctx: Context) -> list[dict[str, Any]]:
    return visible_json(ctx, ctx.state.manifests.values(), leak="leak-manifests")


@command("send.waitForManifest")
async def wait_for_manifest(ctx: Context, *, manifestId: str,
                            timeout: float | None = None) -> dict[str, Any]:
    """The manifest once it is no longer pending (or as it is when ``timeout`` passes)."""
    record = _manifest(ctx, manifestId)
    return await json_when(ctx, record, lambda: record.status is not ManifestStatus.PENDING,
                           timeout)


def _reported(ctx: Context, record: ManifestRecord, entry: FileEntry
              ) -> dict[str, Any] | None:
    """One File Mapping as reported: ``srcPath`` as its owner sees it (below their sandbox);
    the manifest faults distort only the report."""
    cfg = ctx.app.config
    if entry.is_empty_dir and cfg.has_fault("manifest-skip-empty-dirs"):
        return None
    out = entry.to_json()
    out["srcPath"] = SourceArea(record.source_base, ()).virtual(entry.src_path)
    if cfg.has_fault("manifest-wrong-size") and not entry.is_empty_dir:
        out["fileSize"] += 1
    if cfg.has_fault("manifest-no-exec-bit"):
        out["executable"] = False
    return out


@command("send.getManifestFiles")
async def get_manifest_files(ctx: Context, *, manifestId: str) -> dict[str, Any]:
    """``{manifestId, fileMappings}``; NotReady while the manifest is pending."""
    record = _manifest(ctx, manifestId)
    if record.status is ManifestStatus.PENDING:
        raise NotReady(f"manifest {manifestId} is still pending",
                       details={"manifestId": manifestId})
    files = [f for f in (_reported(ctx, record, e) for e in record.files) if f is not None]
    return {"manifestId": record.manifest_id, "fileMappings": files}


@command("send.deleteManifest")
async def delete_manifest(ctx: Context, *, manifestId: str) -> None:
    """Delete a manifest; Conflict while an unfinished transfer uses it."""
    record = _manifest(ctx, manifestId)
    _delete_unused(ctx, "manifest", record, manifestId, ctx.state.manifests,
                   lambda t: t.manifest_id,
                   f"manifest {manifestId} is used by an unfinished transfer")


# --- destinations ------------------------------------------------------------------------
async def _resolve(address: str, port: int) -> str:
    """The IP of ``address`` (IPv4 preferred, vendor: "only IPv4"); InvalidArgument if none."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(address, port, type=socket.SOCK_DGRAM), 5.0)
    except (OSError, TimeoutError, UnicodeError):
        infos = []
    if not infos:
        raise InvalidArgument(f"cannot resolve destinationAddress {address!r}",
                              details={"param": "destinationAddress"})
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


@command("send.createDestination")
async def create_destination(ctx: Context, *, destinationAddress: str,
                             destinationPort: int = 8886,
                             destinationPublicKey: str | None = None,
                             sendRateMax: int | None = None,
                             minCipher: int = 0) -> dict[str, Any]:
    """Create a destination (the receiver's UDP address). Returns the Destination."""
    who = ctx.who()
    check_range("destinationPort", destinationPort, 1, 65535)
    check_range("sendRateMax", sendRateMax, 1)
    check_range("minCipher", minCipher, 0, int(MinCipher.ENCRYPTED_256))
    if destinationPublicKey is not None and not _HEX_KEY.fullmatch(destinationPublicKey):
        raise InvalidArgument("destinationPublicKey must be 64 hex digits (X25519)",
                              details={"param": "destinationPublicKey"})
    if not destinationAddress or len(destinationAddress) > 255:
        raise InvalidArgument("destinationAddress must be a host name or IP address",
                              details={"param": "destinationAddress"})
    ip = await _resolve(destinationAddress, destinationPort)
    record = DestinationRecord(
        destination_id=ctx.state.new_destination_id(destinationAddress, destinationPort),
        owner=who.user, destination_address=destinationAddress, destination_ip=ip,
        destination_port=destinationPort,
        destination_public_key=destinationPublicKey.lower() if destinationPublicKey else None,
        send_rate_max=sendRateMax, min_cipher=minCipher, owner_token=who.token,
        owner_token_session=who.session)
    record.connection_id = f"conn-{record.destination_id}"  # ours: one per destination
    ctx.state.destinations[record.destination_id] = record
    ctx.state.changed("destination", record)
    reply = record.to_json()
    ctx.app.events.emit("destinationCreated", reply, owner=record.owner,
                        owner_token=record.owner_token)
    return reply


def _destination(ctx: Context, destination_id: str) -> DestinationRecord:
    return ctx.state.destination(destination_id, ctx.who())


@command("send.getDestination")
async def get_destination(ctx: Context, *, destinationId: str) -> dict[str, Any]:
    record = _destination(ctx, destinationId)
    return record.to_json(queued=ctx.state.queued_for(record.destination_id))


@command("send.getDestinations")
async def get_destinations(ctx: Context) -> list[dict[str, Any]]:
    st = ctx.state
    queued = st.queued()
    return [d.to_json(queued=queued.get(d.destination_id, 0))
            for d in st.visible(st.destinations.values(), ctx.who())]


@command("send.deleteDestination")
async def delete_destination(ctx: Context, *, destinationId: str) -> None:
    """Delete a destination; Conflict while an unfinished transfer uses it."""
    record = _destination(ctx, destinationId)
    _delete_unused(ctx, "destination", record, destinationId, ctx.state.destinations,
                   lambda t: t.destination_id,
                   f"destination {destinationId} has unfinished transfers")


def _delete_unused(ctx: Context, kind: str, record: ManifestRecord | DestinationRecord,
                   record_id: str, table: dict[str, Any],
                   used_id: Callable[[TransferRecord], str | None], conflict: str) -> None:
    """Delete ``record`` (a ``kind``, stored in ``table`` under ``record_id``) and announce
    it (``{kind}Deleted``); needs DELETE_RENAME. Raises ConflictError (``conflict``) while an
    unfinished transfer's ``used_id`` is ``record_id``."""
    ctx.session.require(ctx.state, Permission.DELETE_RENAME)
    if any(used_id(t) == record_id and not t.finished for t in ctx.state.transfers.values()):
        raise ConflictError(conflict, details={f"{kind}Id": record_id})
    del table[record_id]
    ctx.state.changed(kind, record)
    ctx.app.events.emit(f"{kind}Deleted", None, owner=record.owner,
                        owner_token=record.owner_token, **{f"{kind}Id": record_id})
