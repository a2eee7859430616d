"""refserver.persist + refserver.journal: changes go to the journal, restarts replay it.

Each test drives a real :class:`Persistence` attached to a :class:`ServerState` the way the
server attaches it (``state.subscribe(p.mark_dirty)``), flushes by hand instead of through the
timer, and "restarts" by loading the state directory into a fresh state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from jetstream_qa.constants import FileType
from jetstream_qa.refserver.journal import JOURNAL_FILE, JournalEntry
from jetstream_qa.refserver.persist import SLICE, Persistence, _dump
from jetstream_qa.refserver.state import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    ServerState,
    TokenRecord,
    TransferEvent,
    TransferRecord,
    TransferStatus,
)

DEST = "h:1-x"


def _manifest(mid: str) -> ManifestRecord:
    return ManifestRecord(manifest_id=mid, owner="alice", mappings={"d": "/s"},
                          status=ManifestStatus.COMPLETE, total_files=1, total_size=3,
                          files=[FileEntry("/s", "d", 3, False, False, 5,
                                           FileType.REGULAR_FILE)])


def _transfer(tid: int, mid: str, status: TransferStatus) -> TransferRecord:
    return TransferRecord(transfer_id=tid, owner="alice", destination_id=DEST, manifest_id=mid,
                          status=status, total_bytes=3, blocks_sent=1, blocks_acked=1)


def _state(finished: int = 3) -> ServerState:
    """A state with one destination, one token, and ``finished`` complete transfers."""
    st = ServerState()
    st.destinations[DEST] = DestinationRecord(destination_id=DEST, owner="alice",
                                              destination_address="h", destination_ip="1",
                                              destination_port=1)
    st.tokens["t"] = TokenRecord(token="t", owner="alice", password_hash="pbkdf2$1$00$11")
    for tid in range(1, finished + 1):
        mid = f"{tid:032x}"
        st.manifests[mid] = _manifest(mid)
        st.transfers[tid] = _transfer(tid, mid, TransferStatus.COMPLETE)
    return st


def _attach(tmp_path: Path, st: ServerState, **kw: int) -> Persistence:
    p = Persistence(tmp_path, st, **kw)
    st.subscribe(p.mark_dirty)
    p.flush()  # the first flush is always a full snapshot
    assert p.last_flush is not None and p.last_flush.kind == "snapshot"
    return p


def _restart(tmp_path: Path) -> ServerState:
    st = ServerState()
    Persistence(tmp_path, st).load()
    return st


def _flush_journal(p: Persistence) -> None:
    p.flush()
    assert p.last_flush is not None and p.last_flush.kind == "journal", p.last_flush


def test_changes_survive_a_restart_through_the_journal(tmp_path: Path) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    snapshot_before = (tmp_path / "state.json").read_bytes()
    st.transfers[2].user_data["k"] = "v"
    st.changed("transfer", st.transfers[2])
    st.manifests["m" * 32] = _manifest("m" * 32)
    st.changed("manifest", st.manifests["m" * 32])
    st.transfers[9] = _transfer(9, "m" * 32, TransferStatus.PENDING)
    st.changed("transfer", st.transfers[9])
    _flush_journal(p)
    assert (tmp_path / "state.json").read_bytes() == snapshot_before  # not rewritten
    loaded = _restart(tmp_path)
    assert loaded.transfers == st.transfers
    assert loaded.manifests == st.manifests
    assert loaded.new_transfer_id() == 10


def test_a_deletion_is_applied_on_restart(tmp_path: Path) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    token, transfer = st.tokens.pop("t"), st.transfers.pop(3)
    st.changed("token", token)
    st.changed("transfer", transfer)
    _flush_journal(p)
    loaded = _restart(tmp_path)
    assert "t" not in loaded.tokens
    assert set(loaded.transfers) == {1, 2}
    assert f"{3:032x}" not in loaded.manifests  # no transfer refers to it any more


def test_a_torn_last_line_loses_only_that_flush(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    st.transfers[1].user_data["first"] = "kept"
    st.changed("transfer", st.transfers[1])
    _flush_journal(p)
    st.transfers[2].user_data["second"] = "lost"
    st.changed("transfer", st.transfers[2])
    _flush_journal(p)
    journal = tmp_path / JOURNAL_FILE
    data = journal.read_bytes()
    assert p.last_flush is not None
    last_write_start = len(data) - p.last_flush.bytes_written
    journal.write_bytes(data[:last_write_start + 40])  # a crash early in the last write
    with caplog.at_level(logging.WARNING, logger="jetstream_qa.refserver"):
        loaded = _restart(tmp_path)
    assert loaded.transfers[1].user_data == {"first": "kept"}
    assert loaded.transfers[2].user_data == {}
    assert "cut short" in caplog.text


def test_an_unreadable_middle_line_ends_the_replay_there(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    for tid in (1, 2, 3):
        st.transfers[tid].user_data["n"] = str(tid)
        st.changed("transfer", st.transfers[tid])
        _flush_journal(p)
    journal = tmp_path / JOURNAL_FILE
    lines = journal.read_text().split("\n")
    assert '"transfer_id":2' in lines[3]  # header, transfer 1, its destination, transfer 2
    lines[3] = lines[3][:30]
    journal.write_text("\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="jetstream_qa.refserver"):
        loaded = _restart(tmp_path)
    assert [loaded.transfers[t].user_data for t in (1, 2, 3)] == [{"n": "1"}, {}, {}]
    assert "line 4 unreadable" in caplog.text


def test_an_older_generation_journal_is_not_replayed(tmp_path: Path) -> None:
    """A crash between compaction's snapshot and its new journal leaves the old journal:
    its content is already in the newer snapshot, and replaying it would undo later changes."""
    st = _state()
    p = _attach(tmp_path, st)
    st.transfers[1].user_data["v"] = "old"
    st.changed("transfer", st.transfers[1])
    _flush_journal(p)
    old_journal = (tmp_path / JOURNAL_FILE).read_bytes()
    st.transfers[1].user_data["v"] = "new"
    st.changed("transfer", st.transfers[1])
    p.save()  # compaction: snapshot of generation g+1, then a fresh journal
    (tmp_path / JOURNAL_FILE).write_bytes(old_journal)  # as if the crash came in between
    assert _restart(tmp_path).transfers[1].user_data == {"v": "new"}
    # and the restarted server's first snapshot gets a generation no old journal carries
    p2 = Persistence(tmp_path, ServerState())
    p2.load()
    p2.save()
    assert _restart(tmp_path).transfers[1].user_data == {"v": "new"}


def test_compaction_keeps_every_record(tmp_path: Path) -> None:
    st = _state(finished=20)
    p = _attach(tmp_path, st, compact_min_bytes=0)  # compact once the journal > snapshot
    st.manifests["m" * 32] = _manifest("m" * 32)  # made before the compaction ...
    st.changed("manifest", st.manifests["m" * 32])
    _flush_journal(p)
    kinds = []
    for round_ in range(200):
        tid = 1 + round_ % 20
        st.transfers[tid].user_data["round"] = str(round_)
        st.changed("transfer", st.transfers[tid])
        p.flush()
        kinds.append(p.last_flush.kind if p.last_flush else None)
        if kinds[-1] == "snapshot":
            break
    assert kinds[-1] == "snapshot", "the journal never grew past the snapshot"
    st.transfers[30] = _transfer(30, "m" * 32, TransferStatus.PENDING)  # ... used after it
    st.changed("transfer", st.transfers[30])
    _flush_journal(p)
    loaded = _restart(tmp_path)
    assert loaded.transfers == st.transfers
    assert loaded.manifests == st.manifests  # every one is used by a transfer
    assert loaded.destinations == st.destinations and loaded.tokens == st.tokens


def test_sending_transfers_carry_their_current_counters(tmp_path: Path) -> None:
    """The sender threads move counters and the destination's connection fields without a
    notification; a flush (here caused by an unrelated change) writes their current values."""
    st = _state()
    p = _attach(tmp_path, st)
    st.transfers[5] = record = _transfer(5, f"{1:032x}", TransferStatus.PENDING)
    st.apply(record, TransferEvent.START)
    _flush_journal(p)
    record.blocks_sent, record.bytes_sent = 500, 128_000  # as the sender thread's _sync does
    st.destinations[DEST].encrypted_connection_state = "connected"
    st.tokens["t"].description = "unrelated"
    st.changed("token", st.tokens["t"])
    _flush_journal(p)
    loaded = _restart(tmp_path)
    assert (loaded.transfers[5].blocks_sent, loaded.transfers[5].bytes_sent) == (500, 128_000)
    assert loaded.transfers[5].status is TransferStatus.PENDING  # a restart re-queues it
    assert loaded.destinations[DEST].encrypted_connection_state == "connected"


def test_a_settings_change_writes_a_full_snapshot(tmp_path: Path) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    st.gc.max_age_seconds = 60
    st.changed("settings", st.gc)
    p.flush()
    assert p.last_flush is not None and p.last_flush.kind == "snapshot"
    st.changed("gc", None)
    p.flush()
    assert p.last_flush.kind == "snapshot"
    assert _restart(tmp_path).gc.max_age_seconds == 60


def test_a_failed_journal_write_loses_nothing(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    st = _state()
    p = _attach(tmp_path, st)
    st.transfers[1].user_data["k"] = "v"
    st.changed("transfer", st.transfers[1])

    def disk_full(entries: list[JournalEntry]) -> int:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(p.journal, "append", disk_full)
        with pytest.raises(OSError):
            p.flush()
    p.flush()  # the next flush cannot trust the journal: a full snapshot
    assert p.last_flush is not None and p.last_flush.kind == "snapshot"
    assert _restart(tmp_path).transfers[1].user_data == {"k": "v"}


@pytest.mark.parametrize("finished", [10, 10_000])
def test_a_flush_writes_what_changed_not_what_is_held(tmp_path: Path, finished: int) -> None:
    """One changed transfer among ``finished`` unchanged ones: the flush appends exactly the
    transfer's and its destination's lines, the same bytes for 10 or 10,000 held records."""
    st = _state(finished=finished)
    p = _attach(tmp_path, st)
    snapshot = tmp_path / "state.json"
    before = snapshot.stat()
    record = st.transfers[1]
    record.user_data["k"] = "v"
    st.changed("transfer", record)
    _flush_journal(p)
    expected = (JournalEntry("put", "transfer", record=_dump(record)).line()
                + JournalEntry("put", "destination",
                               record=_dump(st.destinations[DEST])).line()).encode()
    assert p.last_flush is not None
    assert (p.last_flush.records, p.last_flush.bytes_written) == (2, len(expected))
    assert (tmp_path / JOURNAL_FILE).read_bytes().endswith(expected)
    after = snapshot.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)


def test_a_snapshot_without_a_generation_still_loads(tmp_path: Path) -> None:
    """state.json written before the journal existed has no generation (read as 0)."""
    (tmp_path / "state.json").write_text(
        '{"format": "jetstream-qa/refserver-state/1", "tokens": '
        '[{"token": "t", "owner": "alice"}]}')
    assert set(_restart(tmp_path).tokens) == {"t"}


def test_state_files_are_private(tmp_path: Path) -> None:
    _attach(tmp_path, _state())
    for name in ("state.json", JOURNAL_FILE):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_compaction_yields_to_the_event_loop_and_misses_no_change_made_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flush task compacts in slices (``Persistence.compact``): other tasks run between
    them (an API request is not held up for the whole state), and whatever they change,
    delete or add meanwhile -- before or after its table was listed -- is in the next
    journal, so a restart sees the final state."""
    st = _state(finished=3000)
    p = _attach(tmp_path, st)
    produced: list[str] = []
    parts = p.snapshot_parts

    def recorded(generation: int = 0) -> Iterator[str]:
        for part in parts(generation):
            produced.append(part)
            yield part

    monkeypatch.setattr(p, "snapshot_parts", recorded)
    seen: set[int] = set()

    async def api_traffic(compacting: asyncio.Future[None]) -> None:
        early = late = False
        while not compacting.done():
            seen.add(len(produced))
            if not early:  # before any table is listed
                early = True
                st.transfers[5].user_data["early"] = "yes"
                st.changed("transfer", st.transfers[5])
            if not late and produced[-2:-1] == [',"transfers":[']:  # listed, one slice out
                late = True
                st.changed("transfer", st.transfers.pop(2900))
                st.transfers[2999].user_data["late"] = "yes"
                st.changed("transfer", st.transfers[2999])
                st.transfers[4000] = _transfer(4000, f"{1:032x}", TransferStatus.PENDING)
                st.changed("transfer", st.transfers[4000])
            await asyncio.sleep(0)
        assert early and late

    async def main() -> None:
        compacting = asyncio.ensure_future(p.compact())
        await asyncio.gather(compacting, api_traffic(compacting))

    asyncio.run(main())
    assert len(seen) >= 2 * -(-3000 // SLICE)  # between the slices of manifests, transfers
    assert p.last_flush is not None and p.last_flush.kind == "snapshot"
    _flush_journal(p)
    loaded = _restart(tmp_path)
    assert loaded.transfers == st.transfers
    assert loaded.transfers[5].user_data == {"early": "yes"}
    assert 2900 not in loaded.transfers and loaded.transfers[4000].status is TransferStatus.PENDING


def test_the_flush_task_compacts_in_slices(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The running flush task (not only a direct call) compacts through ``compact``."""
    st = _state()
    p = Persistence(tmp_path, st, interval=0.01)
    compacted: list[int] = []
    compact = p.compact

    async def spied() -> None:
        compacted.append(1)
        await compact()

    monkeypatch.setattr(p, "compact", spied)

    async def main() -> None:
        p.start()
        st.changed("settings", None)  # not one record: a full snapshot is due
        for _ in range(500):  # at most 5 s
            if p.last_flush is not None:
                flushes.append(p.last_flush.kind)
                break
            await asyncio.sleep(0.01)
        await p.stop()

    flushes: list[str] = []
    asyncio.run(main())
    assert compacted and flushes == ["snapshot"]
    assert _restart(tmp_path).transfers == st.transfers
