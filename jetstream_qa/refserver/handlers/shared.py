"""``server`` namespace: shared ("shareable link") tokens and ``getConnection``.

Vendor Token structure (S8): shared tokens carry the common fields plus ``downloadCount``
(transfers created from it so far), ``downloadLimit`` (None = unlimited) and ``manifestId``;
created by ``createSharedToken()``, read by ``getSharedToken()`` / ``getSharedTokens()``
(api.md 3.2; ``deleteSharedToken`` is inferred there). Shared links expire at their time limit
(S22). Destination structure (S3): ``connectionId`` names a connection that
``getConnection()`` returns; the Connection structure's fields are not documented.

Reference choices (``docs/protocol.md`` 3.1): a shared token names a complete manifest the
caller can see; a token session needs CREATE_LINKS; the reference server offers no download
through a link yet, so ``downloadCount`` stays 0; links live in memory (not persisted) and an
expired link answers ``NotFound``. One connection per destination, id ``conn-<destinationId>``.
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.constants import Permission
from jetstream_qa.errors import InvalidArgument, NotFound, NotReady
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.handlers.common import check_range
from jetstream_qa.refserver.handlers.tokens import hash_token_password
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.state import ManifestStatus, SharedTokenRecord, now_us

__all__: list[str] = []


def _visible(ctx: Context) -> list[SharedTokenRecord]:
    at = now_us()
    who = ctx.who()
    return [t for t in ctx.state.visible(ctx.state.shared_tokens.values(), who)
            if not t.expired(at)]


def _one(ctx: Context, token: str) -> SharedTokenRecord:
    for record in _visible(ctx):
        if record.token == token:
            return record
    raise NotFound(f"no shared token {token!r}", details={"token": token})


@command("createSharedToken")
async def create_shared_token(ctx: Context, *, manifestId: str,
                              downloadLimit: int | None = None, expiryTime: int | None = None,
                              description: str = "", password: str | None = None
                              ) -> dict[str, Any]:
    """A shared link to a complete manifest the caller can see."""
    who = ctx.who()
    manifest = ctx.state.manifest(manifestId, who)
    if manifest.status is not ManifestStatus.COMPLETE:
        raise NotReady(f"manifest {manifestId} is {manifest.status.value}, not complete")
    check_range("downloadLimit", downloadLimit, 1)
    if expiryTime is not None and expiryTime <= now_us():
        raise InvalidArgument("expiryTime must be in the future",
                              details={"param": "expiryTime"})
    if ctx.session.token_record(ctx.state) is not None:
        ctx.session.require(ctx.state, Permission.CREATE_LINKS)
    record = SharedTokenRecord(
        token=ctx.state.new_token_id(), owner=who.user, manifest_id=manifestId,
        description=description, expiry_time=expiryTime, download_limit=downloadLimit,
        password_hash=hash_token_password(password) if password else None,
        owner_token=who.token, owner_token_session=who.session)
    ctx.state.shared_tokens[record.token] = record
    ctx.app.events.emit("sharedTokenCreated", record.to_json(), owner=record.owner,
                        owner_token=record.owner_token)
    return record.to_json()


@command("getSharedToken")
async def get_shared_token(ctx: Context, *, token: str) -> dict[str, Any]:
    return _one(ctx, token).to_json()


@command("getSharedTokens")
async def get_shared_tokens(ctx: Context) -> list[dict[str, Any]]:
    return [t.to_json() for t in _visible(ctx)]


@command("deleteSharedToken")
async def delete_shared_token(ctx: Context, *, token: str) -> None:
    """Revoke a shared link (name inferred in api.md 3.2)."""
    record = _one(ctx, token)
    ctx.session.require(ctx.state, Permission.DELETE_RENAME)
    del ctx.state.shared_tokens[record.token]


@command("getConnection")
async def get_connection(ctx: Context, *, connectionId: str) -> dict[str, Any]:
    """The connection a Destination's ``connectionId`` names (fields ours, S3)."""
    who = ctx.who()
    for dest in ctx.state.visible(ctx.state.destinations.values(), who):
        if dest.connection_id == connectionId:
            return {"connectionId": connectionId, "destinationId": dest.destination_id,
                    "remoteAddress": dest.destination_ip, "remotePort": dest.destination_port,
                    "encryptedConnectionState": dest.encrypted_connection_state,
                    "lastSendTime": dest.last_send_time, "lastRecvTime": dest.last_recv_time,
                    "lastError": dest.last_error, "lastErrorMessage": dest.last_error_message}
    raise NotFound(f"no connection {connectionId!r}", details={"connectionId": connectionId})
