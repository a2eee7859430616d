"""Calling ``createTransfer`` on a manifest that is provably still ``pending``.

Theory of operation
-------------------
The vendor text (api.md 3.1, "Flow of a transfer", from the Manifest page S2): "Only a
complete manifest can be used by `createTransfer()`"; S2's status column: "`pending` (still
processing, not yet usable)". Judging it means calling ``createTransfer`` while the manifest
is pending, and a server that builds a small manifest in milliseconds makes that a race. The
harness does not slow the server down; it makes the race *provable* instead:

1. it stages a directory of N empty files (the server lists and stats every one of them);
2. ``createManifest`` on it, then ``getManifest`` right before ``createTransfer`` and right
   after its answer;
3. a manifest never goes back to ``pending`` (S2: pending -> complete | error), so one still
   ``pending`` after the answer was pending during the whole call: the attempt is
   *decisive*, and the answer (refused or accepted) is the server's behaviour on a pending
   manifest;
4. any other attempt (complete before the call, or complete by the time it was answered)
   proves nothing: the harness waits for that manifest to finish and tries again with four
   times as many files, up to :data:`MAX_FILES` and the caller's time budget.

No decisive attempt within the bounds is NOT_APPLICABLE naming the sizes tried (the server
was too fast to catch pending), never FAIL and never INCONCLUSIVE. The transfer of an
attempt uses TRANSFER_FLAG_NONE (nothing read or written); one that was accepted is
cancelled when the binding can cancel.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jetstream_qa.binding import Operations, Refusal
from jetstream_qa.conformance_core.failures import NotApplicableCase
from jetstream_qa.conformance_core.ops_steps import destination_to_receiver
from jetstream_qa.errors import BindingMissing

__all__ = ["FIRST_FILES", "GROWTH", "MAX_FILES", "Attempt", "catch_pending"]

FIRST_FILES = 4_096
"""Files of the first attempt. Measured against the embedded pair (10 runs per size, bundled
client): 64 files were decisive at once 2 times in 10, 256 files 2 in 10, 1,024 files 10 in
10 (the reference server lists 8,192 empty files in ~0.08 s); the first size is four times
the smallest always decisive, and a slower machine only grows the set."""
GROWTH = 4
MAX_FILES = 262_144
"""The last size tried (about 6 s to stage locally); past it the server is too fast to catch."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: the manifest's size and status right before and right after createTransfer.

    ``refusal`` is None when createTransfer was not called (the manifest was no longer
    pending right before it).
    """

    files: int
    manifest_id: str
    before: str | None
    after: str | None
    refusal: Refusal | None

    @property
    def decisive(self) -> bool:
        """True when the manifest was pending during the whole createTransfer call."""
        return self.refusal is not None and self.after == "pending"

    def describe(self) -> str:
        """One line: size, statuses around the call, and its outcome."""
        if self.refusal is None:
            return f"{self.files} files: {self.before!r} before the call (not made)"
        return (f"{self.files} files: {self.before!r} before, {self.after!r} after; "
                f"createTransfer {self.refusal.describe()}")


def catch_pending(ops: Operations, target: Any, source: Path, server_path: Callable[[Path], str],
                  *, dest_path: str, flags: int, timeout: float, budget_s: float
                  ) -> list[Attempt]:
    """Attempts (see the module docstring) until one is decisive; it is the last returned.

    Args:
        ops: the binding's operations on the sender.
        target: the run's target (its receiver's data address is the destination).
        source: a fresh local directory the sender reads (the case's scratch source).
        server_path: the sender's name of a local path under ``source``.
        dest_path: keyword-only; the transfers' destinationPath.
        flags: keyword-only; the client's TRANSFER_FLAG_NONE value.
        timeout: keyword-only; bound on each manifest's build after its attempt.
        budget_s: keyword-only; no new attempt starts after this many seconds.

    Raises:
        NotApplicableCase: no attempt was decisive within :data:`MAX_FILES` and the budget.
        BindingMissing: an operation the attempt needs is not bound.
    """
    deadline = time.monotonic() + budget_s
    destination = destination_to_receiver(ops, target)["destinationId"]
    tree = source / "many"
    tree.mkdir()
    attempts: list[Attempt] = []
    files = FIRST_FILES
    while True:
        _stage(tree, files)
        attempt = _attempt(ops, destination, {"/many": server_path(tree)}, files,
                           dest_path=dest_path, flags=flags, timeout=timeout)
        attempts.append(attempt)
        if attempt.decisive:
            return attempts
        if files >= MAX_FILES or time.monotonic() >= deadline:
            raise NotApplicableCase(
                "could not catch a manifest pending at createTransfer (the server built "
                "each one first): " + "; ".join(a.describe() for a in attempts))
        files *= GROWTH


def _stage(tree: Path, files: int) -> None:
    """Grow ``tree`` to ``files`` empty files (names sorted like their numbers)."""
    for index in range(sum(1 for _ in tree.iterdir()), files):
        (tree / f"f{index:07d}").touch()


def _attempt(ops: Operations, destination: str, mappings: dict[str, str], files: int, *,
             dest_path: str, flags: int, timeout: float) -> Attempt:
    manifest_id = str(ops.create_manifest(mappings)["manifestId"])
    before = _status(ops, manifest_id)
    refusal = after = None
    if before == "pending":
        refusal = ops.refused(lambda: ops.create_transfer(
            destination, manifest_id, destination_path=dest_path, flags=flags))
        after = _status(ops, manifest_id)
    ops.wait_manifest(manifest_id, timeout=timeout)  # the next attempt starts on a quiet server
    if refusal is not None and not refusal.refused:
        _cancel(ops, refusal.result)
    return Attempt(files, manifest_id, before, after, refusal)


def _status(ops: Operations, manifest_id: str) -> str | None:
    status = dict(ops.call("get_manifest", manifest_id)).get("status")
    return status if isinstance(status, str) else None


def _cancel(ops: Operations, transfer: Any) -> None:
    """Cancel an accepted transfer when the binding can (it reads and writes nothing)."""
    transfer_id = transfer.get("transferId") if isinstance(transfer, dict) else None
    if transfer_id is None or not ops.has("cancel_transfer"):
        return
    with contextlib.suppress(BindingMissing):  # no refusal class known: leave it running
        ops.refused(lambda: ops.cancel_transfer(transfer_id))  # refused: it ended meanwhile
