"""``server`` namespace: garbage collection, bandwidth limits, sandbox mappings.

Vendor pages: "Lifetime management" (GC hourly, objects 48 h; ``updateGarbageCollectSettings``
and ``garbageCollect``), "Bandwidth" (incoming/outgoing limits and borrowing, superuser only,
"so long as limits are not already specified on the command line", survive restarts),
"Sandboxing" (``getSandboxMappings`` superuser only; ``setSandboxMapping("", {"": "/data"})``
equals ``--sandbox-dir /data``; full form ``{"": {"type": "File", "path": ...}}``).
The engine reads ``state.bandwidth`` and ``state.sandbox_mappings`` live; how a mapping
confines sources and received files is ``refserver/sandbox.py``.
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.errors import ConflictError, InvalidArgument
from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.handlers.common import check_range
from jetstream_qa.refserver.registry import command
from jetstream_qa.refserver.sandbox import normalise_mapping

__all__: list[str] = []

_UNSET: Any = object()
"""Default of optional parameters where ``null`` is a meaningful value."""


@command("updateGarbageCollectSettings", superuser=True)
async def update_gc_settings(ctx: Context, *, intervalSeconds: float | None = None,
                             maxAgeSeconds: float | None = None) -> dict[str, Any]:
    """Change GC interval and age; returns ``configuration.garbageCollect``."""
    if intervalSeconds is not None and not intervalSeconds > 0:
        raise InvalidArgument("intervalSeconds must be > 0", details={"param":
                                                                       "intervalSeconds"})
    check_range("maxAgeSeconds", maxAgeSeconds, 0)
    gc = ctx.state.gc
    if intervalSeconds is not None:
        gc.interval_seconds = intervalSeconds
    if maxAgeSeconds is not None:
        gc.max_age_seconds = maxAgeSeconds
    ctx.state.changed("settings", gc)
    return gc.to_json()


@command("garbageCollect")
async def garbage_collect(ctx: Context) -> dict[str, int]:
    """Run garbage collection now; returns the numbers of objects removed."""
    return ctx.app.garbage_collect()


@command("getBandwidthLimits")
async def get_bandwidth_limits(ctx: Context) -> dict[str, Any]:
    return ctx.state.bandwidth.to_json(fixed=ctx.app.config.rate_limits_fixed)


@command("updateBandwidthLimits", superuser=True)
async def update_bandwidth_limits(ctx: Context, *, incomingRateLimit: int | None = _UNSET,
                                  outgoingRateLimit: int | None = _UNSET,
                                  borrowIncomingRate: bool | None = None,
                                  borrowOutgoingRate: bool | None = None) -> dict[str, Any]:
    """Set server-wide limits (bit/s, null = none). Conflict when fixed on the command line."""
    cfg = ctx.app.config
    if cfg.rate_limits_fixed:
        raise ConflictError("bandwidth limits were set on the command line and cannot be "
                            "changed through the API")
    bw = ctx.state.bandwidth
    for name, value in (("incomingRateLimit", incomingRateLimit),
                        ("outgoingRateLimit", outgoingRateLimit)):
        if value is not _UNSET:
            check_range(name, value, 1)
    if incomingRateLimit is not _UNSET:
        bw.incoming_rate_limit = incomingRateLimit
    if outgoingRateLimit is not _UNSET:
        bw.outgoing_rate_limit = outgoingRateLimit
    if borrowIncomingRate is not None:
        bw.borrow_incoming_rate = borrowIncomingRate
    if borrowOutgoingRate is not None:
        bw.borrow_outgoing_rate = borrowOutgoingRate
    ctx.state.changed("settings", bw)
    result = bw.to_json(fixed=False)
    ctx.app.events.emit("bandwidthLimitsUpdated", result)
    return result


@command("getSandboxMappings", superuser=True)
async def get_sandbox_mappings(ctx: Context) -> dict[str, Any]:
    """``{user: {root: {type, path}}}``; user ``""`` is every user."""
    return {user: {root: dict(spec) for root, spec in roots.items()}
            for user, roots in ctx.state.sandbox_mappings.items()}


@command("setSandboxMapping", superuser=True)
async def set_sandbox_mapping(ctx: Context, *, user: str, mapping: dict[str, Any]) -> None:
    """Set (or with an empty mapping, remove) the sandbox of ``user`` (``""`` = all).

    It takes effect for the next manifest and the next incoming transfer
    (``refserver/sandbox.py``): sandbox paths are below the storage root, so nothing a
    sandbox names can escape it (ours).
    """
    if not isinstance(user, str):
        raise InvalidArgument("user must be a string", details={"param": "user"})
    normal = normalise_mapping(mapping)
    if normal:
        ctx.state.sandbox_mappings[user] = normal
    else:
        ctx.state.sandbox_mappings.pop(user, None)
    ctx.state.changed("settings", ctx.state.sandbox_mappings)
    ctx.app.events.emit("sandboxMappingUpdated", user=user, mapping=normal)
