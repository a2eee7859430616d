"""Every command of docs/protocol.md section 3 through the bundled client: happy path, and
refusal of other users' objects (NotFound, so ids do not leak) or of non-superusers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jetstream_qa.errors import (
    AuthenticationFailed,
    ConflictError,
    InvalidArgument,
    NotFound,
    NotReady,
    PermissionDenied,
)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(b"a" * 1000)
    return tmp_path / "a.txt"


def _manifest(s, src: Path) -> dict:
    m = s.send.createManifest({"docs/a.txt": str(src)})
    assert m["status"] == "pending" and m["processing"] is True and m["totalSize"] is None
    done = s.send.waitForManifest(m["manifestId"], timeout=10)
    assert done["status"] == "complete", done
    return done


def _transfer(s, src: Path, **kw) -> dict:
    m = _manifest(s, src)
    d = s.send.createDestination("127.0.0.1", destinationPort=9)
    return s.send.createTransfer(d["destinationId"], m["manifestId"], transferFlags=0, **kw)


def test_manifest_commands_and_ownership(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    m = _manifest(alice, src)
    mid = m["manifestId"]
    assert len(mid) == 32 and int(mid, 16) >= 0
    assert m["totalFiles"] == 1 and m["totalSize"] == 1000 and m["owner"] == "qa-user"
    assert alice.send.getManifest(mid)["manifestId"] == mid
    assert mid in {x["manifestId"] for x in alice.send.getManifests()}
    files = alice.send.getManifestFiles(mid)
    assert files["manifestId"] == mid
    assert [f["destPath"] for f in files["fileMappings"]] == ["docs/a.txt"]
    for call in (lambda: bob.send.getManifest(mid), lambda: bob.send.getManifestFiles(mid),
                 lambda: bob.send.deleteManifest(mid),
                 lambda: bob.send.waitForManifest(mid, timeout=1)):
        with pytest.raises(NotFound):
            call()
    assert mid not in {x["manifestId"] for x in bob.send.getManifests()}
    alice.send.deleteManifest(mid)
    with pytest.raises(NotFound):
        alice.send.getManifest(mid)


def test_destination_commands_and_ownership(ref_server, api) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    d = alice.send.createDestination("localhost", destinationPort=7000, sendRateMax=10**6,
                                     destinationPublicKey="ab" * 32, minCipher=2)
    did = d["destinationId"]
    assert d["destinationIP"] in ("127.0.0.1", "::1") and d["destinationPort"] == 7000
    assert d["encryptedConnectionState"] == "disconnected" and d["minCipher"] == 2
    assert d["sendRateMax"] == 10**6 and d["numTransfersQueued"] == 0
    assert alice.send.getDestination(did) == d
    assert did in {x["destinationId"] for x in alice.send.getDestinations()}
    with pytest.raises(NotFound):
        bob.send.getDestination(did)
    with pytest.raises(NotFound):
        bob.send.deleteDestination(did)
    assert did not in {x["destinationId"] for x in bob.send.getDestinations()}
    with pytest.raises(InvalidArgument):
        alice.send.createDestination("localhost", destinationPort=70000)
    with pytest.raises(InvalidArgument):
        alice.send.createDestination("no-such-host.invalid")
    alice.send.deleteDestination(did)
    with pytest.raises(NotFound):
        alice.send.getDestination(did)


def test_transfer_commands_status_table_and_ownership(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    t = _transfer(alice, src, priority=120, destinationPath="/in")
    tid = t["transferId"]
    assert isinstance(tid, int) and t["blockSize"] == 256 and t["totalBytes"] == 1000
    assert t["totalBlocks"] == 4 and t["priority"] == 120 and t["startTime"] is None
    assert t["overwriteMode"] == 4 and t["endTime"] is None
    for call in (lambda: bob.send.getTransfer(tid), lambda: bob.send.cancelTransfer(tid),
                 lambda: bob.send.suspendTransfer(tid), lambda: bob.send.deleteTransfer(tid),
                 lambda: bob.send.waitForTransfer(tid, timeout=1)):
        with pytest.raises(NotFound):
            call()
    assert tid not in {x["transferId"] for x in bob.send.getTransfers()}
    assert tid in {x["transferId"] for x in alice.send.getTransfers()}
    status = alice.send.getTransfer(tid)["status"]
    if status in ("pending", "sending"):
        assert alice.send.suspendTransfer(tid)["status"] == "suspended"
        with pytest.raises(NotReady):
            alice.send.suspendTransfer(tid)  # suspended + suspend: not in the table
        assert alice.send.resumeTransfer(tid)["status"] in ("pending", "sending")
        done = alice.send.cancelTransfer(tid)
        assert done["status"] == "cancelled" and done["endTime"] is not None
    final = alice.send.waitForTransfer(tid, timeout=10)
    assert final["status"] in ("cancelled", "complete", "error")
    with pytest.raises(NotReady):
        alice.send.cancelTransfer(tid)  # final statuses refuse every event
    alice.send.deleteTransfer(tid)
    with pytest.raises(NotFound):
        alice.send.getTransfer(tid)


def test_create_transfer_refusals(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    m = _manifest(alice, src)
    d = alice.send.createDestination("127.0.0.1", destinationPort=9)
    bob_d = bob.send.createDestination("127.0.0.1", destinationPort=9)
    with pytest.raises(NotFound):
        alice.send.createTransfer(bob_d["destinationId"], m["manifestId"])
    with pytest.raises(NotFound):
        bob.send.createTransfer(bob_d["destinationId"], m["manifestId"])
    with pytest.raises(InvalidArgument):
        alice.send.createTransfer(d["destinationId"], m["manifestId"], destinationPath="../x")
    with pytest.raises(InvalidArgument):
        alice.send.createTransfer(d["destinationId"], m["manifestId"], overwriteMode=1)
    with pytest.raises(InvalidArgument):
        alice.send.createTransfer(d["destinationId"], m["manifestId"], transferFlags=16)
    broken = alice.send.createManifest({"x": "/no/such/file"})
    assert alice.send.waitForManifest(broken["manifestId"], timeout=10)["status"] == "error"
    with pytest.raises(NotReady):
        alice.send.createTransfer(d["destinationId"], broken["manifestId"])


def test_destination_in_use_is_conflict(ref_server, api, src) -> None:
    alice = api(ref_server, ref_server.user)
    t = _transfer(alice, src)
    if alice.send.getTransfer(t["transferId"])["status"] in ("pending", "sending"):
        with pytest.raises(ConflictError):
            alice.send.deleteDestination(t["destinationId"])
        alice.send.cancelTransfer(t["transferId"])
    alice.send.deleteDestination(t["destinationId"])


def test_set_send_rate_async(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    t = _transfer(alice, src)
    req = alice.send.setSendRateAsync(t["transferId"], 123_456)
    result = alice.server.getRequestResult(req, timeout=10)
    assert result["transferId"] == t["transferId"]
    if result["status"] not in ("complete", "error", "cancelled"):
        assert result["sendRateMax"] == 123_456
    with pytest.raises(NotFound):
        bob.server.getRequestResult(req, timeout=1)
    req2 = bob.send.setSendRateAsync(t["transferId"], 1)
    with pytest.raises(NotFound):  # the async error comes back through getRequestResult
        bob.server.getRequestResult(req2, timeout=10)
    assert bob.server.getRequestStatus(req2)["status"] == "error"


def test_recv_async_commands(ref_server, api) -> None:
    s = api(ref_server, ref_server.user)
    assert isinstance(s.server.getRequestResult(s.recv.getTransfersAsync(), timeout=10), list)
    assert isinstance(s.server.getRequestResult(s.recv.getSourcesAsync(), timeout=10), list)


def test_event_log_is_filtered_by_owner(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    before = time.time_ns() // 1000 - 1
    m = _manifest(alice, src)
    events = alice.server.getEventLog(since=before)
    names = [e["_event"] for e in events]
    assert "manifestCreated" in names and "manifestUpdated" in names
    assert all(isinstance(e["_timestamp"], int) for e in events)
    assert any(e.get("manifestId") == m["manifestId"] for e in events)
    assert not any(e.get("manifestId") == m["manifestId"]
                   for e in bob.server.getEventLog(since=before))
    assert len(alice.server.getEventLog(limit=1)) == 1
    assert any(e["_event"] == "serverStarted" for e in alice.server.getEventLog())


def test_api_tokens(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    tok = alice.server.createAPIToken(description="ci", password="tok-pw", permissions=2,
                                      path="/tmp", expiryTime=time.time_ns() // 1000 + 60_000_000)
    assert tok["passwordRequired"] is True and tok["permissions"] == 2 and tok["path"] == "/tmp"
    assert "password" not in tok and tok["owner"] == "qa-user"
    assert alice.server.getAPIToken(tok["token"]) == tok
    assert tok["token"] in {t["token"] for t in alice.server.getAPITokens()}
    with pytest.raises(NotFound):
        bob.server.getAPIToken(tok["token"])
    with pytest.raises(NotFound):
        bob.server.deleteAPIToken(tok["token"])
    via = api(ref_server)
    with pytest.raises(AuthenticationFailed):
        via.server.authToken(tok["token"], password="wrong")
    via.server.authToken(tok["token"], password="tok-pw")
    with pytest.raises(PermissionDenied):  # outside the token's path
        via.send.createManifest({"x": "/etc/hostname"})
    own = via.send.createManifest({"a": str(src)})  # DOWNLOAD, inside the path: allowed
    assert own["ownerToken"] == tok["token"] and own["owner"] == "qa-user"
    assert own["manifestId"] in {m["manifestId"] for m in alice.send.getManifests()}
    with pytest.raises(PermissionDenied):  # permissions 2 lack DELETE_RENAME
        via.send.deleteManifest(own["manifestId"])
    with pytest.raises(PermissionDenied):  # a token session cannot elevate
        via.server.superuser()
    alice.server.deleteAPIToken(tok["token"])
    with pytest.raises(AuthenticationFailed):  # revoked: the next call fails
        via.send.getManifests()


def test_token_expiry(ref_server, api) -> None:
    alice = api(ref_server, ref_server.user)
    tok = alice.server.createAPIToken(expiryTime=time.time_ns() // 1000 + 300_000)
    via = api(ref_server)
    via.server.authToken(tok["token"])
    via.send.getManifests()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            via.send.getManifests()
        except AuthenticationFailed:
            break
        time.sleep(0.05)
    else:
        pytest.fail("token still accepted after its expiryTime")
    with pytest.raises(InvalidArgument):
        alice.server.createAPIToken(expiryTime=1)


def test_user_data_on_every_object_type(ref_server, api, src) -> None:
    alice, bob = api(ref_server, ref_server.user), api(ref_server, ref_server.other_user)
    t = _transfer(alice, src)
    token = alice.server.createAPIToken(description="ud")
    objects = {"manifest": (t["manifestId"], alice.send.getManifest),
               "destination": (t["destinationId"], alice.send.getDestination),
               "transfer": (t["transferId"], alice.send.getTransfer),
               "token": (token["token"], alice.server.getAPIToken)}
    for kind, (oid, getter) in objects.items():
        out = alice.server.updateObjectUserData(kind, oid, {"k": "v", "a": "b"})
        assert out["userData"] == {"k": "v", "a": "b"}, kind
        out = alice.server.deleteObjectUserData(kind, oid, ["a", "absent"])
        assert out["userData"] == {"k": "v"}, kind
        assert getter(oid)["userData"] == {"k": "v"}, kind
        with pytest.raises(NotFound):
            bob.server.updateObjectUserData(kind, oid, {"x": "y"})
        with pytest.raises(NotFound):
            bob.server.deleteObjectUserData(kind, oid, ["k"])
    with pytest.raises(InvalidArgument):
        alice.server.updateObjectUserData("manifest", t["manifestId"], {"n": 1})
    with pytest.raises(InvalidArgument):
        alice.server.updateObjectUserData("widget", "1", {"x": "y"})


def test_superuser_only_commands(ref_server, api) -> None:
    alice = api(ref_server, ref_server.user)
    admin = api(ref_server, ref_server.superuser, elevate=True)
    for call in (alice.server.getSandboxMappings,
                 lambda: alice.server.setSandboxMapping("", {"": "/data"}),
                 lambda: alice.server.updateBandwidthLimits(incomingRateLimit=10**6),
                 lambda: alice.server.updateGarbageCollectSettings(intervalSeconds=60)):
        with pytest.raises(PermissionDenied):
            call()
    admin.server.setSandboxMapping("qa-user", {"": "/data/%u"})
    assert admin.server.getSandboxMappings()["qa-user"] == {
        "": {"type": "File", "path": "/data/%u"}}
    assert alice.server.getServerInfo()["sandboxed"] is True
    admin.server.setSandboxMapping("qa-user", {})
    assert "qa-user" not in admin.server.getSandboxMappings()
    limits = admin.server.updateBandwidthLimits(incomingRateLimit=10**6,
                                                borrowOutgoingRate=True)
    assert limits["incomingRateLimit"] == 10**6 and limits["borrowOutgoingRate"] is True
    assert alice.server.getBandwidthLimits()["incomingRateLimit"] == 10**6
    admin.server.updateBandwidthLimits(incomingRateLimit=None, borrowOutgoingRate=False)
    assert alice.server.getServerInfo()["bandwidthLimits"]["incomingRateLimit"] is None


def test_bandwidth_fixed_on_command_line_is_conflict(make_server, api) -> None:
    server = make_server(extra_args=["--outgoing-rate-limit", "5000000"])
    admin = api(server, server.superuser, elevate=True)
    assert admin.server.getBandwidthLimits()["fixedOnCommandLine"] is True
    with pytest.raises(ConflictError):
        admin.server.updateBandwidthLimits(outgoingRateLimit=1)


def test_garbage_collect(make_server, api, src) -> None:
    server = make_server()
    alice = api(server, server.user)
    admin = api(server, server.superuser, elevate=True)
    m = _manifest(alice, src)
    kept = _manifest(alice, src)
    t = _transfer(alice, src)
    if alice.send.getTransfer(t["transferId"])["status"] not in ("complete", "error"):
        alice.send.cancelTransfer(t["transferId"])
    assert admin.server.updateGarbageCollectSettings(maxAgeSeconds=0) == {
        "intervalSeconds": 3600, "maxAgeSeconds": 0}
    assert admin.server.getServerInfo()["configuration"]["garbageCollect"]["maxAgeSeconds"] == 0
    removed = alice.server.garbageCollect()
    assert removed["removedTransfers"] == 1 and removed["removedManifests"] >= 2
    for mid in (m["manifestId"], kept["manifestId"]):
        with pytest.raises(NotFound):
            alice.send.getManifest(mid)
    with pytest.raises(NotFound):
        alice.send.getTransfer(t["transferId"])
