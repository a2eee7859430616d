"""What a command handler sees: the app and the calling session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jetstream_qa.refserver.session import Session
from jetstream_qa.refserver.state import Principal, ServerState

if TYPE_CHECKING:
    from jetstream_qa.refserver.app import ServerApp

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """What a handler sees: the app and the calling session."""

    app: ServerApp
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
