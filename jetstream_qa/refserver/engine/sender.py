"""Sending threads: one per destination, each with its own UDP socket and priority queue.

Theory of operation
-------------------
A :class:`DestinationWorker` owns a connected UDP socket to the destination's receive port
and a queue of transfers ordered by ``priority`` (lower first; vendor scheduling: "100 before
120"), FIFO among equals. It runs one transfer at a time through a
:class:`~jetstream_qa.refserver.engine.sender_core.SenderSession`: it drains incoming datagrams
(``MSG_DONTWAIT``), runs the session's timers, then sends DATA while the session fills it --
one ``fill_run`` per GSO batch (up to 46 datagrams of 1,400 bytes built in their slots of one
buffer), handed to ``BatchSender`` and flushed as one ``sendmsg``, the ACKs drained between
batches -- and otherwise sleeps in ``poll`` until the next timer or an incoming datagram.
Suspend and cancel are seen through the record's status (set on the event loop by the
engine); status changes the worker causes (start, finish, fail) are posted back to the event
loop, and counters are copied onto the record every 50 ms.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.refserver.engine import cipher_choice
from jetstream_qa.refserver.engine.bandwidth import outgoing_allowance, pacing_rate
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.file_source import FileSource, SourceError
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState, SendSpec, Timing
from jetstream_qa.refserver.engine.transfer_docs import encode_meta
from jetstream_qa.refserver.engine.udp_offload import BatchSender, probe_gso
from jetstream_qa.refserver.faults import FaultSet
from jetstream_qa.refserver.sandbox import SourceArea
from jetstream_qa.refserver.state import (
    DestinationRecord,
    ServerState,
    TransferEvent,
    TransferRecord,
    TransferStatus,
)

__all__ = ["DestinationWorker", "WorkerContext"]

log = logging.getLogger("jetstream_qa.refserver.engine")
_STOP = (TransferStatus.SUSPENDED, TransferStatus.CANCELLED, TransferStatus.ERROR,
         TransferStatus.COMPLETE)


def wall_us() -> int:
    return time.time_ns() // 1000


class WorkerContext:
    """What every worker shares: server state, keys, config values and the loop poster."""

    def __init__(self, *, state: ServerState, static_key: Any, min_cipher: int,
                 faults: frozenset[str], post: Callable[[TransferRecord, TransferEvent,
                                                         str | None], None],
                 max_datagram: int, timing: Timing,
                 incoming_active: Callable[[], bool] = lambda: False,
                 source_denied: tuple[str, ...] = (),
                 udp_offload: bool = True) -> None:
        self.state = state
        self.source_denied = source_denied
        """Real paths no source may be read from (the server's state directory)."""
        self.static_key = static_key
        self.min_cipher = min_cipher
        self.faults = faults
        self.post = post
        self.max_datagram = max_datagram
        self.timing = timing
        self.incoming_active = incoming_active
        """Whether this server's receiver has a session carrying data (borrowIncomingRate)."""
        self.udp_offload = udp_offload
        """Send DATA in GSO batches where the kernel offers ``UDP_SEGMENT`` (udp_offload)."""


class DestinationWorker(threading.Thread):
    """Sends the queued transfers of one destination, one at a time."""

    def __init__(self, ctx: WorkerContext, destination_id: str) -> None:
        super().__init__(name=f"jq-send-{destination_id}", daemon=True)
        self.ctx = ctx
        self.destination_id = destination_id
        self._queue: list[tuple[int, int, TransferRecord]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self.current: TransferRecord | None = None
        self._sock: socket.socket | None = None
        self._peer: tuple[str, int] | None = None
        self.gso = False
        """Whether this worker's socket sends GSO batches (probed when it is opened)."""

    # --- called from the event loop --------------------------------------------------------
    def submit(self, record: TransferRecord) -> None:
        """Queue ``record`` (priority order; ``ignore-priority`` fault: arrival order)."""
        prio = 0 if "ignore-priority" in self.ctx.faults else record.priority
        with self._cond:
            heapq.heappush(self._queue, (prio, next(self._order), record))
            self._cond.notify()

    def wait_off(self, record: TransferRecord, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until this worker no longer runs ``record``; its
        counters are then final on the record. The worker checks the status before every
        GSO batch (at least every 20 ms when idle), so this takes milliseconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.current is record:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    # --- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                record = self._next()
                if record is None:
                    return
                self.current = record
                try:
                    self._run_transfer(record)
                except Exception as exc:  # the worker must survive anything a transfer does
                    log.exception("transfer %s crashed", record.transfer_id)
                    self.ctx.post(record, TransferEvent.FAIL, f"internal error: {exc}")
                finally:
                    with self._cond:
                        self.current = None
                        self._cond.notify_all()
        finally:
            if self._sock is not None:
                self._sock.close()

    def _next(self) -> TransferRecord | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                while self._queue:
                    _, _, record = heapq.heappop(self._queue)
                    if record.status is TransferStatus.PENDING:
                        return record
                self._cond.wait(1.0)

    def _socket(self, dest: DestinationRecord) -> socket.socket:
        peer = (dest.destination_ip or dest.destination_address, dest.destination_port)
        if self._sock is None or self._peer != peer:
            if self._sock is not None:
                self._sock.close()
            family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                except OSError:
                    pass
            sock.connect(peer)
            self._sock, self._peer = sock, peer
            self.gso = self.ctx.udp_offload and probe_gso(sock)
        return self._sock

    def _spec(self, record: TransferRecord, dest: DestinationRecord) -> tuple[SendSpec,
                                                                              FileSource]:
        st = self.ctx.state
        manifest = st.manifests.get(record.manifest_id)
        if manifest is None:
            raise JetStreamQAError(f"manifest {record.manifest_id} no longer exists")
        files = list(manifest.files)
        entries = [Entry(f.dest_path, f.file_size, f.modification_time, f.executable,
                               f.is_empty_dir) for f in files]
        meta = zlib.compress(json.dumps(encode_meta(entries, record.owner),
                                        separators=(",", ":")).encode(), 6)
        read = bool(record.transfer_flags & 1) or "ignore-flag-read" in self.ctx.faults
        area = SourceArea(manifest.source_base, self.ctx.source_denied)
        source = FileSource([(f.src_path, f.file_size) for f in files], read=read, area=area)
        pinned = bytes.fromhex(dest.destination_public_key) \
            if dest.destination_public_key else None
        cipher = cipher_choice.offer(record.min_cipher, dest.min_cipher, self.ctx.min_cipher,
                                     faults=FaultSet(self.ctx.faults))
        ckpt = record.checkpoint_frequency_seconds
        spec = SendSpec(transfer_id=record.transfer_id, total_bytes=source.layout.total,
                        cipher=cipher, flags=record.transfer_flags,
                        overwrite_mode=record.overwrite_mode,
                        checkpoint_ms=int(ckpt * 1000) if ckpt else 0, meta=meta,
                        destination_path=record.destination_path or "",
                        server_uid=st.server_uid or "unknown", server_id=st.server_id,
                        static_key=self.ctx.static_key, peer_static=pinned,
                        max_datagram=self.ctx.max_datagram,
                        leak_plaintext="plaintext-when-encrypted" in self.ctx.faults)
        return spec, source

    def _run_transfer(self, record: TransferRecord) -> None:
        dest = self.ctx.state.destinations.get(record.destination_id)
        if dest is None:
            self.ctx.post(record, TransferEvent.FAIL, "destination no longer exists")
            return
        try:
            spec, source = self._spec(record, dest)
        except (JetStreamQAError, ValueError, OSError) as exc:
            self.ctx.post(record, TransferEvent.FAIL, str(exc))
            return
        record.total_bytes = spec.total_bytes
        self.ctx.post(record, TransferEvent.START, None)
        try:
            _Run(self, record, dest, spec, source).loop()
        finally:
            source.close()


class _Run:
    """One transfer on the wire: the shell around a SenderSession."""

    def __init__(self, worker: DestinationWorker, record: TransferRecord,
                 dest: DestinationRecord, spec: SendSpec, source: FileSource) -> None:
        self.w, self.record, self.dest = worker, record, dest
        self.ctx = worker.ctx
        self.sock = worker._socket(dest)
        self.session = SenderSession(spec, source, rate_bps=self._rate(),
                                     timing=self.ctx.timing)
        self.base = (record.blocks_sent, record.blocks_retransmitted, record.packets_sent,
                     record.packets_recv, record.bytes_sent, record.bytes_recv)
        self.rbuf = bytearray(65600)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def _rate(self) -> float | None:
        """This server's cap for the transfer: ``min(sendRateMax, destination sendRateMax,
        outgoing allowance)`` (the receiver's rateCap is applied by the session)."""
        allowance = outgoing_allowance(self.ctx.state.bandwidth,
                                       incoming_active=self.ctx.incoming_active())
        return pacing_rate(self.record.send_rate_max, self.dest.send_rate_max, allowance)

    def _send(self, datagrams: list[bytes]) -> None:
        for d in datagrams:
            try:
                self.sock.send(d)
            except OSError:
                pass  # receiver down (ICMP unreachable) or buffer full: timers retry

    def _drain(self, now: float) -> None:
        sess, sock, rbuf = self.session, self.sock, self.rbuf
        for _ in range(256):
            try:
                n = sock.recv_into(rbuf, 0, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            out = sess.receive(memoryview(rbuf)[:n], now)
            if out:
                self._send(out)

    def loop(self) -> None:
        sess, record = self.session, self.record
        batch = BatchSender(self.sock, gso=self.w.gso, max_datagram=self.ctx.max_datagram)
        stride = self.ctx.max_datagram + 64
        slots = memoryview(bytearray(stride * batch.max_segments))
        self._send(sess.start(time.monotonic()))
        next_sync = 0.0
        while True:
            now = time.monotonic()
            self._drain(now)
            self._send(sess.tick(now))
            if sess.finished or record.status in _STOP or self.w.stopping:
                break
            if now >= next_sync:
                self._sync()
                next_sync = now + 0.05
            sent = self._send_data(batch, slots, stride, now)
            if not sent:
                wait = max(0.0, min(sess.next_wakeup(now) - now, 0.02))
                self.poller.poll(wait * 1000.0)
        self.w.gso = batch.gso  # GSO refused at send time: the socket stays without it
        self._finish()

    def _send_data(self, batch: BatchSender, slots: memoryview, stride: int,
                   now: float) -> int:
        """Fill and send up to two GSO batches of DATA datagrams (64 one by one without GSO):
        each batch is one ``fill_run`` of the session (built and sealed datagram by
        datagram, each in its own slot of ``slots``), handed to ``batch`` and flushed, then
        the ACKs that arrived meanwhile are read. Stops at a send error (receiver down:
        the timers retry). Returns how many were sent."""
        fill = self.session.fill_run
        budget = 2 * batch.max_segments if batch.gso else 64
        errors = batch.errors
        sent = 0
        record = self.record
        while sent < budget and batch.errors == errors and record.status not in _STOP:
            try:
                parts = fill(slots, stride, min(batch.max_segments, budget - sent), now)
            except SourceError as exc:
                self.session.fail(exc.message)
                break
            if not parts:
                break
            batch.add_run(slots, stride, parts)
            batch.flush()  # the slots are reused by the next run
            sent += len(parts)
            self._drain(now)
        return sent

    def _sync(self) -> None:
        s, r, d = self.session, self.record, self.dest
        bs, br, ps, pr, bys, byr = self.base
        r.blocks_sent = bs + s.blocks_sent
        r.blocks_retransmitted = br + (0 if "retransmits-not-counted" in self.ctx.faults
                                       else s.blocks_retransmitted)
        # The receiver's held set only grows; a resumed session knows it only from its first
        # ACK, so until then the record keeps what the earlier session saw (never 0 again).
        r.blocks_acked = max(r.blocks_acked, s.blocks_acked)
        if "counters-lie" in self.ctx.faults:
            r.blocks_acked = r.blocks_sent + 1
        r.packets_sent, r.packets_recv = ps + s.packets_sent, pr + s.packets_recv
        r.bytes_sent, r.bytes_recv = bys + s.bytes_sent, byr + s.bytes_recv
        r.snapshot_time = wall_us()
        if s.state not in (SenderState.OPENING, SenderState.FAILED):
            r.effective_cipher = s.cipher
        d.encrypted_connection_state = s.connection_state
        if s.peer_uid is not None:
            d.last_destination_server_uid, d.last_destination_server_id = s.peer_uid, s.peer_id
        now_m, now_w = time.monotonic(), wall_us()
        if s.last_send:
            d.last_send_time = now_w - int((now_m - s.last_send) * 1e6)
        if s.packets_recv:
            d.last_recv_time = now_w - int((now_m - s.last_recv) * 1e6)
        s.set_rate(self._rate())

    def _finish(self) -> None:
        s, record = self.session, self.record
        if self.w.stopping and not s.finished:  # server shutting down: leave it as it is
            self._sync()
            return
        if record.status in _STOP and not s.finished:  # suspended or cancelled meanwhile
            if record.status is TransferStatus.CANCELLED:
                self._send(s.cancel() * 3)
            self._sync()
            self.dest.encrypted_connection_state = "disconnected"
            return
        self._sync()
        self.dest.encrypted_connection_state = "disconnected"
        if s.state is SenderState.DONE:
            record.file_results = s.results
            failed = [r for r in s.results or [] if r.get("outcome") == "error"]
            if failed:
                self.ctx.post(record, TransferEvent.FAIL,
                              f"{len(failed)} of {len(s.results or [])} entries failed: "
                              f"{failed[0].get('destPath')}: {failed[0].get('detail', '')}")
            else:
                self.ctx.post(record, TransferEvent.FINISH_OK, None)
        else:
            self.dest.last_error_message = s.error
            self.ctx.post(record, TransferEvent.FAIL, s.error or "transfer failed")
