"""Manifests: lifecycle, totals, File Mapping metadata, directories, symlinks, errors.

Vendor pages: Manifest structure (S2: pending -> complete | error, totals null while
pending, errorMessage on error), Manifest Files / File Mapping (S7: srcPath, destPath,
fileSize, isEmptyDir, executable, modificationTime), Python examples (S13: mappings are
{destination: source}), constants (S11: FILETYPE_*, the two symbolic-link modes). File sets
come from ``fixtures/filesets/*.json`` (built fresh per case in the scratch source dir).
Manifests are created through the binding (``js_ops``): the symbolic-link mode's parameter
and values are not documented, so those two cases need a binding.
"""

from __future__ import annotations

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core.pending_manifest import catch_pending

S2 = "jetstream-api/2.9.2/api/structures/manifest.html"
S7 = "jetstream-api/2.9.2/api/structures/manifest-files.html"
S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S13 = "jetstream-api/2.9.3/api/python/examples.html"
DEST = "/jsqa-manifest"


def _files_of(api, manifest_id):
    listing = api.send.getManifestFiles(manifest_id)
    expect.has_fields("getManifestFiles returns {manifestId, fileMappings}", listing,
                      {"manifestId": str, "fileMappings": list}, api=api)
    return {m["destPath"]: m for m in listing["fileMappings"]}


def _complete(ops, mappings, settings, *, symlink=None):
    created = ops.create_manifest(mappings, symlink=symlink)
    return created, expect.manifest_complete(ops.api, created["manifestId"],
                                             timeout=settings.timeout)


@pytest.mark.js_case("manifests/create/returns-pending", level="MUST", source=f"{S2}; {S13}")
def test_create_returns_pending(js_ops, js_sender, js_fileset):
    """createManifest() returns at once with status 'pending', processing True and
    totalFiles/totalSize None.

    S2: pending means "still processing, not yet usable"; totals are null while pending.
    """
    files = js_fileset("single")
    created = js_ops(js_sender).create_manifest(files.file_mappings(DEST))
    expect.has_fields("createManifest returns a Manifest structure", created,
                      {"manifestId": str, "status": str, "processing": bool}, api=js_sender)
    expect.equal("a new manifest is pending", "pending", created["status"], api=js_sender)
    expect.equal("a new manifest is processing", True, created["processing"], api=js_sender)
    expect.that("totals are null while pending",
                created.get("totalFiles") is None and created.get("totalSize") is None,
                expected="totalFiles None, totalSize None",
                actual=f"{created.get('totalFiles')!r}, {created.get('totalSize')!r}",
                api=js_sender)


@pytest.mark.js_case("manifests/lifecycle/pending-to-complete", level="MUST", source=S2)
def test_pending_to_complete(js_ops, js_sender, js_fileset, js_settings):
    """A manifest of readable sources goes from pending to complete, then stops processing
    and has its totals set.

    S2: status pending -> complete (usable by createTransfer) or error.
    """
    files = js_fileset("single")
    _, manifest = _complete(js_ops(js_sender), files.file_mappings(DEST), js_settings)
    expect.equal("a complete manifest is no longer processing", False,
                 manifest.get("processing"), api=js_sender)
    expect.has_fields("a complete manifest has its totals", manifest,
                      {"totalFiles": int, "totalSize": int}, api=js_sender)


@pytest.mark.js_case("manifests/pending/create-transfer-refused", level="MUST", source=S2)
def test_transfer_on_pending_manifest_refused(js_ops, js_sender, js_target, js_scratch,
                                              js_constants, js_settings, js_info):
    """createTransfer() on a manifest that is still 'pending' is refused.

    S2, as api.md 3.1 "Flow of a transfer" puts it: "Only a complete manifest can be used by
    `createTransfer()`"; S2's status column: "`pending` (still processing, not yet usable)".
    The harness (``conformance_core/pending_manifest.py``) stages a manifest large enough
    that it is still pending right after createTransfer answers (pending never comes back),
    growing it until that holds; a server too fast to catch pending is NOT_APPLICABLE.
    """
    ops = js_ops(js_sender)
    attempts = catch_pending(
        ops, js_target, js_scratch.require_source(), js_scratch.server_path,
        dest_path=js_scratch.dest_path, flags=js_constants.transfer_flags["NONE"],
        timeout=js_settings.timeout, budget_s=3 * js_settings.timeout)
    last = attempts[-1]
    assert last.refusal is not None  # decisive: the call was made on a pending manifest
    requirement = "createTransfer on a manifest still 'pending' is refused"
    expect.that(requirement, last.refusal.refused,
                expected="the call is refused (the manifest is not yet usable)",
                actual=last.describe(), api=js_sender)
    if last.refusal.kind_in("NotReady") is False:
        js_info(f"{requirement}: refused as {last.refusal.kind} "
                f"({last.refusal.message[:80]}); the reference protocol says NotReady")


@pytest.mark.js_case("manifests/totals/match-file-mappings", level="MUST",
                     source=f"{S2}; {S7}")
def test_totals(js_ops, js_sender, js_fileset, js_settings):
    """totalFiles counts the File Mappings and totalSize sums their sizes, which are the
    sizes of the source files.

    S2: totalFiles, totalSize are the "file count and total bytes"; S7: fileSize in bytes.
    """
    files = js_fileset("tree")
    _, manifest = _complete(js_ops(js_sender), files.dir_mapping(DEST), js_settings)
    mappings = _files_of(js_sender, manifest["manifestId"])
    expect.equal("totalFiles equals the number of File Mappings", len(mappings),
                 manifest["totalFiles"], api=js_sender)
    expect.equal("totalSize equals the sum of the File Mapping sizes",
                 sum(m["fileSize"] for m in mappings.values()), manifest["totalSize"],
                 api=js_sender)
    expect.equal("totalSize equals the bytes of the source files", files.total_size,
                 manifest["totalSize"], api=js_sender)


@pytest.mark.js_case("manifests/file-mapping/metadata", level="MUST", source=S7)
def test_file_mapping_metadata(js_ops, js_sender, js_fileset, js_settings):
    """Each File Mapping carries srcPath, destPath, fileSize (the source size), isEmptyDir
    False for files, executable (True only for the executable file) and modificationTime
    (µs, equal to the source mtime).

    S7 lists these fields; S10: times are integer Unix microseconds.
    """
    files = js_fileset("mixed")
    mappings = files.file_mappings(DEST, include=lambda e: e.kind == "file")
    _, manifest = _complete(js_ops(js_sender), mappings, js_settings)
    listed = _files_of(js_sender, manifest["manifestId"])
    for entry in files.files:
        dest = f"{DEST}/{entry.path}"
        item = listed.get(dest)
        expect.that(f"{entry.path!r} is listed under its destination path", item is not None,
                    expected=dest, actual=f"destPaths {sorted(listed)[:6]}", api=js_sender)
        expect.has_fields("a File Mapping has its documented fields", item,
                          {"srcPath": str, "destPath": str, "fileSize": int,
                           "isEmptyDir": bool, "executable": bool, "modificationTime": int},
                          api=js_sender)
        mtime_us = files.local(entry.path).stat().st_mtime_ns // 1000
        expect.all_of(f"the File Mapping of {entry.path!r} describes the source file", [
            (item["srcPath"] == files.server_path(entry.path), f"srcPath {item['srcPath']!r}"),
            (item["fileSize"] == entry.size, f"fileSize {item['fileSize']} != {entry.size}"),
            (item["isEmptyDir"] is False, "isEmptyDir True for a file"),
            (item["executable"] is entry.executable,
             f"executable {item['executable']} != {entry.executable}"),
            (abs(item["modificationTime"] - mtime_us) <= 1_000_000,
             f"modificationTime {item['modificationTime']} != {mtime_us}"),
        ], expected="srcPath, size, isEmptyDir False, executable bit, mtime of the source",
            api=js_sender)


@pytest.mark.js_case("manifests/file-mapping/file-type", level="MUST", source=S11)
def test_file_type(js_ops, js_sender, js_fileset, js_settings, js_constants, js_info):
    """Where a File Mapping carries its item type, a directory item is FILETYPE_DIRECTORY
    and a file is FILETYPE_REGULAR_FILE. Where it does not, that is recorded as INFO.

    S11 "Manifest flags": FILETYPE_DIRECTORY = 2, FILETYPE_REGULAR_FILE = 4; which structure
    carries them is not documented (the reference uses File Mapping ``fileType``).
    """
    files = js_fileset("tree")
    _, manifest = _complete(js_ops(js_sender), files.dir_mapping(DEST), js_settings)
    listed = _files_of(js_sender, manifest["manifestId"])
    if not any("fileType" in m for m in listed.values()):
        js_info("File Mapping carries no fileType")
        return
    for dest, item in listed.items():
        want = js_constants.filetype_directory if item.get("isEmptyDir") \
            else js_constants.filetype_regular_file
        expect.equal(f"fileType of {dest!r}", want, item.get("fileType"), api=js_sender)


@pytest.mark.js_case("manifests/empty-dir/listed-as-empty-dir", level="MUST", source=S7)
def test_empty_dirs(js_ops, js_sender, js_fileset, js_settings):
    """A directory with nothing to send appears as one File Mapping with isEmptyDir True
    and fileSize 0 (so the transfer creates it), including a nested one.

    S7: isEmptyDir "the transfer creates an empty directory"; fileSize "0 for empty file or
    empty dir".
    """
    files = js_fileset("tree")
    _, manifest = _complete(js_ops(js_sender), files.dir_mapping(DEST), js_settings)
    listed = _files_of(js_sender, manifest["manifestId"])
    for entry in files.empty_dirs:
        dest = f"{DEST}/{entry.path}"
        item = listed.get(dest) or {}
        expect.that(f"empty directory {entry.path!r} is listed with isEmptyDir True",
                    item.get("isEmptyDir") is True and item.get("fileSize") == 0,
                    expected=f"{dest}: isEmptyDir True, fileSize 0",
                    actual=repr(item) if item else f"absent from {sorted(listed)}",
                    api=js_sender)


@pytest.mark.js_case("manifests/zero-byte/listed-as-file", level="MUST", source=S7)
def test_zero_byte_file(js_ops, js_sender, js_fileset, js_settings):
    """A zero-byte file is a File Mapping with fileSize 0 and isEmptyDir False.

    S7: fileSize "0 for empty file or empty dir"; only a directory is isEmptyDir.
    """
    files = js_fileset("mixed")
    _, manifest = _complete(js_ops(js_sender), files.file_mappings(
        DEST, include=lambda e: e.path == "zero.bin"), js_settings)
    item = _files_of(js_sender, manifest["manifestId"]).get(f"{DEST}/zero.bin") or {}
    expect.that("zero.bin is listed as an empty file",
                item.get("fileSize") == 0 and item.get("isEmptyDir") is False,
                expected="fileSize 0, isEmptyDir False", actual=repr(item), api=js_sender)


@pytest.mark.js_case("manifests/names/non-ascii-preserved", level="MUST", source=f"{S7}; {S13}")
def test_non_ascii_names(js_ops, js_sender, js_fileset, js_settings):
    """Non-ASCII file names keep their exact characters in srcPath and destPath.

    S13: mappings are {destination: source} paths; S7: destPath is "the path written at the
    destination".
    """
    files = js_fileset("mixed")
    name = next(e.path for e in files.files if not e.path.isascii())
    _, manifest = _complete(js_ops(js_sender), files.file_mappings(
        DEST, include=lambda e: e.path == name), js_settings)
    listed = _files_of(js_sender, manifest["manifestId"])
    item = listed.get(f"{DEST}/{name}") or {}
    expect.equal("srcPath keeps the non-ASCII name", files.server_path(name),
                 item.get("srcPath"), api=js_sender)


@pytest.mark.js_case("manifests/missing-source/ends-in-error", level="MUST", source=S2)
def test_missing_source(js_ops, js_sender, js_scratch, js_settings):
    """A manifest whose source does not exist ends in status 'error' with a non-empty
    errorMessage (or createManifest refuses it outright); it never completes.

    S2: status pending -> complete or error; errorMessage says "why creation failed".
    """
    missing = js_scratch.server_path(js_scratch.require_source() / "no-such-file.bin")
    ops = js_ops(js_sender)
    outcome = ops.refused(lambda: ops.create_manifest({f"{DEST}/x.bin": missing}))
    if outcome.refused:
        return
    created = outcome.result
    manifest = expect.manifest_finished(js_sender, created["manifestId"],
                                        timeout=js_settings.timeout)
    expect.equal("a manifest of a missing source ends in 'error'", "error",
                 manifest.get("status"), api=js_sender)
    expect.that("the error manifest says why", bool(manifest.get("errorMessage")),
                expected="a non-empty errorMessage", actual=repr(manifest.get("errorMessage")),
                api=js_sender)


@pytest.mark.js_case("manifests/symlink/follow-copies-target", level="MUST", source=S11)
def test_symlink_follow(js_ops, js_sender, js_fileset, js_settings):
    """In the "follow" symbolic-link mode a link is listed with the size of the file it
    points to.

    S11 "Symbolic Links": "follow the symlink and copy the file contents" (the constant's
    name and value are not documented: the binding's [constants] symlink_follow).
    """
    files = js_fileset("mixed")
    mappings = files.file_mappings(DEST, include=lambda e: e.path == "link-to-a")
    _, manifest = _complete(js_ops(js_sender), mappings, js_settings,
                            symlink="follow")
    item = _files_of(js_sender, manifest["manifestId"]).get(f"{DEST}/link-to-a") or {}
    expect.equal("a followed link has the target's size", files.entry("a.txt").size,
                 item.get("fileSize"), api=js_sender)


@pytest.mark.js_case("manifests/symlink/ignore-leaves-links-out", level="MUST", source=S11)
def test_symlink_ignore(js_ops, js_sender, js_fileset, js_settings):
    """In the "ignore" symbolic-link mode links are left out of the manifest while the
    regular files next to them stay.

    S11 "Symbolic Links": "ignore (do not copy) symbolic links".
    """
    files = js_fileset("mixed")
    _, manifest = _complete(js_ops(js_sender), files.dir_mapping(DEST), js_settings,
                            symlink="ignore")
    listed = _files_of(js_sender, manifest["manifestId"])
    expect.that("the link is not listed", f"{DEST}/link-to-a" not in listed,
                expected="link-to-a absent", actual="link-to-a listed", api=js_sender)
    expect.that("regular files are still listed", f"{DEST}/a.txt" in listed,
                expected="a.txt listed", actual=f"listed: {sorted(listed)}", api=js_sender)
