"""The data plane's fast paths keep the protocol's results (docs/protocol.md 5.5, 5.9, 5.7).

Requirement: encrypting from a lent view is the same datagram as encrypting in place; a
coalescing write-behind sink writes exactly the bytes it was given, in place, whatever the
order; early writeback changes no byte and bounds each file's unwritten data to
``DIRTY_BEHIND`` behind its write head; a finished session no longer takes a share of the
receiver's window.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from test_data_simulation import MemorySinks, make_spec, run

from jetstream_qa.constants import OverwriteMode
from jetstream_qa.refserver.engine import fs_sync, write_plan
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.receiver_core import ReceiverEndpoint
from jetstream_qa.refserver.engine.sender_core import SenderSession
from jetstream_qa.refserver.engine.sender_model import SenderState
from jetstream_qa.refserver.engine.storage import ReceiveStorage
from jetstream_qa.refserver.engine.write_behind import WriteBehindSink
from jetstream_qa.wire import crypto
from jetstream_qa.wire.crypto import Protector
from jetstream_qa.wire.data import HEADER, DType, OpenAck, decode_body, pack_header

KEY = os.urandom(32)


@pytest.mark.parametrize("cipher", [0, 1, 2, 3])
def test_seal_from_a_view_equals_seal_in_place_and_opens(cipher: int) -> None:
    body = os.urandom(5000)
    in_place = bytearray(pack_header(DType.DATA, 9, 4) + body + bytes(16))
    n = Protector(cipher, KEY, 0).seal(in_place, HEADER.size, len(body), 4)
    from_view = bytearray(pack_header(DType.DATA, 9, 4) + bytes(len(body) + 16))
    m = Protector(cipher, KEY, 0).seal_from(from_view, HEADER.size, memoryview(body), 4)
    assert (m, from_view[:m]) == (n, in_place[:n])
    assert Protector(cipher, KEY, 0).open(from_view, m, HEADER.size, 4) == len(body)
    assert bytes(from_view[HEADER.size:HEADER.size + len(body)]) == body


def test_layout_within_finds_runs_inside_one_file_only() -> None:
    layout = Layout([3, 0, 5, 2])
    assert layout.within(0, 3) == 0
    assert layout.within(4, 4) == 1
    assert layout.within(8, 2) == 0
    assert layout.within(2, 2) is None  # straddles files 0 and 2
    assert layout.within(9, 2) is None  # leaves the byte space


class RecordingSink:
    """The StorageSink surface WriteBehindSink uses, recording every call."""

    def __init__(self, total: int) -> None:
        self.layout = Layout([total])
        self.wants_any = True
        self.data = bytearray(total)
        self.writes: list[tuple[int, int]] = []
        self.writebacks = 0
        self.flushed = 0

    def write(self, offset: int, data: memoryview) -> None:
        self.data[offset:offset + len(data)] = data
        self.writes.append((offset, len(data)))

    def writeback(self) -> None:
        self.writebacks += 1

    def flush(self) -> None:
        self.flushed += 1

    def unwanted(self) -> list[tuple[int, int]]:
        return []

    def finish(self) -> list[dict[str, Any]]:
        return [{"destPath": "f", "outcome": "written", "detail": ""}]

    def abort(self) -> None:
        pass


def test_write_behind_coalesces_contiguous_runs_into_large_writes() -> None:
    total = 3 << 20
    data = os.urandom(total)
    inner = RecordingSink(total)
    sink = WriteBehindSink(inner, chunk=1 << 20, writeback_every=1 << 20)  # type: ignore[arg-type]
    step = 64768
    for off in range(0, total, step):
        sink.write(off, memoryview(data)[off:off + step])  # a fresh view each time
    sink.flush()
    assert inner.data == data
    assert inner.flushed == 1
    assert len(inner.writes) <= 4  # 49 datagrams became a few ~1 MiB writes
    assert inner.writebacks >= 2
    assert sink.finish()[0]["outcome"] == "written"


def test_write_behind_keeps_out_of_order_runs_and_reused_buffers_exact() -> None:
    total = 200 * 256
    data = os.urandom(total)
    runs = [(i * 256, 256) for i in range(200)]
    random.Random(3).shuffle(runs)
    runs += runs[:20]  # duplicates are rewritten with the same bytes
    inner = RecordingSink(total)
    sink = WriteBehindSink(inner, chunk=1 << 16, max_bytes=1 << 17)  # type: ignore[arg-type]
    scratch = bytearray(256)  # the receive buffer is reused for every datagram
    for off, n in runs:
        scratch[:n] = data[off:off + n]
        sink.write(off, memoryview(scratch)[:n])
    sink.finish()
    assert inner.data == data


def test_early_writeback_changes_no_byte(tmp_path: Path) -> None:
    entries = [Entry("a.bin", 3 << 20, 0), Entry("b.bin", 1000, 0)]
    plan = ReceiveStorage(tmp_path).begin(entries, destination_path="d", flags=3,
                                          overwrite_mode=int(OverwriteMode.ALWAYS))
    data = os.urandom((3 << 20) + 1000)
    for off in range(0, 3 << 20, 1 << 20):
        plan.write(0, off, memoryview(data)[off:off + (1 << 20)])
        plan.writeback()
    plan.write(1, 0, data[3 << 20:])
    plan.writeback()
    plan.flush()
    assert [r["outcome"] for r in plan.finish()] == ["written", "written"]
    assert (tmp_path / "d" / "a.bin").read_bytes() == data[:3 << 20]
    assert (tmp_path / "d" / "b.bin").read_bytes() == data[3 << 20:]


def test_writeback_waits_for_what_lies_far_behind_the_write_head(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writeback() waits (WAIT_BEFORE|WRITE|WAIT_AFTER) for the range from where the
    last wait ended to DIRTY_BEHIND behind the furthest write, so the waited ranges tile
    [0, head - DIRTY_BEHIND) exactly; a rewrite behind the head (a retransmission) moves
    nothing back; the bytes are unchanged."""
    behind = 2 << 20
    monkeypatch.setattr(write_plan, "DIRTY_BEHIND", behind)
    real = fs_sync.sync_file_range()
    if real is None:
        pytest.skip("no sync_file_range on this platform")
    calls: list[tuple[int, int, int]] = []

    def recording(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append((offset, nbytes, flags))
        return int(real(fd, offset, nbytes, flags))

    monkeypatch.setattr(fs_sync, "sync_file_range", lambda: recording)
    size, chunk = 9 << 20, 1 << 20
    plan = ReceiveStorage(tmp_path).begin([Entry("big.bin", size, 0)], destination_path="d",
                                          flags=3, overwrite_mode=int(OverwriteMode.ALWAYS))
    data = os.urandom(size)
    heads = []
    for off in range(0, size, chunk):
        plan.write(0, off, memoryview(data)[off:off + chunk])
        if off >= 4 * chunk:  # a retransmitted chunk far behind the head
            plan.write(0, off - 4 * chunk, memoryview(data)[off - 4 * chunk:off - 3 * chunk])
        plan.writeback()
        heads.append(off + chunk)
    settles = [(o, n) for o, n, f in calls if f == fs_sync.SYNC_FILE_RANGE_SETTLE]
    starts = [(o, n) for o, n, f in calls if f == fs_sync.SYNC_FILE_RANGE_WRITE]
    assert starts == [(0, 0)] * len(heads)  # every call starts writeback of the whole file
    expected, settled = [], 0
    for head in heads:
        if head - behind > settled:
            expected.append((settled, head - behind - settled))
            settled = head - behind
    assert settles == expected
    assert settled == size - behind
    plan.flush()
    assert [r["outcome"] for r in plan.finish()] == ["written"]
    assert (tmp_path / "d" / "big.bin").read_bytes() == data


def _open_ack_window(rx: Any, now: float) -> int:
    tx = SenderSession(make_spec(b"x" * 1000, cipher=0), source=None)  # type: ignore[arg-type]
    (open_dgram,) = tx.start(now)
    buf = bytearray(open_dgram)
    ((answer, _addr),) = rx.receive(buf, len(buf), ("127.0.0.1", 40001), now)
    body = decode_body(DType.OPEN_ACK, answer[HEADER.size:])
    assert isinstance(body, OpenAck)
    return body.window


def test_finished_sessions_take_no_share_of_the_receiver_window() -> None:
    tx, rx, _sinks = run(os.urandom(20_000), cipher=3)  # window 64, as `fresh`
    assert tx.state is SenderState.DONE
    fresh = ReceiverEndpoint(static_key=crypto.generate_ephemeral(), server_uid="rx-uid",
                             server_id="rx-id", min_cipher=0, sinks=MemorySinks(), window=64,
                             max_datagram=1400)
    rx.tick(5.0)  # the finished session lingers (it answers FIN) but carries no data
    assert len(rx.sessions) == 1
    assert _open_ack_window(rx, 5.0) == _open_ack_window(fresh, 5.0) == 32
