"""The transfer byte space on disk (docs/protocol.md 5.1): layout, sources, sinks, checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.refserver.engine.checkpoints import FileCheckpoints
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.file_source import FileSource, SourceError
from jetstream_qa.refserver.engine.layout import Layout
from jetstream_qa.refserver.engine.receiver_model import RxSpec
from jetstream_qa.refserver.engine.storage_sinks import StorageSinks
from jetstream_qa.refserver.engine.synthetic import synthetic_bytes


def test_layout_splits_runs_across_files_and_skips_empty_ones() -> None:
    layout = Layout([3, 0, 5, 0, 2])
    assert layout.total == 10
    assert list(layout.spans(0, 10)) == [(0, 0, 0, 3), (2, 0, 3, 5), (4, 0, 8, 2)]
    assert list(layout.spans(4, 5)) == [(2, 1, 0, 4), (4, 0, 4, 1)]
    with pytest.raises(ValueError):
        list(layout.spans(8, 3))


def test_file_source_reads_the_concatenation(tmp_path: Path) -> None:
    parts = [os.urandom(n) for n in (1000, 0, 300, 5)]
    files = []
    for i, data in enumerate(parts):
        p = tmp_path / f"f{i}"
        p.write_bytes(data)
        files.append((str(p), len(data)))
    src = FileSource(files, read=True)
    whole = b"".join(parts)
    buf = bytearray(len(whole))
    src.read_into(0, memoryview(buf))
    assert bytes(buf) == whole
    piece = bytearray(400)
    src.read_into(900, memoryview(piece))
    assert bytes(piece) == whole[900:1300]
    src.close()


def test_file_source_without_read_sends_synthetic_content_per_file() -> None:
    """Without READ, byte i of every file is synthetic_bytes(i) (docs/semantics.md)."""
    src = FileSource([(None, 70_000), (None, 100_000)], read=False)
    buf = bytearray(170_000)
    src.read_into(0, memoryview(buf))
    assert bytes(buf[:70_000]) == synthetic_bytes(0, 70_000)
    assert bytes(buf[70_000:]) == synthetic_bytes(0, 100_000)
    part = bytearray(64_768)
    src.read_into(100_000, memoryview(part))
    assert bytes(part) == synthetic_bytes(30_000, 64_768)


def test_file_source_shorter_than_manifest_is_a_source_error(tmp_path: Path) -> None:
    p = tmp_path / "short"
    p.write_bytes(b"abc")
    src = FileSource([(str(p), 10)], read=True)
    with pytest.raises(SourceError):
        src.read_into(0, memoryview(bytearray(10)))


def test_storage_sink_writes_straddling_runs_and_finishes_files(tmp_path: Path) -> None:
    entries = (Entry("a.bin", 300, 0), Entry("empty", 0, 0),
               Entry("d", 0, 0, is_empty_dir=True), Entry("b.bin", 212, 0))
    sink = StorageSinks(tmp_path).open(RxSpec(entries, "dst", 3, 4, False, 512))
    data = os.urandom(512)
    sink.write(256, memoryview(data)[256:])  # straddles a.bin / b.bin
    sink.write(0, memoryview(data)[:256])
    assert sink.unwanted() == []
    sink.flush()
    results = sink.finish()
    assert [r["outcome"] for r in results] == ["written"] * 4
    assert (tmp_path / "dst" / "a.bin").read_bytes() == data[:300]
    assert (tmp_path / "dst" / "b.bin").read_bytes() == data[300:]
    assert (tmp_path / "dst" / "empty").read_bytes() == b""
    assert (tmp_path / "dst" / "d").is_dir()


def test_storage_sink_without_write_writes_nothing_and_wants_all_data(tmp_path: Path) -> None:
    entries = (Entry("a.bin", 600, 0),)
    sink = StorageSinks(tmp_path).open(RxSpec(entries, "nw", 0, 4, False, 600))
    sink.write(0, memoryview(os.urandom(600)))
    assert sink.unwanted() == []  # network only: the data still crosses the wire
    assert [r["outcome"] for r in sink.finish()] == ["not-written"]
    assert not (tmp_path / "nw" / "a.bin").exists()


def test_checkpoints_round_trip_and_delete(tmp_path: Path) -> None:
    store = FileCheckpoints(tmp_path / "ck")
    key = ("sender-uid", 12)
    assert store.load(key) is None
    store.save(key, {"v": 1, "ranges": [[0, 10]]})
    assert store.load(key) == {"v": 1, "ranges": [[0, 10]]}
    store.delete(key)
    assert store.load(key) is None
    store.delete(key)  # idempotent


def test_file_source_lends_zero_copy_views_of_synthetic_content_within_one_file() -> None:
    src = FileSource([(None, 200_000), (None, 10)], read=False)
    view = src.view(130_000, 64_768)
    assert view is not None and bytes(view) == synthetic_bytes(130_000, 64_768)
    assert src.view(199_990, 20) is None  # straddles two files: read_into copies instead
    assert FileSource([(None, 10)], read=True).view(0, 10) is None
