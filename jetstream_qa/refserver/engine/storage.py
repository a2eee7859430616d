"""Receiver-side storage: the server's decisions (``decide.py``) carried out on a file system.

Theory of operation
-------------------
:meth:`ReceiveStorage.begin` validates every path of a transfer before touching anything
(``paths.py``: ``..``, NUL, over-long names, planted symlinks leading outside the root raise
:class:`~jetstream_qa.errors.InvalidArgument`), looks at each target with ``lstat`` and
decides each entry with :func:`~jetstream_qa.refserver.engine.decide.decide_entry`. The
returned :class:`ReceivePlan` then takes data: files open lazily on their first
:meth:`~ReceivePlan.write`, at most ``max_open`` descriptors at once (least recently used are
closed), each sized with ``ftruncate`` on first open, written with one ``os.pwrite`` per call.
:meth:`~ReceivePlan.finish` hands each written entry to ``finish.py`` (mode bits, mtime,
``.jetbak``, rename).

Where files land (Sandboxing / "where do transfers go" page): ``/<sandbox>/<destinationPath>/
<target path>``; ``root`` is the sandbox and absolute paths count from it.

Resume (``begin(resume=True)``): partfile modes do not touch the target before ``finish()``,
so their decisions are made again from the same target, and the partfile is reopened without
truncation. An in-place decision is recorded in ``NAME.jetplan`` before its first byte
(``planfile.py``) and a resumed begin() decides from that record. OURS, ``docs/semantics.md``.

Seeded faults (``jetstream_qa.refserver.faults``; ``faults=`` of :class:`ReceiveStorage`) sit
in the decision (``decide.py``), the finishing step (``finish.py``), and here: '..' climbing
out of the root (write-outside-root) and the source mtime applied when a file is first
opened instead of after its data (mtime-set-before-data).

Confinement: begin() refuses links leading outside (``paths.py``) and fails an entry whose
sidecar (``.jetpart``, ``.jetplan``, ``.jetbak``) is a symlink or not a regular file. Every
write afterwards goes through descriptors reached by an ``openat``-style walk that never
follows a link out of the root, with ``O_NOFOLLOW`` on the last component
(``confined.py``), so a link planted or swapped in after begin() fails that entry instead of
redirecting it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from jetstream_qa.constants import OverwriteMode
from jetstream_qa.errors import InvalidArgument, UsageError
from jetstream_qa.refserver.engine.confined import ConfinedRoot
from jetstream_qa.refserver.engine.decide import Entry, Existing, Method, Result, decide_entry
from jetstream_qa.refserver.engine.finish import finish_directory, finish_file
from jetstream_qa.refserver.engine.paths import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    PathChecker,
    climb,
    split_path,
)
from jetstream_qa.refserver.engine.planfile import plan_record, recorded_existing, write_plan
from jetstream_qa.refserver.engine.write_plan import EntryState, ReceivePlan
from jetstream_qa.refserver.faults import FaultSet

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "ReceivePlan", "ReceiveStorage"]

_NO_FAULTS = FaultSet()


class ReceiveStorage:
    """The file-system side of a receiving server, rooted at its sandbox ``root``."""

    def __init__(self, root: Path, *, max_open: int = 64,
                 faults: FaultSet | frozenset[str] = _NO_FAULTS) -> None:
        """Args: root: the sandbox (created if missing); max_open: descriptor budget (>= 1);
        faults: deliberate defects to switch on (self-tests of the suites only), a FaultSet
        or fault names. Raises ConfigurationError for an unknown fault name."""
        if max_open < 1:
            raise UsageError(f"max_open must be >= 1, not {max_open}")
        Path(root).mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(root)
        self.max_open = max_open
        self.faults = faults if isinstance(faults, FaultSet) else FaultSet(faults)

    def begin(self, entries: Sequence[Entry], *, destination_path: str | None,
              flags: int, overwrite_mode: int, resume: bool = False) -> ReceivePlan:
        """Validate every path, look at each target and decide each entry; touches no file.

        Raises:
            InvalidArgument: a path escapes the root ('..', a symlink leading outside), holds
                a NUL byte or an over-long name, names no file, or two entries share a path;
                or the flags / overwrite mode are out of range.
        """
        if flags not in range(16) or overwrite_mode not in tuple(OverwriteMode):
            raise InvalidArgument(
                f"invalid transfer flags {flags!r} or overwrite mode {overwrite_mode!r}",
                details={"flags": repr(flags), "overwriteMode": repr(overwrite_mode)})
        root = self.root
        if self.faults.active("write-outside-root"):  # fault: '..' climbs, is not refused
            root, destination_path = climb(root, destination_path or ""), ""
        located = self._locate(root, entries, destination_path or "")
        checker, states = PathChecker(root), []
        for entry, parts, existing, problem in located:
            if resume:
                existing = _recorded(root, parts, entry, flags, overwrite_mode) or existing
            decision = decide_entry(flags, overwrite_mode, entry, existing, faults=self.faults)
            if decision.result is not Result.WRITTEN:
                problem = None  # nothing will be written there: the parent does not matter
            elif problem is None:
                problem = checker.sidecar_problem(parts, decision)
            states.append(EntryState(entry, parts, decision, existing, error=problem))
        hooks = _Hooks(flags, overwrite_mode, self.faults)
        return ReceivePlan(root, states, hooks, resume=resume, max_open=self.max_open)

    @staticmethod
    def _locate(root: str, entries: Sequence[Entry], destination_path: str
                ) -> list[tuple[Entry, tuple[str, ...], Existing, str | None]]:
        base = split_path(destination_path, "destinationPath", allow_empty=True)
        checker = PathChecker(root)
        seen: set[tuple[str, ...]] = set()
        located: list[tuple[Entry, tuple[str, ...], Existing, str | None]] = []
        for entry in entries:
            parts = base + split_path(entry.dest_path, "destPath", allow_empty=False)
            if len(os.fsencode(os.path.join(*parts))) > MAX_PATH_BYTES:
                raise InvalidArgument("destinationPath + destPath is over-long",
                                      details={"destPath": entry.dest_path[:200]})
            if parts in seen:
                raise InvalidArgument(f"two entries write {entry.dest_path!r}",
                                      details={"destPath": entry.dest_path})
            seen.add(parts)
            existing, problem = checker.existing(parts)
            located.append((entry, parts, existing, problem))
        return located


def _recorded(root: str, parts: tuple[str, ...], entry: Entry, flags: int,
              mode: int) -> Existing | None:
    """The pre-state an earlier run recorded in the entry's ``.jetplan`` (None: none)."""
    try:
        dir_fd = ConfinedRoot(root).parent(parts, create=False)
    except OSError:
        return None
    try:
        return recorded_existing(dir_fd, parts[-1], entry, flags, mode)
    finally:
        os.close(dir_fd)


class _Hooks:
    """What the write plan asks of storage when a file is first opened and finished."""

    def __init__(self, flags: int, mode: int, faults: FaultSet) -> None:
        self.flags, self.mode, self.faults = flags, mode, faults

    def before_first_open(self, state: EntryState, dir_fd: int) -> None:
        """Before an entry's file is first opened (the target not yet created or changed):
        record an in-place decision (``planfile.py``) in its directory ``dir_fd``."""
        if state.decision.method is Method.IN_PLACE:
            write_plan(dir_fd, state.name,
                       plan_record(state.entry, self.flags, self.mode, state.existing))

    def first_open(self, state: EntryState, fd: int) -> None:
        """Right after an entry's file is first opened, before it is sized."""
        if state.decision.source_mtime and self.faults.active("mtime-set-before-data"):
            ns = state.entry.mtime_us * 1000  # fault: the data written next moves it again
            os.utime(fd, ns=(ns, ns))

    def finish(self, state: EntryState, fd: int | None, dir_fd: int) -> None:
        """Apply a written entry's decision (``finish.py``) in its parent ``dir_fd``.
        Raises OSError."""
        if state.decision.method is Method.MKDIR:
            finish_directory(state.finishing(dir_fd), self.faults)
        else:
            finish_file(state.finishing(dir_fd), fd, self.faults)

    def skip_creating(self, state: EntryState) -> bool:
        """Fault zero-byte-not-created: a file no data reached is never created."""
        return state.entry.size == 0 and self.faults.active("zero-byte-not-created")

