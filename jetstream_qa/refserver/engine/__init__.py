"""The data-plane engine of the reference server (``docs/protocol.md`` section 5).

``Engine(config=, state=, events=, keys=)`` is what the control plane drives (contract in
``refserver/app.py``): a receiver thread on the UDP receive port and one sender thread per
destination. Everything that touches records runs on the event loop: status changes caused
by the threads are posted there with ``call_soon_threadsafe``; counters are plain attribute
writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from jetstream_qa.refserver.engine.bandwidth import incoming_allowance
from jetstream_qa.refserver.engine.checkpoints import FileCheckpoints
from jetstream_qa.refserver.engine.receiver import ReceiverThread, open_receive_socket
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender import DestinationWorker, WorkerContext
from jetstream_qa.refserver.engine.sender_model import Timing
from jetstream_qa.refserver.engine.storage_sinks import StorageSinks
from jetstream_qa.refserver.sandbox import sandbox_path
from jetstream_qa.refserver.state import (
    TransferEvent,
    TransferRecord,
    TransferStatus,
    TransitionError,
)
from jetstream_qa.wire.data import DEFAULT_MAX_DATAGRAM

__all__ = ["Engine"]

log = logging.getLogger("jetstream_qa.refserver.engine")
SUSPEND_WAIT = 0.5
"""Seconds a suspend or cancel waits (on the event loop) for the sender thread to let go of the
transfer; it sees the status before every batch and polls at most 20 ms (sender.py)."""


def _max_datagram(configured: int | None) -> int:
    """Datagram payload size: ``--max-datagram``, else wire size (1,400 bytes) everywhere,
    loopback included (GSO/GRO batching keeps loopback fast, see ``udp_offload``)."""
    return configured if configured is not None else DEFAULT_MAX_DATAGRAM


class Engine:
    """Receiver + per-destination senders; see the module docstring."""

    def __init__(self, *, config: Any, state: Any, events: Any, keys: Any) -> None:
        self.config, self.state, self.events, self.keys = config, state, events, keys
        self.max_datagram = _max_datagram(getattr(config, "max_datagram", None))
        self.udp_offload = getattr(config, "udp_offload", "auto") != "off"
        self.timing = Timing(open_give_up=float(getattr(config, "open_give_up", 60.0)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiver: ReceiverThread | None = None
        self._workers: dict[str, DestinationWorker] = {}
        self._ctx: WorkerContext | None = None
        self._started_wall = time.time()
        self._started_mono = time.monotonic()

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the receive port and start the receiver thread. Raises OSError on bind."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        faults = frozenset(cfg.faults)
        sock = open_receive_socket(cfg.recv_host, cfg.recv_port)
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        # rcvbuf as reported (twice the request) / per-datagram accounting (~payload + 1 KiB).
        # At most 8192 (was 1024, which bound 1,400-byte datagrams to ~0.7 MB in flight per
        # session: measured on a loaded 2-core machine, the sender then waited on ACKs
        # whenever the receiver thread was descheduled; 8192 gave +20-40 % goodput, no
        # retransmissions, 8192 x 1750 B = 14 MB below the 32 MB reported buffer).
        window = max(8, min(8192, rcvbuf // (self.max_datagram * 5 // 4)))
        core = ReceiverEndpoint(
            static_key=self.keys.private_key, server_uid=self.state.server_uid or "unknown",
            server_id=self.state.server_id or "unknown", min_cipher=int(cfg.min_cipher),
            sinks=StorageSinks(cfg.storage_root, faults=faults, sandbox=self._sandbox),
            checkpoints=FileCheckpoints(cfg.state_dir / "checkpoints"), window=window,
            max_datagram=self.max_datagram, faults=faults)
        self._receiver = ReceiverThread(core, sock, allowance=self._incoming_allowance,
                                        udp_offload=self.udp_offload)
        self._receiver.start()
        self._ctx = WorkerContext(state=self.state, static_key=self.keys.private_key,
                                  min_cipher=int(cfg.min_cipher), faults=faults,
                                  post=self._post, max_datagram=self.max_datagram,
                                  timing=self.timing,
                                  incoming_active=lambda: core.carrying_data,
                                  source_denied=(os.path.realpath(cfg.state_dir),),
                                  udp_offload=self.udp_offload)

    def _sandbox(self, owner: str | None) -> str | None:
        """The sandbox an incoming transfer of ``owner`` lands in (called on the receiver
        thread; ``refserver/sandbox.py``)."""
        return sandbox_path(self.state.sandbox_mappings, owner)

    def _incoming_allowance(self) -> float | None:
        """The receiver's current incoming allowance (called on the receiver thread):
        ``state.bandwidth`` with ``borrowOutgoingRate`` while no sender thread is busy."""
        busy = any(w.current is not None for w in list(self._workers.values()))
        return incoming_allowance(self.state.bandwidth, outgoing_active=busy)

    async def stop(self) -> None:
        """Stop every thread (bounded waits) and close the sockets."""
        threads: list[Any] = list(self._workers.values())
        for worker in self._workers.values():
            worker.stop()
        if self._receiver is not None:
            self._receiver.stop()
            threads.append(self._receiver)

        def join() -> None:
            deadline = time.monotonic() + 5.0
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))

        await asyncio.to_thread(join)
        self._workers.clear()

    # --- transfers --------------------------------------------------------------------------
    def submit(self, record: TransferRecord) -> None:
        """Queue a pending transfer on its destination's sender thread."""
        if self._ctx is None:
            raise RuntimeError("engine not started")
        worker = self._workers.get(record.destination_id)
        if worker is None or not worker.is_alive():
            worker = DestinationWorker(self._ctx, record.destination_id)
            self._workers[record.destination_id] = worker
            worker.start()
        worker.submit(record)

    def _record(self, transfer_id: int) -> TransferRecord:
        record: TransferRecord = self.state.transfers[transfer_id]
        return record

    def suspend(self, transfer_id: int) -> None:
        """Suspend: the sender thread stops sending at once; the receiver keeps its data.

        Raises:
            TransitionError: not allowed in the transfer's status.
        """
        record = self._record(transfer_id)
        if record.status is not TransferStatus.SUSPENDED:
            self.state.apply(record, TransferEvent.SUSPEND)
            self._settle(record)

    def _settle(self, record: TransferRecord) -> None:
        """Return once the sender thread let go of ``record`` (bounded): a client reading
        blocksSent right after a suspend or cancel sees what was sent, not a 50 ms old
        snapshot that grows later."""
        worker = self._workers.get(record.destination_id)
        if worker is not None and worker.current is record:
            worker.wait_off(record, SUSPEND_WAIT)

    def resume(self, transfer_id: int) -> None:
        """Resume a suspended transfer: pending again, re-queued; the receiver's OPEN_ACK
        names the blocks it holds so only the rest is sent."""
        record = self._record(transfer_id)
        if record.status is TransferStatus.SUSPENDED:
            self.state.apply(record, TransferEvent.RESUME)
        if record.status is TransferStatus.PENDING:
            self.submit(record)

    def cancel(self, transfer_id: int) -> None:
        """Cancel: the sender sends ABORT (the receiver marks its record ``error``)."""
        record = self._record(transfer_id)
        if record.status is not TransferStatus.CANCELLED:
            self.state.apply(record, TransferEvent.CANCEL)
            self._settle(record)

    def set_send_rate(self, transfer_id: int, bits_per_second: int | None) -> None:
        """Change ``sendRateMax``; the running sender picks it up within 50 ms."""
        self._record(transfer_id).send_rate_max = bits_per_second

    def _post(self, record: TransferRecord, event: TransferEvent, message: str | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._apply, record, event, message)
        except RuntimeError:
            pass  # loop closing

    def _apply(self, record: TransferRecord, event: TransferEvent, message: str | None) -> None:
        try:
            self.state.apply(record, event, error_message=message)
        except TransitionError:
            pass  # e.g. cancelled by the user while the sender was finishing

    # --- receive side reports -----------------------------------------------------------------
    def _wall_us(self, mono: float) -> int:
        return int((self._started_wall + (mono - self._started_mono)) * 1e6)

    def receiver_transfers(self) -> list[dict[str, Any]]:
        """Receive Transfer structures (``docs/protocol.md`` 4.5)."""
        if self._receiver is None:
            return []
        return self._receiver.core.transfer_list(self._wall_us)

    def receiver_sources(self) -> list[dict[str, Any]]:
        """Source structures (4.6), one per sending address."""
        sources: dict[tuple[str, int], dict[str, Any]] = {}
        for t in self.receiver_transfers():
            key = (t["sourceIP"], t["sourcePort"])
            src = sources.setdefault(key, {
                "sourceIP": key[0], "sourcePort": key[1], "activeTransferCount": 0,
                "completeTransferCount": 0, "errorTransferCount": 0,
                "inactiveTransferCount": 0, "aveRecvRate": 0, "aveRecvRateWindow": 0,
                "destinationPublicKey": self.keys.public_hex,
                "encryptedConnectionState": "connected", "encryptionEnabled": True,
                "_bytes": 0})
            field = {"receiving": "activeTransferCount", "complete": "completeTransferCount",
                     "error": "errorTransferCount"}[t["status"]]
            src[field] += 1
            src["_bytes"] += t["bytesRecv"]
        for src in sources.values():
            elapsed = max(1e-3, time.time() - self._started_wall)
            src["aveRecvRate"] = int(src.pop("_bytes") * 8 / 1000 / elapsed)
            src["aveRecvRateWindow"] = src["aveRecvRate"]
            if not src["activeTransferCount"]:
                src["encryptedConnectionState"] = "disconnected"
        return list(sources.values())

    def receiver_stats(self) -> dict[str, Any]:
        """``activeTransfers``, ``rejectedDatagrams``, ``malformedDatagrams``, ..."""
        if self._receiver is None:
            return {"activeTransfers": 0, "rejectedDatagrams": 0, "malformedDatagrams": 0}
        stats: dict[str, Any] = dict(self._receiver.core.stats())
        stats["internalErrors"] = self._receiver.errors
        return stats

    @property
    def recv_address(self) -> tuple[str, int]:
        if self._receiver is None:
            return (self.config.recv_host, self.config.recv_port)
        host, port = self._receiver.address[:2]
        return (host, port)
