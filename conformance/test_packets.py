"""Packet level: what crosses the UDP data plane, watched and tampered with using scapy.

Vendor pages: ``jetstream.constants`` of 2.9.2 (``jetstream-api/2.9.2/api/python/
jetstream.constants.html``, S11: MIN_CIPHER_NONE "no encryption, no validation",
UNENCRYPTED "readable on the path, but cannot be altered or forged", ENCRYPTED_128/256
"encrypted and authenticated"), the relay page (``jetstream-server/2.8.1/using_jetstream/
relay.html``, S29: data is encrypted before it leaves the server) and the Server Information
structure (``jetstream-api/2.9.2/api/structures/server-info.html``, S4: ``receiver``).

Capture needs root, libpcap and a receiver on this host's loopback
(:func:`jetstream_qa.capture.check_capturable`); otherwise the cases are NOT_APPLICABLE.
Nothing here knows the data-plane format: payloads are searched for a marker, bits are
flipped at arbitrary offsets, and captured datagrams are replayed as they are.
"""

from __future__ import annotations

import os
import secrets

import pytest

from jetstream_qa import capture, expect
from jetstream_qa.conformance_core import steps
from jetstream_qa.conformance_core.failures import Inconclusive
from jetstream_qa.conformance_core.oracle import expected_cipher
from jetstream_qa.conformance_core.polling import poll

S4 = "jetstream-api/2.9.2/api/structures/server-info.html"
S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S29 = "jetstream-server/2.8.1/using_jetstream/relay.html"

CIPHERS = {"none": 0, "unencrypted": 1, "encrypted_128": 2, "encrypted_256": 3}
MARKER_SIZE = 1 << 20
CAPTURE_RATE = 16_000_000
"""bit/s: 1 MiB in about half a second, slow enough for the sniffer to keep up."""
SLOW_RATE = 1_000_000


def _data_address(js_target, js_not_applicable):
    address = js_target.data_address
    try:
        capture.check_capturable(address.host, port=address.port)
    except capture.CaptureNotApplicable as exc:
        js_not_applicable(str(exc))
    return address


def _cipher_levels(js_sender, js_receiver):
    return (int(js_sender.server.getServerInfo().get("minCipher") or 0),
            int(js_receiver.server.getServerInfo().get("minCipher") or 0))


def _marker_transfer(js_sender, js_target, js_scratch, js_settings, js_constants, level,
                     port):
    """Send a 1 MiB marker file at ``level`` under capture; returns (datagrams, marker,
    final transfer)."""
    marker = b"<JSQA-PLAINTEXT-" + secrets.token_hex(8).encode() + b">"
    source = js_scratch.require_source() / "marker.bin"
    source.write_bytes(capture.marker_pattern(MARKER_SIZE, marker=marker))
    manifest = steps.complete_manifest(js_sender, {"/marker.bin": js_scratch.server_path(source)},
                                       timeout=js_settings.timeout)
    destination = steps.destination_to_receiver(js_sender, js_target)
    name = {v: k for k, v in CIPHERS.items()}[level].upper()
    with capture.UdpCapture(port, timeout_s=js_settings.timeout + 60) as cap:
        transfer = js_sender.send.createTransfer(
            destination["destinationId"], manifest["manifestId"],
            destinationPath=js_scratch.dest_path, sendRateMax=CAPTURE_RATE,
            minCipher=js_constants.min_ciphers[name])
        final = expect.transfer_status(js_sender, transfer["transferId"], "complete",
                                       timeout=js_settings.timeout + 30)
        poll(lambda: cap.seen, lambda seen: seen > 0, timeout=1.0)
    data = [d for d in cap.datagrams if d.dport == port]
    return data, marker, final


def _require_visible_traffic(data, js_not_applicable):
    if not data:
        js_not_applicable("no datagram to the receive port was visible on loopback")


@pytest.mark.js_case("packets/plaintext/visible-at-{cipher}", level="MUST", source=S11)
@pytest.mark.parametrize("cipher", ["none", "unencrypted"])
def test_plaintext_visible(cipher, js_sender, js_receiver, js_target, js_scratch, js_settings,
                           js_constants, js_not_applicable):
    """At MIN_CIPHER_NONE and UNENCRYPTED the file's bytes are readable in the UDP payloads
    (this also proves the capture sees the data plane).

    S11: NONE is "no encryption"; UNENCRYPTED is "readable on the path".
    """
    port = _data_address(js_target, js_not_applicable).port
    levels = _cipher_levels(js_sender, js_receiver)
    effective = expected_cipher(CIPHERS[cipher], *levels)
    if effective >= 2:
        js_not_applicable(f"a server's minCipher {levels} forces {effective.name}: plaintext "
                          "cannot be expected")
    data, marker, _ = _marker_transfer(js_sender, js_target, js_scratch, js_settings,
                                       js_constants, CIPHERS[cipher], port)
    _require_visible_traffic(data, js_not_applicable)
    hits = capture.count_marker(data, marker)
    expect.that(f"at {cipher} the data crosses the wire readable", hits > 0,
                expected="the marker in some datagram payloads",
                actual=f"marker in 0 of {len(data)} datagrams", api=js_sender)


@pytest.mark.js_case("packets/plaintext/never-on-wire-at-{cipher}", level="MUST",
                     source=f"{S11}; {S29}")
@pytest.mark.parametrize("cipher", ["encrypted_128", "encrypted_256"])
def test_plaintext_hidden(cipher, js_sender, js_target, js_scratch, js_settings, js_constants,
                          js_not_applicable):
    """At MIN_CIPHER_ENCRYPTED_128 and ENCRYPTED_256 no UDP payload carries the file's
    plaintext.

    S11: ENCRYPTED_128/256 are "encrypted and authenticated"; S29: data is encrypted before it
    leaves the server.
    """
    port = _data_address(js_target, js_not_applicable).port
    data, marker, final = _marker_transfer(js_sender, js_target, js_scratch, js_settings,
                                           js_constants, CIPHERS[cipher], port)
    _require_visible_traffic(data, js_not_applicable)
    seen = sum(len(d.payload) for d in data)
    if seen < 0.9 * final["totalBytes"]:
        raise Inconclusive(f"the capture saw {seen} payload bytes of a {final['totalBytes']}"
                           "-byte transfer: it missed traffic")
    hits = capture.count_marker(data, marker)
    expect.equal(f"at {cipher} no datagram carries plaintext", 0, hits, api=js_sender)


def _receiver_counters(js_receiver):
    info = js_receiver.server.getServerInfo().get("receiver")
    return info if isinstance(info, dict) else {}


def _tamper(kind, payload):
    if kind == "bit-flipped":
        return capture.flip_bit(payload, len(payload) * 4 + 3)
    half = len(payload) // 2
    return payload[:half] + os.urandom(len(payload) - half)


@pytest.mark.js_case("packets/tamper/{kind}-rejected-at-{cipher}", level="MUST", source=S11)
@pytest.mark.parametrize("cipher", ["unencrypted", "encrypted_128", "encrypted_256"])
@pytest.mark.parametrize("kind", ["bit-flipped", "forged"])
def test_tampered_datagrams_rejected(kind, cipher, js_sender, js_receiver, js_target,
                                     js_scratch, js_settings, js_constants, js_info,
                                     js_not_applicable):
    """Captured data datagrams, altered (one bit flipped, or the second half replaced) and
    re-injected to the receive port from the sender's address during the transfer, are
    rejected: the destination file ends byte-identical to the source; a rejected-datagram
    counter in getServerInfo()['receiver'], when there is one, rises.

    S11: at UNENCRYPTED and above data is authenticated: it "cannot be altered or forged".
    """
    address = _data_address(js_target, js_not_applicable)
    source = js_scratch.require_source() / "tamper.bin"
    source.write_bytes(os.urandom(256 * 1024))
    manifest = steps.complete_manifest(js_sender, {"/tamper.bin": js_scratch.server_path(source)},
                                       timeout=js_settings.timeout)
    destination = steps.destination_to_receiver(js_sender, js_target)
    before = _receiver_counters(js_receiver)
    with capture.UdpCapture(address.port, timeout_s=js_settings.timeout + 60) as cap:
        transfer = js_sender.send.createTransfer(
            destination["destinationId"], manifest["manifestId"],
            destinationPath=js_scratch.dest_path, sendRateMax=SLOW_RATE,
            minCipher=js_constants.min_ciphers[cipher.upper()])
        got = poll(lambda: [d for d in cap.datagrams
                            if d.dport == address.port and len(d.payload) >= 256],
                   lambda found: len(found) >= 4, timeout=js_settings.timeout)
    _require_visible_traffic(got.value, js_not_applicable)
    altered = [d.with_payload(_tamper(kind, d.payload)) for d in got.value[:8]]
    capture.inject(altered)
    final = js_sender.send.getTransfer(transfer["transferId"])
    if final.get("status") == "complete":
        raise Inconclusive("the transfer finished before the altered datagrams were injected")
    expect.transfer_status(js_sender, transfer["transferId"], "complete",
                           timeout=js_settings.timeout + 30)
    expect.file_identical(source, js_scratch.require_dest() / "tamper.bin", timeout=5.0,
                          requirement="altered datagrams never reach the file",
                          api=js_sender)
    after = _receiver_counters(js_receiver)
    if "rejectedDatagrams" not in after:
        js_info("getServerInfo()['receiver'] exposes no rejectedDatagrams counter")
        return
    rose = after["rejectedDatagrams"] - before.get("rejectedDatagrams", 0)
    expect.that("the receiver counts the altered datagrams as rejected", rose >= 1,
                expected=f">= 1 more rejected (injected {len(altered)})",
                actual=f"rejectedDatagrams rose by {rose}", api=[js_sender, js_receiver])


@pytest.mark.js_case("packets/garbage/running-transfer-undisturbed", level="MUST",
                     source=f"{S11}; {S4}")
def test_garbage_datagrams(js_sender, js_receiver, js_target, js_scratch, js_settings,
                           js_not_applicable):
    """Random datagrams sent to the receive port during a transfer do not disturb it: it
    completes and the file is byte-identical; the receiver keeps answering.

    S11: authenticated levels reject what they cannot verify; S4: the receiver is part of the
    server's documented state. (Sending only; needs no capture, only a local receiver.)
    """
    address = js_target.data_address
    if not capture.is_local(address.host):
        js_not_applicable(f"the receiver {address.host} is not on this host's loopback")
    source = js_scratch.require_source() / "garbage.bin"
    source.write_bytes(os.urandom(256 * 1024))
    manifest = steps.complete_manifest(js_sender, {"/garbage.bin": js_scratch.server_path(source)},
                                       timeout=js_settings.timeout)
    destination = steps.destination_to_receiver(js_sender, js_target)
    transfer = js_sender.send.createTransfer(destination["destinationId"],
                                             manifest["manifestId"],
                                             destinationPath=js_scratch.dest_path,
                                             sendRateMax=SLOW_RATE)
    junk = [os.urandom(n) for n in (0, 1, 7, 64, 255, 256, 1200, 1472)] * 25
    capture.send_garbage(address.host, address.port, junk)
    expect.transfer_status(js_sender, transfer["transferId"], "complete",
                           timeout=js_settings.timeout + 30)
    expect.file_identical(source, js_scratch.require_dest() / "garbage.bin", timeout=5.0,
                          api=js_sender)
    info = js_receiver.server.getServerInfo()
    expect.has_fields("the receiver still answers", info, {"apiVersion": int},
                      api=[js_sender, js_receiver])
