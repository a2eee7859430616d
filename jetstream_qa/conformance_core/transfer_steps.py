"""Shared steps of the transfer suites (``test_transfers.py``, ``test_transfer_files.py``).

Small helpers over the documented API: write a local source file, send a mapping and wait for
the transfer to finish, start a rate-limited transfer that stays observable for a couple of
seconds, wait until one is really sending.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jetstream_qa import expect
from jetstream_qa.conformance_core import steps
from jetstream_qa.conformance_core.client_params import missing_parameters
from jetstream_qa.conformance_core.polling import poll

__all__ = ["FINAL", "SLOW_RATE", "complete", "finish", "method_or_not_applicable",
           "send", "sending", "slow_transfer", "write_file"]

SLOW_RATE = 1_000_000
"""bit/s: 256 KiB take about two seconds, long enough to observe a running transfer."""
FINAL = ("complete", "error", "cancelled")


def write_file(directory: Path, name: str, size: int, *, mode: int = 0o644) -> Path:
    """Random bytes of ``size`` at ``directory/name`` with ``mode``."""
    path = directory / name
    path.write_bytes(os.urandom(size))
    path.chmod(mode)
    return path


def send(api: Any, target: Any, scratch: Any, settings: Any, mappings: Mapping[str, str],
         **options: Any) -> dict[str, Any]:
    """Manifest + destination + transfer; returns the transfer once it is finished."""
    transfer = steps.start_transfer(api, target, mappings, destination_path=scratch.dest_path,
                                    timeout=settings.timeout, **options)
    return finish(api, transfer["transferId"], settings)


def finish(api: Any, transfer_id: Any, settings: Any, *, slack: float = 30.0) -> dict[str, Any]:
    """Wait for any final status; returns the Transfer."""
    return expect.eventually("the transfer finishes", lambda: api.send.getTransfer(transfer_id),
                             lambda t: t.get("status") in FINAL, expected="a final status",
                             timeout=settings.timeout + slack, api=api)


def complete(api: Any, transfer_id: Any, settings: Any) -> dict[str, Any]:
    """Wait for status 'complete' (fails on another final status)."""
    return expect.transfer_status(api, transfer_id, "complete",
                                  timeout=settings.timeout + 30.0)


def slow_transfer(api: Any, target: Any, scratch: Any, settings: Any, size: int = 256 * 1024,
                  *, name: str = "slow.bin", priority: int | None = None,
                  destination: dict[str, Any] | None = None) -> tuple[Path, Any, Any]:
    """A rate-limited transfer of ``size`` random bytes; returns (source, destination,
    transfer) right after ``createTransfer``."""
    source = write_file(scratch.require_source(), name, size)
    manifest = steps.complete_manifest(api, {f"/{name}": scratch.server_path(source)},
                                       timeout=settings.timeout)
    destination = destination or steps.destination_to_receiver(api, target,
                                                                sendRateMax=SLOW_RATE)
    extra: dict[str, Any] = {} if priority is None else {"priority": priority}
    create = api.send.createTransfer
    if not missing_parameters(create, "d", "m", destinationPath="", sendRateMax=1, **extra):
        extra["sendRateMax"] = SLOW_RATE  # else the destination's rate applies (set above)
    transfer = create(destination["destinationId"], manifest["manifestId"],
                      destinationPath=scratch.dest_path, **extra)
    return source, destination, transfer


def sending(api: Any, transfer_id: Any, settings: Any) -> dict[str, Any]:
    """Wait until the transfer is running and has sent something."""
    return expect.eventually(
        "a queued transfer starts sending", lambda: api.send.getTransfer(transfer_id),
        lambda t: t.get("status") == "sending" and (t.get("blocksSent") or 0) > 0,
        expected="status 'sending' with blocksSent > 0", timeout=settings.timeout, api=api)


def method_or_not_applicable(api: Any, namespace: str, name: str,
                             js_not_applicable: Callable[[str], None]) -> Any:
    """``api.<namespace>.<name>``, or NOT_APPLICABLE when the client lacks it."""
    method = getattr(getattr(api, namespace), name, None)
    if method is None:
        js_not_applicable(f"the client has no {namespace}.{name} (not in the vendor docs)")
    return method


def running_slow_transfer(api: Any, target: Any, scratch: Any,
                          settings: Any) -> tuple[Path, Any]:
    """A rate-capped transfer that has started sending; returns (source file, transferId)."""
    source, _, transfer = slow_transfer(api, target, scratch, settings)
    tid = transfer["transferId"]
    sending(api, tid, settings)
    return source, tid


def sends_nothing_more(api: Any, transfer_id: Any, requirement: str, since: Any, *,
                       watch: float = 0.6) -> None:
    """Fail ``requirement`` if ``blocksSent`` moves from ``since`` within ``watch`` seconds."""
    moved = poll(lambda: api.send.getTransfer(transfer_id),
                 lambda t: t.get("blocksSent") != since, timeout=watch)
    expect.that(requirement, not moved.satisfied, expected=f"blocksSent {since}",
                actual=f"blocksSent {moved.value.get('blocksSent')}", api=api)
