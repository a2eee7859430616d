"""Reference server, control plane: CLI start-up, handshake, limits, auth, server info."""

from __future__ import annotations

import contextlib
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetstream_qa.errors import (
    AuthenticationFailed,
    ConnectionClosed,
    InvalidArgument,
    NotFound,
    NotReady,
    PermissionDenied,
)
from jetstream_qa.wire.control import ErrorResponse, FrameDecoder, Limits, decode_message

READY = re.compile(r"^jetstream-qa serve ready api=127\.0\.0\.1:(\d+) recv=\S+:\d+ "
                   r"serverId=([0-9a-f]{32})$")


def _wait_line(path: Path, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """The first line written to ``path``, polled until ``deadline``."""
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if "\n" in text or proc.poll() is not None:
            return text.split("\n", 1)[0]
        time.sleep(0.02)
    return ""


def test_serve_cli_prints_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`jetstream-qa serve --api-port 0` prints one ready line, answers, exits 0 on SIGTERM."""
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jetstream_qa", "serve", "--api-port", "0",
             "--recv-port", "0", "--storage-root", str(tmp_path / "s"),
             "--state-dir", str(tmp_path / "st"), "--user", "alice:s3cret-pw"],
            stdout=fo, stderr=fe)
    try:
        line = _wait_line(out, proc, time.monotonic() + 30)
        match = READY.match(line)
        assert match, f"no ready line, got {line!r}"
        with socket.create_connection(("127.0.0.1", int(match[1])), timeout=5):
            pass
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0
    assert len(out.read_text().splitlines()) == 1
    assert "s3cret-pw" not in err.read_text()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--min-cipher", "7"], "--min-cipher '7'"),
    (["--api-port", "http"], "--api-port 'http'"),
    (["--handshake-timeout", "-1"], "--handshake-timeout '-1'"),
    (["--superuser", "nobody"], "--superuser 'nobody'"),
    (["--fault", "no-such-fault"], "no-such-fault"),
])
def test_serve_cli_bad_option_names_value_and_option(tmp_path: Path, args: list[str],
                                                     fragment: str) -> None:
    """A bad value exits 2 with a message naming the option and the value."""
    proc = subprocess.run(
        [sys.executable, "-m", "jetstream_qa", "serve", "--storage-root", str(tmp_path / "s"),
         "--state-dir", str(tmp_path / "st"), "--user", "alice:pw", *args],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_handshake_deadline_drops_silent_client(make_server) -> None:
    """A client that sends nothing is dropped after the handshake deadline."""
    server = make_server(extra_args=["--handshake-timeout", "0.5"])
    with socket.create_connection((server.host, server.api_port), timeout=10) as sock:
        start = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, not by our 10 s timeout
        assert time.monotonic() - start < 9


def test_max_connections_extra_client_gets_busy(make_server, connect) -> None:
    """Beyond --max-connections (all logged in), a client gets an error frame `Busy` (id
    null) then EOF."""
    server = make_server(extra_args=["--max-connections", "2"])
    connect(server, server.user)
    connect(server, server.user)
    with socket.create_connection((server.host, server.api_port), timeout=10) as sock:
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    (payload,) = list(FrameDecoder().feed(data))
    msg = decode_message(payload, Limits())
    assert isinstance(msg, ErrorResponse) and msg.code == "Busy" and msg.id is None


def test_malformed_frame_gets_protocol_error_then_close(ref_server, connect) -> None:
    """Invalid JSON after the hello: an `error` with id null and code ProtocolError, then
    the connection closes; the server keeps serving others."""
    client = connect(ref_server)
    body = b"{not json"
    client.sock.sendall(struct.pack(">I", len(body)) + body)
    msg = client.next_message()
    assert isinstance(msg, ErrorResponse) and msg.code == "ProtocolError" and msg.id is None
    with pytest.raises(ConnectionClosed):
        client.next_message()
    assert connect(ref_server).call("getServerInfo")["apiVersion"] == 40


def test_oversized_frame_header_is_protocol_error(ref_server, connect) -> None:
    client = connect(ref_server, hello=False)
    client.sock.sendall(struct.pack(">I", 1 << 30))
    msg = client.next_message()
    assert isinstance(msg, ErrorResponse) and msg.code == "ProtocolError" and msg.id is None
    with pytest.raises(ConnectionClosed):
        client.next_message()


def test_server_info_fields(ref_server, connect) -> None:
    """getServerInfo works before auth and carries the documented fields."""
    info = connect(ref_server).call("getServerInfo")
    for key in ("allowRemoteControl", "apiControlPort", "APITokensAvailable", "apiVersion",
                "authRequired", "bandwidthLimits", "certificateValidation",
                "encryptionAvailable", "eventLogAvailable", "hostName", "license",
                "minCipher", "multiplexAvailable", "publicKey", "receiver", "revision",
                "serverExternalAddress", "serverId", "serverName", "serverUid", "version",
                "sandboxed"):
        assert key in info, key
    assert info["apiVersion"] == 40 and info["version"] == "2.9.2-ref"
    assert info["serverId"] == ref_server.server_id
    assert info["apiControlPort"] == ref_server.api_port
    assert re.fullmatch(r"[0-9a-f]{64}", info["publicKey"])
    assert info["authRequired"] is True and info["encryptionAvailable"] is True
    assert isinstance(info["revision"], int)
    assert "configuration" not in info
    assert info["certificateValidation"] is None  # no TLS


def test_configuration_only_after_superuser(ref_server, connect) -> None:
    admin = connect(ref_server, ref_server.superuser)
    assert "configuration" not in admin.call("getServerInfo")
    admin.call("superuser")
    conf = admin.call("getServerInfo")["configuration"]
    assert conf["garbageCollect"] == {"intervalSeconds": 3600, "maxAgeSeconds": 172800}


def test_superuser_refused_for_ordinary_user(ref_server, connect) -> None:
    with pytest.raises(PermissionDenied):
        connect(ref_server, ref_server.user).call("superuser")


def test_auth_wrong_password_and_unauthenticated_calls(ref_server, connect) -> None:
    client = connect(ref_server)
    with pytest.raises(AuthenticationFailed):
        client.call("auth", user=ref_server.user.name, password="wrong")
    with pytest.raises(AuthenticationFailed):
        client.call("send.getTransfers")
    client.auth(ref_server.user)
    transfers = client.call("send.getTransfers")
    assert isinstance(transfers, list)
    assert all(t["owner"] == ref_server.user.name for t in transfers)


def test_auth_async_request_records(ref_server, connect) -> None:
    """authAsync -> {requestId}; status answers at once; result is null; ids of another
    user's requests are NotFound."""
    client = connect(ref_server)
    rid = client.call("authAsync", user=ref_server.user.name,
                      password=ref_server.user.password)["requestId"]
    assert isinstance(rid, int) and rid >= 1
    assert client.call("getRequestResult", requestId=rid, timeout=10) is None
    status = client.call("getRequestStatus", requestId=rid)
    assert status == {"requestId": rid, "processing": False, "status": "complete",
                      "errorMessage": ""}
    other = connect(ref_server, ref_server.other_user)
    with pytest.raises(NotFound):
        other.call("getRequestStatus", requestId=rid)


def test_unknown_command_and_param_are_invalid_argument(ref_server, connect) -> None:
    client = connect(ref_server, ref_server.user)
    with pytest.raises(InvalidArgument) as info:
        client.call("send.noSuchThing")
    assert info.value.details["command"] == "send.noSuchThing"
    with pytest.raises(InvalidArgument) as info:
        client.call("send.getManifests", typo=1)
    assert info.value.details["param"] == "typo"
    with pytest.raises(InvalidArgument):
        client.call("send.getTransfer", transferId="seven")


def test_pipelined_wait_does_not_block_server_info(ref_server, connect, tmp_path) -> None:
    """A blocking waitFor* on a connection does not hold up later requests on it."""
    client = connect(ref_server, ref_server.user)
    (tmp_path / "f").write_bytes(b"x")
    manifest = client.call("send.createManifest", mappings={"f": str(tmp_path / "f")})
    client.call("send.waitForManifest", manifestId=manifest["manifestId"], timeout=10)
    dest = client.call("send.createDestination", destinationAddress="127.0.0.1",
                       destinationPort=9)
    transfer = client.call("send.createTransfer", destinationId=dest["destinationId"],
                           manifestId=manifest["manifestId"], transferFlags=0)
    wait_id = client.send_request("send.waitForTransfer", transferId=transfer["transferId"],
                                  timeout=30)
    info_id = client.send_request("getServerInfo")
    first = client.next_message()
    assert first.id == info_id  # answered while the wait is still outstanding
    with contextlib.suppress(NotReady):  # the engine may have finished it already
        client.call("send.cancelTransfer", transferId=transfer["transferId"])
    answer = client.wait_answer(wait_id)
    assert answer.result["status"] in ("cancelled", "complete", "error")


def test_request_records_expire(make_server, connect) -> None:
    """A finished request record is NotFound once --request-expiry has passed."""
    server = make_server(extra_args=["--request-expiry", "0.3"])
    client = connect(server, server.user)
    rid = client.call("recv.getSourcesAsync")["requestId"]
    assert client.call("getRequestResult", requestId=rid, timeout=10) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.call("getRequestStatus", requestId=rid)
        except NotFound:
            break
        time.sleep(0.05)
    else:
        pytest.fail("request record never expired")


def test_hello_only_sockets_are_dropped_at_the_login_deadline(make_server, connect) -> None:
    """Sockets that say hello and never log in hold no slot past the handshake deadline: with
    every slot taken by them, an authenticated user gets in once the deadline has passed
    (not after the 300 s idle timeout). Bounded: 20 sockets, --max-connections 20."""
    server = make_server(extra_args=["--max-connections", "20", "--handshake-timeout", "1"])
    squatters = [connect(server) for _ in range(20)]
    for squatter in squatters:  # each is closed by the server, well before our 10 s timeout
        with pytest.raises(ConnectionClosed):
            squatter.next_message()
    client = connect(server, server.user)
    assert client.call("getServerInfo")["serverId"] == server.server_id


def test_connections_without_login_make_room_for_a_new_user(make_server, connect) -> None:
    """With every slot held by sockets that said hello and never logged in (and a handshake
    deadline far away), a new user is still served at once: the oldest such socket is closed
    to make room. Bounded: 20 sockets, --max-connections 20."""
    server = make_server(extra_args=["--max-connections", "20", "--handshake-timeout", "60"])
    squatters = [connect(server) for _ in range(20)]
    client = connect(server, server.user)
    assert client.call("getServerInfo")["serverId"] == server.server_id
    with pytest.raises(ConnectionClosed):
        squatters[0].next_message()  # the oldest made room (EOF well before our timeout)
    assert squatters[-1].call("getServerInfo")["serverId"] == server.server_id


def test_failed_logins_are_slowed_per_user_and_logged_without_the_password(
        make_server, connect) -> None:
    """Repeated failures of one (peer, user) pair make its next attempts wait (growing); another
    user on another connection is not held up; each failure is in the event log (visible to
    the superuser), the password tried is not."""
    from jetstream_qa.refserver.session_logins import delay_after

    server = make_server()
    attacker = connect(server)
    tried = "not-the-password-123"
    for _ in range(7):
        with pytest.raises(AuthenticationFailed):
            attacker.call("auth", user=server.user.name, password=tried)
    pending = attacker.send_request("auth", user=server.user.name, password=tried)
    # that attempt now waits delay_after(7) = 0.8 s; another pair is served meanwhile: its
    # login finishes while the attacker's answer has not arrived yet
    connect(server, server.other_user)
    assert not _readable(attacker.sock), "the other user's login waited for the attacker's"
    assert delay_after(7) > delay_after(6) > 0
    assert isinstance(attacker.wait_answer(pending), ErrorResponse)
    admin = connect(server, server.superuser)
    admin.call("superuser")
    events = [e for e in admin.call("getEventLog") if e["_event"] == "loginFailed"]
    assert [e["consecutiveFailures"] for e in events] == list(range(1, 9))
    assert {e["user"] for e in events} == {server.user.name}
    assert tried not in str(events)
    connect(server, server.user)  # the right password still works, and resets the pair


def _readable(sock: socket.socket) -> bool:
    """True when the server has sent something not yet read (a zero-timeout poll)."""
    return bool(select.select([sock], [], [], 0)[0])
