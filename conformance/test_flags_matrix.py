"""Flag matrix: every transfer-flag set x overwrite mode x min cipher x symlink mode, against
every destination pre-state, judged file by file by the judge's decision table
(``jetstream_qa.conformance_core.oracle``; every rule with its vendor sentence and provenance
in ``docs/semantics.md``).

Vendor pages: ``jetstream.constants`` of 2.9.2 (``jetstream-api/2.9.2/api/python/
jetstream.constants.html``, verbatim in ``shared/jetstream-docs/vendor-constants-2.9.2.txt``)
for the flags, overwrite modes, min ciphers and symlink modes; the Manifest Files structure page
(``jetstream-api/2.9.2/api/structures/manifest-files.html``) for ``modificationTime``.

``--js-profile quick`` runs a pairwise covering array (every pair of values of any two
coordinates, :func:`jetstream_qa.conformance_core.matrix.planning.quick_plan`); ``full`` runs the
whole product (3,584 cases). Cases are judged one by one, but transfers are batched: one
transfer per (flags, overwrite, cipher, symlink) group carries one pair of files per pre-state
(:mod:`jetstream_qa.conformance_core.matrix.run`). A mismatch of a DOC field FAILs; a mismatch
of an OURS field is INFO.
"""

from __future__ import annotations

import contextlib
import shutil

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core import matrix
from jetstream_qa.conformance_core.client_choice import open_session
from jetstream_qa.conformance_core.harness import make_scratch
from jetstream_qa.conformance_core.matrix import dangling
from jetstream_qa.conformance_core.matrix.run import ISOLATED, MatrixRun
from jetstream_qa.pytest_plugin import SETTINGS

S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S7 = "jetstream-api/2.9.2/api/structures/manifest-files.html"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per matrix point of the run's profile, carrying its coordinates."""
    if "matrix_case" not in metafunc.fixturenames:
        return
    cases = matrix.plan(metafunc.config.stash[SETTINGS].profile)
    # One xdist group: under ``--dist loadgroup`` one worker runs every batch once.
    group = pytest.mark.xdist_group("jetstream-flags-matrix")
    metafunc.parametrize("matrix_case", [
        pytest.param(c, id=c.slug, marks=(pytest.mark.js_matrix(**c.coordinates()), group))
        for c in cases])


def _selected_cases(session: pytest.Session) -> list[matrix.MatrixCase]:
    out = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("matrix_case") if callspec else None
        if isinstance(case, matrix.MatrixCase):
            out.append(case)
    return out


def _login(target, choice, settings, side):
    creds = target.user
    return open_session(choice, getattr(target, side), timeout=settings.timeout,
                        user=creds.user if creds else None,
                        password=creds.password if creds else None)


@pytest.fixture(scope="module")
def matrix_run(request, js_target, js_client, js_constants, js_session_settings, js_binding):
    """Runs every selected case's batch once (a transfer per group) and keeps the results;
    every call goes through the run's binding."""
    from jetstream_qa.binding import Operations
    target, settings = js_target, js_session_settings
    scratch = make_scratch(target, "flags-matrix")
    source, dest = scratch.require_source(), scratch.require_dest()
    api = _login(target, js_client, settings, "sender")
    receiver = _login(target, js_client, settings, "receiver")
    try:
        ops = Operations(js_binding, api)
        ciphers = (int(ops.call("get_server_info").get("minCipher") or 0),
                   int(Operations(js_binding, receiver).call("get_server_info")
                       .get("minCipher") or 0))
        receiver.disconnect()
        data = target.data_address
        run = MatrixRun(ops=ops, constants=js_constants, data_address=(data.host, data.port),
                        source_dir=source, source_server=scratch.source_server,
                        dest_local=dest, dest_path=scratch.dest_path, ciphers=ciphers,
                        timeout=max(settings.timeout, 30.0))
        run.stage_sources()
        run.run(matrix.batches(_selected_cases(request.session), isolate=ISOLATED))
        yield run
    finally:
        with contextlib.suppress(Exception):
            api.disconnect()
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.js_case("flags/matrix/{matrix_case.slug}", level="MUST", source=f"{S11}; {S7}")
def test_flag_matrix(matrix_case, matrix_run, js_info, js_not_applicable):
    """A transfer with these flags, overwrite mode, min cipher and symlink mode leaves each
    destination entry as the decision table predicts for its pre-state (content, size, mtime,
    .jetbak, partfile, skipped or not written) and ends with a status that is not 'error'
    when every entry succeeds by DOC rules.

    S11: READ/WRITE/NONE decide reading and writing, WRITE_MTIME sets the source mtime,
    WRITE_ONLY_NEWER skips a newer copy, the overwrite modes decide in place / partfile /
    .jetbak, the symlink modes follow or ignore links; the cipher changes nothing on disk.
    """
    findings = matrix_run.judge(matrix_case)
    if findings.not_applicable:
        js_not_applicable(findings.not_applicable)
    for note in findings.ours:
        js_info(note)
    if findings.documented:
        raise expect.CaseFailure(
            f"{matrix_case.slug}: each entry ends as the decision table predicts",
            findings.expected,
            "; ".join(str(m) for m in findings.documented) + " | observed: " + findings.actual,
            calls=findings.calls)


@pytest.mark.js_case("flags/symlink/dangling-link-ignored-under-ignore", level="MUST",
                     source=S11)
def test_dangling_link_under_ignore(js_sender, js_target, js_scratch, js_ops,
                                    js_session_settings):
    """Under the "ignore" symbolic-link mode a source link whose target does not exist is a
    link like any other: it is not copied, and the regular file beside it is transferred.

    S11 "Symbolic Links": "Ignore (do not copy) symbolic links." (rule
    symlink/ignore/not-copied).
    """
    run = dangling.send_with_dangling_link(js_ops(js_sender), js_target, js_scratch,
                                           symlink="ignore",
                                           timeout=js_session_settings.timeout + 30)
    problems = dangling.differences(run, 2)
    expect.that("a dangling link is ignored like any link; the file beside it arrives",
                not problems, expected="manifest complete, the link absent at the destination, "
                "the regular file written", actual="; ".join(problems) + " | " + run.describe(),
                api=js_sender)


@pytest.mark.js_case("flags/symlink/dangling-link-under-follow-recorded", level="MAY",
                     source=S11)
def test_dangling_link_under_follow(js_sender, js_target, js_scratch, js_ops,
                                    js_session_settings, js_info):
    """Under the "follow" mode a dangling source link has no contents to copy; the vendor
    does not say whether it is skipped or fails the manifest. The behaviour is recorded
    (INFO); the oracle's reading (rule symlink/follow/dangling-not-sent, OURS) is that the
    link is not sent and the rest goes on.

    S11 "Symbolic Links": "Follow the symlink and copy the file contents."
    """
    run = dangling.send_with_dangling_link(js_ops(js_sender), js_target, js_scratch,
                                           symlink="follow",
                                           timeout=js_session_settings.timeout + 30)
    problems = dangling.differences(run, 1)
    js_info(f"dangling source link under FOLLOW (ours, docs silent): {run.describe()}"
            + (f"; differs from the oracle's reading: {'; '.join(problems)}" if problems
               else "; agrees with the oracle's reading"))
