"""The engine's file-system adapters: sender sources, receiver sinks, checkpoint files.

- :class:`FileSource` reads the transfer byte space from the manifest's source files with
  ``os.preadv`` straight into the datagram buffer (flag READ), or fills it with
  :func:`~jetstream_qa.refserver.engine.synthetic.synthetic_bytes` (no READ: "the sender
  skips reading from disk", constants page).
- :class:`StorageSinks` plugs :class:`~jetstream_qa.refserver.engine.storage.ReceiveStorage`
  into the receiver core; a DATA run straddling files is split with :class:`Layout`.
- :class:`FileCheckpoints` persists each receiving transfer's held block ranges as JSON in
  ``STATE_DIR/checkpoints/`` (written atomically: temp file, fsync, rename), every file
  reached through the directory's descriptor without following symlinks (``confined.py``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jetstream_qa.errors import InvalidArgument, TransportError
from jetstream_qa.refserver.engine.confined import ConfinedRoot, open_below, refuse_link
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.receiver_model import RxSpec
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage
from jetstream_qa.refserver.engine.synthetic import PERIOD, synthetic_bytes
from jetstream_qa.refserver.sandbox import SourceArea

__all__ = ["FileCheckpoints", "FileSource", "SourceError", "StorageSink", "StorageSinks",
           "WriteBehindSink"]


log = logging.getLogger("jetstream_qa.refserver.engine")

SYNTHETIC_PERIOD = PERIOD
"""synthetic_bytes repeats with this period (verified before it is relied on)."""


def _synthetic_periodic() -> bool:
    probe = synthetic_bytes(SYNTHETIC_PERIOD - 7, 64)
    return probe[7:] == synthetic_bytes(0, 57) and probe[:7] == synthetic_bytes(
        2 * SYNTHETIC_PERIOD - 7, 7)


class SourceError(TransportError):
    """A source file vanished, shrank or could not be read while sending."""

    code = "SourceError"


class FileSource:
    """The sender's view of the byte space (``read=False``: synthetic content).

    ``area`` (``refserver/sandbox.py``): where the manifest's owner may read. Each source is
    checked when it is opened, by the path the kernel reports for the open descriptor
    (``/proc/self/fd``, Linux), so a file swapped for a link after the manifest was built
    cannot make the sender read outside it.
    """

    def __init__(self, files: Sequence[tuple[str | None, int]], *, read: bool,
                 max_open: int = 32, area: SourceArea | None = None) -> None:
        self._area = area
        self._paths = [p for p, _ in files]
        self.layout = Layout([size for _, size in files])
        self._read = read
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._max_open = max_open
        self._tile: memoryview | None = None

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with bytes ``[offset, offset+len(view))`` of the byte space.

        Raises:
            SourceError: a source file cannot be opened or is shorter than the manifest says.
        """
        for i, in_file, pos, n in self.layout.spans(offset, len(view)):
            part = view[pos:pos + n]
            if not self._read:
                self._synthetic(part, in_file)
                continue
            fd = self._fd(i)
            got = 0
            while got < n:
                k = os.preadv(fd, [part[got:]], in_file + got)
                if k <= 0:
                    raise SourceError(f"source file {self._paths[i]!r} is shorter than its "
                                      f"manifest size", details={"path": self._paths[i]})
                got += k

    def view(self, offset: int, length: int) -> memoryview | None:
        """A zero-copy view of ``[offset, offset+length)`` when the bytes are synthetic and
        lie in one file; None otherwise (then :meth:`read_into` must be used)."""
        if self._read:
            return None
        in_file = self.layout.within(offset, length)
        if in_file is None:
            return None
        tile = self._tile
        if tile is None:
            if not _synthetic_periodic():
                return None
            tile = self._tile = memoryview(synthetic_bytes(0, SYNTHETIC_PERIOD + (1 << 17)))
        if length > len(tile) - SYNTHETIC_PERIOD:
            return None
        start = in_file % SYNTHETIC_PERIOD
        return tile[start:start + length]

    def _synthetic(self, part: memoryview, in_file: int) -> None:
        """Synthetic content (no READ), copied once from a cached tile of the pattern when
        it is periodic with period ``SYNTHETIC_PERIOD`` (checked), else computed."""
        n = len(part)
        tile = self._tile
        if tile is None and _synthetic_periodic():
            tile = self._tile = memoryview(synthetic_bytes(0, SYNTHETIC_PERIOD + (1 << 17)))
        if tile is not None and n <= len(tile) - SYNTHETIC_PERIOD:
            start = in_file % SYNTHETIC_PERIOD
            part[:] = tile[start:start + n]
        else:
            part[:] = synthetic_bytes(in_file, n)

    def _fd(self, i: int) -> int:
        fd = self._fds.get(i)
        if fd is not None:
            self._fds.move_to_end(i)
            return fd
        while len(self._fds) >= self._max_open:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        path = self._paths[i]
        try:
            fd = os.open(path or "", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(f"cannot read source file {path!r}: {exc.strerror}",
                              details={"path": path}) from None
        area = self._area
        if area is not None and not _opened_inside(fd, area):
            os.close(fd)
            shown = area.virtual(path or "")
            raise SourceError(f"source file {shown!r} now leads outside the allowed source "
                              "area; not read", details={"path": shown})
        self._fds[i] = fd
        return fd



    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])


def _opened_inside(fd: int, area: SourceArea) -> bool:
    """True when the file open as ``fd`` lies inside ``area``, judged by the path the kernel
    reports for it; True where there is no ``/proc`` (the manifest check stands alone)."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True
    return area.contains(real)


class StorageSink:
    """One transfer's writes into a :class:`ReceivePlan`."""

    def __init__(self, plan: ReceivePlan, layout: Layout, *, write: bool,
                 corrupt_first: bool = False) -> None:
        self.plan = plan
        self._write = write
        self.layout = layout
        self._wants = [plan.wants_data(i) for i in range(len(layout.sizes))]
        self.wants_any = any(self._wants)
        """False when nothing is written (no WRITE flag, every file skipped)."""
        self._corrupt = corrupt_first

    def write(self, offset: int, data: memoryview) -> None:
        if self._corrupt:  # fault "corrupt-block": flip one bit of the first block written
            self._corrupt = False
            data = memoryview(bytearray(data))
            data[0] ^= 0x01
        wants, plan = self._wants, self.plan
        for i, in_file, pos, n in self.layout.spans(offset, len(data)):
            if wants[i]:
                plan.write(i, in_file, data[pos:pos + n])

    def unwanted(self) -> list[tuple[int, int]]:
        """Files storage skips by policy (only-newer, size mismatch, error) need no data.
        Without WRITE the data still crosses the network (TRANSFER_FLAG_NONE is "network
        only", constants page) and is discarded: nothing is unwanted then."""
        if not self._write:
            return []
        return [r for r, wanted in zip(self.layout.ranges(), self._wants, strict=True)
                if not wanted and r[1] > r[0]]

    def flush(self) -> None:
        self.plan.flush()

    def writeback(self) -> None:
        """Start writing what was written so far to the device, without waiting."""
        self.plan.writeback()

    def finish(self) -> list[dict[str, Any]]:
        return list(self.plan.finish())

    def abort(self) -> None:
        self.plan.abort()


class WriteBehindSink:
    """Moves a sink's writes to its own thread so the receive thread never waits for the
    disk, and coalesces them: ``write`` appends the data to a staging buffer (up to
    ``chunk`` bytes) as long as it continues the previous write; a full or discontinuous
    buffer is queued for the writer thread, which writes it with one call (so a run of
    datagrams becomes one large ``pwrite``) and, every ``writeback_every`` bytes, asks
    storage to start writing back to the device (the fsync at completion then finds little
    left). At most ``max_bytes`` of buffers exist; when all are queued, ``write`` blocks,
    which stops ACKs and so slows the sender. ``flush``, ``finish`` and ``abort`` first
    queue the staging buffer and drain the queue, so a checkpoint or completion still
    covers every byte acknowledged. ``chunk``: 1 MiB measured best (bench_disk, vs 256 KiB
    and 4 MiB: the buffer stays in cache between the copy in and the ``pwrite``)."""

    def __init__(self, inner: StorageSink, *, max_bytes: int = 256 << 20,
                 chunk: int = 1 << 20, writeback_every: int = 32 << 20) -> None:
        self.inner = inner
        total = inner.layout.total
        # small transfers get small buffers: memory follows the transfer, not the maximum
        self._chunk = max(1 << 16, min(chunk, total))
        self._max_buffers = max(2, max_bytes // self._chunk)
        self._made = 0
        self._free: list[bytearray] = []
        self._queue: collections.deque[tuple[int, bytearray, int]] = collections.deque()
        self._cur: bytearray | None = None
        self._cur_offset = 0
        self._cur_len = 0
        self._writeback_every = writeback_every
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="jq-write", daemon=True)
        self._thread.start()

    # --- receive thread ---------------------------------------------------------------------
    def write(self, offset: int, data: memoryview) -> None:
        if not self.inner.wants_any:
            return
        n = len(data)
        cur, used = self._cur, self._cur_len
        if cur is not None:
            if offset == self._cur_offset + used and used + n <= len(cur):
                cur[used:used + n] = data  # same length: a copy, never a resize
                self._cur_len = used = used + n
                if len(cur) - used < 65536:
                    self._submit()
                return
            self._submit()
        if n > self._chunk:  # larger than a staging buffer: queue a copy of its own
            self._enqueue(offset, bytearray(data), n)
            return
        cur = self._cur = self._take()
        cur[:n] = data
        self._cur_offset, self._cur_len = offset, n

    def _take(self) -> bytearray:
        """A free staging buffer; waits while ``max_bytes`` of them are queued."""
        with self._cond:
            while not self._free and self._made >= self._max_buffers:
                self._cond.wait(1.0)
            if self._free:
                return self._free.pop()
            self._made += 1
        return bytearray(self._chunk)

    def _submit(self) -> None:
        cur = self._cur
        if cur is not None:
            self._cur = None
            if self._cur_len:
                self._enqueue(self._cur_offset, cur, self._cur_len)
            else:
                self._release(cur)

    def _enqueue(self, offset: int, buf: bytearray, length: int) -> None:
        with self._cond:
            self._queue.append((offset, buf, length))
            self._cond.notify_all()

    def _release(self, buf: bytearray) -> None:
        with self._cond:
            if len(buf) == self._chunk:
                self._free.append(buf)
            self._cond.notify_all()

    # --- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        since_writeback = 0
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(1.0)
                if not self._queue:
                    return
                offset, buf, length = self._queue.popleft()
                self._busy = True
            try:
                self.inner.write(offset, memoryview(buf)[:length])
                since_writeback += length
                if since_writeback >= self._writeback_every:
                    since_writeback = 0
                    self.inner.writeback()
            finally:
                with self._cond:
                    if len(buf) == self._chunk:
                        self._free.append(buf)
                    self._busy = False
                    self._cond.notify_all()

    # --- both -------------------------------------------------------------------------------
    def _drain(self) -> None:
        self._submit()
        with self._cond:
            while self._queue or self._busy:
                self._cond.wait(1.0)

    def _stop(self) -> None:
        self._submit()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(30.0)
        self._free.clear()

    def unwanted(self) -> list[tuple[int, int]]:
        return self.inner.unwanted()

    def flush(self) -> None:
        self._drain()
        self.inner.flush()

    def finish(self) -> list[dict[str, Any]]:
        self._drain()
        self._stop()
        return self.inner.finish()

    def abort(self) -> None:
        self._stop()
        self.inner.abort()


class StorageSinks:
    """Sink factory over the server's storage root.

    ``sandbox(owner)`` gives the sandbox path (virtual, e.g. ``/storage/alice``) that applies
    to a transfer sent by ``owner`` (None: none); files then land below
    ``STORAGE_ROOT/<sandbox>`` (``refserver/sandbox.py``, vendor "where do transfers go").
    The sandbox directory is made by a walk that never follows a link out of the storage root
    (``confined.py``).
    """

    def __init__(self, root: Path, *, faults: frozenset[str] = frozenset(),
                 sandbox: Callable[[str | None], str | None] | None = None) -> None:
        self._storage = ReceiveStorage(root, faults=faults)
        self._faults = faults
        self._sandbox = sandbox
        self._sandboxed: dict[str, ReceiveStorage] = {}

    def _storage_for(self, owner: str | None) -> ReceiveStorage:
        """The storage of ``owner``'s sandbox. Raises InvalidArgument when it cannot be
        made inside the storage root; PermissionDenied when it cannot be expanded."""
        virtual = self._sandbox(owner) if self._sandbox is not None else None
        parts = tuple(p for p in (virtual or "").split("/") if p)
        if not parts:
            return self._storage
        base = self._storage.root
        try:
            os.close(ConfinedRoot(base).directory(parts, create=True))
        except OSError as exc:
            raise InvalidArgument(f"the sandbox {virtual} cannot be used: "
                                  f"{exc.strerror or exc}", details={"sandbox": virtual}) \
                from None
        real = os.path.realpath(os.path.join(base, *parts))
        storage = self._sandboxed.get(real)
        if storage is None:
            storage = self._sandboxed[real] = ReceiveStorage(Path(real), faults=self._faults)
        return storage

    def open(self, spec: RxSpec) -> WriteBehindSink:
        flags = spec.flags
        if "ignore-flag-write" in self._faults:
            flags |= 2
        plan = self._storage_for(spec.owner).begin(
            list(spec.entries), destination_path=spec.destination_path or None, flags=flags,
            overwrite_mode=spec.overwrite_mode, resume=spec.resume)
        layout = Layout([e.size for e in spec.entries])
        return WriteBehindSink(StorageSink(plan, layout, write=bool(flags & 2),
                                           corrupt_first="corrupt-block" in self._faults))


class FileCheckpoints:
    """Held-range checkpoints, one JSON file per (sender serverUid, transferId).

    The files live in ``directory`` (``STATE_DIR/checkpoints``), reached from its parent
    without following a symlink out of it, and each is opened, replaced or removed relative
    to the directory's descriptor with ``O_NOFOLLOW``. A symlink (or anything but a regular
    file) at a checkpoint's name is never followed or replaced: loading finds no checkpoint
    and saving is skipped, each with a warning naming the file (OURS: a checkpoint only
    saves work on resume, so the transfer goes on without it).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        parent = os.path.realpath(self.directory.parent)
        self._confined = ConfinedRoot(parent)
        self._parts = (self.directory.name,)

    def _name(self, key: tuple[str, int]) -> str:
        return hashlib.sha256(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:32] + ".json"

    def load(self, key: tuple[str, int]) -> dict[str, Any] | None:
        name = self._name(key)
        try:
            dir_fd = self._confined.directory(self._parts, create=False)
        except OSError:
            return None
        try:
            fd = open_below(dir_fd, name, os.O_RDONLY, what="checkpoint")
            with os.fdopen(fd, encoding="utf-8") as fh:
                value = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("checkpoint %s not used: %s", name, exc.strerror
                        if isinstance(exc, OSError) else "not JSON")
            return None
        finally:
            os.close(dir_fd)
        return value if isinstance(value, dict) else None

    def save(self, key: tuple[str, int], record: dict[str, Any]) -> None:
        """Write the checkpoint (temp file, fsync, rename); skipped with a warning when the
        directory or the name cannot be used safely."""
        name = self._name(key)
        tmp = name[:-len(".json")] + ".tmp"
        try:
            dir_fd = self._confined.directory(self._parts, create=True)
        except OSError as exc:
            log.warning("checkpoint %s not saved: %s", name, exc.strerror or exc)
            return
        try:
            refuse_link(name, dir_fd, "checkpoint")
            try:
                os.unlink(tmp, dir_fd=dir_fd)  # a stale temp file (or a link planted there)
            except FileNotFoundError:
                pass
            fd = open_below(dir_fd, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600,
                            what="checkpoint")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            log.warning("checkpoint %s not saved: %s", name, exc.strerror or exc)
        finally:
            os.close(dir_fd)

    def delete(self, key: tuple[str, int]) -> None:
        try:
            dir_fd = self._confined.directory(self._parts, create=False)
        except OSError:
            return
        try:
            os.unlink(self._name(key), dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)
