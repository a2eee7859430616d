"""The Engine facade in-process (the contract in refserver/app.py), two engines on loopback.

Requirements: start() binds the receive port, stop() ends every thread it started within its
deadline; a submitted transfer is driven through the status table (pending -> sending ->
complete) with real counters and fileResults; the destination record shows the receiver's
identity; receiver_transfers / receiver_sources / receiver_stats report the receive side.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from jetstream_qa.constants import FileType
from jetstream_qa.refserver.config import ServerConfig
from jetstream_qa.refserver.engine import Engine
from jetstream_qa.refserver.events import EventLog
from jetstream_qa.refserver.keys import load_or_create_keys
from jetstream_qa.refserver.state import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    ServerState,
    TransferRecord,
    TransferStatus,
)

pytestmark = pytest.mark.timeout(60)


def _engine(root: Path, name: str, *, min_cipher: int = 0) -> Engine:
    cfg = ServerConfig(storage_root=root / name / "storage", state_dir=root / name / "state",
                       users={"u": "pw"}, recv_port=0, min_cipher=min_cipher)
    state = ServerState()
    state.server_id, state.server_uid = f"{name}-id", f"{name}-uid"
    return Engine(config=cfg, state=state, events=EventLog(),
                  keys=load_or_create_keys(cfg.state_dir))


async def _wait(pred: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_engine_transfer_in_process_and_clean_stop(tmp_path: Path) -> None:
    data = os.urandom(300_001)
    (tmp_path / "a.bin").write_bytes(data)
    threads_before = set(threading.enumerate())

    async def scenario() -> TransferRecord:
        sender, receiver = _engine(tmp_path, "s"), _engine(tmp_path, "r", min_cipher=2)
        await sender.start()
        await receiver.start()
        try:
            host, port = receiver.recv_address
            assert port > 0
            st = sender.state
            st.manifests["m"] = ManifestRecord(
                "m", "u", {"/a.bin": str(tmp_path / "a.bin")}, status=ManifestStatus.COMPLETE,
                total_files=1, total_size=len(data),
                files=[FileEntry(str(tmp_path / "a.bin"), "a.bin", len(data), False, False,
                                 0, FileType.REGULAR_FILE)])
            st.destinations["d"] = DestinationRecord("d", "u", host, host, port)
            record = TransferRecord(1, "u", "d", "m", destination_path="in", min_cipher=1)
            st.transfers[1] = record
            sender.submit(record)
            await _wait(lambda: record.finished)
            stats = receiver.receiver_stats()
            assert stats["activeTransfers"] == 0 and stats["datagramsReceived"] > 0
            (recv_rec,) = receiver.receiver_transfers()
            assert recv_rec["status"] == "complete" and recv_rec["totalSize"] == len(data)
            (source,) = receiver.receiver_sources()
            assert source["completeTransferCount"] == 1
            dest = st.destinations["d"]
            assert dest.last_destination_server_uid == "r-uid"
            assert dest.last_destination_server_id == "r-id"
            return record
        finally:
            await sender.stop()
            await receiver.stop()

    record = asyncio.run(scenario())
    assert record.status is TransferStatus.COMPLETE, record.error_message
    assert record.effective_cipher == 2  # raised to the receiver's minCipher
    assert record.blocks_acked == record.total_blocks == -(-len(data) // 256)
    assert record.bytes_sent >= len(data)
    assert record.file_results and record.file_results[0]["outcome"] == "written"
    assert (tmp_path / "r" / "storage" / "in" / "a.bin").read_bytes() == data
    leftover = [t for t in set(threading.enumerate()) - threads_before
                if t.name.startswith("jq-") and t.is_alive()]
    assert leftover == []
