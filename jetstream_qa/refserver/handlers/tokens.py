"""``server`` namespace: API tokens and object user data.

Vendor "API Tokens" page: a token is a token string plus an optional password that acts as
the user who created it, with permissions and a path that can be narrowed; time-limited
(``expiryTime``) and revocable (``deleteAPIToken``). The Token structure never carries the
password (``passwordRequired`` says whether one is set). ``updateObjectUserData`` /
``deleteObjectUserData`` edit the ``userData`` string map of manifests, destinations,
transfers and tokens (Manifest and Token structure pages).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

from jetstream_qa.constants import Permission
from jetstream_qa.errors import InvalidArgument, PermissionDenied
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.handlers.common import check_range
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.session import path_within
from jetstream_qa.refserver.state import TokenRecord, now_us

__all__ = ["hash_token_password", "verify_token_password"]

_ITERATIONS = 20_000
MAX_USER_DATA_KEYS = 1000


def hash_token_password(password: str) -> str:
    """``pbkdf2$ITER$SALT$HASH`` (hex) of ``password``; the clear text is never kept."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return f"pbkdf2${_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_token_password(record: TokenRecord, password: str | None) -> bool:
    """True when ``password`` opens ``record`` (no password set: only None or "")."""
    if record.password_hash is None:
        return not password
    if not password:
        return False
    _, iterations, salt, digest = record.password_hash.split("$")
    mine = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt),
                               int(iterations))
    return hmac.compare_digest(mine.hex(), digest)


def _require_tokens(ctx: Context) -> None:
    if not ctx.app.config.api_tokens:
        raise PermissionDenied("API tokens are disabled on this server")


def _check_narrowing(ctx: Context, permissions: int, path: str | None) -> None:
    """A token session may only create tokens narrower than its own."""
    parent = ctx.session.token_record(ctx.state)
    if parent is None:
        return
    ctx.session.require(ctx.state, Permission.CREATE_LINKS)
    if permissions & ~parent.permissions:
        raise PermissionDenied("a token cannot grant permissions it does not have")
    if parent.path is not None and (path is None or not path_within(path, parent.path)):
        raise PermissionDenied("a token cannot grant a path outside its own")


@command("createAPIToken")
async def create_api_token(ctx: Context, *, description: str = "",
                           expiryTime: int | None = None, password: str | None = None,
                           permissions: int = int(Permission.ALL),
                           path: str | None = None) -> dict[str, Any]:
    """Create a token owned by the caller. Returns the Token structure."""
    _require_tokens(ctx)
    who = ctx.who()
    check_range("permissions", permissions, 0, int(Permission.ALL))
    if expiryTime is not None and expiryTime <= now_us():
        raise InvalidArgument("expiryTime must be in the future", details={"param":
                                                                           "expiryTime"})
    if path is not None and (not os.path.isabs(path) or "\x00" in path):
        raise InvalidArgument("path must be an absolute path", details={"param": "path"})
    _check_narrowing(ctx, permissions, path)
    record = TokenRecord(token=ctx.state.new_token_id(), owner=who.user,
                         description=description, expiry_time=expiryTime,
                         password_hash=hash_token_password(password) if password else None,
                         permissions=permissions,
                         path=os.path.normpath(path) if path else None,
                         owner_token=who.token, owner_token_session=who.session)
    ctx.state.tokens[record.token] = record
    ctx.state.changed("token", record)
    ctx.app.events.emit("tokenCreated", record.to_json(),
                        owner=record.owner, owner_token=record.owner_token)
    return record.to_json()


@command("getAPIToken")
async def get_api_token(ctx: Context, *, token: str) -> dict[str, Any]:
    _require_tokens(ctx)
    return ctx.state.token(token, ctx.who()).to_json()


@command("getAPITokens")
async def get_api_tokens(ctx: Context) -> list[dict[str, Any]]:
    _require_tokens(ctx)
    return [t.to_json() for t in ctx.state.visible(ctx.state.tokens.values(), ctx.who())]


@command("deleteAPIToken")
async def delete_api_token(ctx: Context, *, token: str) -> None:
    """Revoke a token: sessions using it fail from their next call."""
    _require_tokens(ctx)
    record = ctx.state.token(token, ctx.who())
    ctx.session.require(ctx.state, Permission.DELETE_RENAME)
    del ctx.state.tokens[record.token]
    ctx.state.changed("token", record)
    ctx.app.events.emit("tokenDeleted", owner=record.owner, owner_token=record.owner_token,
                        token=record.token)


# --- user data ---------------------------------------------------------------------------
def _find(ctx: Context, object_type: str, object_id: Any) -> tuple[Any, dict[str, Any]]:
    who = ctx.who(leak="leak-transfers" if object_type == "transfer" else None)
    st = ctx.state
    if object_type == "manifest":
        rec: Any = st.manifest(str(object_id), who)
        return rec, rec.to_json()
    if object_type == "destination":
        rec = st.destination(str(object_id), who)
        return rec, rec.to_json(queued=st.queued_for(rec.destination_id))
    if object_type == "transfer":
        if isinstance(object_id, str) and object_id.isdigit():
            object_id = int(object_id)
        if not isinstance(object_id, int):
            raise InvalidArgument("a transfer objectId is an integer",
                                  details={"param": "objectId"})
        rec = st.transfer(object_id, who)
        return rec, rec.to_json()
    if object_type == "token":
        rec = st.token(str(object_id), who)
        return rec, rec.to_json()
    raise InvalidArgument(f"objectType must be manifest, destination, transfer or token, "
                          f"got {object_type!r}", details={"param": "objectType"})


def _changed(ctx: Context, object_type: str, object_id: Any) -> dict[str, Any]:
    record, _ = _find(ctx, object_type, object_id)
    ctx.state.changed(object_type, record)
    return _find(ctx, object_type, object_id)[1]


@command("updateObjectUserData")
async def update_object_user_data(ctx: Context, *, objectType: str, objectId: str | int,
                                  userData: dict[str, Any]) -> dict[str, Any]:
    """Merge ``userData`` (strings only) into the object's user data; returns the object."""
    record, _ = _find(ctx, objectType, objectId)
    bad = [k for k, v in userData.items() if not isinstance(v, str)]
    if bad:
        raise InvalidArgument(f"userData values must be strings (key {bad[0]!r})",
                              details={"param": "userData", "key": bad[0]})
    if len(record.user_data.keys() | userData.keys()) > MAX_USER_DATA_KEYS:
        raise InvalidArgument(f"at most {MAX_USER_DATA_KEYS} userData keys per object",
                              details={"param": "userData"})
    record.user_data.update(userData)
    return _changed(ctx, objectType, objectId)


@command("deleteObjectUserData")
async def delete_object_user_data(ctx: Context, *, objectType: str, objectId: str | int,
                                  keys: list[Any]) -> dict[str, Any]:
    """Remove ``keys`` from the object's user data (absent keys are ignored)."""
    record, _ = _find(ctx, objectType, objectId)
    if not all(isinstance(k, str) for k in keys):
        raise InvalidArgument("keys must be strings", details={"param": "keys"})
    for key in keys:
        record.user_data.pop(key, None)
    return _changed(ctx, objectType, objectId)
