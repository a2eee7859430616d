"""Settling a load process's transfers with the sender's own records (no Locust here).

:func:`settle_transfers` applies :meth:`TransferLedger.plan` over a connected API object:
complete transfers are handed to ``fire`` as delivered, failed ones as failures, and running
ones get a grace period before they are cancelled (docs/protocol.md 4.4: ``cancel`` from
``pending``/``sending``/``suspended`` gives ``cancelled``; from a final status it is refused
with NotReady, i.e. the transfer finished meanwhile and is planned again). Waiting and
cancelling go through the binding (``session.binding``): the client's blocking wait or polling
``getTransfer``; a client without a bound cancel leaves the transfer running (it counts as
cancelled at stop, as one that did not end), and a refused cancel (the transfer ended
meanwhile) is told apart by the transfer's record, also when the binding knows no refusal
class of the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jetstream_qa.binding import Operations
from jetstream_qa.errors import BindingMissing, ProtocolError, TransportError
from jetstream_qa.loadrun.ledger import Settlement

if TYPE_CHECKING:
    from jetstream_qa.loadrun.session import LoadSession

__all__ = ["acked_bytes", "settle_transfers"]


def settle_transfers(session: LoadSession, api: Any, transfers: Sequence[dict[str, Any]], *,
                     fire: Callable[[Settlement], None], grace_s: float = 0.0,
                     leave_running: bool = False) -> int:
    """Settle every unsettled transfer of this process among ``transfers``.

    Args:
        session: the process's session (its ledger, recorder and API timeout).
        api: a connected, authenticated API object on the sender.
        transfers: Transfer structures from the sender.
        fire: keyword-only; fires the TRANSFER event of a ``deliver``/``fail`` settlement
            (and so settles its path in the ledger).
        grace_s: keyword-only; seconds the running ones get, together, to finish before
            they are cancelled (a cancelled one counts as cancelled at stop unless it
            completed meanwhile).
        leave_running: keyword-only; leave running ones unsettled (for a later call).

    Returns:
        How many transfers were settled.

    Raises:
        The client's errors when the sender cannot be asked.
    """
    ops = Operations(session.binding, api)
    named = [{**t, "status": ops.status(t)} for t in transfers]  # the binding's names
    plan = [item for item in session.ledger.plan(named)
            if not (leave_running and item.action == "cancel")]
    deadline = time.monotonic() + grace_s
    for item in plan:
        if item.action == "cancel":
            final = _finish_or_cancel(ops, int(item.transfer_id), session.settings.timeout,
                                      grace_s=deadline - time.monotonic())
            item = next(iter(session.ledger.plan([final])), item)
            if item.action == "cancel" or ops.status(final) == "cancelled":
                if session.ledger.settle(item.intent.dest_path):
                    session.recorder.note_transfer_id(item.transfer_id)
                    session.recorder.note_cancelled_at_stop(
                        item.intent.dest_path, started=item.intent.started,
                        scenario=item.intent.scenario, acked_bytes=acked_bytes(final),
                        ended=_end_time(final))
                continue
        fire(item)
    return len(plan)


def _finish_or_cancel(ops: Operations, transfer_id: int, timeout: float, *,
                      grace_s: float = 0.0) -> dict[str, Any]:
    """Wait up to ``grace_s`` for a transfer to finish, else cancel it (when the client can);
    return it once final, or as it is ``timeout`` seconds after the cancel."""
    if grace_s > 0:
        final = ops.wait_transfer(transfer_id, timeout=grace_s)
        if ops.status(final) in ops.final_statuses:
            return final
    if not ops.has("cancel_transfer"):
        return ops.get_transfer(transfer_id)
    try:
        ops.refused(lambda: ops.cancel_transfer(transfer_id))  # refused: it finished meanwhile
    except BindingMissing:  # no refusal class known: the transfer's own record decides
        _cancel_unmapped(ops, transfer_id)
    return ops.wait_transfer(transfer_id, timeout=timeout)


def _cancel_unmapped(ops: Operations, transfer_id: int) -> None:
    """Cancel with a client whose refusal classes the binding does not know: whatever the
    client raises that is not a lost connection may be "it finished meanwhile", which the
    transfer's record (read next) tells apart."""
    try:
        ops.cancel_transfer(transfer_id)
    except (TransportError, ProtocolError):
        raise
    except Exception:  # an unmapped refusal; the record read after this decides
        return


def acked_bytes(transfer: Mapping[str, Any]) -> int | None:
    """Bytes the receiver had acknowledged of a transfer: ``totalBytes`` times the share of
    its blocks acknowledged (``blocksAcked / totalBlocks``, Transfer structure page; exact to
    a block per file). None when the server does not give the three counts."""
    try:
        total, blocks = int(transfer["totalBytes"]), int(transfer["totalBlocks"])
        acked = int(transfer["blocksAcked"])
    except (KeyError, TypeError, ValueError):
        return None
    if blocks <= 0 or total < 0 or acked < 0:
        return None
    return min(total, total * acked // blocks)


def _end_time(transfer: Mapping[str, Any]) -> float:
    """Epoch second a cancelled transfer stopped: the server's ``endTime`` (microseconds)
    when it gives one, else now (it was just cancelled, or left running)."""
    end_us = transfer.get("endTime")
    if isinstance(end_us, int | float) and end_us > 0:
        return float(end_us) / 1e6
    return time.time()
