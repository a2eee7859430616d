"""Transfers: counters, timestamps, priority, and suspend/resume/cancel.

Vendor pages: Transfer structure (``jetstream-api/2.9.2/api/structures/transfer.html``, S1),
Timestamps (``jetstream-api/2.9.2/api/timestamps.html``, S10), the async-commands example
(``jetstream-api/2.9.1/api/asynchronous_commands.html``, S12) and the client's transfer monitor
(``jetstream-client/2.9.2/transfers/transfer-monitor.html``, S44). Every case goes through the
binding (``js_ops``); path safety, special files and the receiver's view are in
``test_transfer_files.py``. Suspend, resume and cancel have no documented API names (api.md
3.3): they are optional capabilities of the binding, and the 'suspended'/'cancelled' status
spellings come from it.
"""

from __future__ import annotations

import itertools
import math
import time

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core import transfer_steps as ts
from jetstream_qa.conformance_core.failures import Inconclusive
from jetstream_qa.conformance_core.ops_steps import start_transfer
from jetstream_qa.conformance_core.polling import poll

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S10 = "jetstream-api/2.9.2/api/timestamps.html"
S12 = "jetstream-api/2.9.1/api/asynchronous_commands.html"
S44 = "jetstream-client/2.9.2/transfers/transfer-monitor.html"


# --- counters ------------------------------------------------------------------------------
@pytest.mark.js_case("transfers/counters/total-blocks-is-ceil-bytes-over-256", level="MUST",
                     source=f"{S1}; {S12}")
def test_total_blocks(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings):
    """totalBlocks equals ceil(totalBytes / blockSize) with blockSize 256.

    S1: blockSize is "currently 256"; S12's example: 858703405 bytes -> 3354311 blocks.
    """
    files = js_fileset("mixed")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/c"))
    expect.equal("blockSize is 256", 256, t.get("blockSize"), api=js_sender)
    expect.equal("totalBlocks == ceil(totalBytes / 256)", math.ceil(t["totalBytes"] / 256),
                 t.get("totalBlocks"), api=js_sender)
    expect.that("totalBytes counts every file byte", t["totalBytes"] >= files.total_size,
                expected=f">= {files.total_size}", actual=t["totalBytes"], api=js_sender)


@pytest.mark.js_case("transfers/counters/blocks-acked-never-exceeds-blocks-sent", level="MUST",
                     source=S1)
def test_acked_le_sent(js_ops, js_sender, js_target, js_scratch, js_settings):
    """While a transfer runs and after it ends, blocksAcked <= blocksSent, and neither counter
    ever decreases.

    S1: blocksAcked counts "processed blocks the remote server has acknowledged"; blocksSent
    the blocks sent: a block cannot be acknowledged before it is sent.
    """
    ops = js_ops(js_sender)
    _, _, transfer = ts.slow_transfer(ops, js_target, js_scratch, js_settings)
    tid = transfer["transferId"]
    seen: list[tuple[int, int]] = []

    def sample():
        t = ops.get_transfer(tid)
        seen.append((t.get("blocksSent") or 0, t.get("blocksAcked") or 0))
        return t

    poll(sample, lambda t: ops.status(t) in ops.final_statuses,
         timeout=js_settings.timeout + 30.0)
    bad = [(s, a) for s, a in seen if a > s]
    expect.that("blocksAcked <= blocksSent at every sample", not bad,
                expected="acked <= sent", actual=f"(sent, acked) samples {bad[:5]}",
                api=js_sender)
    decreasing = [(p, n) for p, n in itertools.pairwise(seen) if n[0] < p[0] or n[1] < p[1]]
    expect.that("the counters never decrease", not decreasing, expected="monotonic counters",
                actual=f"steps {decreasing[:5]}", api=js_sender)
    expect.that("the transfer was sampled while running", len(seen) >= 3,
                expected=">= 3 samples", actual=len(seen), api=js_sender)


@pytest.mark.js_case("transfers/counters/all-blocks-acked-at-completion", level="MUST",
                     source=S1)
def test_acked_equals_total(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings):
    """A complete transfer has blocksAcked == totalBlocks.

    S1: blocksAcked counts blocks the remote server acknowledged; a complete transfer has
    had every block acknowledged.
    """
    files = js_fileset("mixed")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/c"))
    expect.equal("the transfer completes", "complete", t.get("status"), api=js_sender)
    expect.equal("blocksAcked == totalBlocks at completion", t.get("totalBlocks"),
                 t.get("blocksAcked"), api=js_sender)


@pytest.mark.js_case("transfers/counters/bytes-sent-cover-total-bytes", level="MUST",
                     source=S1)
def test_bytes_sent(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings):
    """A complete transfer has bytesSent >= totalBytes and blocksSent >= totalBlocks.

    S1: bytesSent is the total bytes sent for the transfer; every file byte crosses once.
    """
    files = js_fileset("mixed")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/c"))
    expect.that("bytesSent >= totalBytes", (t.get("bytesSent") or 0) >= t["totalBytes"],
                expected=f">= {t['totalBytes']}", actual=t.get("bytesSent"), api=js_sender)
    expect.that("blocksSent >= totalBlocks", (t.get("blocksSent") or 0) >= t["totalBlocks"],
                expected=f">= {t['totalBlocks']}", actual=t.get("blocksSent"), api=js_sender)


# --- timestamps ----------------------------------------------------------------------------
_TIME_FIELDS = ("requestTime", "startTime", "endTime")


@pytest.mark.js_case("transfers/timestamps/microseconds-since-epoch", level="MUST", source=S10)
def test_timestamps_microseconds(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings):
    """requestTime, startTime and endTime of a finished transfer are integers in Unix
    microseconds (within a day of this machine's clock).

    S10: times are Unix time in UTC, in microseconds (e.g. 1477934856594315).
    """
    files = js_fileset("single")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/t"))
    now_us = time.time_ns() // 1000
    day_us = 86_400 * 10**6
    problems = [f"{f}={t.get(f)!r}" for f in _TIME_FIELDS
                if not isinstance(t.get(f), int) or isinstance(t.get(f), bool)
                or abs(t[f] - now_us) > day_us]
    expect.that("transfer times are µs integers near now", not problems,
                expected=f"ints within a day of {now_us}", actual="; ".join(problems),
                api=js_sender)


@pytest.mark.js_case("transfers/timestamps/request-start-end-ordered", level="MUST",
                     source=f"{S10}; {S1}")
def test_timestamps_ordered(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings):
    """requestTime <= startTime <= endTime for a finished transfer.

    S10: every time of a transfer is requestTime plus a measured duration, so they are
    exactly comparable within one transfer.
    """
    files = js_fileset("single")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/t"))
    values = [t.get(f) for f in _TIME_FIELDS]
    ordered = all(isinstance(v, int) for v in values) and values == sorted(values)
    expect.that("requestTime <= startTime <= endTime", ordered,
                expected="non-decreasing", actual=dict(zip(_TIME_FIELDS, values, strict=True)),
                api=js_sender)


@pytest.mark.js_case("transfers/timestamps/end-time-null-until-finished", level="MUST",
                     source=f"{S10}; {S12}")
def test_end_time_null_while_running(js_ops, js_sender, js_target, js_scratch, js_settings):
    """A transfer that has not finished has endTime null.

    S10: "a time that is not valid yet is null (e.g. endTime before completion)".
    """
    ops = js_ops(js_sender)
    _, _, transfer = ts.slow_transfer(ops, js_target, js_scratch, js_settings)
    running = ops.get_transfer(transfer["transferId"])
    if ops.status(running) in ops.final_statuses:
        raise Inconclusive("the transfer finished before it could be observed running")
    expect.equal("endTime is null before the transfer ends", None, running.get("endTime"),
                 api=js_sender)
    ts.finish(ops, transfer["transferId"], js_settings)


# --- creation ------------------------------------------------------------------------------
@pytest.mark.js_case("transfers/create/new-transfer-pending-start-null", level="MUST",
                     source=f"{S12}; {S10}")
def test_new_transfer_pending(js_ops, js_sender, js_target, js_scratch, js_fileset,
                              js_settings):
    """createTransfer answers with status 'pending' and startTime and endTime null.

    S12: a newly queued transfer shows status 'pending'; S10: a time not valid yet is null.
    """
    ops = js_ops(js_sender)
    files = js_fileset("single")
    created = start_transfer(ops, js_target, files.file_mappings("/p"),
                             destination_path=js_scratch.dest_path, timeout=js_settings.timeout)
    expect.equal("a new transfer is pending", "pending", created.get("status"), api=js_sender)
    expect.that("startTime and endTime are null on creation",
                created.get("startTime") is None and created.get("endTime") is None,
                expected="startTime None, endTime None",
                actual=f"startTime {created.get('startTime')!r}, endTime "
                       f"{created.get('endTime')!r}", api=js_sender)
    ts.finish(ops, created["transferId"], js_settings)


@pytest.mark.js_case("transfers/checkpoint/frequency-null-when-off", level="MUST", source=S1)
def test_checkpoint_null_when_off(js_ops, js_sender, js_target, js_scratch, js_fileset,
                                  js_settings, js_info):
    """A transfer created without checkpointing has checkpointFrequencySeconds None; one
    created with 5 s reports 5.

    S1: checkpointFrequencySeconds is "None when checkpointing is off". Whether it is off
    when not asked for is not documented: a server that defaults it on is recorded (INFO).
    """
    ops = js_ops(js_sender)
    files = js_fileset("single")
    plain = start_transfer(ops, js_target, files.file_mappings("/k0"),
                           destination_path=js_scratch.dest_path, timeout=js_settings.timeout)
    if plain.get("checkpointFrequencySeconds") is not None:
        js_info(f"checkpointing is on by default: checkpointFrequencySeconds "
                f"{plain.get('checkpointFrequencySeconds')!r}")
    ticking = start_transfer(ops, js_target, files.file_mappings("/k5"),
                             destination_path=js_scratch.dest_path, timeout=js_settings.timeout,
                             checkpoint_s=5)
    expect.equal("checkpointFrequencySeconds keeps the value given", 5,
                 ticking.get("checkpointFrequencySeconds"), api=js_sender)
    for transfer in (plain, ticking):
        ts.finish(ops, transfer["transferId"], js_settings)


# --- event log -----------------------------------------------------------------------------
S9 = "jetstream-api/2.9.1/api/structures/event-log.html"


@pytest.mark.js_case("transfers/event-log/entries-carry-event-and-timestamp", level="MUST",
                     source=f"{S9}; {S10}")
def test_event_log_entries(js_ops, js_sender, js_target, js_scratch, js_fileset, js_settings,
                           js_not_applicable):
    """After a transfer, getEventLog() lists entries that each carry '_event' (a string) and
    '_timestamp' (integer microseconds near now).

    S9: "only two keys are always present: _event and _timestamp"; S10: times are Unix µs.
    """
    if js_sender.server.getServerInfo().get("eventLogAvailable") is False:
        js_not_applicable("the server reports eventLogAvailable False")
    ops = js_ops(js_sender)
    files = js_fileset("single")
    ts.send(ops, js_target, js_scratch, js_settings, files.file_mappings("/e"))
    entries = ops.call("get_event_log")
    expect.that("getEventLog() returns entries", isinstance(entries, list) and bool(entries),
                expected="a non-empty list", actual=repr(entries)[:200], api=js_sender)
    now_us, day_us = time.time_ns() // 1000, 86_400 * 10**6
    bad = [e for e in entries if not isinstance(e, dict)
           or not isinstance(e.get("_event"), str)
           or not isinstance(e.get("_timestamp"), int) or isinstance(e.get("_timestamp"), bool)
           or abs(e["_timestamp"] - now_us) > day_us]
    expect.that("every entry has _event (str) and _timestamp (µs near now)", not bad,
                expected="_event str, _timestamp int within a day",
                actual=f"{len(bad)} bad, e.g. {repr(bad[:2])[:200]}", api=js_sender)


# --- priority ------------------------------------------------------------------------------
@pytest.mark.js_case("transfers/priority/lower-value-goes-first", level="SHOULD", source=S1)
def test_priority_order(js_ops, js_sender, js_target, js_scratch, js_settings):
    """Of two transfers queued on one destination, the lower priority value runs first.

    S1: "lower numbers generally go first (e.g. 100 before 120)" (hence SHOULD).
    """
    api = js_sender
    ops = js_ops(api)
    _, destination, blocker = ts.slow_transfer(ops, js_target, js_scratch, js_settings)
    _, _, late = ts.slow_transfer(ops, js_target, js_scratch, js_settings, 32 * 1024,
                                  name="late.bin", priority=200, destination=destination)
    _, _, early = ts.slow_transfer(ops, js_target, js_scratch, js_settings, 32 * 1024,
                                   name="early.bin", priority=50, destination=destination)
    done = {name: ts.complete(ops, t["transferId"], js_settings)
            for name, t in (("blocker", blocker), ("late", late), ("early", early))}
    if done["blocker"]["endTime"] <= max(done["late"]["requestTime"],
                                         done["early"]["requestTime"]):
        raise Inconclusive("the first transfer ended before the others were queued: order "
                           "not observable")
    order = {n: (t["startTime"], t["endTime"]) for n, t in done.items()}
    expect.that("priority 50 starts and ends before priority 200",
                order["early"][0] <= order["late"][0] and order["early"][1] <= order["late"][1],
                expected="early (50) before late (200)",
                actual=f"(startTime, endTime) {order}", api=api)


# --- suspend, resume, cancel ---------------------------------------------------------------
def _reaches(ops, tid, name, settings):
    """Wait until the transfer shows status ``name`` (the binding's spelling) or ends."""
    spelling = ops.require_status(name, operation=f"status {name!r}")
    finals = ops.final_statuses
    transfer = expect.eventually(
        f"the transfer reaches status {name!r} ({spelling!r} in this client)",
        lambda: ops.get_transfer(tid), lambda t: ops.status(t) in (name, *finals),
        expected=f"status {spelling!r}", timeout=settings.timeout, api=ops.api)
    expect.equal(f"the transfer reaches status {name!r}", spelling, transfer.get("status"),
                 api=ops.api)
    return transfer


@pytest.mark.js_case("transfers/control/suspend-stops-sending", level="MUST",
                     source=f"{S44}; {S1}")
def test_suspend(js_ops, js_sender, js_target, js_scratch, js_settings):
    """A suspended transfer reports the suspended status and sends nothing while suspended.

    S44: the client offers Suspend and Resume on a running transfer; S1's counters show
    what is sent. The API names are not documented: the binding's suspend/resume.
    """
    ops = js_ops(js_sender)
    ops.binding.resolve(ops.api, "suspend_transfer")  # a capability: N/A when unbound
    _, tid = ts.running_slow_transfer(ops, js_target, js_scratch, js_settings)
    ops.suspend_transfer(tid)
    held = _reaches(ops, tid, "suspended", js_settings)
    ts.sends_nothing_more(ops, tid, "blocksSent stays put while suspended",
                          held.get("blocksSent"))
    ops.resume_transfer(tid)
    ts.complete(ops, tid, js_settings)


@pytest.mark.js_case("transfers/control/resume-completes-identical", level="MUST",
                     source=f"{S44}; {S1}")
def test_resume(js_ops, js_sender, js_target, js_scratch, js_settings):
    """A suspended transfer, resumed, completes and delivers a byte-identical file without
    re-sending what was already acknowledged (bytesSent < 1.5 x totalBytes).

    S44: Resume continues a suspended transfer; S1 counts bytes sent.
    """
    ops = js_ops(js_sender)
    ops.binding.resolve(ops.api, "suspend_transfer")
    ops.binding.resolve(ops.api, "resume_transfer")
    source, tid = ts.running_slow_transfer(ops, js_target, js_scratch, js_settings)
    ops.suspend_transfer(tid)
    _reaches(ops, tid, "suspended", js_settings)
    ops.resume_transfer(tid)
    done = ts.complete(ops, tid, js_settings)
    expect.file_identical(source, js_scratch.require_dest() / source.name, timeout=5.0,
                          api=js_sender)
    expect.that("resume continues instead of restarting",
                done["bytesSent"] < 1.5 * done["totalBytes"], expected="< 1.5 x totalBytes",
                actual=f"bytesSent {done['bytesSent']} of totalBytes {done['totalBytes']}",
                api=js_sender)


@pytest.mark.js_case("transfers/control/cancel-is-final", level="MUST", source=f"{S44}; {S1}")
def test_cancel(js_ops, js_sender, js_target, js_scratch, js_settings):
    """A cancelled transfer ends cancelled, stops sending, and cannot be resumed.

    S44: the client offers Cancel on a transfer; a cancelled transfer is a final state.
    """
    ops = js_ops(js_sender)
    ops.binding.resolve(ops.api, "cancel_transfer")
    _, tid = ts.running_slow_transfer(ops, js_target, js_scratch, js_settings)
    ops.cancel_transfer(tid)
    final = _reaches(ops, tid, "cancelled", js_settings)
    ts.sends_nothing_more(ops, tid, "a cancelled transfer sends nothing more",
                          final.get("blocksSent"))
    if ops.has("resume_transfer"):  # refusing the resume is fine; obeying it is not
        ops.refused(lambda: ops.resume_transfer(tid))
    expect.equal("a cancelled transfer stays cancelled after a resume attempt", "cancelled",
                 ops.status(ops.get_transfer(tid)), api=js_sender)
