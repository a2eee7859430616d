"""A source symlink whose target does not exist, sent beside a regular file.

The matrix's own sources are all readable (a manifest that fails would take every case of its
batch down), so the dangling link gets its own small transfer here. What the oracle says:
under IGNORE the link is a symbolic link like any other: not copied (DOC, rule
``symlink/ignore/not-copied``); under FOLLOW there is nothing to copy and the vendor is silent
(OURS, rule ``symlink/follow/dangling-not-sent``: not sent, the rest goes on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jetstream_qa.conformance_core import ops_steps
from jetstream_qa.conformance_core.matrix.judge import observe, typed
from jetstream_qa.conformance_core.oracle import (
    DestPreState,
    ExpectedOutcome,
    PathKind,
    SourceEntry,
    SourceSymlink,
    expected_outcome,
)

__all__ = ["LINK", "REGULAR", "DanglingRun", "differences", "expected_for",
           "send_with_dangling_link"]

LINK = "dangling.lnk"
REGULAR = "beside.dat"
_SIZE = 1234
_MTIME_US = 1_577_836_800_000_000


@dataclass(frozen=True, slots=True)
class DanglingRun:
    """What the server did: the manifest's and the transfer's final answers, and what
    the destination holds at the link's and at the regular file's names."""

    manifest_status: object
    manifest_error: object
    transfer_status: object = None
    transfer_error: object = None
    link_at_dest: str = ""
    regular_at_dest: str = ""

    def describe(self) -> str:
        """One line of evidence, values typed."""
        return (f"manifest status {typed(self.manifest_status)} (errorMessage "
                f"{typed(self.manifest_error)}); transfer status {typed(self.transfer_status)} "
                f"(errorMessage {typed(self.transfer_error)}); at {LINK}: "
                f"{self.link_at_dest or 'not reached'}; at {REGULAR}: "
                f"{self.regular_at_dest or 'not reached'}")


def expected_for(symlink_mode: int) -> tuple[ExpectedOutcome, ExpectedOutcome]:
    """The oracle's outcomes for the link and the regular file (READ_WRITE, ALWAYS)."""
    regular = SourceEntry(REGULAR, _SIZE, _MTIME_US)

    def of(source: SourceEntry | SourceSymlink) -> ExpectedOutcome:
        return expected_outcome(flags=3, overwrite_mode=4, cipher=0,
                                symlink_mode=symlink_mode, source=source, pre=DestPreState())

    return of(SourceSymlink(LINK, None)), of(regular)


def send_with_dangling_link(ops: Any, target: Any, scratch: Any, *, symlink: str,
                            timeout: float) -> DanglingRun:
    """Stage the link and the file, build a manifest in symbolic-link mode ``symlink``
    ('follow' or 'ignore', through the binding ``ops``), and when it completes transfer it
    (READ_WRITE, default overwrite mode)."""
    source = scratch.require_source()
    (source / REGULAR).write_bytes(b"r" * _SIZE)
    (source / LINK).symlink_to("no-such-file")
    mappings = {f"/{n}": scratch.server_path(source / n) for n in (LINK, REGULAR)}
    made = ops.create_manifest(mappings, symlink=symlink)
    manifest = ops.wait_manifest(made["manifestId"], timeout=timeout)
    run = DanglingRun(manifest.get("status"), manifest.get("errorMessage"))
    if manifest.get("status") != "complete":
        return run
    destination = ops_steps.destination_to_receiver(ops, target)
    transfer = ops.create_transfer(destination["destinationId"], made["manifestId"],
                                   destination_path=scratch.dest_path)
    final = ops.wait_transfer(transfer["transferId"], timeout=timeout)
    dest = scratch.require_dest()
    link, regular = observe(dest / LINK), observe(dest / REGULAR)
    return DanglingRun(run.manifest_status, run.manifest_error, ops.status(final),
                       final.get("errorMessage"), link.describe(), regular.describe())


def differences(run: DanglingRun, symlink_mode: int) -> list[str]:
    """Where ``run`` differs from the oracle's outcomes (empty when it agrees)."""
    link, regular = expected_for(symlink_mode)
    out = []
    if run.manifest_status != "complete":
        out.append(f"the manifest did not complete (oracle: {link.result.value} "
                   f"'{link.reason}', rules {', '.join(link.rules)})")
        return out
    if run.link_at_dest != str(PathKind.ABSENT):
        out.append(f"{LINK} appeared at the destination ({run.link_at_dest})")
    if not run.regular_at_dest.startswith(f"{PathKind.FILE} size {typed(_SIZE)}"):
        out.append(f"{REGULAR} expected {regular.result.value} ({_SIZE} B), got "
                   f"{run.regular_at_dest}")
    return out
