"""The reference server: one object holding config, state, engine and the control listener.

``ServerApp(config)``; ``await app.start()`` loads keys, identity and persisted state, starts
the data-plane engine (``jetstream_qa.refserver.engine.Engine``, imported lazily) and the TCP
control listener; ``await app.stop()`` undoes it. Handlers reach everything through the app.

The engine contract (the data plane codes against it)::

    Engine(config=ServerConfig, state=ServerState, events=EventLog, keys=ServerKeys)
    async start() / async stop()
    submit(record: TransferRecord)        # a new (or re-queued) pending transfer
    suspend(transfer_id) / resume(transfer_id) / cancel(transfer_id)
    set_send_rate(transfer_id, bits_per_second | None)   # None = no per-transfer limit
    receiver_transfers() -> list[dict]    # Receive Transfer structures (protocol.md 4.5)
    receiver_sources() -> list[dict]      # Source structures (4.6)
    receiver_stats() -> dict              # activeTransfers, rejectedDatagrams, ...
    recv_address -> (host, port)          # the bound UDP address

Status changes go through ``state.apply(record, TransferEvent.X)``. For suspend, resume and
cancel the control plane calls the engine first and then applies the event itself unless
the engine already did, so either convention works.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
import socket
from typing import Any

from jetstream_qa.constants import TRANSFER_FINAL_STATUSES
from jetstream_qa.refserver.config import ServerConfig
from jetstream_qa.refserver.events import EventLog
from jetstream_qa.refserver.identity import VERSION
from jetstream_qa.refserver.keys import ServerKeys, load_or_create_keys
from jetstream_qa.refserver.persist import Persistence, load_server_uid
from jetstream_qa.refserver.requests import RequestTable
from jetstream_qa.refserver.session_logins import LoginThrottle
from jetstream_qa.refserver.state import ServerState, TransferRecord, TransferStatus
from jetstream_qa.refserver.tls import TlsMaterial, load_or_create_certificate
from jetstream_qa.refserver.waiters import ChangeWaiter

__all__ = ["ServerApp"]

log = logging.getLogger("jetstream_qa.refserver")


def _load_engine_class() -> Any:
    """``jetstream_qa.refserver.engine.Engine``, or None when that package does not exist."""
    try:
        module = importlib.import_module("jetstream_qa.refserver.engine")
    except ModuleNotFoundError as exc:
        if exc.name == "jetstream_qa.refserver.engine":
            return None
        raise
    return getattr(module, "Engine", None)


class ServerApp:
    """One running reference server (control plane + optional data-plane engine)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state = ServerState()
        self.events = EventLog()
        self.requests = RequestTable(expiry=config.request_expiry)
        self.waiter = ChangeWaiter()
        self.server_id = secrets.token_hex(16)
        self.keys: ServerKeys | None = None
        self.tls: TlsMaterial | None = None
        self.engine: Any = None
        self.persistence: Persistence | None = None
        self.api_address: tuple[str, int] = (config.api_host, config.api_port)
        self.connections = 0
        self.logins = LoginThrottle()
        self.host_name = socket.gethostname()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_status: dict[int, TransferStatus] = {}

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Load identity and state, start engine and listener. Raises OSError on bind."""
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        cfg.storage_root.mkdir(parents=True, exist_ok=True)
        self.keys = load_or_create_keys(cfg.state_dir)
        self.state.server_id = self.server_id
        self.state.server_uid = load_server_uid(cfg.state_dir)
        self._init_settings()
        if cfg.persistent_state:
            self.persistence = Persistence(cfg.state_dir, self.state)
            self.persistence.load()
            self.persistence.start()
        if cfg.sandbox_dir is not None:  # server primer: equals setSandboxMapping("", ...)
            self.state.sandbox_mappings[""] = {"": {"type": "File", "path": cfg.sandbox_dir}}
        self.state.subscribe(self.waiter.notify)
        self.state.subscribe(self._log_change)
        ssl_ctx = None
        if cfg.tls:
            self.tls = load_or_create_certificate(cfg.state_dir, common_name=cfg.server_name)
            ssl_ctx = self.tls.server_context()
        await self._start_engine()
        from jetstream_qa.refserver.connection import serve_connection

        self._server = await asyncio.start_server(
            lambda r, w: serve_connection(self, r, w), cfg.api_host, cfg.api_port,
            ssl=ssl_ctx, ssl_handshake_timeout=cfg.handshake_timeout if ssl_ctx else None,
            limit=cfg.max_frame + 8)
        sock = self._server.sockets[0].getsockname()
        self.api_address = (sock[0], sock[1])
        self.spawn(self._gc_loop())
        self.events.emit("serverStarted", serverId=self.server_id,
                         serverUid=self.state.server_uid, version=VERSION)
        log.info("control listening on %s:%s", *self.api_address)

    def _init_settings(self) -> None:
        cfg, st = self.config, self.state
        st.gc.interval_seconds = cfg.gc_interval_seconds
        st.gc.max_age_seconds = cfg.gc_max_age_seconds
        st.bandwidth.incoming_rate_limit = cfg.incoming_rate_limit
        st.bandwidth.outgoing_rate_limit = cfg.outgoing_rate_limit
        st.bandwidth.borrow_incoming_rate = cfg.borrow_incoming_rate
        st.bandwidth.borrow_outgoing_rate = cfg.borrow_outgoing_rate

    async def _start_engine(self) -> None:
        engine_cls = _load_engine_class()
        if engine_cls is None:
            log.warning("data plane missing: jetstream_qa.refserver.engine.Engine does not "
                        "exist; "
                        "transfers stay pending and nothing listens on the receive port")
            return
        self.engine = engine_cls(config=self.config, state=self.state, events=self.events,
                                 keys=self.keys)
        await self.engine.start()
        for record in sorted(self.state.transfers.values(), key=lambda t: t.transfer_id):
            if record.status is TransferStatus.PENDING:
                self.engine.submit(record)

    async def stop(self) -> None:
        """Close the listener, stop engine and tasks, save state."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.requests.close()
        if self.engine is not None:
            try:
                await asyncio.wait_for(self.engine.stop(), 10.0)
            except Exception:
                log.exception("engine did not stop cleanly")
        if self.persistence is not None:
            await self.persistence.stop()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the app cancels on stop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- facts ----------------------------------------------------------------------------
    @property
    def recv_address(self) -> tuple[str, int]:
        if self.engine is not None:
            host, port = self.engine.recv_address[:2]
            return (host, port)
        return (self.config.recv_host, self.config.recv_port)

    def receiver_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"activeTransfers": 0, "rejectedDatagrams": 0,
                                 "malformedDatagrams": 0}
        if self.engine is not None:
            stats.update(self.engine.receiver_stats())
        stats["recvPort"] = self.recv_address[1]
        return stats

    # --- listeners ------------------------------------------------------------------------
    def _log_change(self, kind: str, record: Any) -> None:
        """Emit ``transferUpdated`` when a transfer's status changed (not on progress)."""
        if kind != "transfer":
            return
        assert isinstance(record, TransferRecord)
        if self._last_status.get(record.transfer_id) is record.status:
            return
        self._last_status[record.transfer_id] = record.status
        self.events.emit("transferUpdated", record.to_json(),
                         owner=record.owner, owner_token=record.owner_token)

    # --- garbage collection ---------------------------------------------------------------
    def garbage_collect(self) -> dict[str, int]:
        """Remove finished transfers and unreferenced manifests older than the max age, and
        expired tokens (vendor "Lifetime management"). Returns the counts removed."""
        from jetstream_qa.refserver.state import now_us

        st = self.state
        now = now_us()
        cutoff = now - int(st.gc.max_age_seconds * 1_000_000)
        old = [t.transfer_id for t in st.transfers.values()
               if t.status in TRANSFER_FINAL_STATUSES and (t.end_time or 0) <= cutoff]
        for tid in old:
            del st.transfers[tid]
            self._last_status.pop(tid, None)
        used = {t.manifest_id for t in st.transfers.values()}
        gone_m = [m.manifest_id for m in st.manifests.values()
                  if m.manifest_id not in used and m.creation_time <= cutoff
                  and m.status.value != "pending"]
        for mid in gone_m:
            del st.manifests[mid]
        gone_t = [t.token for t in st.tokens.values()
                  if t.expired(now) and not self.config.has_fault("token-never-expires")]
        for tok in gone_t:
            del st.tokens[tok]
        result = {"removedTransfers": len(old), "removedManifests": len(gone_m),
                  "removedTokens": len(gone_t)}
        if any(result.values()):
            st.changed("gc", None)
        self.events.emit("garbageCollected", removedTransfers=len(old),
                         removedManifests=len(gone_m), removedTokens=len(gone_t))
        return result

    async def _gc_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(1.0)
            if loop.time() - last >= self.state.gc.interval_seconds:
                last = loop.time()
                try:
                    self.garbage_collect()
                except Exception:
                    log.exception("garbage collection failed")
