"""The transfer ledger (jetstream_qa/loadrun/ledger.py), pure: every transfer a load process
created is settled exactly once, also those whose id the client never read."""

from __future__ import annotations

import pytest

from jetstream_qa.loadrun.ledger import TransferLedger
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.loadrun.settings import LoadSettings
from jetstream_qa.loadrun.settle import settle_transfers

PREFIX = "jsqa-load/run1/p7/"


def _transfer(tid: int, path: str, status: str, total: int = 100, end_us: int | None = None
              ) -> dict:
    return {"transferId": tid, "destinationPath": path, "status": status,
            "totalBytes": total, "endTime": end_us, "errorMessage": None}


def test_unread_complete_transfer_is_delivered_with_server_bytes_and_end() -> None:
    ledger = TransferLedger(PREFIX)
    ledger.expect(PREFIX + "u0/t0", "small-files", 10.0)  # killed before the id was read
    plan = ledger.plan([_transfer(5, PREFIX + "u0/t0", "complete", 4321, 12_500_000)])
    assert [(s.action, s.transfer_id, s.nbytes, s.ended, s.intent.scenario) for s in plan] \
        == [("deliver", "5", 4321, 12.5, "small-files")]


def test_settled_paths_and_other_processes_are_left_alone() -> None:
    ledger = TransferLedger(PREFIX)
    ledger.expect(PREFIX + "u0/t0", "small-files", 1.0)
    ledger.expect(PREFIX + "u0/t1", "small-files", 2.0)
    assert ledger.settle(PREFIX + "u0/t0") is True
    assert ledger.settle(PREFIX + "u0/t0") is False  # a second event is dropped
    plan = ledger.plan([_transfer(1, PREFIX + "u0/t0", "complete"),
                        _transfer(2, "jsqa-load/run1/p8/u0/t0", "complete"),
                        _transfer(3, PREFIX + "u0/t1", "sending")])
    assert [(s.action, s.transfer_id) for s in plan] == [("cancel", "3")]
    assert ledger.unsettled == 1


def test_failed_at_server_is_a_failure_and_duplicates_count_once() -> None:
    ledger = TransferLedger(PREFIX)
    ledger.expect(PREFIX + "u1/t0", "mixed", 1.0)
    ledger.expect(PREFIX + "u1/t1", "mixed", 1.0)
    plan = ledger.plan([_transfer(1, PREFIX + "u1/t0", "error"),
                        _transfer(2, PREFIX + "u1/t1", "cancelled"),
                        _transfer(3, PREFIX + "u1/t1", "complete", 77)])
    assert [(s.action, s.transfer_id) for s in plan] == [("fail", "1"), ("deliver", "3")]


def test_paths_are_unique_and_inside_the_prefix() -> None:
    ledger = TransferLedger(PREFIX)
    ledger.expect(PREFIX + "u0/t0", "small-files", 1.0)
    with pytest.raises(ValueError, match="used twice"):
        ledger.expect(PREFIX + "u0/t0", "small-files", 1.0)
    with pytest.raises(ValueError, match="outside"):
        ledger.expect("jsqa-load/run2/p7/u0/t0", "small-files", 1.0)
    with pytest.raises(ValueError, match="must end with"):
        TransferLedger("jsqa-load/run1/p7")


class _FakeSend:
    """``api.send`` of a sender whose transfers end as scripted once cancelled."""

    def __init__(self, after_cancel: dict[int, tuple[str, str]]) -> None:
        self.after_cancel = after_cancel  # transferId -> (destinationPath, final status)
        self.cancelled: list[int] = []

    def cancelTransfer(self, transferId: int) -> dict:
        self.cancelled.append(transferId)
        return {}

    def waitForTransfer(self, transferId: int, *, timeout: float) -> dict:
        return _transfer(transferId, *self.after_cancel[transferId], 50, 3_000_000)


class _FakeApi:
    def __init__(self, after_cancel: dict[int, tuple[str, str]]) -> None:
        self.send = _FakeSend(after_cancel)


def test_settle_cancels_running_ones_and_counts_each_path_once() -> None:
    session = LoadSession(LoadSettings(checks=()))
    session.run_id = "run1"
    ledger = session.ledger
    paths = [ledger.expect(f"{ledger.prefix}u0/t{i}", "small-files", 1.0).dest_path
             for i in range(3)]
    # 1 finished before the cancel landed, 2 was cancelled
    api = _FakeApi({1: (paths[1], "complete"), 2: (paths[2], "cancelled")})
    fired: list[tuple[str, str, int]] = []

    def fire(item) -> None:
        assert ledger.settle(item.intent.dest_path)
        fired.append((item.action, item.transfer_id, item.nbytes))

    server = [_transfer(0, paths[0], "complete", 10), _transfer(1, paths[1], "sending"),
              _transfer(2, paths[2], "sending")]
    assert settle_transfers(session, api, server, fire=fire) == 3
    assert fired == [("deliver", "0", 10), ("deliver", "1", 50)]
    assert api.send.cancelled == [1, 2]
    assert session.recorder.cancelled_at_stop == 1
    assert session.recorder.cancelled_at_stop_paths == [paths[2]]
    assert ledger.unsettled == 0
    assert settle_transfers(session, api, server, fire=fire) == 0  # nothing twice


def test_settle_can_leave_running_ones_for_the_reconciliation() -> None:
    session = LoadSession(LoadSettings(checks=()))
    ledger = session.ledger
    paths = [ledger.expect(f"{ledger.prefix}u0/t{i}", "mixed", 1.0).dest_path
             for i in range(2)]
    api = _FakeApi({1: (paths[1], "complete")})
    fired: list[str] = []

    def fire(item) -> None:
        assert ledger.settle(item.intent.dest_path)
        fired.append(item.transfer_id)

    server = [_transfer(0, paths[0], "complete"), _transfer(1, paths[1], "sending")]
    assert settle_transfers(session, api, server, fire=fire, leave_running=True) == 1
    assert fired == ["0"] and api.send.cancelled == [] and ledger.unsettled == 1


class _VendorError(Exception):
    """A vendor client's own exception, of a class the binding does not know."""


class _VendorSend:
    """A vendor-like ``api.send``: no waitForTransfer, cancel spelled ``abortTransfer``,
    which raises the client's own exception for a transfer that already ended."""

    def __init__(self, records: dict[int, dict]) -> None:
        self.records = records
        self.aborted: list[int] = []

    def abortTransfer(self, transferId: int) -> dict:
        self.aborted.append(transferId)
        record = self.records[transferId]
        if record["status"] in ("complete", "error"):
            raise _VendorError(f"transfer {transferId} already ended")
        self.records[transferId] = {**record, "status": "canceled"}
        return {}

    def getTransfer(self, transferId: int) -> dict:
        return self.records[transferId]


def test_settle_through_a_binding_without_refusal_classes(tmp_path) -> None:
    """The stop-time settlement survives a refused cancel the binding cannot classify (it
    knows no exception class of the client): the transfer's record decides, so the one that
    ended meanwhile is delivered and the cancelled one counts as cancelled at stop."""
    import types

    from jetstream_qa.binding import Binding, load_binding_file
    toml = tmp_path / "vendor.toml"
    toml.write_text('[methods]\ncancel_transfer = "send.abortTransfer"\n'
                    '[statuses]\nrunning = "transferring"\ncancelled = "canceled"\n')
    session = LoadSession(LoadSettings(checks=(), timeout=2.0))
    session._binding = Binding("vendor", load_binding_file(toml),
                               types.ModuleType("jetstream.constants"), (), "none found")
    ledger = session.ledger
    paths = [ledger.expect(f"{ledger.prefix}u0/t{i}", "small-files", 1.0).dest_path
             for i in range(2)]
    api = types.SimpleNamespace(send=_VendorSend({
        0: _transfer(0, paths[0], "complete", 70),     # ended before the cancel landed
        1: _transfer(1, paths[1], "transferring")}))
    fired: list[tuple[str, str]] = []

    def fire(item) -> None:
        assert ledger.settle(item.intent.dest_path)
        fired.append((item.action, item.transfer_id))

    server = [_transfer(0, paths[0], "transferring"), _transfer(1, paths[1], "transferring")]
    assert settle_transfers(session, api, server, fire=fire) == 2
    assert api.send.aborted == [0, 1]
    assert fired == [("deliver", "0")]
    assert session.recorder.cancelled_at_stop_paths == [paths[1]]
    assert ledger.unsettled == 0
