"""The load session's own calls (receiver info, liveness probe, counters, fingerprint) go
through the binding, so they work with the vendor client (issue 11): run against the embedded
pair through the strict vendor stand-in and its binding file, in a subprocess (importing the
stand-in's ``jetstream`` here would make ``--js-client auto`` pick it in later tests)."""

from __future__ import annotations

import json
import subprocess
import sys

from load_helpers import ROOT, locust_env

from jetstream_qa.binding import operation_for
from jetstream_qa.errors import ConfigurationError

_SCRIPT = """
import json, sys
from dataclasses import replace
from jetstream_qa.loadrun.session import LoadSession
from jetstream_qa.loadrun.settings import Address, LoadSettings
from jetstream_qa.refserver.embedded import EmbeddedPair

out = {}
with EmbeddedPair() as pair:
    settings = LoadSettings(
        sender=Address("127.0.0.1", pair.sender.api_port),
        receiver=Address("127.0.0.1", pair.receiver.api_port), user=pair.user.name,
        password=pair.user.password, client="vendor", binding=sys.argv[1], timeout=5.0)
    session = LoadSession(settings)
    session.start_target()
    api = session.connect()
    out["apiModule"] = type(api).__module__
    out["data"] = list(session.data_address(api))[:2]
    out["recvPort"] = pair.receiver.recv_port
    out["probe"] = session.probe()
    session.recorder.note_transfer_id("no-such-transfer")
    out["counters"] = session.server_counters()
    wrong = LoadSession(replace(settings, password="not-the-password"))
    wrong.start_target()
    out["wrongProbe"] = wrong.probe()
    wrong.recorder.note_transfer_id("no-such-transfer")
    out["wrongCounters"] = wrong.server_counters()
    api.disconnect()
out["deadProbe"] = session.probe()
print(json.dumps(out))
"""


def test_session_calls_through_the_standin_binding() -> None:
    env = locust_env()
    env["PYTHONPATH"] = str(ROOT / "tests" / "vendor_standin")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(ROOT / "fixtures" / "bindings" / "standin.toml")],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["apiModule"].startswith("jetstream.")  # the stand-in's client, not ours
    assert out["data"] == ["127.0.0.1", out["recvPort"]]  # receiver's recvPort, via binding
    assert out["probe"] is None
    assert out["counters"]["transfers"] == 0 and "error" not in out["counters"]
    # a refused login is an answer (the binding's refusal class), not a dead server
    assert out["wrongProbe"] is None
    assert out["wrongCounters"]["error"].startswith("JetStreamError")
    assert "not-the-password" not in proc.stdout + proc.stderr
    assert out["deadProbe"] and "Refused" in out["deadProbe"]


def test_operation_for_reads_vendor_methods_and_operation_names() -> None:
    assert operation_for("getServerInfo") == "get_server_info"
    assert operation_for("send.getTransfers") == "get_transfers"
    assert operation_for("get_transfers") == "get_transfers"
    try:
        operation_for("send.waitForEverything")
    except ConfigurationError as exc:
        assert "send.getTransfers" in str(exc)
    else:
        raise AssertionError("an unknown command must be refused")
