"""The decisions of two conformance harnesses, with scripted servers (no sockets): catching a
manifest pending at createTransfer (``conformance_core/pending_manifest.py``) and judging
``blocksRetransmitted`` after a lossy path (``conformance_core/lossy_path.py``). Both must
never turn an undecidable run into a FAIL."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jetstream_qa.binding import Operations, bundled_binding
from jetstream_qa.conformance_core import pending_manifest as pm
from jetstream_qa.conformance_core.failures import NotApplicableCase
from jetstream_qa.conformance_core.lossy_path import is_loopback, judge_retransmits, lossy_path
from jetstream_qa.errors import NotReady

TARGET = SimpleNamespace(data_address=SimpleNamespace(host="127.0.0.1", port=9),
                         sender=SimpleNamespace(host="127.0.0.1", port=8))


class _ScriptedSend:
    """``api.send`` of a server whose manifest of N files stays pending for
    ``reads(N)`` status reads; ``accept_pending`` is the behaviour under test."""

    def __init__(self, reads: Any, *, accept_pending: bool) -> None:
        self.reads, self.accept_pending = reads, accept_pending
        self.left: dict[str, int] = {}
        self.transfers: list[str] = []
        self.cancelled: list[int] = []
        self._ids = itertools.count(1)

    def createManifest(self, mappings: dict[str, str], **_: Any) -> dict:
        files = sum(1 for _ in Path(next(iter(mappings.values()))).iterdir())
        manifest_id = f"m{next(self._ids)}"
        self.left[manifest_id] = self.reads(files)
        return {"manifestId": manifest_id, "status": "pending", "processing": True}

    def getManifest(self, manifest_id: str) -> dict:
        pending = self.left[manifest_id] > 0
        self.left[manifest_id] -= 1
        return {"manifestId": manifest_id, "status": "pending" if pending else "complete"}

    def createDestination(self, destinationAddress: str, **_: Any) -> dict:
        return {"destinationId": "d1"}

    def createTransfer(self, destinationId: str, manifestId: str, **_: Any) -> dict:
        if self.left[manifestId] > 0 and not self.accept_pending:
            raise NotReady(f"manifest {manifestId} is pending, not complete")
        self.transfers.append(manifestId)
        return {"transferId": len(self.transfers), "status": "pending"}

    def cancelTransfer(self, transferId: int) -> dict:
        self.cancelled.append(transferId)
        return {}


def _catch(tmp_path: Path, send: _ScriptedSend, *, budget_s: float = 60.0):
    ops = Operations(bundled_binding(), SimpleNamespace(send=send))
    return pm.catch_pending(ops, TARGET, tmp_path, str, dest_path="d", flags=0, timeout=5.0,
                            budget_s=budget_s)


@pytest.fixture(autouse=True)
def _small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pm, "FIRST_FILES", 4)
    monkeypatch.setattr(pm, "MAX_FILES", 64)


def test_refused_while_pending_is_decisive_at_once(tmp_path: Path) -> None:
    send = _ScriptedSend(lambda files: 10, accept_pending=False)
    attempts = _catch(tmp_path, send)
    assert len(attempts) == 1 and attempts[0].decisive and attempts[0].refusal.refused
    assert attempts[0].before == attempts[0].after == "pending"
    assert send.transfers == []


def test_a_race_lost_proves_nothing_and_the_set_grows(tmp_path: Path) -> None:
    """4 and 16 files: pending before the call, complete by its answer (the server accepted a
    manifest it may have finished first): no FAIL, a bigger set; 64 files: pending
    throughout, and accepting it is the decisive outcome."""
    send = _ScriptedSend(lambda files: 1 if files < 64 else 10, accept_pending=True)
    attempts = _catch(tmp_path, send)
    assert [a.files for a in attempts] == [4, 16, 64]
    assert [a.decisive for a in attempts] == [False, False, True]
    assert attempts[0].before == "pending" and attempts[0].after == "complete"
    assert not attempts[-1].refusal.refused  # the broken rule, seen on a pending manifest
    assert send.cancelled == [1, 2, 3]  # every accepted transfer is cancelled


def test_a_server_too_fast_to_catch_is_not_applicable(tmp_path: Path) -> None:
    send = _ScriptedSend(lambda files: 0, accept_pending=True)
    with pytest.raises(NotApplicableCase, match=r"4 files: 'complete' before the call"):
        _catch(tmp_path, send)
    assert send.transfers == []  # never called on a manifest not pending


def test_the_budget_stops_growth(tmp_path: Path) -> None:
    send = _ScriptedSend(lambda files: 0, accept_pending=True)
    with pytest.raises(NotApplicableCase) as info:
        _catch(tmp_path, send, budget_s=0.0)
    assert "16 files" not in str(info.value)  # one attempt, then the budget ended


def _t(retransmitted: int, sent: int = 100, total: int = 100) -> dict:
    return {"blocksRetransmitted": retransmitted, "blocksSent": sent, "totalBlocks": total}


def test_retransmits_judged_only_on_evidence() -> None:
    assert judge_retransmits(5, [_t(0), _t(3), _t(9, 120)]).final == 9
    broken = judge_retransmits(5, [_t(0, 90), _t(0, 120)])  # resent, none counted
    assert broken.resent and broken.final == 0
    with pytest.raises(NotApplicableCase, match="nothing to judge"):
        judge_retransmits(0, [_t(0)])  # the relay dropped nothing
    with pytest.raises(NotApplicableCase):
        judge_retransmits(3, [_t(0, 100, 100)])  # no block was sent twice


def test_the_relay_stays_on_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("10.0.0.1") and not is_loopback("staging.example")
    remote = SimpleNamespace(data_address=SimpleNamespace(host="10.1.2.3", port=8886),
                             sender=SimpleNamespace(host="127.0.0.1", port=8886))
    with pytest.raises(NotApplicableCase, match=r"receiver data 10\.1\.2\.3"), \
            lossy_path(remote, loss=0.1, seed=1, max_seconds=1):
        pass
