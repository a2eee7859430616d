"""The one piece of process state the Locust adapter keeps: the :class:`LoadSession`.

Locust hands listeners no place to keep state of their own, so the adapter holds exactly one
session per process here (set in ``init``), plus the runner and the event users wait on until
the target is known (workers learn it from the master).
"""

from __future__ import annotations

from typing import Any, Final

import gevent.event

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.redaction import scrub

__all__ = ["LOG_NAME", "State", "current", "error_text"]

LOG_NAME: Final = "jetstream_qa.load"
"""Logger of the load adapter."""


class State:
    """Process-wide adapter state (one Locust process = one load session)."""

    session: LoadSession | None = None
    runner: Any = None
    target_ready = gevent.event.Event()
    installed = False
    webui_installed = False
    prepared: Any = None
    """Worker: the greenlet preparing file sets (``test_start`` waits for it)."""


def current() -> LoadSession:
    """This process's session.

    Raises:
        ConfigurationError: :func:`jetstream_qa.locust_user.install` was not called.
    """
    if State.session is None:
        raise ConfigurationError("jetstream_qa.locust_user.install() was not called "
                                 "from the locustfile")
    return State.session


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, at most 300 characters."""
    return scrub(f"{type(exc).__name__}: {exc}")[:300]
