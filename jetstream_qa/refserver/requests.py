"""Asynchronous request records (``docs/protocol.md`` 2.5; vendor "Asynchronous Commands").

A command ending in ``Async`` runs as a task; its caller gets ``{"requestId": n}`` (``n`` a
per-server counter from 1). ``getRequestStatus`` answers at once; ``getRequestResult`` waits
(bounded) for the task. Records belong to the user who made the request (and to the session
that made it, so an ``authAsync`` made before login can be read back by the same session);
they expire ``expiry`` seconds after they finish; afterwards they are ``NotFound``, as are
other users' records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.errors import JetStreamQAError, NotFound, NotReady, ServerError
from jetstream_qa.refserver.state import Principal

__all__ = ["RequestRecord", "RequestTable"]

log = logging.getLogger("jetstream_qa.refserver")


@dataclass(slots=True)
class RequestRecord:
    """One queued request: its owner, outcome and when it finished (monotonic seconds)."""

    request_id: int
    owner: str | None
    session_id: str
    command: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: Any = None
    error: JetStreamQAError | None = None
    finished_at: float | None = None

    def status_json(self) -> dict[str, Any]:
        if not self.done.is_set():
            status, message = "pending", None
        elif self.error is None:
            status, message = "complete", ""
        else:
            status, message = "error", self.error.message
        return {"requestId": self.request_id, "processing": not self.done.is_set(),
                "status": status, "errorMessage": message}


class RequestTable:
    """All request records of one server."""

    def __init__(self, *, expiry: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry = expiry
        self._clock = clock
        self._records: dict[int, RequestRecord] = {}
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, owner: str | None, session_id: str, command: str,
              work: Coroutine[Any, Any, Any]) -> RequestRecord:
        """Queue ``work`` as request of ``owner`` (None before login) made in session
        ``session_id``; returns its record at once."""
        self._expire()
        record = RequestRecord(self._next_id, owner, session_id, command)
        self._next_id += 1
        self._records[record.request_id] = record
        task = asyncio.get_running_loop().create_task(self._run(record, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _run(self, record: RequestRecord, work: Coroutine[Any, Any, Any]) -> None:
        try:
            record.result = await work
        except JetStreamQAError as exc:
            record.error = exc
        except Exception as exc:  # every handler failure becomes a ServerError record
            log.exception("async request %s (%s) failed", record.request_id, record.command)
            record.error = ServerError(f"internal error: {type(exc).__name__}")
        finally:
            record.finished_at = self._clock()
            record.done.set()

    def _expire(self) -> None:
        now = self._clock()
        gone = [rid for rid, r in self._records.items()
                if r.finished_at is not None and now - r.finished_at >= self._expiry]
        for rid in gone:
            del self._records[rid]

    def get(self, request_id: int, who: Principal | None, session_id: str) -> RequestRecord:
        """The record, if it exists, has not expired and belongs to ``who`` (or was made in
        session ``session_id``)."""
        self._expire()
        record = self._records.get(request_id)
        mine = record is not None and (
            record.session_id == session_id
            or (who is not None and (who.elevated or record.owner == who.user)))
        if record is None or not mine:
            raise NotFound(f"no request {request_id}", details={"requestId": request_id})
        return record

    async def result(self, request_id: int, who: Principal | None, session_id: str,
                     timeout: float) -> Any:
        """Wait up to ``timeout`` s for the request; return its result or raise its error.

        Raises:
            NotFound: unknown, expired or someone else's request.
            NotReady: still processing when ``timeout`` passed.
        """
        record = self.get(request_id, who, session_id)
        try:
            await asyncio.wait_for(record.done.wait(), timeout)
        except TimeoutError:
            raise NotReady(f"request {request_id} still processing after {timeout} s",
                           details={"requestId": request_id}) from None
        if record.error is not None:
            raise record.error
        return record.result

    async def close(self) -> None:
        """Cancel requests still running (server shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
