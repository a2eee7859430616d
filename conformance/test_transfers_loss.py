"""Transfers over a lossy path: the impairment relay between the sender and the receiver.

Vendor pages: Transfer structure (``jetstream-api/2.9.2/api/structures/transfer.html``, S1:
``blocksRetransmitted`` "Blocks sent again because they were presumed lost (packet loss)",
``blocksSent`` "Total blocks sent"), the Cumul8 JetStream technical overview (S50: blocks over
UDP, the receiver's acknowledgement reports of the blocks it holds; server.md 11: a transport
"built to tolerate loss, reordering and delay"). The relay is
``jetstream-qa relay`` run in-process on loopback (``conformance_core/lossy_path.py``): the
case is NOT_APPLICABLE when the pair is not on this machine's loopback.
"""

from __future__ import annotations

import itertools

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core import transfer_steps as ts
from jetstream_qa.conformance_core.lossy_path import judge_retransmits, lossy_path
from jetstream_qa.conformance_core.ops_steps import complete_manifest
from jetstream_qa.conformance_core.polling import poll

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S50 = "paperzz.com/doc/8610271/cumul8-jetstream-technical-overview"
LOSS = 0.05
"""Fraction of the sender's datagrams the relay drops (the engine's relay tests use 5 %)."""
SIZE = 4 << 20
"""4 MiB: about 3,000 datagrams of 1,400 bytes, and still 64 of 64 KiB, so with 5 % loss some
data is lost whatever the vendor's datagram size (a run where none is, is NOT_APPLICABLE)."""


@pytest.mark.js_case("transfers/counters/blocks-retransmitted-rise-under-loss", level="MUST",
                     source=f"{S1}; {S50}")
def test_retransmitted_rise_under_loss(js_ops, js_sender, js_target, js_scratch, js_settings):
    """Through a path that drops 5 % of the sender's datagrams, the transfer completes and
    blocksRetransmitted rises above 0 (never decreasing while it runs); a block sent more
    than once (blocksSent > totalBlocks) with blocksRetransmitted 0 breaks it.

    S1: blocksRetransmitted counts "Blocks sent again because they were presumed lost
    (packet loss)"; S50: the receiver acknowledges the blocks it holds, so the sender knows
    which ones to send again.
    """
    ops = js_ops(js_sender)
    source = ts.write_file(js_scratch.require_source(), "lossy.bin", SIZE)
    manifest = complete_manifest(ops, {"/lossy.bin": js_scratch.server_path(source)},
                                 timeout=js_settings.timeout)
    bound = js_settings.timeout + 60.0
    with lossy_path(js_target, loss=LOSS, seed=7, max_seconds=bound + 10.0) as relay:
        host, port = relay.address
        destination = ops.create_destination(host, port)
        transfer = ops.create_transfer(destination["destinationId"], manifest["manifestId"],
                                       destination_path=js_scratch.dest_path)
        seen: list[dict] = []

        def sample() -> dict:
            seen.append(ops.get_transfer(transfer["transferId"]))
            return seen[-1]

        poll(sample, lambda t: ops.status(t) in ops.final_statuses, timeout=bound)
        dropped = relay.dropped
    expect.equal("the transfer completes through 5 % loss", "complete", ops.status(seen[-1]),
                 api=js_sender)
    evidence = judge_retransmits(dropped, seen)
    expect.that("blocksRetransmitted is above 0 once blocks were lost and sent again",
                evidence.final > 0, expected="blocksRetransmitted > 0",
                actual=evidence.describe(), api=js_sender)
    falls = [(a, b) for a, b in itertools.pairwise(evidence.samples) if b < a]
    expect.that("blocksRetransmitted never decreases", not falls,
                expected="non-decreasing samples", actual=f"falls {falls[:5]}", api=js_sender)
