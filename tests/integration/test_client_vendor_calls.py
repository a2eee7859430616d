"""The vendor-documented calls the bundled client gained for issue 11: shared tokens
(Token structure S8), getConnection (Destination S3) and the Helper (S15), live."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jetstream_qa.client import Helper, JetStream
from jetstream_qa.errors import NotFound, NotReady, UsageError


@pytest.fixture
def sender(ref_pair):
    api = JetStream().api(ref_pair.sender.host, ref_pair.sender.api_port, timeout=10)
    with api:
        api.server.auth(ref_pair.user.name, ref_pair.user.password)
        yield api


def _complete_manifest(api, root: Path, name: str) -> dict:
    source = root / name
    source.write_bytes(os.urandom(1000))
    created = api.send.createManifest({f"/{name}": str(source)})
    return api.send.waitForManifest(created["manifestId"], timeout=20)


def test_shared_token_structure_and_visibility(ref_pair, sender) -> None:
    manifest = _complete_manifest(sender, Path(ref_pair.sender.storage_root), "shared.bin")
    secret = f"link-secret-{time.monotonic_ns()}"
    token = sender.server.createSharedToken(manifest["manifestId"], downloadLimit=3,
                                            password=secret, description="qa")
    assert {k: token[k] for k in ("manifestId", "downloadCount", "downloadLimit",
                                  "passwordRequired")} == {
        "manifestId": manifest["manifestId"], "downloadCount": 0, "downloadLimit": 3,
        "passwordRequired": True}
    listed = sender.server.getSharedTokens()
    assert token["token"] in [t["token"] for t in listed] and secret not in repr(listed)
    assert sender.server.getSharedToken(token["token"])["token"] == token["token"]
    with JetStream().api(ref_pair.sender.host, ref_pair.sender.api_port, timeout=10) as other:
        other.server.auth(ref_pair.other_user.name, ref_pair.other_user.password)
        with pytest.raises(NotFound):
            other.server.getSharedToken(token["token"])
    sender.server.deleteSharedToken(token["token"])
    with pytest.raises(NotFound):
        sender.server.getSharedToken(token["token"])


def test_shared_token_needs_a_complete_manifest(ref_pair, sender) -> None:
    created = sender.send.createManifest({"/x.bin": "/no/such/source/x.bin"})
    finished = sender.send.waitForManifest(created["manifestId"], timeout=20)
    assert finished["status"] == "error"
    with pytest.raises(NotReady):
        sender.server.createSharedToken(created["manifestId"])


def test_get_connection_of_a_destination(ref_pair, sender) -> None:
    dest = sender.send.createDestination(ref_pair.receiver.recv_host,
                                         destinationPort=ref_pair.receiver.recv_port)
    connection = sender.server.getConnection(dest["connectionId"])
    assert connection["destinationId"] == dest["destinationId"]
    assert connection["remotePort"] == ref_pair.receiver.recv_port
    with pytest.raises(NotFound):
        sender.server.getConnection("conn-nothing")


def test_helper_calls(ref_pair, sender, tmp_path: Path) -> None:
    root = Path(ref_pair.sender.storage_root) / "helper"
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for name in ("a.txt", "sub/b.txt"):
        (root / name).write_bytes(os.urandom(700))
    files = [root / "a.txt", root / "sub" / "b.txt"]
    mappings = Helper.getFileMappings(files, relative_to=root)
    assert mappings == {str(files[0]): "/a.txt", str(files[1]): "/sub/b.txt"}
    with pytest.raises(UsageError):
        Helper.getFileMappings([tmp_path / "x"], relative_to=root)
    assert Helper.getTransferFlags() == 3 and Helper.getTransferFlags(read=False) == 2
    assert Helper.getTransferFlags(writeMtime=True, writeOnlyNewer=True) == 15
    helper = Helper(sender)
    dest = sender.send.createDestination(ref_pair.receiver.recv_host,
                                         destinationPort=ref_pair.receiver.recv_port)
    sent = helper.sendFiles(dest["destinationId"], mappings, destinationPath="helper-out")
    final = sender.send.waitForTransfer(sent.transferId, timeout=30)
    assert final["status"] == "complete" and sent.refresh()["status"] == "complete"
    found = helper.getFilteredManifestFiles(lambda m: m["destPath"].endswith("/sub/b.txt"))
    assert any(m["manifestId"] == final["manifestId"] and len(m["fileMappings"]) == 1
               for m in found)
    with pytest.raises(UsageError):
        Helper().getFilteredManifestFiles(bool)
