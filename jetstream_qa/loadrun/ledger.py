"""Exactly-once accounting of the transfers one load process creates (sans-IO).

Requirement (reports/load.json): ``goodput.totalBytes`` is what the destination really
received, so every transfer a run created is counted exactly once, as delivered (complete at
the server), failed, or cancelled at stop.

Why the client's own view is not enough: the id of a transfer is known only once
``send.createTransfer`` has answered, and the outcome only once ``send.waitForTransfer`` has.
Locust stops a user by killing its greenlet (``GreenletExit``: at once without
``--stop-timeout``, after it otherwise, and with it too when the user was waiting between
tasks: ``User.stop`` decides to kill, gevent delivers the exception later through a loop
callback, by when the user may be in its next task; also on a shape's ramp-down). A kill
between the server executing ``createTransfer`` and the client storing the answer leaves a
transfer the client never heard of: it runs to completion on the server and its files land
uncounted.

So the ledger records the *intent* before the request: every transfer gets a fresh
``destinationPath`` (:meth:`LoadSession.dest_path`) that names it for good, registered here
with its scenario and start time before ``createTransfer`` is sent. A path is *settled* exactly
once (the first TRANSFER event for it wins; a later one is dropped). At test stop the adapter
lists the sender's transfers, and :meth:`TransferLedger.plan` turns every transfer under this
process's prefix whose path is not yet settled into one action: ``deliver`` (complete at the
server: counted with the server's ``totalBytes`` and ``endTime``), ``fail`` (error/cancelled
by someone else), or ``cancel`` (still running: the adapter cancels it, waits until it is final
and plans it again; one that is still not complete counts as cancelled at stop, its
destination path reported so its partial files can be told apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jetstream_qa.constants import TRANSFER_FINAL_STATUSES

__all__ = ["Intent", "Settlement", "TransferLedger"]

Action = Literal["deliver", "fail", "cancel"]


@dataclass(frozen=True, slots=True)
class Intent:
    """A transfer about to be created: its destination path, scenario and start (epoch s)."""

    dest_path: str
    scenario: str
    started: float

    def __post_init__(self) -> None:
        if not self.dest_path or not self.scenario:
            raise ValueError("an intent needs a destination path and a scenario")


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do with one server transfer found unsettled at stop.

    ``nbytes`` and ``ended`` are meaningful for ``deliver`` (bytes delivered, epoch s of the
    server's ``endTime`` or None when it gave none); ``error`` for ``fail``.
    """

    action: Action
    intent: Intent
    transfer_id: str
    nbytes: int = 0
    ended: float | None = None
    error: str | None = None


class TransferLedger:
    """Intents and settled paths of one process's transfers.

    Args:
        prefix: the destination-path prefix every transfer of this process starts with
            (``DEST/RUN/pPID/``); transfers outside it belong to another process or run.
    """

    def __init__(self, prefix: str) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"ledger prefix must end with '/': {prefix!r}")
        self.prefix = prefix
        self._intents: dict[str, Intent] = {}
        self._settled: set[str] = set()

    def expect(self, dest_path: str, scenario: str, started: float) -> Intent:
        """Register a transfer before ``createTransfer`` is sent.

        Raises:
            ValueError: the path is outside the prefix or was used before.
        """
        if not dest_path.startswith(self.prefix):
            raise ValueError(f"{dest_path!r} is outside this process's prefix {self.prefix!r}")
        if dest_path in self._intents:
            raise ValueError(f"destination path {dest_path!r} used twice")
        intent = self._intents[dest_path] = Intent(dest_path, scenario, started)
        return intent

    def settle(self, dest_path: str) -> bool:
        """Mark ``dest_path`` settled; True the first time (fire its event), else False."""
        if dest_path in self._settled:
            return False
        self._settled.add(dest_path)
        return True

    def is_settled(self, dest_path: str) -> bool:
        """Was a TRANSFER event already fired for ``dest_path``?"""
        return dest_path in self._settled

    @property
    def unsettled(self) -> int:
        """Intents without a TRANSFER event yet (0 once a run is fully reconciled)."""
        return len(self._intents.keys() - self._settled)

    def plan(self, transfers: Iterable[Mapping[str, Any]]) -> list[Settlement]:
        """One action per server transfer of this process whose path is not settled.

        Args:
            transfers: Transfer structures (``send.getTransfers``/``getTransfer``).

        Two server transfers with one path (a retried create) write the same files, so the
        path is planned once: a complete one is preferred.
        """
        chosen: dict[str, Mapping[str, Any]] = {}
        for item in transfers:
            path = str(item.get("destinationPath") or "")
            if not path.startswith(self.prefix) or path in self._settled:
                continue
            if path not in chosen or item.get("status") == "complete":
                chosen[path] = item
        return [self._settlement(path, item) for path, item in sorted(chosen.items())]

    def _settlement(self, path: str, item: Mapping[str, Any]) -> Settlement:
        intent = self._intents.get(path) or Intent(path, "unattributed", 0.0)
        transfer_id = str(item.get("transferId"))
        status = item.get("status")
        if status == "complete":
            end_us = item.get("endTime")
            return Settlement("deliver", intent, transfer_id, int(item.get("totalBytes") or 0),
                              float(end_us) / 1e6 if isinstance(end_us, int | float) else None)
        if status in TRANSFER_FINAL_STATUSES:
            return Settlement("fail", intent, transfer_id,
                              error=f"transfer {transfer_id} ended {status} at the server "
                                    f"after its user stopped: {item.get('errorMessage')}")
        return Settlement("cancel", intent, transfer_id)
