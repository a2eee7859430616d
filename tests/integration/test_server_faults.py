"""Control-plane faults (refserver.faults) really change what the server does; the meta
tests prove the suites catch them, these prove the switches are wired."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from pathlib import Path

from jetstream_qa.errors import NotReady
from jetstream_qa.refserver.embedded import EmbeddedServer

FAULTS = ["wrong-api-version", "server-info-missing-fields", "accept-any-password",
          "leak-transfers", "leak-manifests", "superuser-for-all", "manifest-wrong-size",
          "manifest-no-exec-bit", "manifest-skip-empty-dirs", "write-outside-root"]


def test_control_faults_are_observable(make_server, connect, tmp_path: Path) -> None:
    server: EmbeddedServer = make_server(faults=FAULTS)
    (tmp_path / "d" / "empty").mkdir(parents=True)
    (tmp_path / "d" / "x.sh").write_bytes(b"12345")
    os.chmod(tmp_path / "d" / "x.sh", 0o755)
    alice = connect(server)
    assert alice.server_hello.api_version == 39
    info = alice.call("getServerInfo")
    assert info["apiVersion"] == 39 and "revision" not in info and "serverUid" not in info
    alice.call("auth", user=server.user.name, password="not-the-password")
    m = alice.call("send.createManifest", mappings={"d": str(tmp_path / "d")})
    alice.call("send.waitForManifest", manifestId=m["manifestId"], timeout=10)
    files = alice.call("send.getManifestFiles", manifestId=m["manifestId"])["fileMappings"]
    assert [(f["destPath"], f["fileSize"], f["executable"]) for f in files] == [
        ("d/x.sh", 6, False)]
    bob = connect(server, server.other_user)
    assert bob.call("send.getManifest", manifestId=m["manifestId"])["owner"] == "qa-user"
    d = alice.call("send.createDestination", destinationAddress="127.0.0.1", destinationPort=9)
    t = alice.call("send.createTransfer", destinationId=d["destinationId"],
                   manifestId=m["manifestId"], destinationPath="../escape", transferFlags=0)
    assert bob.call("send.getTransfer", transferId=t["transferId"])["owner"] == "qa-user"
    bob.call("superuser")
    assert "configuration" in bob.call("getServerInfo")
    with contextlib.suppress(NotReady):
        alice.call("send.cancelTransfer", transferId=t["transferId"])


def test_crash_on_malformed_frame(make_server) -> None:
    server = make_server(faults=["crash-on-malformed-frame"])
    with socket.create_connection((server.host, server.api_port), timeout=10) as sock:
        sock.sendall(struct.pack(">I", 3) + b"{{{")
        assert sock.recv(100) == b""
    assert server.proc is not None and server.proc.wait(timeout=10) == 3
