"""Packet level, reference-protocol: tampering with OUR datagram format (``docs/protocol.md``
section 5) on the wire.

These cases decode the captured datagrams' header (magic ``JQ``, type DATA) to alter only
block-carrying datagrams, inside their sealed body. That format is ours: the cases run only
with the bundled client, i.e. against the embedded pair or our reference servers (with the
vendor client they are NOT_APPLICABLE). Capture as in ``test_packets.py``
(``--js-capture`` or the loopback of an on-host pair).

Vendor page: ``jetstream.constants`` of 2.9.2 (``jetstream-api/2.9.2/api/python/
jetstream.constants.html``, S11: at UNENCRYPTED data "cannot be altered or forged";
ENCRYPTED_128/256 are "encrypted and authenticated").
"""

from __future__ import annotations

import os

import pytest

from jetstream_qa import capture, expect
from jetstream_qa.capture import harness
from jetstream_qa.conformance_core.failures import Inconclusive
from jetstream_qa.conformance_core.polling import poll
from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.data import DATA_PREFIX, HEADER, DType, unpack_header

S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
PROTOCOL = "docs/protocol.md 5 (reference protocol)"
SLOW_RATE = 1_000_000
"""bit/s: 256 KiB take ~2 s, time to inject while the transfer runs."""
BODY = HEADER.size + DATA_PREFIX.size
"""Bytes of a DATA datagram before its sealed blocks."""


@pytest.fixture
def plan(js_settings, js_target, js_client, js_not_applicable):
    """Where this case captures; NOT_APPLICABLE unless the servers speak our protocol."""
    if js_client.kind != "bundled":
        js_not_applicable("reference-protocol case: needs the bundled client and our servers")
    address = js_target.data_address
    return harness.plan_capture(js_settings.capture, sender_host=js_target.sender.host,
                                data_host=address.host, data_port=address.port)


def _is_data(payload):
    try:
        return unpack_header(payload).dtype is DType.DATA and len(payload) > BODY + 16
    except ProtocolError:
        return False


def _tamper(kind, payload):
    """Alter the sealed body of a DATA datagram, never its header."""
    if kind == "bit-flipped":
        return capture.flip_bit(payload, 8 * (BODY + (len(payload) - BODY) // 2) + 3)
    return payload[:BODY] + os.urandom(len(payload) - BODY)


def _receiver_counters(js_receiver):
    info = js_receiver.server.getServerInfo().get("receiver")
    return info if isinstance(info, dict) else {}


@pytest.mark.js_case("packets/tamper/{kind}-rejected-at-{cipher}", level="MUST",
                     source=f"{S11}; {PROTOCOL}")
@pytest.mark.parametrize("cipher", ["unencrypted", "encrypted_128", "encrypted_256"])
@pytest.mark.parametrize("kind", ["bit-flipped", "forged"])
def test_tampered_datagrams_rejected(kind, cipher, plan, js_sender, js_receiver, js_target,
                                     js_scratch, js_settings, js_constants, js_info, js_ops):
    """Captured DATA datagrams, altered in their sealed body (one bit flipped, or the body
    replaced) and re-injected to the receive port from the sender's address during the
    transfer, are rejected: the destination file ends byte-identical to the source; the
    receiver's ``rejectedDatagrams`` counter, when there is one, rises.

    Reference-protocol case (it decodes our DATA header). S11: at UNENCRYPTED and above data
    is authenticated: it "cannot be altered or forged".
    """
    before = _receiver_counters(js_receiver)
    injected = []

    def tamper(cap, transfer):
        got = poll(lambda: [p for p in capture.to_receiver(cap.snapshot(), plan.filter)
                            if _is_data(p.payload)],
                   lambda found: len(found) >= 4, timeout=js_settings.timeout)
        if not got.satisfied:
            raise Inconclusive(f"{plan.source} saw {len(got.value)} DATA datagrams")
        if js_sender.send.getTransfer(transfer["transferId"]).get("status") == "complete":
            raise Inconclusive("the transfer finished before the altered datagrams were "
                               "injected")
        altered = [p.datagram().with_payload(_tamper(kind, p.payload))
                   for p in got.value[:8]]
        injected.extend(altered)
        capture.inject(altered)

    got = harness.captured_transfer(
        js_ops(js_sender), js_target, js_scratch, plan, name="tamper.bin",
        content=os.urandom(256 * 1024), timeout=js_settings.timeout, during=tamper,
        send_rate_max=SLOW_RATE, min_cipher=js_constants.min_ciphers[cipher.upper()])
    expect.file_identical(got.source, js_scratch.require_dest() / "tamper.bin", timeout=5.0,
                          requirement="altered datagrams never reach the file",
                          api=js_sender)
    after = _receiver_counters(js_receiver)
    if "rejectedDatagrams" not in after:
        js_info("getServerInfo()['receiver'] exposes no rejectedDatagrams counter")
        return
    rose = after["rejectedDatagrams"] - before.get("rejectedDatagrams", 0)
    expect.that("the receiver counts the altered datagrams as rejected", rose >= 1,
                expected=f">= 1 more rejected (injected {len(injected)})",
                actual=f"rejectedDatagrams rose by {rose}", api=[js_sender, js_receiver])


# They wait for the server (capture windows, timeouts): dispatched first when concurrent.
pytestmark = pytest.mark.js_waits
