"""``recv`` namespace: the receiving side's view (vendor "Receive Transfer" and "Source").

Both commands are asynchronous (their names end in ``Async``): the response is a request id
and the list comes from ``getRequestResult``. Receive records are the engine's; they have
no local owner, so every authenticated user sees them (ours). Without an engine the lists
are empty.
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.refserver.context import Context
from jetstream_qa.refserver.registry import command

__all__: list[str] = []


@command("recv.getTransfersAsync")
async def get_transfers_async(ctx: Context) -> list[dict[str, Any]]:
    engine = ctx.app.engine
    return [] if engine is None else list(engine.receiver_transfers())


@command("recv.getSourcesAsync")
async def get_sources_async(ctx: Context) -> list[dict[str, Any]]:
    engine = ctx.app.engine
    return [] if engine is None else list(engine.receiver_sources())
