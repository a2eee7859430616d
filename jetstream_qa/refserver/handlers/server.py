"""``server`` namespace: server info, login, elevation, async requests, event log.

Vendor pages: Server Information structure (fields), "Asynchronous Commands" (requestId,
getRequestStatus never blocks, getRequestResult blocks), superuser page (``superuser()``
elevates a superuser's session; ``configuration`` only for elevated sessions), Event Log
structure (``_event``, ``_timestamp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from jetstream_qa.errors import AuthenticationFailed, PermissionDenied
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.handlers.common import MAX_WAIT_SECONDS, check_range, wait_seconds
from jetstream_qa.refserver.identity import REVISION, VERSION, announced_api_version
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.session_logins import delay_after
from jetstream_qa.refserver.state import now_us

__all__: list[str] = []

log = logging.getLogger("jetstream_qa.refserver")
_TOKEN_PAIR = "(api token)"
"""Throttle key for ``authToken``: all token guesses from one peer share one count."""


def _configuration(ctx: Context) -> dict[str, Any]:
    cfg = ctx.app.config
    return {"garbageCollect": ctx.state.gc.to_json(), "maxConnections": cfg.max_connections,
            "handshakeTimeout": cfg.handshake_timeout, "idleTimeout": cfg.idle_timeout,
            "maxFrame": cfg.max_frame, "requestExpiry": cfg.request_expiry,
            "persistentState": cfg.persistent_state, "tls": cfg.tls,
            "storageRoot": str(cfg.storage_root), "stateDir": str(cfg.state_dir)}


@command("getServerInfo", auth=False)
async def get_server_info(ctx: Context) -> dict[str, Any]:
    """Server Information (protocol.md 4.1); ``configuration`` only when elevated."""
    app, cfg = ctx.app, ctx.app.config
    assert app.keys is not None
    info: dict[str, Any] = {
        "allowRemoteControl": cfg.allow_remote_control, "apiControlPort": app.api_address[1],
        "APITokensAvailable": cfg.api_tokens,
        "apiVersion": announced_api_version(cfg),
        "authRequired": True,
        "bandwidthLimits": ctx.state.bandwidth.to_json(fixed=cfg.rate_limits_fixed),
        "certificateValidation": app.tls.days_valid() if app.tls else None,
        "encryptionAvailable": True, "eventLogAvailable": True, "hostName": app.host_name,
        "license": {"licensed": True, "kind": "reference"}, "minCipher": int(cfg.min_cipher),
        "multiplexAvailable": bool(getattr(app.engine, "multiplex_available", False)),
        "publicKey": app.keys.public_hex, "receiver": app.receiver_stats(),
        "revision": REVISION, "serverExternalAddress": cfg.external_address,
        "serverId": app.server_id, "serverName": cfg.server_name,
        "serverUid": ctx.state.server_uid, "version": VERSION,
        "sandboxed": bool(ctx.state.sandbox_mappings),
    }
    if ctx.session.elevated:
        info["configuration"] = _configuration(ctx)
    if cfg.has_fault("server-info-missing-fields"):
        del info["revision"], info["serverUid"]
    if cfg.has_fault("leak-password") and ctx.session.leaked_password is not None:
        info["sessionPassword"] = ctx.session.leaked_password
    return info


async def _login(ctx: Context, user: str, password: str) -> None:
    """Check the password, in the (peer, user) pair's turn of the failed-login throttle."""
    cfg = ctx.app.config
    throttle = ctx.app.logins
    async with throttle.attempt(ctx.session.peer, user) as pair:
        ok = cfg.check_password(user, password) or (
            cfg.has_fault("accept-any-password") and user in cfg.users)
        if ok:
            throttle.succeeded(pair)
        else:
            _failed_login(ctx, user, throttle.failed(pair), "password")
    if not ok:
        raise AuthenticationFailed("invalid user name or password")
    ctx.session.login(user)
    if cfg.has_fault("leak-password"):
        ctx.session.leaked_password = password


def _failed_login(ctx: Context, user: str, failures: int, kind: str) -> None:
    """Record a failed login in the event log (visible to that user and superusers) and the
    server log; never the password or token tried."""
    ctx.app.events.emit("loginFailed", owner=user, user=user, peer=ctx.session.peer,
                        method=kind, consecutiveFailures=failures,
                        nextDelayS=delay_after(failures))
    log.warning("failed %s login for user %r from %s (%d in a row)", kind, user,
                ctx.session.peer, failures)


@command("auth", auth=False)
async def auth(ctx: Context, *, user: str, password: str) -> None:
    """Log the session in as ``user``. Raises AuthenticationFailed."""
    await _login(ctx, user, password)


@command("authAsync", auth=False)
async def auth_async(ctx: Context, *, user: str, password: str) -> None:
    """``auth`` as an async request; its result is null."""
    await _login(ctx, user, password)


@command("authToken", auth=False)
async def auth_token(ctx: Context, *, token: str, password: str | None = None) -> None:
    """Log in as an API token's owner, narrowed to the token (ours)."""
    from jetstream_qa.refserver.handlers.tokens import verify_token_password

    cfg = ctx.app.config
    throttle = ctx.app.logins
    async with throttle.attempt(ctx.session.peer, _TOKEN_PAIR) as pair:
        record = ctx.state.tokens.get(token)
        expired = record is not None and record.expired(now_us()) \
            and not cfg.has_fault("token-never-expires")
        ok = cfg.api_tokens and record is not None and not expired \
            and verify_token_password(record, password)
        if ok:
            throttle.succeeded(pair)
        else:
            _failed_login(ctx, _TOKEN_PAIR, throttle.failed(pair), "token")
    if not ok or record is None:
        raise AuthenticationFailed("invalid or expired token, or wrong token password")
    ctx.session.login_token(record)
    if cfg.has_fault("token-never-expires"):
        ctx.session.ignore_token_expiry = True


@command("superuser")
async def superuser(ctx: Context) -> None:
    """Elevate the session. PermissionDenied unless the user is a superuser."""
    cfg = ctx.app.config
    allowed = ctx.session.token is None and ctx.session.user in cfg.superusers
    if not (allowed or cfg.has_fault("superuser-for-all")):
        raise PermissionDenied("not a superuser")
    ctx.session.elevated = True


@command("getRequestStatus", auth=False)
async def get_request_status(ctx: Context, *, requestId: int) -> dict[str, Any]:
    """Status of an async request, at once (never blocks)."""
    record = ctx.app.requests.get(requestId, ctx.who_or_none(), ctx.session.session_id)
    if ctx.app.config.has_fault("request-status-blocks"):
        with contextlib.suppress(TimeoutError):  # the fault: wait for the request to end
            await asyncio.wait_for(record.done.wait(), MAX_WAIT_SECONDS)
    return record.status_json()


@command("getRequestResult", auth=False)
async def get_request_result(ctx: Context, *, requestId: int,
                             timeout: float | None = None) -> Any:
    """Result of an async request once done (bounded wait; NotReady on timeout)."""
    return await ctx.app.requests.result(requestId, ctx.who_or_none(),
                                         ctx.session.session_id, wait_seconds(timeout))


@command("getEventLog")
async def get_event_log(ctx: Context, *, since: int | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
    """Event log entries newer than ``since`` (µs) visible to the caller, oldest first."""
    check_range("limit", limit, 0)
    return ctx.app.events.entries(ctx.who(), since=since, limit=limit)
