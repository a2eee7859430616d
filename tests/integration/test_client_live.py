"""The bundled client against the real reference server (subprocess, loopback).

Fixtures ``ref_server``, ``make_server`` and ``api`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa import errors
from jetstream_qa.client import REDACTED, Api, JetStream
from jetstream_qa.conformance_core.lateness import LatenessProbe
from jetstream_qa.refserver.embedded import EmbeddedServer

ApiFactory = Callable[..., Api]


# --- handshake ---------------------------------------------------------------------------
def test_hello_and_server_info_report_api_version_40(ref_server: EmbeddedServer,
                                                     api: ApiFactory) -> None:
    session = api(ref_server)
    assert session.server_hello is not None
    assert session.server_hello.api_version == 40
    assert session.server_hello.server_id == ref_server.server_id
    info = session.server.getServerInfo()
    assert info["apiVersion"] == 40
    assert info["serverId"] == ref_server.server_id
    assert info["authRequired"] is True


def test_client_speaking_39_gets_mismatch_naming_both(ref_server: EmbeddedServer) -> None:
    client = JetStream().api(ref_server.host, ref_server.api_port, 5, api_version=39)
    with pytest.raises(errors.ApiVersionMismatch) as info:
        client.connect()
    assert (info.value.expected, info.value.actual) == (39, 40)
    assert "39" in str(info.value) and "40" in str(info.value)
    assert not client.connected


def test_server_with_wrong_api_version_is_refused(
        make_server: Callable[..., EmbeddedServer]) -> None:
    server = make_server(name="wrong-version", faults=["wrong-api-version"])
    client = JetStream().api(server.host, server.api_port, 5)
    with pytest.raises(errors.ApiVersionMismatch) as info:
        client.connect()
    assert (info.value.expected, info.value.actual) == (40, 39)
    assert not client.connected


def test_connect_timeout_against_a_server_that_never_says_hello(
        make_server: Callable[..., EmbeddedServer]) -> None:
    server = make_server(name="hang-hello", faults=["hang-before-hello"])
    timeout = 1.0
    client = JetStream().api(server.host, server.api_port, timeout)
    started = time.monotonic()
    with LatenessProbe() as late, pytest.raises(errors.ConnectTimeout):
        client.connect()
    elapsed = time.monotonic() - started
    # late by at most the wake-up delay this process was measured to suffer meanwhile
    assert 0.9 * timeout <= elapsed <= 1.1 * timeout + 0.1 + late.worst_s, \
        (elapsed, late.worst_s)


def test_tls_with_the_server_certificate(make_server: Callable[..., EmbeddedServer]) -> None:
    server = make_server(name="tls", extra_args=["--tls"])
    cafile = server.state_dir / "tls" / "cert.pem"
    with JetStream().api(server.host, server.api_port, 5, tls=True,
                         cafile=str(cafile)) as session:
        info = session.server.getServerInfo()
    assert isinstance(info["certificateValidation"], int)
    assert info["certificateValidation"] >= 0
    with JetStream().api("localhost", server.api_port, 5, tls=True) as session:
        assert session.server.getServerInfo()["apiVersion"] == 40


# --- auth --------------------------------------------------------------------------------
def test_commands_need_auth_and_wrong_password_fails(ref_server: EmbeddedServer,
                                                     api: ApiFactory) -> None:
    session = api(ref_server)
    with pytest.raises(errors.AuthenticationFailed):
        session.send.getTransfers()
    with pytest.raises(errors.AuthenticationFailed):
        session.server.auth(ref_server.user.name, ref_server.user.password + "x")
    assert session.connected
    session.server.auth(ref_server.user.name, ref_server.user.password)
    assert isinstance(session.send.getTransfers(), list)


def test_auth_async_result_through_request_dict(ref_server: EmbeddedServer,
                                                api: ApiFactory) -> None:
    session = api(ref_server)
    request = session.server.authAsync(ref_server.user.name, ref_server.user.password)
    assert isinstance(request["requestId"], int)
    assert session.server.getRequestResult(request, timeout=5) is None
    status = session.server.getRequestStatus(request)
    assert status["status"] == "complete" and status["processing"] is False
    assert isinstance(session.send.getManifests(), list)


def test_call_log_of_a_real_session_hides_the_password(ref_server: EmbeddedServer,
                                                       api: ApiFactory) -> None:
    session = api(ref_server, ref_server.user)
    session.send.getDestinations()
    lines = session.call_log.lines()
    assert [r.command for r in session.call_log] == ["connect", "auth", "send.getDestinations"]
    assert session.call_log[1].params["password"] == REDACTED
    assert not any(ref_server.user.password in line for line in lines)


# --- commands and errors -----------------------------------------------------------------
def test_manifest_round_trip(ref_server: EmbeddedServer, api: ApiFactory,
                             tmp_path: Path) -> None:
    source = tmp_path / "hello.txt"
    source.write_bytes(b"x" * 1000)
    session = api(ref_server, ref_server.user)
    manifest = session.send.createManifest(mappings={"docs/hello.txt": str(source)})
    assert manifest["status"] == "pending" or manifest["status"] == "complete"
    done = session.send.waitForManifest(manifest["manifestId"], timeout=10)
    assert done["status"] == "complete"
    assert (done["totalFiles"], done["totalSize"]) == (1, 1000)
    files = session.send.getManifestFiles(manifest["manifestId"])
    assert [(f["destPath"], f["fileSize"]) for f in files["fileMappings"]] == [
        ("docs/hello.txt", 1000)]
    assert session.send.getManifest(manifest["manifestId"])["manifestId"] == \
        manifest["manifestId"]


@pytest.mark.parametrize(("command", "params", "error"), [
    ("send.getManifest", {"manifestId": "0" * 32}, errors.NotFound),
    ("send.getTransfers", {"bogus": 1}, errors.InvalidArgument),
    ("send.noSuchCommand", {}, errors.InvalidArgument),
    ("send.createManifest", {"mappings": {"../escape": "/etc/hostname"}},
     errors.InvalidArgument),
    ("getSandboxMappings", {}, errors.PermissionDenied),
])
def test_server_errors_arrive_as_their_classes(ref_server: EmbeddedServer, api: ApiFactory,
                                               command: str, params: dict[str, Any],
                                               error: type[Exception]) -> None:
    session = api(ref_server, ref_server.user)
    with pytest.raises(error):
        session.call(command, params)
    assert session.connected
    assert session.call_log[-1].outcome == error.code  # type: ignore[attr-defined]


def test_wait_for_transfer_not_finished_raises_request_timeout(
        ref_server: EmbeddedServer, api: ApiFactory, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"\0" * 4096)
    session = api(ref_server, ref_server.user)
    manifest = session.send.createManifest(mappings={"big.bin": str(source)})
    session.send.waitForManifest(manifest["manifestId"], timeout=10)
    destination = session.send.createDestination("127.0.0.1", destinationPort=9,
                                                 sendRateMax=8000)
    transfer = session.send.createTransfer(destination["destinationId"],
                                           manifest["manifestId"])
    session.send.suspendTransfer(transfer["transferId"])
    with pytest.raises(errors.RequestTimeout, match="suspended") as info:
        session.send.waitForTransfer(transfer["transferId"], timeout=0.5)
    assert info.value.details["last"]["transferId"] == transfer["transferId"]
    session.send.cancelTransfer(transfer["transferId"])
    finished = session.send.waitForTransfer(transfer["transferId"], timeout=5)
    assert finished["status"] == "cancelled"


def test_context_manager_disconnects(ref_server: EmbeddedServer) -> None:
    with JetStream().api(ref_server.host, ref_server.api_port, 5) as session:
        assert session.connected
        session.server.getServerInfo()
    assert not session.connected
    with pytest.raises(errors.UsageError, match="not connected"):
        session.server.getServerInfo()
    with session:  # reusable: a second with-block reconnects
        assert session.server.getServerInfo()["apiVersion"] == 40
