"""The engine's file-system adapters: sender sources, receiver sinks, checkpoint files.

- :class:`FileSource` reads the transfer byte space from the manifest's source files with
  ``os.preadv`` straight into the datagram buffer (flag READ), or fills it with
  :func:`~jetstream_qa.semantics.synthetic_bytes` (no READ: "the sender skips reading from
  disk", constants page).
- :class:`StorageSinks` plugs :class:`~jetstream_qa.refserver.engine.storage.ReceiveStorage`
  into the receiver core; a DATA run straddling files is split with :class:`Layout`.
- :class:`FileCheckpoints` persists each receiving transfer's held block ranges as JSON in
  ``STATE_DIR/checkpoints/`` (written atomically: temp file, fsync, rename).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jetstream_qa.errors import TransportError
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.receiver_model import RxSpec
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage
from jetstream_qa.semantics import synthetic_bytes

__all__ = ["FileCheckpoints", "FileSource", "SourceError", "StorageSink", "StorageSinks",
           "WriteBehindSink"]


SYNTHETIC_PERIOD = 65521
"""semantics.synthetic_bytes repeats with this period (verified before it is relied on)."""


def _synthetic_periodic() -> bool:
    probe = synthetic_bytes(SYNTHETIC_PERIOD - 7, 64)
    return probe[7:] == synthetic_bytes(0, 57) and probe[:7] == synthetic_bytes(
        2 * SYNTHETIC_PERIOD - 7, 7)


class SourceError(TransportError):
    """A source file vanished, shrank or could not be read while sending."""

    code = "SourceError"


class FileSource:
    """The sender's view of the byte space (``read=False``: synthetic content)."""

    def __init__(self, files: Sequence[tuple[str | None, int]], *, read: bool,
                 max_open: int = 32) -> None:
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
        spans = self.layout.spans(offset, length)
        _i, in_file, _pos, n = next(spans)
        if n != length:
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
        self._fds[i] = fd
        return fd

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])


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

    def finish(self) -> list[dict[str, Any]]:
        return list(self.plan.finish())

    def abort(self) -> None:
        self.plan.abort()


class WriteBehindSink:
    """Moves a sink's writes to its own thread so the receive thread never waits for the
    disk: ``write`` copies the data into a bounded queue (``max_bytes``; a full queue blocks,
    which stops ACKs and so slows the sender); ``flush``, ``finish`` and ``abort`` first
    drain the queue, so a checkpoint or completion still covers every byte acknowledged."""

    def __init__(self, inner: StorageSink, *, max_bytes: int = 256 << 20) -> None:
        self.inner = inner
        self._max = max_bytes
        self._queue: collections.deque[tuple[int, bytes]] = collections.deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="jq-write", daemon=True)
        self._thread.start()

    def write(self, offset: int, data: memoryview) -> None:
        if not self.inner.wants_any:
            return
        chunk = bytes(data)
        with self._cond:
            while self._queued + len(chunk) > self._max and self._queue:
                self._cond.wait(1.0)
            self._queue.append((offset, chunk))
            self._queued += len(chunk)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(1.0)
                if not self._queue:
                    return
                offset, chunk = self._queue.popleft()
                self._busy = True
            try:
                self.inner.write(offset, memoryview(chunk))
            finally:
                with self._cond:
                    self._queued -= len(chunk)
                    self._busy = False
                    self._cond.notify_all()

    def _drain(self) -> None:
        with self._cond:
            while self._queue or self._busy:
                self._cond.wait(1.0)

    def _stop(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(30.0)

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
    """Sink factory over the server's storage root."""

    def __init__(self, root: Path, *, faults: frozenset[str] = frozenset()) -> None:
        self._storage = ReceiveStorage(root)
        self._faults = faults

    def open(self, spec: RxSpec) -> WriteBehindSink:
        flags = spec.flags
        if "ignore-flag-write" in self._faults:
            flags |= 2
        plan = self._storage.begin(list(spec.entries),
                                   destination_path=spec.destination_path or None,
                                   flags=flags, overwrite_mode=spec.overwrite_mode,
                                   resume=spec.resume)
        layout = Layout([e.size for e in spec.entries])
        return WriteBehindSink(StorageSink(plan, layout, write=bool(flags & 2),
                                           corrupt_first="corrupt-block" in self._faults))


class FileCheckpoints:
    """Held-range checkpoints, one JSON file per (sender serverUid, transferId)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: tuple[str, int]) -> Path:
        name = hashlib.sha256(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:32]
        return self.directory / f"{name}.json"

    def load(self, key: tuple[str, int]) -> dict[str, Any] | None:
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def save(self, key: tuple[str, int], record: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def delete(self, key: tuple[str, int]) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass
