"""The receiver's storage seam: sinks over ``ReceiveStorage`` for the receiver core.

- :class:`StorageSink` writes one transfer's DATA runs into its
  :class:`~jetstream_qa.refserver.engine.storage.ReceivePlan`; a run straddling files is
  split with :class:`Layout`.
- :class:`StorageSinks` is the sink factory over the server's storage root (and the owner's
  sandbox below it); each sink it opens writes behind the receive thread
  (``write_behind.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver.engine.confined import ConfinedRoot
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.receiver_model import RxSpec
from jetstream_qa.refserver.engine.storage import ReceivePlan, ReceiveStorage
from jetstream_qa.refserver.engine.write_behind import WriteBehindSink

__all__ = ["StorageSink", "StorageSinks"]


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
