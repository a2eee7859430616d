"""Receiver-side storage: applies :mod:`jetstream_qa.semantics` to a real file system.

Theory of operation
-------------------
:meth:`ReceiveStorage.begin` validates every path of a transfer before touching anything
(``..``, NUL, over-long names, planted symlinks leading outside the root raise
:class:`~jetstream_qa.errors.InvalidArgument`), observes each target's pre-state with
``lstat`` and asks the oracle (:func:`~jetstream_qa.semantics.expected_outcome`) what to do.
The returned :class:`ReceivePlan` then takes data: files open lazily on their first
:meth:`~ReceivePlan.write`, at most ``max_open`` descriptors at once (least recently used are
closed), each sized with ``ftruncate`` on first open, written with one ``os.pwrite`` per call.
:meth:`~ReceivePlan.finish` sets the executable bit and mtime, makes the ``.jetbak`` backup
and renames partfiles into place.

Where files land (Sandboxing / "where do transfers go" page): ``/<sandbox>/<destinationPath>/
<target path>``; ``root`` is the sandbox and absolute paths count from it.

Resume (``begin(resume=True)``): partfile modes do not touch the target before ``finish()``,
so their decisions are recomputed from the same pre-state, and the partfile is reopened
without truncation. An in-place write changes its target, so before the first in-place byte
the receiver writes ``NAME.jetplan`` (JSON: the entry and the pre-state it saw); a resumed
begin() decides from that recorded pre-state; finish() removes it. OURS, ``docs/semantics.md``.

Fault injection (``jetstream_qa.refserver.faults``; ``faults=`` of :class:`ReceiveStorage`):
the storage faults are asked in two places only. :func:`_fault_inputs` distorts what the
oracle is asked (never-overwrites, only-newer-inverted, same-size-overwrites-any) and
:meth:`ReceiveStorage.begin` lets '..' climb out of the root (write-outside-root); the
finishing step skips the mtime, the ``.jetbak`` or the kept partfile (ignore-write-mtime,
mtime-off-by-one, no-jetbak, no-partfile). With no fault each check is a set lookup.

Known debt: the symlink checks run at begin() and again (``realpath`` of the parent) when a
file is opened, and targets open with ``O_NOFOLLOW``; a link swapped in between those checks
and ``makedirs`` could still redirect a directory creation (no ``openat`` walk).
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode, TransferFlag
from jetstream_qa.errors import InvalidArgument, UsageError
from jetstream_qa.refserver.faults import FaultSet
from jetstream_qa.semantics import (
    PLANFILE_SUFFIX,
    DestPreState,
    FileResult,
    MtimeRule,
    Outcome,
    PreKind,
    SourceEntry,
    WriteMethod,
    expected_outcome,
    jetbak_name,
    partfile_name,
)

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "ReceivePlan", "ReceiveStorage"]

MAX_NAME_BYTES = 255 - len(PLANFILE_SUFFIX)
"""NAME_MAX minus room for our ``.jetpart``/``.jetbak``/``.jetplan`` sidecars."""
MAX_PATH_BYTES = 4000
"""Longest relative path accepted (PATH_MAX 4096 minus room for the root)."""
FILE_MODE = {True: 0o755, False: 0o644}
"""OURS: written files get rwxr-xr-x when ``executable`` else rw-r--r-- (no umask)."""
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
_NO_FAULTS = FaultSet()


def _parts(path: str, what: str, *, allow_empty: bool) -> tuple[str, ...]:
    """Split a transfer path into safe components (absolute paths count from the root)."""
    if not isinstance(path, str):
        raise InvalidArgument(f"{what} must be a string", details={"path": repr(path)})
    if "\x00" in path:
        raise InvalidArgument(f"{what} contains a NUL byte", details={"path": repr(path)})
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidArgument(f"{what} {path!r} contains '..'", details={"path": path})
    if not parts and not allow_empty:
        raise InvalidArgument(f"{what} {path!r} names no file", details={"path": path})
    try:
        sizes = [len(os.fsencode(p)) for p in parts]
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not encodable", details={"path": repr(path)}) from None
    if any(n > MAX_NAME_BYTES for n in sizes) or sum(sizes) + len(sizes) > MAX_PATH_BYTES:
        raise InvalidArgument(f"{what} has an over-long name", details={"path": path[:200]})
    return parts


@dataclass(slots=True)
class _Entry:
    """Mutable per-entry state of a plan."""

    entry: SourceEntry
    target: str
    outcome: Outcome
    pre: DestPreState
    error: str | None = None
    opened: bool = False

    @property
    def active(self) -> bool:
        return self.error is None and self.outcome.wants_data

    @property
    def write_path(self) -> str:
        if self.outcome.method is WriteMethod.IN_PLACE:
            return self.target
        return partfile_name(self.target)


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

    def begin(self, entries: Sequence[SourceEntry], *, destination_path: str | None,
              flags: int, overwrite_mode: int, resume: bool = False) -> ReceivePlan:
        """Validate every path, observe pre-states and decide each entry; touches no file.

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
            root, destination_path = _climb(root, destination_path or ""), ""
        base = _parts(destination_path or "", "destinationPath", allow_empty=True)
        checker = _PathChecker(root)
        seen: set[tuple[str, ...]] = set()
        located: list[tuple[SourceEntry, str, DestPreState, str | None]] = []
        for entry in entries:
            parts = base + _parts(entry.dest_path, "destPath", allow_empty=False)
            if len(os.fsencode(os.path.join(*parts))) > MAX_PATH_BYTES:
                raise InvalidArgument("destinationPath + destPath is over-long",
                                      details={"destPath": entry.dest_path[:200]})
            if parts in seen:
                raise InvalidArgument(f"two entries write {entry.dest_path!r}",
                                      details={"destPath": entry.dest_path})
            seen.add(parts)
            pre, problem = checker.pre_state(parts)
            located.append((entry, os.path.join(root, *parts), pre, problem))
        states = []
        for entry, target, pre, problem in located:
            if resume:
                pre = _recorded_pre(target, entry, flags, overwrite_mode) or pre
            asked_pre, asked_mode = _fault_inputs(self.faults, entry, pre, flags,
                                                  overwrite_mode)
            outcome = expected_outcome(flags=flags, overwrite_mode=asked_mode,
                                       cipher=MinCipher.NONE, symlink_mode=SymlinkMode.FOLLOW,
                                       source=entry, pre=asked_pre)
            if outcome.result is not FileResult.WRITTEN:
                problem = None  # nothing will be written there: the parent does not matter
            states.append(_Entry(entry, target, outcome, pre, error=problem))
        return ReceivePlan(root, states, flags=flags, overwrite_mode=overwrite_mode,
                           resume=resume, max_open=self.max_open, faults=self.faults)


def _climb(root: str, destination_path: str) -> str:
    """Fault write-outside-root: ``root/destination_path`` with '..' resolved, not refused."""
    return os.path.normpath(os.path.join(root, destination_path.lstrip("/")))


def _fault_inputs(faults: FaultSet, entry: SourceEntry, pre: DestPreState, flags: int,
                  mode: int) -> tuple[DestPreState, int]:
    """What a faulty receiver asks the oracle: (pre-state, overwrite mode); unchanged when
    no fault is on (``jetstream_qa.refserver.faults``)."""
    if not faults:
        return pre, mode
    if faults.active("never-overwrites") and mode == OverwriteMode.NEVER:
        mode = OverwriteMode.ALWAYS  # fault: OVERWRITE_NEVER replaces the existing file
    if pre.kind is PreKind.FILE:
        if faults.active("only-newer-inverted") and flags & TransferFlag.WRITE_ONLY_NEWER:
            # fault: an older copy looks newer and a newer one older (mirrored mtime)
            pre = replace(pre, mtime_us=2 * entry.mtime_us - pre.mtime_us)
        if faults.active("same-size-overwrites-any") \
                and mode == OverwriteMode.IN_PLACE_SAME_SIZE:
            pre = replace(pre, size=entry.size)  # fault: any size counts as the same size
    return pre, mode


class _PathChecker:
    """lstat walk below the root with a cache of directories already proven safe."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.safe_dirs: set[tuple[str, ...]] = {()}

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def pre_state(self, parts: tuple[str, ...]) -> tuple[DestPreState, str | None]:
        """The target's pre-state, and a per-entry problem (a parent that is a file)."""
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix in self.safe_dirs:
                continue
            path = os.path.join(self.root, *prefix)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return DestPreState(), None
            except NotADirectoryError:
                return DestPreState(), "parent-not-a-directory"
            if stat.S_ISLNK(st.st_mode):
                if not self._inside(path):
                    raise InvalidArgument("a symlink in the destination leads outside the root",
                                          details={"path": "/".join(prefix)})
                if not os.path.isdir(path):
                    return DestPreState(), "parent-not-a-directory"
            elif not stat.S_ISDIR(st.st_mode):
                return DestPreState(), "parent-not-a-directory"
            self.safe_dirs.add(prefix)
        return self._final(parts), None

    def _final(self, parts: tuple[str, ...]) -> DestPreState:
        path = os.path.join(self.root, *parts)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return DestPreState()
        if stat.S_ISLNK(st.st_mode):
            if not self._inside(path):
                raise InvalidArgument("the target is a symlink leading outside the root",
                                      details={"path": "/".join(parts)})
            return DestPreState(PreKind.SYMLINK)
        if stat.S_ISDIR(st.st_mode):
            return DestPreState(PreKind.DIRECTORY)
        if stat.S_ISREG(st.st_mode):
            return DestPreState(PreKind.FILE, st.st_size, st.st_mtime_ns // 1000)
        return DestPreState(PreKind.OTHER)


def _plan_record(entry: SourceEntry, flags: int, mode: int, pre: DestPreState) -> dict[str, object]:
    return {"v": 1, "destPath": entry.dest_path, "size": entry.size, "mtimeUs": entry.mtime_us,
            "flags": flags, "overwriteMode": mode,
            "pre": {"kind": str(pre.kind), "size": pre.size, "mtimeUs": pre.mtime_us}}


def _recorded_pre(target: str, entry: SourceEntry, flags: int, mode: int) -> DestPreState | None:
    """The pre-state an earlier run recorded in NAME.jetplan, if it matches this entry."""
    try:
        with open(target + PLANFILE_SUFFIX, encoding="utf-8") as fh:
            record = json.load(fh)
        pre = record["pre"]
        recorded = DestPreState(PreKind(pre["kind"]), int(pre["size"]), int(pre["mtimeUs"]))
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None
    if record != _plan_record(entry, flags, mode, recorded):
        return None
    return recorded


class ReceivePlan:
    """One transfer's writes; created by :meth:`ReceiveStorage.begin`."""

    def __init__(self, root: str, states: list[_Entry], *, flags: int, overwrite_mode: int,
                 resume: bool, max_open: int, faults: FaultSet = _NO_FAULTS) -> None:
        self.root = root
        self._faults = faults
        self._states = states
        self.entries: tuple[SourceEntry, ...] = tuple(s.entry for s in states)
        self.outcomes: tuple[Outcome, ...] = tuple(s.outcome for s in states)
        """The oracle's decision per entry (for logs and the engine's counters)."""
        self._flags = flags
        self._mode = overwrite_mode
        self._resume = resume
        self._max_open = max_open
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._dirty: set[int] = set()
        """Entries written since the last flush()."""
        self._closed = False

    def wants_data(self, index: int) -> bool:
        """True when entry ``index``'s data is written somewhere (not skipped, no error)."""
        return self._states[index].active and not self._closed

    def write(self, index: int, offset: int, data: bytes | memoryview) -> None:
        """Write ``data`` at ``offset`` of entry ``index``; a no-op when it is not wanted.

        An I/O error (no space, permission) turns the entry into an error outcome instead of
        raising, so the transfer goes on with the others.

        Raises:
            UsageError: the range falls outside the entry's size, or the plan is finished.
        """
        state = self._states[index]
        if not state.active or self._closed:
            if self._closed:
                raise UsageError("write() after finish() or abort()")
            return
        if offset < 0 or offset + len(data) > state.entry.size:
            raise UsageError(f"write [{offset}, +{len(data)}) outside entry {index} "
                             f"of size {state.entry.size}")
        try:
            fd = self._fds.get(index)
            if fd is None:
                fd = self._open(index)
            else:
                self._fds.move_to_end(index)
            done = os.pwrite(fd, data, offset)
            while done < len(data):
                done += os.pwrite(fd, memoryview(data)[done:], offset + done)
            self._dirty.add(index)
        except OSError as exc:
            self._fail(index, exc)

    def flush(self) -> None:
        """Make every write since the last flush durable (used at checkpoints).

        Open entries are fsync'ed. When more entries were written than descriptors stay open,
        one ``syncfs`` of the root's file system replaces reopening each of them (Linux);
        elsewhere evicted entries are reopened and fsync'ed.
        """
        dirty, self._dirty = self._dirty, set()
        closed = [i for i in dirty if i not in self._fds]
        if len(closed) > self._max_open and _syncfs(self.root):
            dirty -= set(closed)
        for index in sorted(dirty):
            if not self._states[index].active:
                continue
            try:
                fd = self._fds.get(index)
                os.fsync(fd if fd is not None else self._open(index))
            except OSError as exc:
                self._fail(index, exc)

    def writeback(self) -> None:
        """Start writing the data written so far to the device without waiting for it
        (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on the open entries written since
        the last :meth:`flush`; a no-op elsewhere). Performance only: the fsync of
        :meth:`flush` at completion then finds little left; durability still comes from
        :meth:`flush` alone."""
        start_writeback = _sync_file_range()
        if start_writeback is None:
            return
        for index in list(self._dirty):
            fd = self._fds.get(index)
            if fd is not None:
                start_writeback(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)

    def finish(self) -> list[dict[str, str]]:
        """Apply the outcome of every entry and close everything.

        Returns:
            one ``{'destPath', 'outcome', 'detail'}`` per entry, in manifest order; outcome is
            ``written``, ``skipped``, ``error`` or ``not-written``.
        """
        if self._closed:
            raise UsageError("finish() called twice or after abort()")
        results = [self._finish_one(index) for index in range(len(self._states))]
        self._close_all()
        self._closed = True
        return results

    def abort(self) -> None:
        """Close descriptors, leaving partfiles and plan files for a resumed begin()."""
        self._close_all()
        self._closed = True

    # --- internals -------------------------------------------------------------------------
    def _open(self, index: int) -> int:
        state = self._states[index]
        while len(self._fds) >= self._max_open:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        parent = os.path.dirname(state.target)
        os.makedirs(parent, exist_ok=True)
        real = os.path.realpath(parent)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise OSError(f"parent of {state.entry.dest_path!r} now leads outside the root")
        first = not state.opened
        in_place = state.outcome.method is WriteMethod.IN_PLACE
        if first and in_place:
            record = _plan_record(state.entry, self._flags, self._mode, state.pre)
            with open(state.target + PLANFILE_SUFFIX, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
        truncate = first and not in_place and not self._resume
        fd = os.open(state.write_path, _OPEN_FLAGS | (os.O_TRUNC if truncate else 0), 0o644)
        if first:
            state.opened = True
            try:
                os.ftruncate(fd, state.entry.size)
            except OSError:
                os.close(fd)
                raise
        self._fds[index] = fd
        return fd

    def _fail(self, index: int, exc: OSError) -> None:
        state = self._states[index]
        state.error = f"io-error: {exc.strerror or exc}"
        fd = self._fds.pop(index, None)
        if fd is not None:
            os.close(fd)

    def _close_all(self) -> None:
        while self._fds:
            _, fd = self._fds.popitem()
            os.close(fd)

    def _finish_one(self, index: int) -> dict[str, str]:
        state = self._states[index]
        outcome = state.outcome
        result, detail = str(outcome.result), outcome.reason
        if state.error is None and outcome.result is FileResult.WRITTEN:
            try:
                if outcome.method is WriteMethod.MKDIR:
                    self._apply_dir(state)
                else:
                    self._apply_file(index, state)
            except OSError as exc:
                state.error = f"io-error: {exc.strerror or exc}"
        if state.error is not None:
            result, detail = str(FileResult.ERROR), state.error
        return {"destPath": state.entry.dest_path, "outcome": result, "detail": detail}

    def _apply_dir(self, state: _Entry) -> None:
        os.makedirs(state.target, exist_ok=True)
        if os.path.islink(state.target) or not os.path.isdir(state.target):
            raise OSError(f"{state.entry.dest_path!r} is not a directory")
        if state.outcome.target.mtime is MtimeRule.SOURCE:
            ns = state.entry.mtime_us * 1000
            os.utime(state.target, ns=(ns, ns), follow_symlinks=False)

    def _apply_file(self, index: int, state: _Entry) -> None:
        fd = self._fds.pop(index, None)
        if fd is None and not state.opened:  # never written (e.g. 0 bytes): create it now
            fd = self._open(index)
            self._fds.pop(index)
        mode = FILE_MODE[state.entry.executable]
        ns = state.entry.mtime_us * 1000
        if self._faults.active("mtime-off-by-one"):
            ns += 1_000_000_000  # fault: WRITE_MTIME sets the mtime one second late
        times = {"ns": (ns, ns)} if self._written_mtime(state) is MtimeRule.SOURCE else {}
        if self._faults.active("ignore-write-mtime"):
            times = {}  # fault: WRITE_MTIME leaves the time of writing
        if fd is not None:
            try:
                os.fchmod(fd, mode)
                os.utime(fd, **times)  # type: ignore[arg-type]
            finally:
                os.close(fd)
        else:  # evicted earlier: by path, refusing anything but the regular file we made
            if not stat.S_ISREG(os.lstat(state.write_path).st_mode):
                raise OSError(f"{state.entry.dest_path!r} was replaced during the transfer")
            os.chmod(state.write_path, mode)
            os.utime(state.write_path, follow_symlinks=False, **times)  # type: ignore[arg-type]
        method = state.outcome.method
        if method is WriteMethod.IN_PLACE:
            _unlink_quietly(state.target + PLANFILE_SUFFIX)
        elif method is WriteMethod.PARTFILE_RENAME:
            if state.outcome.jetbak is not None and os.path.lexists(state.target) \
                    and not self._faults.active("no-jetbak"):  # fault: no backup kept
                os.replace(state.target, jetbak_name(state.target))
            os.replace(state.write_path, state.target)
        elif method is WriteMethod.PARTFILE_KEPT and self._faults.active("no-partfile"):
            os.unlink(state.write_path)  # fault: OVERWRITE_NEVER removes its partfile

    @staticmethod
    def _written_mtime(state: _Entry) -> MtimeRule:
        holder = state.outcome.partfile_state or state.outcome.target
        return holder.mtime


def _syncfs(path: str) -> bool:
    """``syncfs(2)`` the file system holding ``path``; False where it is unavailable."""
    func = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if func is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bool(func(fd) == 0)
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range_fn: list[Any] = []


def _sync_file_range() -> Any:
    """libc ``sync_file_range`` (Linux; called through ctypes, which releases the GIL), or
    None where it does not exist. Looked up once."""
    if not _sync_file_range_fn:
        func = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
        if func is not None:
            func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
            func.restype = ctypes.c_int
        _sync_file_range_fn.append(func)
    return _sync_file_range_fn[0]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
