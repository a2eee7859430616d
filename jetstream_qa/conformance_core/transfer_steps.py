"""Shared steps of the transfer suites (``test_transfers.py``, ``test_transfer_files.py``),
made through the binding (``js_ops(api)``) so they work with any client.

Small helpers: write a local source file, send a mapping and wait for the transfer to end
(the client's blocking wait when bound, else polling ``getTransfer``), start a rate-limited
transfer that stays observable for a couple of seconds, wait until one is really sending.
Statuses are compared by the binding's names: 'pending', 'complete', 'error' are the
vendor's; 'running', 'suspended', 'cancelled' are spelled by the binding file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jetstream_qa import expect
from jetstream_qa.binding import Operations
from jetstream_qa.conformance_core.ops_steps import (
    complete_manifest,
    destination_to_receiver,
    start_transfer,
)
from jetstream_qa.conformance_core.polling import poll

__all__ = ["SLOW_RATE", "complete", "finish", "running_slow_transfer", "send", "sending",
           "sends_nothing_more", "slow_transfer", "write_file"]

SLOW_RATE = 1_000_000
"""Destination sendRateMax: 256 KiB take about two seconds at 1 Mbit/s (the reference's
unit is bit/s; S14 shows --sendRateMax without a unit), long enough to observe a running
transfer."""


def write_file(directory: Path, name: str, size: int, *, mode: int = 0o644) -> Path:
    """Random bytes of ``size`` at ``directory/name`` with ``mode``."""
    path = directory / name
    path.write_bytes(os.urandom(size))
    path.chmod(mode)
    return path


def send(ops: Operations, target: Any, scratch: Any, settings: Any, mappings: Mapping[str, str],
         **options: Any) -> dict[str, Any]:
    """Manifest + destination + transfer; returns the transfer once it is finished."""
    transfer = start_transfer(ops, target, mappings, destination_path=scratch.dest_path,
                              timeout=settings.timeout, **options)
    return finish(ops, transfer["transferId"], settings)


def finish(ops: Operations, transfer_id: Any, settings: Any, *,
           slack: float = 30.0) -> dict[str, Any]:
    """Wait for a final status (complete, error, and cancelled when bound); the Transfer."""
    final = ops.wait_transfer(transfer_id, timeout=settings.timeout + slack)
    expect.that("the transfer finishes", ops.status(final) in ops.final_statuses,
                expected=f"a final status ({', '.join(sorted(ops.final_statuses))})",
                actual=f"status {final.get('status')!r} after {settings.timeout + slack:g} s",
                api=ops.api)
    return final


def complete(ops: Any, transfer_id: Any, settings: Any) -> dict[str, Any]:
    """Wait for the transfer to end and require status 'complete'."""
    final = finish(ops, transfer_id, settings)
    expect.equal("the transfer completes", "complete", ops.status(final), api=ops.api)
    return final


def slow_transfer(ops: Any, target: Any, scratch: Any, settings: Any, size: int = 256 * 1024,
                  *, name: str = "slow.bin", priority: int | None = None,
                  destination: dict[str, Any] | None = None) -> tuple[Path, Any, Any]:
    """A transfer of ``size`` random bytes through a destination limited to SLOW_RATE
    (``createDestination --sendRateMax``, S14); returns (source, destination, transfer)."""
    source = write_file(scratch.require_source(), name, size)
    manifest = complete_manifest(ops, {f"/{name}": scratch.server_path(source)},
                                 timeout=settings.timeout)
    destination = destination or destination_to_receiver(ops, target, send_rate_max=SLOW_RATE)
    transfer = ops.create_transfer(destination["destinationId"], manifest["manifestId"],
                                   destination_path=scratch.dest_path, priority=priority)
    return source, destination, transfer


def sending(ops: Any, transfer_id: Any, settings: Any) -> dict[str, Any]:
    """Wait until the transfer has left 'pending', is not final, and has sent blocks."""
    finals = ops.final_statuses
    return expect.eventually(
        "a queued transfer starts sending", lambda: ops.get_transfer(transfer_id),
        lambda t: ops.status(t) not in ("pending", *finals) and (t.get("blocksSent") or 0) > 0,
        expected="running with blocksSent > 0", timeout=settings.timeout, api=ops.api)


def running_slow_transfer(ops: Any, target: Any, scratch: Any,
                          settings: Any) -> tuple[Path, Any]:
    """A rate-capped transfer that has started sending; returns (source file, transferId)."""
    source, _, transfer = slow_transfer(ops, target, scratch, settings)
    tid = transfer["transferId"]
    sending(ops, tid, settings)
    return source, tid


def sends_nothing_more(ops: Any, transfer_id: Any, requirement: str, since: Any, *,
                       watch: float = 0.6) -> None:
    """Fail ``requirement`` if ``blocksSent`` moves from ``since`` within ``watch`` seconds."""
    moved = poll(lambda: ops.get_transfer(transfer_id),
                 lambda t: t.get("blocksSent") != since, timeout=watch)
    expect.that(requirement, not moved.satisfied, expected=f"blocksSent {since}",
                actual=f"blocksSent {moved.value.get('blocksSent')}", api=ops.api)
