"""refserver.state: the transfer status table, records' vendor structures, visibility."""

from __future__ import annotations

import itertools

import pytest

from jetstream_qa.constants import TRANSFER_FINAL_STATUSES, Permission
from jetstream_qa.errors import NotFound, NotReady
from jetstream_qa.refserver.state import (
    TRANSFER_TRANSITIONS,
    DestinationRecord,
    ManifestRecord,
    Principal,
    ServerState,
    SharedTokenRecord,
    TokenRecord,
    TransferEvent,
    TransferRecord,
    TransferStatus,
    TransitionError,
    transition,
)

S, E = TransferStatus, TransferEvent
# docs/protocol.md 4.4, row by row; anything not listed is refused.
EXPECTED = {
    (S.PENDING, E.START): S.SENDING, (S.PENDING, E.SUSPEND): S.SUSPENDED,
    (S.PENDING, E.CANCEL): S.CANCELLED, (S.PENDING, E.FAIL): S.ERROR,
    (S.SENDING, E.SUSPEND): S.SUSPENDED, (S.SENDING, E.CANCEL): S.CANCELLED,
    (S.SENDING, E.FINISH_OK): S.COMPLETE, (S.SENDING, E.FAIL): S.ERROR,
    (S.SUSPENDED, E.RESUME): S.PENDING, (S.SUSPENDED, E.CANCEL): S.CANCELLED,
    (S.SUSPENDED, E.FAIL): S.ERROR,
}


def _transfer(status: TransferStatus = S.PENDING) -> TransferRecord:
    return TransferRecord(transfer_id=7, owner="alice", destination_id="d", manifest_id="m",
                          status=status, request_time=1_000, total_bytes=858703405)


def test_table_is_the_documented_table() -> None:
    assert dict(TRANSFER_TRANSITIONS) == EXPECTED


def test_the_final_statuses_are_the_ones_the_table_never_leaves() -> None:
    """``constants.TRANSFER_FINAL_STATUSES`` (the judge's, the client's and the load ledger's
    set too) is exactly the server's statuses without a way out."""
    left = {status for status, _ in TRANSFER_TRANSITIONS}
    assert {s for s in S if s not in left} == TRANSFER_FINAL_STATUSES


@pytest.mark.parametrize(("status", "event"), list(itertools.product(S, E)))
def test_every_state_event_pair(status: TransferStatus, event: TransferEvent) -> None:
    """Allowed pairs move to the table's status; others raise NotReady naming both and
    leave the record unchanged."""
    record = _transfer(status)
    if (status, event) in EXPECTED:
        assert transition(record, event, at_us=5_000) is EXPECTED[(status, event)]
        assert record.status is EXPECTED[(status, event)]
    else:
        with pytest.raises(TransitionError) as info:
            transition(record, event, at_us=5_000)
        assert isinstance(info.value, NotReady)
        assert f"'{event.value}'" in info.value.message
        assert f"'{status.value}'" in info.value.message
        assert info.value.details == {"transferId": 7, "status": status.value,
                                      "event": event.value}
        assert record.status is status


def test_times_are_set_by_transitions() -> None:
    record = _transfer()
    transition(record, E.START, at_us=2_000)
    assert record.start_time == 2_000 and record.end_time is None
    transition(record, E.FAIL, error_message="boom", at_us=3_000)
    assert record.end_time == 3_000 and record.error_message == "boom"
    assert record.status in TRANSFER_FINAL_STATUSES and record.finished
    assert record.request_time <= record.start_time <= record.end_time


def test_transfer_json_has_every_documented_field() -> None:
    data = _transfer().to_json()
    for key in ("transferId", "destinationId", "manifestId", "destinationPath", "priority",
                "transferFlags", "overwriteMode", "minCipher", "effectiveCipher",
                "checkpointFrequencySeconds", "sendRateMax", "status", "processing",
                "errorMessage", "blockSize", "totalBlocks", "totalBytes", "blocksSent",
                "blocksAcked", "blocksRetransmitted", "packetsSent", "packetsRecv",
                "bytesSent", "bytesRecv", "queueTime", "requestTime", "snapshotTime",
                "startTime", "endTime", "owner", "ownerToken", "ownerTokenSession",
                "userData", "fileResults"):
        assert key in data, key
    assert data["blockSize"] == 256 and data["totalBlocks"] == 3354311  # vendor example
    assert data["status"] == "pending" and data["processing"] is True


def test_token_json_never_carries_password() -> None:
    token = TokenRecord(token="t", owner="alice", password_hash="pbkdf2$1$00$00")
    data = token.to_json()
    assert data["passwordRequired"] is True
    assert not any("pbkdf2" in str(v) for v in data.values())


def test_shared_token_json_is_the_token_structure_with_the_link_fields() -> None:
    """Vendor Token structure of a shared token (S8): the common fields, DOWNLOAD only, no
    path, plus manifestId, downloadCount and downloadLimit; the password never leaves."""
    shared = SharedTokenRecord(token="s", owner="alice", manifest_id="m1", description="d",
                               expiry_time=9, password_hash="pbkdf2$1$00$00",
                               download_limit=3, creation_time=1)
    assert shared.to_json() == {
        "token": "s", "description": "d", "creationTime": 1, "expiryTime": 9,
        "owner": "alice", "ownerToken": None, "ownerTokenSession": None,
        "passwordRequired": True, "permissions": int(Permission.DOWNLOAD),
        "manifestId": "m1", "downloadCount": 0, "downloadLimit": 3, "userData": {}}
    assert shared.expired(9) and not shared.expired(8)


def test_visibility_rules() -> None:
    st = ServerState()
    mine = ManifestRecord(manifest_id=st.new_manifest_id(), owner="alice", mappings={})
    by_token = ManifestRecord(manifest_id=st.new_manifest_id(), owner="alice", mappings={},
                              owner_token="tok")
    st.manifests.update({mine.manifest_id: mine, by_token.manifest_id: by_token})
    alice, bob = Principal("alice"), Principal("bob")
    via_token, admin = Principal("alice", token="tok"), Principal("bob", elevated=True)
    assert st.manifest(mine.manifest_id, alice) is mine
    assert st.manifest(by_token.manifest_id, alice) is by_token  # the owner sees token objects
    assert st.visible(st.manifests.values(), via_token) == [by_token]
    assert len(st.visible(st.manifests.values(), admin)) == 2
    with pytest.raises(NotFound):
        st.manifest(mine.manifest_id, bob)
    with pytest.raises(NotFound):
        st.manifest(mine.manifest_id, via_token)


def test_ids() -> None:
    st = ServerState()
    assert [st.new_transfer_id() for _ in range(3)] == [1, 2, 3]
    mid = st.new_manifest_id()
    assert len(mid) == 32 and int(mid, 16) >= 0
    did = st.new_destination_id("host", 8886)
    assert did.startswith("host:8886-")


def test_apply_notifies_listeners_and_queue_count() -> None:
    st = ServerState()
    seen: list[tuple[str, object]] = []
    st.subscribe(lambda kind, rec: seen.append((kind, rec)))
    record = _transfer()
    st.transfers[7] = record
    st.destinations["d"] = DestinationRecord(destination_id="d", owner="alice",
                                             destination_address="h", destination_ip="::1",
                                             destination_port=1)
    assert st.queued_for("d") == 1
    st.apply(record, E.START)
    assert seen == [("transfer", record)] and st.queued_for("d") == 0


def test_transfers_queued_are_counted_per_destination_in_one_pass() -> None:
    """``numTransfersQueued``: the pending transfers of each destination (the list command
    counts them all at once; one destination's count is the same number)."""
    st = ServerState()
    statuses = [S.PENDING, S.PENDING, S.SENDING, S.COMPLETE, S.SUSPENDED, S.PENDING]
    for tid, (dest, status) in enumerate(zip("aabbba", statuses, strict=True), 1):
        st.transfers[tid] = TransferRecord(transfer_id=tid, owner="alice", destination_id=dest,
                                           manifest_id="m", status=status)
    assert st.queued() == {"a": 3}
    assert (st.queued_for("a"), st.queued_for("b"), st.queued_for("c")) == (3, 0, 0)
