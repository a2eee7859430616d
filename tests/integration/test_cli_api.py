"""``python -m jetstream_qa api`` in a subprocess against the real reference server.

Vendor console (api.md 6.1, S14): ``jetstream api [--host] [--api-control-port] [--user]
<command> [--param=value]``; password from ``JETSTREAM_API_PASSWORD``; output is pretty JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from jetstream_qa.refserver.embedded import EmbeddedServer


def run_api(server: EmbeddedServer, *words: str, password: str | None = None,
            port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JETSTREAM_API_PASSWORD"}
    if password is not None:
        env["JETSTREAM_API_PASSWORD"] = password
    cmd = [sys.executable, "-m", "jetstream_qa", "api", "--host", server.host,
           "--api-control-port", str(port or server.api_port), "--timeout", "10", *words]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, check=False)


def test_get_server_info_shows_api_version_40(ref_server: EmbeddedServer) -> None:
    proc = run_api(ref_server, "getServerInfo")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["apiVersion"] == 40
    assert info["serverId"] == ref_server.server_id
    assert proc.stdout.startswith("{\n  "), "pretty JSON expected"


def test_wrong_password_fails_clearly_without_echoing_it(ref_server: EmbeddedServer) -> None:
    wrong = "not-the-password-" + ref_server.user.password[:4]
    proc = run_api(ref_server, "--user", ref_server.user.name, "send.getTransfers",
                   password=wrong)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: AuthenticationFailed: ")
    assert wrong not in proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_unauthenticated_get_transfers_is_refused(ref_server: EmbeddedServer) -> None:
    proc = run_api(ref_server, "send.getTransfers")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: AuthenticationFailed: ")


def test_authenticated_shortcut_lists_transfers(ref_server: EmbeddedServer) -> None:
    proc = run_api(ref_server, "--user", ref_server.user.name, "xs",
                   password=ref_server.user.password)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), list)
    assert ref_server.user.password not in proc.stdout + proc.stderr


def test_file_mappings_console_form_builds_the_manifest(ref_server: EmbeddedServer,
                                                        tmp_path: Path) -> None:
    source = tmp_path / "report.txt"
    source.write_bytes(b"abc")
    user = ref_server.user
    created = run_api(ref_server, "--user", user.name, "createManifest",
                      f"--fileMappings={source}:out/report.txt", password=user.password)
    assert created.returncode == 0, created.stderr
    manifest_id = json.loads(created.stdout)["manifestId"]
    waited = run_api(ref_server, "--user", user.name, "send.waitForManifest",
                     f"--manifestId={manifest_id}", "--timeout=10", password=user.password)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "complete"
    files = run_api(ref_server, "--user", user.name, "send.getManifestFiles",
                    "--manifestId", manifest_id, password=user.password)
    mapping = json.loads(files.stdout)["fileMappings"]
    assert [(m["srcPath"], m["destPath"], m["fileSize"]) for m in mapping] == [
        (str(source), "out/report.txt", 3)]


def test_server_error_names_its_code(ref_server: EmbeddedServer) -> None:
    user = ref_server.user
    proc = run_api(ref_server, "--user", user.name, "m", "0" * 32, password=user.password)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: NotFound: ")


def test_usage_and_transport_exit_statuses(ref_server: EmbeddedServer) -> None:
    usage = run_api(ref_server, "send.getTransfer")
    assert usage.returncode == 2 and "needs --transferId" in usage.stderr
    no_password = run_api(ref_server, "--user", "qa-user", "i")
    assert no_password.returncode == 2 and "JETSTREAM_API_PASSWORD" in no_password.stderr
    with_closed_port = run_api(ref_server, "i", port=1)
    assert with_closed_port.returncode == 3
    assert with_closed_port.stderr.startswith("error: ConnectionClosed: connection refused")


def test_tls_with_cafile(make_server: Callable[..., EmbeddedServer]) -> None:
    server = make_server(name="cli-tls", extra_args=["--tls"])
    cafile = server.state_dir / "tls" / "cert.pem"
    proc = run_api(server, "--cafile", str(cafile), "i")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["certificateValidation"] >= 0
    plain = run_api(server, "i")  # no TLS against a TLS port: a transport or protocol error
    assert plain.returncode in (1, 3) and plain.stderr.startswith("error: ")
