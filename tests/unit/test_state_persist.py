"""refserver.persist: records and settings survive a save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

from jetstream_qa.constants import FileType, SymlinkMode
from jetstream_qa.refserver.persist import Persistence, load_server_uid
from jetstream_qa.refserver.state import (
    DestinationRecord,
    FileEntry,
    ManifestRecord,
    ManifestStatus,
    ServerState,
    TokenRecord,
    TransferRecord,
    TransferStatus,
)


def _populated() -> ServerState:
    st = ServerState()
    m = ManifestRecord(manifest_id="a" * 32, owner="alice", mappings={"d": "/s"},
                       symlink_mode=SymlinkMode.IGNORE, status=ManifestStatus.COMPLETE,
                       files=[FileEntry("/s", "d", 3, False, True, 5, FileType.REGULAR_FILE)])
    unused = ManifestRecord(manifest_id="b" * 32, owner="alice", mappings={"d": "/s"})
    st.manifests.update({m.manifest_id: m, unused.manifest_id: unused})
    st.destinations["h:1-x"] = DestinationRecord(destination_id="h:1-x", owner="alice",
                                                 destination_address="h", destination_ip="1",
                                                 destination_port=1, user_data={"k": "v"})
    st.transfers[4] = TransferRecord(transfer_id=4, owner="alice", destination_id="h:1-x",
                                     manifest_id=m.manifest_id, status=TransferStatus.SENDING,
                                     blocks_sent=9)
    st.tokens["t"] = TokenRecord(token="t", owner="alice", password_hash="pbkdf2$1$00$11")
    st.bandwidth.incoming_rate_limit = 1000
    st.sandbox_mappings[""] = {"": {"type": "File", "path": "/data"}}
    return st


def test_round_trip(tmp_path: Path) -> None:
    Persistence(tmp_path, _populated()).save()
    loaded = ServerState()
    Persistence(tmp_path, loaded).load()
    assert set(loaded.manifests) == {"a" * 32}  # only manifests a transfer refers to
    m = loaded.manifests["a" * 32]
    assert m.symlink_mode is SymlinkMode.IGNORE and m.status is ManifestStatus.COMPLETE
    assert m.files == [FileEntry("/s", "d", 3, False, True, 5, FileType.REGULAR_FILE)]
    assert loaded.destinations["h:1-x"].user_data == {"k": "v"}
    t = loaded.transfers[4]
    assert t.status is TransferStatus.PENDING and t.blocks_sent == 9  # re-queued
    assert loaded.new_transfer_id() == 5
    assert loaded.tokens["t"].password_hash == "pbkdf2$1$00$11"
    assert loaded.bandwidth.incoming_rate_limit == 1000
    assert loaded.sandbox_mappings == {"": {"": {"type": "File", "path": "/data"}}}
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "state.json").read_text())["format"].startswith("jetstream")


def test_unreadable_state_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{broken")
    st = ServerState()
    Persistence(tmp_path, st).load()
    assert st.transfers == {}


def test_server_uid_is_persistent(tmp_path: Path) -> None:
    uid = load_server_uid(tmp_path)
    assert len(uid) == 32 and load_server_uid(tmp_path) == uid
