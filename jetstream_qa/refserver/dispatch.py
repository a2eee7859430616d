"""From a decoded request to a result: access rules, parameter check, async queueing.

``docs/protocol.md`` section 3: every command except ``auth``, ``authAsync``, ``authToken``
and ``getServerInfo`` needs an authenticated session (``getRequestStatus`` and
``getRequestResult`` also work before login, for the session's own ``authAsync``);
superuser-only commands need ``superuser()`` first; unknown commands and parameters are
``InvalidArgument``. A command ending in ``Async`` is checked, then queued as a request
record, and answered ``{"requestId": n}`` at once (2.5).
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.errors import PermissionDenied
from jetstream_qa.refserver import handlers  # noqa: F401  (registers every command)
from jetstream_qa.refserver.context import AppView, Context
from jetstream_qa.refserver.registry import check_params, lookup
from jetstream_qa.refserver.session import Session
from jetstream_qa.wire.control import Request

__all__ = ["Context", "dispatch"]


async def dispatch(app: AppView, session: Session, request: Request) -> Any:
    """Run ``request`` for ``session``; returns the result or raises a ServerError."""
    cmd = lookup(request.command)
    ctx = Context(app, session)
    if cmd.auth:
        ctx.who()  # raises AuthenticationFailed before login / after revocation
    if cmd.superuser and not session.elevated:
        raise PermissionDenied(f"{cmd.name} needs an elevated session (call superuser())",
                               details={"command": cmd.name})
    check_params(cmd, request.params)
    if cmd.is_async:
        record = app.requests.start(session.user, session.session_id, cmd.name,
                                    cmd.handler(ctx, **request.params))
        return {"requestId": record.request_id}
    return await cmd.handler(ctx, **request.params)

