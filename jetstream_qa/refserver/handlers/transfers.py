"""``send`` namespace, part 2: transfers.

Vendor "Transfer" page: ``createTransfer`` links a destination and a COMPLETE manifest and
returns the Transfer with ``status 'pending'``; only the owner (or the creating token, or an
elevated superuser) may see or change it. Suspend/resume/cancel follow the status table of
``docs/protocol.md`` 4.4 (``state.TRANSFER_TRANSITIONS``); an event not allowed is
``NotReady``. The data-plane engine does the sending; without it transfers stay pending.
"""

from __future__ import annotations

import os
from typing import Any

from jetstream_qa.constants import MinCipher, OverwriteMode, Permission
from jetstream_qa.errors import InvalidArgument, NotReady
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.handlers.common import (
    MAX_WAIT_SECONDS,
    check_range,
    json_when,
    visible_json,
)
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.state import (
    TRANSFER_TRANSITIONS,
    ManifestStatus,
    TransferEvent,
    TransferRecord,
    TransferStatus,
    TransitionError,
)

__all__: list[str] = []


def _check_destination_path(ctx: Context, path: str | None) -> str | None:
    """Refuse a destinationPath with ``..`` (it would escape the receiver's root)."""
    if path is None:
        return None
    if "\x00" in path:
        raise InvalidArgument("destinationPath contains NUL", details={"param":
                                                                        "destinationPath"})
    if ".." in path.replace("\\", "/").split("/") \
            and not ctx.app.config.has_fault("write-outside-root"):
        raise InvalidArgument(f"destinationPath {path!r} escapes the destination root",
                              details={"param": "destinationPath"})
    return path


@command("send.createTransfer")
async def create_transfer(ctx: Context, *, destinationId: str, manifestId: str,
                          destinationPath: str | None = None, priority: int = 100,
                          transferFlags: int = 3, overwriteMode: int = 4, minCipher: int = 0,
                          checkpointFrequencySeconds: float | None = None,
                          sendRateMax: int | None = None) -> dict[str, Any]:
    """Queue a transfer of a complete manifest to a destination; returns it, pending."""
    if ctx.app.config.has_fault("exit-on-create-transfer"):
        os._exit(3)  # the fault: the sending server dies mid-run, the answer never comes
    who = ctx.who()
    st = ctx.state
    ctx.session.require(st, Permission.DOWNLOAD)
    destination = st.destination(destinationId, who)
    manifest = st.manifest(manifestId, who)
    usable = (ManifestStatus.COMPLETE, ManifestStatus.PENDING) \
        if ctx.app.config.has_fault("pending-manifest-usable") else (ManifestStatus.COMPLETE,)
    if manifest.status not in usable:
        raise NotReady(f"manifest {manifestId} is {manifest.status.value}, not complete",
                       details={"manifestId": manifestId, "status": manifest.status.value})
    check_range("transferFlags", transferFlags, 0, 15)
    if overwriteMode not in tuple(OverwriteMode):
        raise InvalidArgument(f"overwriteMode must be one of 2, 3, 4, 5, got {overwriteMode}",
                              details={"param": "overwriteMode"})
    check_range("minCipher", minCipher, 0, int(MinCipher.ENCRYPTED_256))
    if checkpointFrequencySeconds is not None and not checkpointFrequencySeconds > 0:
        raise InvalidArgument("checkpointFrequencySeconds must be > 0 (or null: off)",
                              details={"param": "checkpointFrequencySeconds"})
    check_range("sendRateMax", sendRateMax, 1)
    record = TransferRecord(
        transfer_id=st.new_transfer_id(), owner=who.user, destination_id=destinationId,
        manifest_id=manifestId, destination_path=_check_destination_path(ctx, destinationPath),
        priority=priority, transfer_flags=transferFlags, overwrite_mode=overwriteMode,
        min_cipher=minCipher, checkpoint_frequency_seconds=checkpointFrequencySeconds,
        send_rate_max=sendRateMax if sendRateMax is not None else destination.send_rate_max,
        total_bytes=manifest.total_size or 0, owner_token=who.token,
        owner_token_session=who.session)
    st.transfers[record.transfer_id] = record
    reply = record.to_json()
    st.changed("transfer", record)
    if ctx.app.engine is not None:
        ctx.app.engine.submit(record)
    return reply


def _transfer(ctx: Context, transfer_id: int) -> TransferRecord:
    return ctx.state.transfer(transfer_id, ctx.who(leak="leak-transfers"))


@command("send.getTransfer")
async def get_transfer(ctx: Context, *, transferId: int) -> dict[str, Any]:
    return _transfer(ctx, transferId).to_json()


@command("send.getTransfers")
async def get_transfers(ctx: Context) -> list[dict[str, Any]]:
    return visible_json(ctx, ctx.state.transfers.values(), leak="leak-transfers")


@command("send.waitForTransfer")
async def wait_for_transfer(ctx: Context, *, transferId: int,
                            timeout: float | None = None) -> dict[str, Any]:
    """The transfer once finished (complete, error, cancelled), or as it is at timeout."""
    record = _transfer(ctx, transferId)
    return await json_when(ctx, record, lambda: record.finished, timeout)


@command("send.setSendRateAsync")
async def set_send_rate_async(ctx: Context, *, transferId: int,
                              sendRateMax: int | None) -> dict[str, Any]:
    """Change a transfer's send rate (bit/s; null = no per-transfer limit), clamped to the
    server's outgoing limit.

    Ours (docs/semantics.md): a rate applies to a sender that runs, so on a suspended
    transfer the request stays processing until the transfer is resumed (then it applies)
    or ends (then ``NotReady``), bounded by the 3600 s wait cap.
    """
    record = _transfer(ctx, transferId)
    check_range("sendRateMax", sendRateMax, 1)
    await ctx.app.waiter.wait_for(lambda: record.status is not TransferStatus.SUSPENDED,
                                  MAX_WAIT_SECONDS)
    if record.finished:
        raise NotReady(f"transfer {transferId} is {record.status.value}; its rate is fixed",
                       details={"transferId": transferId, "status": record.status.value})
    limit = ctx.state.bandwidth.outgoing_rate_limit
    rate = sendRateMax if limit is None else min(sendRateMax or limit, limit)
    record.send_rate_max = rate
    if ctx.app.engine is not None:
        ctx.app.engine.set_send_rate(transferId, rate)
    ctx.state.changed("transfer", record)
    return record.to_json()


def _control(ctx: Context, transfer_id: int, event: TransferEvent) -> TransferRecord:
    """Apply suspend/resume/cancel: the engine first, then the table unless it did."""
    record = _transfer(ctx, transfer_id)
    before = record.status
    target = TRANSFER_TRANSITIONS.get((before, event))
    if target is None:
        raise TransitionError(before, event, transfer_id)
    engine = ctx.app.engine
    if engine is not None:
        getattr(engine, event.value)(transfer_id)
    if record.status is before:
        ctx.state.apply(record, event)
    else:
        ctx.state.changed("transfer", record)
    return record


@command("send.suspendTransfer")
async def suspend_transfer(ctx: Context, *, transferId: int) -> dict[str, Any]:
    return _control(ctx, transferId, TransferEvent.SUSPEND).to_json()


@command("send.resumeTransfer")
async def resume_transfer(ctx: Context, *, transferId: int) -> dict[str, Any]:
    return _control(ctx, transferId, TransferEvent.RESUME).to_json()


@command("send.cancelTransfer")
async def cancel_transfer(ctx: Context, *, transferId: int) -> dict[str, Any]:
    ctx.session.require(ctx.state, Permission.DELETE_RENAME)
    return _control(ctx, transferId, TransferEvent.CANCEL).to_json()


@command("send.deleteTransfer")
async def delete_transfer(ctx: Context, *, transferId: int) -> None:
    """Delete a transfer record; an unfinished transfer is cancelled first (ours)."""
    record = _transfer(ctx, transferId)
    ctx.session.require(ctx.state, Permission.DELETE_RENAME)
    if not record.finished:
        _control(ctx, transferId, TransferEvent.CANCEL)
    del ctx.state.transfers[record.transfer_id]
    ctx.state.changed("transfer", record)
    ctx.app.events.emit("transferDeleted", owner=record.owner, owner_token=record.owner_token,
                        transferId=transferId)
