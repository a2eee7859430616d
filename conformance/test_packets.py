"""Packet level, protocol-agnostic: what crosses the UDP data plane between the two servers.

Every case here works on any server whose wire format we do not know: payloads are searched
for a marker, packets are grouped by address and port, rates come from capture timestamps,
and injected datagrams are either random or replayed as captured. The reference-protocol
cases (our datagram format) are in ``test_packets_wire.py``.

Where the traffic is captured (:func:`jetstream_qa.capture.harness.plan_capture`):
``--js-capture iface:NAME | cmd:'COMMAND' | file:PATH``, or this host's loopback when the
receiver is on it (the embedded pair). With neither, the cases are NOT_APPLICABLE and name
``--js-capture``; a source that does not work makes them INCONCLUSIVE.

Vendor pages: ``jetstream.constants`` of 2.9.2 (``jetstream-api/2.9.2/api/python/
jetstream.constants.html``, S11: MIN_CIPHER_NONE "no encryption, no validation",
UNENCRYPTED "readable on the path, but cannot be altered or forged", ENCRYPTED_128/256
"encrypted and authenticated"), the relay page (``jetstream-server/2.8.1/using_jetstream/
relay.html``, S29: data is encrypted before it leaves the server), the primer
(``jetstream-server/2.9.2/getting_started/primer.html``, S20: data on the UDP receive port,
one outgoing UDP port per destination), the Server Information structure
(``jetstream-api/2.9.2/api/structures/server-info.html``, S4) and the send-rate page
(``jetstream-client/2.9.2/transfers/transfer-sendrate.html``, S45: a transfer's maximum send
rate). The vendor documents no packet size; the fragment case cites RFC 8085.
"""

from __future__ import annotations

import os
import secrets

import pytest

from jetstream_qa import capture, expect
from jetstream_qa.capture import harness
from jetstream_qa.conformance_core.failures import Inconclusive
from jetstream_qa.conformance_core.oracle import expected_cipher
from jetstream_qa.conformance_core.polling import poll
from jetstream_qa.errors import UsageError

S4 = "jetstream-api/2.9.2/api/structures/server-info.html"
S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S20 = "jetstream-server/2.9.2/getting_started/primer.html"
S29 = "jetstream-server/2.8.1/using_jetstream/relay.html"
S45 = "jetstream-client/2.9.2/transfers/transfer-sendrate.html"
RFC8085 = "RFC 8085 3.2 (UDP senders SHOULD NOT exceed the path MTU); vendor: no packet size"
AGNOSTIC = "protocol-agnostic"

CIPHERS = {"none": 0, "unencrypted": 1, "encrypted_128": 2, "encrypted_256": 3}
MARKER_SIZE = 256 * 1024
CAPTURE_RATE = 8_000_000
"""bit/s: 256 KiB in about a quarter second, slow enough for any capture path to keep up."""
SLOW_RATE = 1_000_000
"""bit/s: 256 KiB take ~2 s, time to inject while the transfer runs."""
RATE_LIMIT = 8_000_000
"""bit/s of the pacing case: 2 MiB take ~2 s, eight 0.25 s bins."""
RATE_SIZE = 2 << 20
INJECT_SIZE = 256 * 1024


@pytest.fixture
def plan(js_settings, js_target):
    """Where this case captures (NOT_APPLICABLE naming --js-capture when nowhere)."""
    address = js_target.data_address
    return harness.plan_capture(js_settings.capture, sender_host=js_target.sender.host,
                                data_host=address.host, data_port=address.port)


def _min_cipher(js_constants, cipher):
    return js_constants.min_ciphers[cipher.upper()]


def _marker_transfer(js_ops, js_sender, js_target, js_scratch, js_settings, js_constants,
                     plan, cipher):
    marker = b"<JSQA-PLAINTEXT-" + secrets.token_hex(8).encode() + b">"
    got = harness.captured_transfer(
        js_ops(js_sender), js_target, js_scratch, plan, name="marker.bin",
        content=capture.marker_pattern(MARKER_SIZE, marker=marker),
        timeout=js_settings.timeout, send_rate_max=CAPTURE_RATE,
        min_cipher=_min_cipher(js_constants, cipher))
    return got, marker


@pytest.mark.js_case("packets/plaintext/visible-at-{cipher}", level="MUST",
                     source=f"{S11} ({AGNOSTIC})")
@pytest.mark.parametrize("cipher", ["none", "unencrypted"])
def test_plaintext_visible(cipher, plan, js_sender, js_receiver, js_target, js_scratch,
                           js_settings, js_constants, js_not_applicable, js_ops):
    """At MIN_CIPHER_NONE and UNENCRYPTED the file's bytes are readable in the UDP payloads
    (this also proves the capture sees the data plane).

    Protocol-agnostic. S11: NONE is "no encryption"; UNENCRYPTED is "readable on the path".
    """
    levels = (int(js_sender.server.getServerInfo().get("minCipher") or 0),
              int(js_receiver.server.getServerInfo().get("minCipher") or 0))
    effective = expected_cipher(CIPHERS[cipher], *levels)
    if effective >= 2:
        js_not_applicable(f"a server's minCipher {levels} forces {effective.name}: plaintext "
                          "cannot be expected")
    got, marker = _marker_transfer(js_ops, js_sender, js_target, js_scratch, js_settings,
                                   js_constants, plan, cipher)
    data = got.require_traffic()
    hits = capture.count_marker(data, marker)
    if not hits:
        got.require_complete(f"at {cipher} no datagram carries the file readable")
    expect.that(f"at {cipher} the data crosses the wire readable", hits > 0,
                expected="the marker in some datagram payloads",
                actual=f"marker in 0 of {len(data)} datagrams ({plan.describe()})",
                api=js_sender)


@pytest.mark.js_case("packets/plaintext/never-on-wire-at-{cipher}", level="MUST",
                     source=f"{S11}; {S29} ({AGNOSTIC})")
@pytest.mark.parametrize("cipher", ["encrypted_128", "encrypted_256"])
def test_plaintext_hidden(cipher, plan, js_sender, js_target, js_scratch, js_settings,
                          js_constants, js_ops):
    """At MIN_CIPHER_ENCRYPTED_128 and ENCRYPTED_256 no UDP payload carries the file's
    plaintext.

    Protocol-agnostic. S11: ENCRYPTED_128/256 are "encrypted and authenticated"; S29: data
    is encrypted before it leaves the server.
    """
    got, marker = _marker_transfer(js_ops, js_sender, js_target, js_scratch, js_settings,
                                   js_constants, plan, cipher)
    data = got.require_traffic()
    hits = capture.count_marker(data, marker)
    if not hits:
        got.require_complete(f"at {cipher} no datagram carries plaintext")
        seen = sum(len(d.payload) for d in data)
        if seen < 0.9 * got.final["totalBytes"]:
            raise Inconclusive(f"the capture saw {seen} payload bytes of a "
                               f"{got.final['totalBytes']}-byte transfer: it missed traffic")
    expect.equal(f"at {cipher} no datagram carries plaintext ({plan.source})", 0, hits,
                 api=js_sender)


@pytest.mark.js_case("packets/wire/no-ip-fragments", level="SHOULD",
                     source=f"{RFC8085} ({AGNOSTIC})")
def test_no_fragments(plan, js_sender, js_target, js_scratch, js_settings, js_info,
                      js_ops):
    """The transfer's datagrams are never IP-fragmented, and, where the capture interface's
    MTU is known, no IP packet exceeds it.

    Protocol-agnostic. The vendor documents no packet size; RFC 8085 3.2: a UDP sender
    SHOULD NOT send datagrams that exceed the path MTU (fragmentation loses whole datagrams
    to one lost fragment).
    """
    got = harness.captured_transfer(js_ops(js_sender), js_target, js_scratch, plan,
                                    name="mtu.bin", content=os.urandom(MARKER_SIZE),
                                    timeout=js_settings.timeout, send_rate_max=CAPTURE_RATE)
    got.require_traffic()
    frags = capture.fragments(got.packets)
    if not frags:
        got.require_complete("no datagram is IP-fragmented")
    largest = max(p.ip_len for p in got.packets)
    expect.that("no datagram is IP-fragmented", not frags,
                expected="0 fragments", api=js_sender,
                actual=f"{len(frags)} fragments of {len(got.packets)} packets (largest IP "
                       f"packet {largest} bytes)")
    if plan.mtu is not None:
        # An unfragmented IP packet above the interface MTU can only be an offload batch: a
        # segmentation-offload batch seen before the kernel/NIC splits it (Linux refuses
        # UDP_SEGMENT sizes above the MTU, and fragments an over-MTU datagram before the
        # capture point), or a receive-coalesced one seen after GRO merged wire datagrams.
        # Its wire datagrams are within the MTU, so only fragments count against it.
        big = capture.oversize(got.packets, plan.mtu)
        if big:
            js_info(f"{len(big)} unfragmented packets above the {plan.mtu}-byte MTU of "
                    f"{plan.source.value} (largest {largest} bytes): UDP segmentation "
                    "offload batches seen before segmentation; their wire datagrams are "
                    "within the MTU by construction")


@pytest.mark.js_case("packets/wire/only-between-data-ports", level="MUST",
                     source=f"{S20} ({AGNOSTIC})")
def test_only_between_data_ports(plan, js_sender, js_target, js_scratch, js_settings,
                                 js_info, js_ops):
    """During a transfer the only UDP between the two servers is the sender's one data
    port talking to the receiver's data port (and back).

    Protocol-agnostic. S20: data travels on the receiver's UDP receive port; the sender
    allocates one outgoing UDP port per destination.
    """
    got = harness.captured_transfer(js_ops(js_sender), js_target, js_scratch, plan,
                                    name="ports.bin", content=os.urandom(INJECT_SIZE),
                                    timeout=js_settings.timeout, send_rate_max=CAPTURE_RATE)
    got.require_traffic()
    sender = capture.busiest_source(got.packets, plan.filter)
    assert sender is not None
    foreign = capture.foreign_flows(got.packets, plan.filter, sender)
    if not foreign:
        got.require_complete("no other UDP flow crossed between the servers")
    shown = ", ".join(f"{s}:{sp}->{d}:{dp} x{n}" for (s, sp, d, dp), n in
                      foreign.most_common(5))
    expect.that("UDP flows only between the two data ports", not foreign,
                expected=f"only {sender[0]}:{sender[1]} <-> {plan.filter.receiver_ip}:"
                         f"{plan.filter.receiver_port}",
                actual=f"{sum(foreign.values())} other datagrams: {shown}", api=js_sender)
    if sender[0] not in plan.filter.sender_ips:
        js_info(f"data arrived from {sender[0]}, not the sender's API address "
                f"{plan.filter.sender_ips} (NAT or a separate data interface)")


def _wait_running(cap, plan, timeout):
    """Until the capture shows >= 4 datagrams to the receiver (the transfer is running)."""
    got = poll(lambda: capture.to_receiver(cap.snapshot(), plan.filter),
               lambda data: len(data) >= 4, timeout=timeout)
    if not got.satisfied:
        raise Inconclusive(f"{plan.source} saw {len(got.value)} datagrams to the receiver "
                           f"within {timeout:g} s of createTransfer")
    return got.value


def _still_running(js_sender, transfer):
    if js_sender.send.getTransfer(transfer["transferId"]).get("status") == "complete":
        raise Inconclusive("the transfer finished before the datagrams were injected")


def _delivered(cap, plan, payloads, *, copies):
    """Wait until every payload shows up ``copies`` times on the capture, or give up."""
    want = [p for p in payloads if p]

    def seen(packets):
        data = [p.payload for p in capture.to_receiver(packets, plan.filter)]
        return all(data.count(p) >= copies for p in want)

    if not poll(cap.snapshot, seen, timeout=5.0).satisfied:
        raise Inconclusive(f"the injected datagrams never all appeared on {plan.source}: "
                           "this host cannot reach the receiver's data port on that path")


def _undisturbed(js_sender, js_receiver, got, js_scratch, name):
    expect.file_identical(got.source, js_scratch.require_dest() / name, timeout=5.0,
                          api=js_sender)
    info = js_receiver.server.getServerInfo()
    expect.has_fields("the receiver still answers", info, {"apiVersion": int},
                      api=[js_sender, js_receiver])


@pytest.mark.js_case("packets/garbage/running-transfer-undisturbed", level="MUST",
                     source=f"{S11}; {S4} ({AGNOSTIC})")
def test_garbage_datagrams(plan, js_sender, js_receiver, js_target, js_scratch,
                           js_settings, js_ops):
    """Random datagrams sent to the receive port during a transfer do not disturb it: it
    completes, the file is byte-identical, the receiver keeps answering.

    Protocol-agnostic. S11: authenticated levels reject what they cannot verify; S4: the
    receiver is part of the server's documented state. The capture proves the garbage
    reached the receiver's path (else INCONCLUSIVE).
    """
    junk = [os.urandom(n) for n in (1, 7, 64, 255, 256, 1200, 1372)] * 20
    address = js_target.data_address

    def inject(cap, transfer):
        _wait_running(cap, plan, js_settings.timeout)
        _still_running(js_sender, transfer)
        capture.send_garbage(address.host, address.port, junk)
        _delivered(cap, plan, junk[:7], copies=1)

    got = harness.captured_transfer(js_ops(js_sender), js_target, js_scratch, plan,
                                    name="garbage.bin", content=os.urandom(INJECT_SIZE),
                                    timeout=js_settings.timeout, during=inject,
                                    send_rate_max=SLOW_RATE)
    _undisturbed(js_sender, js_receiver, got, js_scratch, "garbage.bin")


@pytest.mark.js_case("packets/replay/running-transfer-undisturbed", level="MUST",
                     source=f"{S11}; {S4} ({AGNOSTIC})")
def test_replayed_datagrams(plan, js_sender, js_receiver, js_target, js_scratch,
                            js_settings, js_ops):
    """Datagrams captured on their way to the receive port and replayed verbatim (same
    source address and port) during the transfer do not disturb it: it completes, the file
    is byte-identical, the receiver keeps answering.

    Protocol-agnostic (nothing is parsed). S11: data is authenticated from UNENCRYPTED up;
    a duplicate must never corrupt a file at any level. The capture proves each replay went
    out (its payload seen twice), else INCONCLUSIVE.
    """
    def replay(cap, transfer):
        data = _wait_running(cap, plan, js_settings.timeout)
        _still_running(js_sender, transfer)
        chosen = [p.datagram() for p in data[-8:]]
        capture.inject(chosen)
        _delivered(cap, plan, [d.payload for d in chosen], copies=2)

    got = harness.captured_transfer(js_ops(js_sender), js_target, js_scratch, plan,
                                    name="replay.bin", content=os.urandom(INJECT_SIZE),
                                    timeout=js_settings.timeout, during=replay,
                                    send_rate_max=SLOW_RATE)
    _undisturbed(js_sender, js_receiver, got, js_scratch, "replay.bin")


def _attach(request, html):
    """Add ``html`` to the case's row in the pytest-html report (when it is written)."""
    try:
        extras = request.getfixturevalue("extras")
    except pytest.FixtureLookupError:
        return
    from pytest_html import extras as kinds

    extras.append(kinds.html(html))


@pytest.mark.js_case("packets/rate/send-rate-max-respected", level="SHOULD",
                     source=f"{S45} ({AGNOSTIC})")
def test_send_rate_max(request, plan, js_sender, js_target, js_scratch, js_settings,
                       js_info, js_ops):
    """A transfer to a destination created with sendRateMax (S14: createDestination
    --sendRateMax; the transfer inherits it) is paced at or below it on the wire: the UDP
    payload rate over the steady part of the transfer (0.25 s bins from capture timestamps,
    without the first and the last) is at most sendRateMax x 1.10 (the tolerance and where
    it comes from: ``capture.analysis.RATE_TOLERANCE``); the plot shows every bin.

    Protocol-agnostic (capture timestamps and UDP payload lengths). S45: a transfer has a
    maximum send rate; rates outside the server's limits are clamped. SHOULD: the page gives
    no accuracy.
    """
    from jetstream_qa.capture.ratechart import render_rate_chart

    got = harness.captured_transfer(js_ops(js_sender), js_target, js_scratch, plan,
                                    name="rate.bin", content=os.urandom(RATE_SIZE),
                                    timeout=js_settings.timeout, send_rate_max=RATE_LIMIT)
    got.require_traffic()
    got.require_complete("the transfer was paced (a rate needs every datagram)")
    sender = capture.busiest_source(got.packets, plan.filter)
    data = [p for p in got.to_receiver if (p.src, p.sport) == sender]
    try:
        check = capture.check_rate(data, RATE_LIMIT)
    except UsageError as exc:
        raise Inconclusive(f"pacing cannot be judged: {exc.message}") from exc
    _attach(request, render_rate_chart(check, title=f"Send rate on the wire ({plan.source})"))
    expect.that("the wire rate stays within tolerance of sendRateMax", check.within,
                expected=f"steady mean <= {check.ceiling_bps / 1e6:.2f} Mbit/s",
                actual=check.describe(), api=js_sender)
    if check.mean_bps < 0.5 * RATE_LIMIT:
        js_info(f"the cap did not bind ({check.describe()}): the server paces below it, or "
                "reads sendRateMax in another unit")


# They wait for the server (capture windows, timeouts): dispatched first when concurrent.
pytestmark = pytest.mark.js_waits
