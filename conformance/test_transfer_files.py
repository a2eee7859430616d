"""Transfers: path safety, special files (zero-byte, empty directory, executable bit,
content), and the receiver's view of a transfer.

Vendor pages: "where do transfers go" (``jetstream-server/2.7.1/using_jetstream/
where_do_transfers_go.html``, S25), Transfer structure (``jetstream-api/2.9.2/api/structures/
transfer.html``, S1), Manifest Files structure (``jetstream-api/2.9.2/api/structures/
manifest-files.html``, S7), Receive Transfer structure (``jetstream-api/2.9.2/api/structures/
recv.transfer.html``, S5) and the async-commands page (``jetstream-api/2.9.1/api/
asynchronous_commands.html``, S12). Every case goes through the binding (``js_ops``); a
refused path is judged by the documented outcome (the call raises, or the transfer ends in
error), never by which error class.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core import transfer_steps as ts
from jetstream_qa.conformance_core.ops_steps import start_transfer

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S5 = "jetstream-api/2.9.2/api/structures/recv.transfer.html"
S7 = "jetstream-api/2.9.2/api/structures/manifest-files.html"
S12 = "jetstream-api/2.9.1/api/asynchronous_commands.html"
S25 = "jetstream-server/2.7.1/using_jetstream/where_do_transfers_go.html"


# --- paths ---------------------------------------------------------------------------------
def _escape_refused(ops, js_target, js_scratch, js_fileset, js_settings, *, dest_path,
                    mapping_key, outside: Path):
    api = ops.api
    files = js_fileset("single")
    mappings = {mapping_key: files.server_path("hello.bin")}
    outcome = ops.refused(lambda: start_transfer(ops, js_target, mappings,
                                                 destination_path=dest_path,
                                                 timeout=js_settings.timeout))
    if outcome.refused:
        refused = outcome.describe()
    else:
        final = ts.finish(ops, outcome.result["transferId"], js_settings)
        status = ops.status(final)
        refused = "" if status == "complete" else f"transfer {final.get('status')}"
    expect.that("a path escaping the destination root is refused", bool(refused),
                expected="InvalidArgument (or the transfer ends in error)",
                actual=refused or "transfer complete", api=api)
    expect.that("nothing is written outside the destination root", not outside.exists(),
                expected=f"{outside} absent", actual="exists", api=api)


@pytest.mark.js_case("transfers/paths/dotdot-destination-path-refused", level="MUST",
                     source=f"{S25}; {S1}")
def test_dotdot_destination_path(js_ops, js_sender, js_target, js_scratch, js_fileset,
                                 js_settings):
    """A destinationPath climbing out with '..' is refused and writes nothing outside.

    S25: a received file lands at /<sandbox>/<destinationPath>/<target path>, inside the
    sandbox; S1: destinationPath is the parent directory created at the receiver.
    """
    root = js_scratch.require_dest().parents[1]
    name = f"jsqa-escape-{secrets.token_hex(4)}"
    depth = js_scratch.dest_path.count("/") + 2
    _escape_refused(js_ops(js_sender), js_target, js_scratch, js_fileset, js_settings,
                    dest_path=f"{js_scratch.dest_path}/{'../' * depth}{name}",
                    mapping_key="/hello.bin", outside=root.parent / name)


@pytest.mark.js_case("transfers/paths/absolute-escape-refused", level="MUST",
                     source=f"{S25}; {S1}")
def test_absolute_escape(js_ops, js_sender, js_target, js_scratch, js_fileset,
                         js_settings):
    """An absolute destinationPath that climbs above '/' with '..' is refused and writes
    nothing outside the destination root.

    S25: an absolute destinationPath counts from the sandbox root (/storage + /repository1);
    nothing may land outside it.
    """
    root = js_scratch.require_dest().parents[1]
    name = f"jsqa-escape-{secrets.token_hex(4)}"
    _escape_refused(js_ops(js_sender), js_target, js_scratch, js_fileset, js_settings,
                    dest_path=f"/../{name}", mapping_key="/hello.bin",
                    outside=root.parent / name)


@pytest.mark.js_case("transfers/paths/dotdot-target-path-refused", level="MUST",
                     source=f"{S25}; {S7}")
def test_dotdot_target_path(js_ops, js_sender, js_target, js_scratch, js_fileset,
                            js_settings):
    """A manifest target path with '..' escaping the destinationPath and the root is refused
    and writes nothing outside the destination root.

    S25: the written path is sandbox + destinationPath + target path; S7: destPath is "the
    path written at the destination".
    """
    root = js_scratch.require_dest().parents[1]
    name = f"jsqa-escape-{secrets.token_hex(4)}"
    depth = js_scratch.dest_path.count("/") + 2
    _escape_refused(js_ops(js_sender), js_target, js_scratch, js_fileset, js_settings,
                    dest_path=js_scratch.dest_path, mapping_key=f"{'../' * depth}{name}",
                    outside=root.parent / name)


# --- special files -------------------------------------------------------------------------
@pytest.mark.js_case("transfers/files/zero-byte-file-arrives", level="MUST", source=f"{S7}; {S1}")
def test_zero_byte(js_ops, js_sender, js_target, js_scratch, js_settings):
    """A zero-byte file arrives as an empty file; its transfer completes with totalBlocks 0.

    S7: fileSize is 0 "for an empty file"; S1: totalBlocks = ceil(totalBytes / 256).
    """
    source = ts.write_file(js_scratch.require_source(), "zero.bin", 0)
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings,
              {"/zero.bin": js_scratch.server_path(source)})
    expect.equal("the transfer completes", "complete", t.get("status"), api=js_sender)
    expect.equal("totalBlocks of a zero-byte file is 0", 0, t.get("totalBlocks"),
                 api=js_sender)
    expect.file_identical(source, js_scratch.require_dest() / "zero.bin", timeout=5.0,
                          api=js_sender)


@pytest.mark.js_case("transfers/files/empty-directory-arrives", level="MUST", source=S7)
def test_empty_directory(js_ops, js_sender, js_target, js_scratch, js_settings):
    """An empty source directory arrives as an empty directory.

    S7: isEmptyDir: "the transfer creates an empty directory".
    """
    empty = js_scratch.require_source() / "empty-dir"
    empty.mkdir()
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings,
              {"/empty-dir": js_scratch.server_path(empty)})
    expect.equal("the transfer completes", "complete", t.get("status"), api=js_sender)
    arrived = js_scratch.require_dest() / "empty-dir"
    expect.that("the empty directory exists at the destination", arrived.is_dir(),
                expected=f"{arrived} is a directory",
                actual="exists, not a directory" if arrived.exists() else "absent",
                api=js_sender)


@pytest.mark.js_case("transfers/files/executable-bit-preserved", level="MUST", source=S7)
def test_executable_bit(js_ops, js_sender, js_target, js_scratch, js_settings):
    """An executable source file arrives executable; a non-executable one does not.

    S7: File Mapping ``executable``: "file marked executable"; the mark travels with it.
    """
    src = js_scratch.require_source()
    run, data = ts.write_file(src, "run.sh", 40, mode=0o755), ts.write_file(src, "data.txt", 40)
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings,
              {"/run.sh": js_scratch.server_path(run), "/data.txt": js_scratch.server_path(data)})
    expect.equal("the transfer completes", "complete", t.get("status"), api=js_sender)
    dest = js_scratch.require_dest()
    modes = {n: os.stat(dest / n).st_mode & 0o111 if (dest / n).exists() else None
             for n in ("run.sh", "data.txt")}
    expect.that("executable stays executable, plain stays plain",
                bool(modes["run.sh"]) and modes["data.txt"] == 0,
                expected="run.sh has x bits, data.txt none",
                actual={n: oct(m) if m is not None else "missing" for n, m in modes.items()},
                api=js_sender)


@pytest.mark.js_case("transfers/files/content-byte-identical", level="MUST", source=f"{S1}; {S7}")
def test_content_identical(js_ops, js_sender, js_target, js_scratch, js_fileset,
                           js_settings):
    """Every regular file of a mixed set (nested, 256 and 257 bytes, non-ASCII names)
    arrives byte-identical.

    S1/S7: a transfer writes each manifest entry at its destPath; the data must be the
    source's.
    """
    files = js_fileset("mixed")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings,
              files.file_mappings("/set", include=lambda e: e.kind == "file"))
    expect.equal("the transfer completes", "complete", t.get("status"), api=js_sender)
    for entry in files.files:
        expect.file_identical(files.local(entry.path),
                              js_scratch.require_dest() / "set" / entry.path, api=js_sender)


# --- receiver side -------------------------------------------------------------------------
@pytest.mark.js_case("transfers/receiver/get-transfers-async-lists-it", level="MUST",
                     source=f"{S5}; {S12}")
def test_receiver_sees_transfer(js_ops, js_sender, js_receiver, js_target, js_scratch,
                                js_fileset, js_settings):
    """The receiver's getTransfersAsync() result lists the transfer under the sender's
    transferId, with status 'receiving' or 'complete' and its destinationPath.

    S5: Receive Transfer records carry transferId ("the sender's transfer id"), status
    receiving|complete|error; S12: an Async call returns a requestId whose result is the data.
    """
    files = js_fileset("single")
    t = ts.send(js_ops(js_sender), js_target, js_scratch, js_settings, files.file_mappings("/r"))
    receiver = js_ops(js_receiver)
    request = receiver.call("receive_transfers")
    records = receiver.request_result(request, timeout=js_settings.timeout)
    apis = [js_sender, js_receiver]
    expect.that("the result is a list", isinstance(records, list), expected="list",
                actual=type(records).__name__, api=apis)
    mine = [r for r in records if r.get("transferId") == t["transferId"]
            and str(r.get("destinationPath", "")).strip("/") == js_scratch.dest_path.strip("/")]
    expect.that("the receiver lists the transfer", bool(mine),
                expected=f"transferId {t['transferId']} at {js_scratch.dest_path}",
                actual=[(r.get("transferId"), r.get("destinationPath")) for r in records],
                api=apis)
    expect.that("its status is receiving or complete",
                mine[0].get("status") in ("receiving", "complete"),
                expected="'receiving' or 'complete'", actual=mine[0].get("status"), api=apis)
