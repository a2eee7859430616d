"""What a command handler sees: the app and the calling session.

Handlers and connections see the app through :class:`AppView`, the part of
:class:`~jetstream_qa.refserver.app.ServerApp` they use, so that nothing below the app
imports it back (``app`` starts the listener that serves connections that run handlers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from jetstream_qa.refserver.config import ServerConfig
from jetstream_qa.refserver.events import EventLog
from jetstream_qa.refserver.keys import ServerKeys
from jetstream_qa.refserver.requests import RequestTable
from jetstream_qa.refserver.session import Session
from jetstream_qa.refserver.session_logins import LoginThrottle
from jetstream_qa.refserver.state import Principal, ServerState
from jetstream_qa.refserver.tls import TlsMaterial
from jetstream_qa.refserver.waiters import ChangeWaiter

__all__ = ["AppView", "Context"]


class AppView(Protocol):
    """What handlers and connections use of a running ``ServerApp``."""

    config: ServerConfig
    state: ServerState
    events: EventLog
    requests: RequestTable
    waiter: ChangeWaiter
    logins: LoginThrottle
    keys: ServerKeys | None
    tls: TlsMaterial | None
    engine: Any
    server_id: str
    host_name: str
    api_address: tuple[str, int]
    connections: int

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the app cancels on stop."""

    def receiver_stats(self) -> dict[str, Any]:
        """The ``receiver`` structure of Server Information."""

    def garbage_collect(self) -> dict[str, int]:
        """Remove what the lifetime rules say is gone; the counts removed."""


@dataclass(slots=True)
class Context:
    """What a handler sees: the app and the calling session."""

    app: AppView
    session: Session

    @property
    def state(self) -> ServerState:
        return self.app.state

    def who(self, *, leak: str | None = None) -> Principal:
        """The caller; ``leak`` names a fault that makes this lookup see everything.

        Raises:
            AuthenticationFailed: not logged in, or the session's token is gone.
        """
        cfg = self.app.config
        if self.session.user is None and cfg.has_fault("no-auth-required"):
            return Principal(user="anonymous")
        return self.session.principal(self.state,
                                      leak=leak is not None and cfg.has_fault(leak))

    def who_or_none(self) -> Principal | None:
        """The caller, or None before login."""
        if self.session.user is None:
            return None
        return self.who()
