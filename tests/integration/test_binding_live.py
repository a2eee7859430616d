"""The binding over both clients against the embedded pair: the same operations, the same
answers, whichever client is at hand; what the stand-in cannot do without its binding file
raises BindingMissing naming the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetstream_qa.binding import Operations, binding_for, bundled_binding, vendor_binding
from jetstream_qa.client import JetStream
from jetstream_qa.conformance_core.client_choice import RecordingApi
from jetstream_qa.errors import BindingMissing, ConnectionClosed, RequestTimeout

STANDIN_BINDING = Path(__file__).resolve().parents[2] / "fixtures" / "bindings" / "standin.toml"
WAIT_S = 30.0


def _bundled(pair):
    api = JetStream().api(pair.sender.host, pair.sender.api_port, timeout=10).connect()
    api.server.auth(pair.user.name, pair.user.password)
    return Operations(bundled_binding(), api)


def _standin(module, pair, *, with_file: bool = True):
    api = RecordingApi(module.JetStream().api(pair.sender.host, pair.sender.api_port))
    api.connect()
    api.server.auth(pair.user.name, pair.user.password)
    return Operations(binding_for("vendor", module.constants,
                                  STANDIN_BINDING if with_file else None), api)


def _send(ops, pair, name: str, **options):
    source = Path(pair.sender.storage_root) / name
    source.write_bytes(os.urandom(3000))
    manifest = ops.create_manifest({f"/{name}": str(source)}, symlink="follow")
    manifest = ops.wait_manifest(manifest["manifestId"], timeout=WAIT_S)
    assert manifest["status"] == "complete", manifest
    destination = ops.create_destination(pair.receiver.recv_host, pair.receiver.recv_port)
    return ops.create_transfer(destination["destinationId"], manifest["manifestId"],
                               destination_path=f"binding-{name}", **options)


@pytest.mark.parametrize("client", ["bundled", "standin"])
def test_transfer_through_the_binding(ref_pair, request, client):
    ops = _bundled(ref_pair) if client == "bundled" else _standin(
        request.getfixturevalue("vendor_standin"), ref_pair)
    created = _send(ops, ref_pair, f"{client}.bin", flags=3, overwrite=4, min_cipher=0,
                    send_rate_max=50_000_000)
    assert ops.status(created) == "pending"
    final = ops.wait_transfer(created["transferId"], timeout=WAIT_S)
    assert ops.status(final) == "complete", final
    assert ops.api.call_log.lines(), "calls made through the binding are recorded"


@pytest.mark.parametrize("client", ["bundled", "standin"])
def test_refusal_is_judged_by_the_clients_own_outcome(ref_pair, request, client):
    ops = _bundled(ref_pair) if client == "bundled" else _standin(
        request.getfixturevalue("vendor_standin"), ref_pair)
    refusal = ops.refused(lambda: ops.call("get_transfer", 987654321))
    assert refusal.refused and refusal.kind == "NotFound", refusal
    accepted = ops.refused(lambda: ops.call("get_transfers"))
    assert not accepted.refused and isinstance(accepted.result, list)


def test_standin_cancel_and_statuses_through_its_binding(ref_pair, vendor_standin):
    ops = _standin(vendor_standin, ref_pair)
    created = _send(ops, ref_pair, "cancel.bin", send_rate_max=8_000)
    ops.cancel_transfer(created["transferId"])
    final = ops.wait_transfer(created["transferId"], timeout=WAIT_S)
    assert final["status"] == "canceled" and ops.status(final) == "cancelled"


def test_standin_without_binding_file_names_each_missing_key(ref_pair, vendor_standin):
    ops = _standin(vendor_standin, ref_pair, with_file=False)
    assert "jetstream.errors.JetStreamError" in ops.binding.refusal_source  # discovered
    refusal = ops.refused(lambda: ops.call("get_transfer", 987654321))
    assert refusal.refused and refusal.kind is None and refusal.code == ""
    cases = [
        (lambda: ops.cancel_transfer(1), "[methods] cancel_transfer"),
        (lambda: ops.create_manifest({"/x": "/y"}, symlink="follow"),
         "[constants] symlink_follow"),
        (lambda: ops.create_destination("127.0.0.1", ref_pair.receiver.recv_port),
         "[params.create_destination] port"),
        (lambda: ops.create_transfer("d", "m", overwrite=4),
         "[params.create_transfer] overwrite"),
        (lambda: ops.require_status("running", operation="x"), "[statuses] running"),
    ]
    for call, key in cases:
        with pytest.raises(BindingMissing) as info:
            call()
        assert info.value.key == key and key in str(info.value)
    assert ops.has("receive_transfers"), "api.receive found by introspection"
    assert not ops.has("wait_transfer")


def test_bad_binding_parameter_is_named(ref_pair, vendor_standin, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[params.create_transfer]\noverwrite = "overwriteMode"\n')
    from jetstream_qa.binding import load_binding_file
    api = vendor_standin.JetStream().api(ref_pair.sender.host, ref_pair.sender.api_port)
    ops = Operations(vendor_binding(vendor_standin.constants, load_binding_file(bad)), api)
    with pytest.raises(BindingMissing, match="takes no 'overwriteMode'"):
        ops.create_transfer("d", "m", overwrite=4)


def test_vendor_socket_errors_become_transport_errors(vendor_standin):
    ops = Operations(vendor_binding(vendor_standin.constants), object())

    def times_out():
        raise TimeoutError("timed out")

    def resets():
        raise ConnectionResetError("reset")

    with pytest.raises(RequestTimeout):
        ops.refused(times_out)
    with pytest.raises(ConnectionClosed):
        ops.refused(resets)
