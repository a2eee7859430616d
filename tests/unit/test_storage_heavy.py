"""storage/heavy: a GiB through ReceiveStorage, resumed halfway, lands byte-exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetstream_qa.constants import OverwriteMode, TransferFlag
from jetstream_qa.refserver.engine.decide import Entry
from jetstream_qa.refserver.engine.storage import ReceiveStorage
from jetstream_qa.refserver.engine.synthetic import synthetic_view

GIB = 1 << 30
CHUNK = 60 * 1024


@pytest.mark.heavy
@pytest.mark.parametrize("mode", [OverwriteMode.ALWAYS, OverwriteMode.IN_PLACE_SAME_SIZE])
def test_storage_gib_resumed_file_is_exact(tmp_path: Path, mode: OverwriteMode) -> None:
    """storage/heavy/gib-resume: 1 GiB of synthetic data, killed at half, resumed, exact."""
    entry = Entry("big/file.bin", GIB + 123, 1_600_000_000_000_000)
    settings = {"destination_path": "/dest", "flags": int(TransferFlag.WRITE),
                "overwrite_mode": int(mode)}
    half = (entry.size // 2) // CHUNK * CHUNK
    first = ReceiveStorage(tmp_path).begin([entry], **settings)  # type: ignore[arg-type]
    for offset in range(0, half, CHUNK):
        first.write(0, offset, synthetic_view(offset, CHUNK))
    first.flush()
    first.abort()
    second = ReceiveStorage(tmp_path).begin([entry], resume=True, **settings)  # type: ignore[arg-type]
    for offset in range(half, entry.size, CHUNK):
        second.write(0, offset, synthetic_view(offset, min(CHUNK, entry.size - offset)))
    assert second.finish()[0]["outcome"] == "written"
    target = tmp_path / "dest/big/file.bin"
    assert target.stat().st_size == entry.size
    with target.open("rb") as fh:
        offset = 0
        while block := fh.read(4 << 20):
            assert block == synthetic_view(offset, len(block)), f"mismatch near {offset}"
            offset += len(block)
    assert offset == entry.size
