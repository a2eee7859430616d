"""The matrix runner against a scripted API (no server): garbage answers FAIL, a parameter the
client lacks is NOT_APPLICABLE naming it, and the transfer status is judged by the table."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from jetstream_qa.binding import Operations, bundled_binding
from jetstream_qa.conformance_core.matrix.planning import Batch, TransferGroup
from jetstream_qa.conformance_core.matrix.run import MatrixRun

CONSTANTS = SimpleNamespace(
    symlink_follow=1, symlink_ignore=2,
    transfer_flags={"READ": 1, "WRITE": 2, "WRITE_MTIME": 4, "WRITE_ONLY_NEWER": 8},
    overwrite={"IN_PLACE_SAME_SIZE": 2, "NEVER": 3, "ALWAYS": 4, "VERSIONED": 5},
    min_ciphers={"NONE": 0, "UNENCRYPTED": 1, "ENCRYPTED_128": 2, "ENCRYPTED_256": 3})


class ScriptedSend:
    """A sender that writes nothing and answers what it is told to."""

    def __init__(self, *, manifest: Any = "ok", status: str = "complete") -> None:
        self.manifest, self.status = manifest, status

    def createDestination(self, destinationAddress: str, *, destinationPort: int) -> dict:
        return {"destinationId": "d1"}

    def createManifest(self, mappings: dict, *, symlinkMode: int) -> Any:
        return {"manifestId": "m1"} if self.manifest == "ok" else self.manifest

    def getManifest(self, manifestId: str) -> dict:
        return {"manifestId": manifestId, "status": "complete"}

    def createTransfer(self, destinationId: str, manifestId: str, *, destinationPath: str,
                       transferFlags: int, overwriteMode: int, minCipher: int) -> dict:
        return {"transferId": 7, "status": "pending"}

    def waitForTransfer(self, transferId: int, *, timeout: float) -> dict:
        return {"transferId": transferId, "status": self.status,
                "errorMessage": "failed" if self.status == "error" else ""}

    def cancelTransfer(self, transferId: int) -> None:
        return None


class NoCipherSend(ScriptedSend):
    def createTransfer(self, destinationId: str, manifestId: str, *,  # type: ignore[override]
                       destinationPath: str, transferFlags: int, overwriteMode: int) -> dict:
        return {"transferId": 7}


def _run(tmp_path, send: ScriptedSend, flags: int, overwrite: int = 4,
         states: tuple[str, ...] = ("absent", "same_size_older")) -> tuple[MatrixRun, Batch]:
    ops = Operations(bundled_binding(), SimpleNamespace(send=send))
    run = MatrixRun(ops=ops, constants=CONSTANTS,
                    data_address=("127.0.0.1", 1), source_dir=tmp_path / "src",
                    source_server="/src", dest_local=tmp_path / "dst", dest_path="/dst",
                    ciphers=(0, 0), timeout=5.0)
    run.stage_sources()
    batch = Batch(TransferGroup(flags, overwrite, 0, 1), states)
    run.run([batch])
    return run, batch


def test_a_null_manifest_is_the_servers_fault(tmp_path):
    run, batch = _run(tmp_path, ScriptedSend(manifest=None), flags=1)
    findings = run.judge(batch.cases()[0])
    assert not findings.not_applicable
    assert findings.documented and "answered garbage" in findings.documented[0].actual
    assert "None (NoneType)" in findings.documented[0].actual


def test_a_parameter_the_client_lacks_is_not_applicable_and_named(tmp_path):
    run, batch = _run(tmp_path, NoCipherSend(), flags=3)
    findings = run.judge(batch.cases()[0])
    assert "takes no 'minCipher' keyword" in findings.not_applicable
    assert "set [params.create_transfer] min_cipher in the binding file" \
        in findings.not_applicable
    full, _ = _run(tmp_path / "full", ScriptedSend(), flags=3)
    assert not full.judge(batch.cases()[0]).not_applicable


@pytest.mark.parametrize("flags", [0, 1, 1 | 4, 8])
def test_a_transfer_without_write_that_ends_error_fails(tmp_path, flags):
    run, batch = _run(tmp_path, ScriptedSend(status="error"), flags=flags)
    for case in batch.cases():
        findings = run.judge(case)
        assert [m.field for m in findings.documented] == ["status"], findings
        assert "'error' (str)" in findings.documented[0].actual


def test_a_transfer_without_write_that_completes_passes(tmp_path):
    run, batch = _run(tmp_path, ScriptedSend(status="complete"), flags=1)
    for case in batch.cases():
        findings = run.judge(case)
        assert findings.documented == () and findings.ours == (), findings


def test_the_status_of_a_batch_with_a_skip_is_ours(tmp_path):
    """IN_PLACE_SAME_SIZE over another size is a skip; what it does to the status is open."""
    run, batch = _run(tmp_path, ScriptedSend(status="error"), flags=3, overwrite=2,
                      states=("other_size_older",))
    findings = run.judge(batch.cases()[0])
    assert findings.documented == ()
    assert any(n.startswith("transfer status (ours") for n in findings.ours), findings.ours
