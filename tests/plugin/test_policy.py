"""The verdict policy (``conformance_core.failures.classify``): once the server has answered,
a stall, a lost connection or a malformed answer is its FAIL; INCONCLUSIVE is kept for a
target never reached; a case's own TypeError is a suite error, not the server's FAIL."""

from __future__ import annotations

import errno

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core.client_choice import check_answer
from jetstream_qa.conformance_core.contact import Contact, Reach
from jetstream_qa.conformance_core.failures import CaseFailure, classify
from jetstream_qa.conformance_core.verdicts import CaseOutcome, Level, Verdict, decide
from jetstream_qa.errors import (
    ApiVersionMismatch,
    AuthenticationFailed,
    ConnectionClosed,
    ConnectTimeout,
    ProtocolError,
    RequestTimeout,
    ServerError,
)

SESSION = Contact(Reach.SESSION, target="127.0.0.1:9")
NEVER = Contact(Reach.UNREACHABLE, "TCP connect refused", target="127.0.0.1:9")
HANDSHAKE = Contact(Reach.HANDSHAKE_FAILED, "ProtocolError: garbage", target="127.0.0.1:9")


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(("exc", "story"), [
    (RequestTimeout("no answer to getServerInfo within 2 s"), "the server stopped answering"),
    (ConnectionClosed("connection refused by x", details={"refused": True}),
     "the server has died: connection refused after it had answered"),
    (ConnectionClosed("server x closed the connection"), "the server dropped the session"),
    (ConnectTimeout("no hello"), "the server no longer completes the handshake"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "the server dropped the session"),
])
def test_transport_after_an_answer_is_a_named_fail(exc: BaseException, story: str) -> None:
    for phase in ("setup", "call"):
        judged = classify(exc, contact=SESSION, phase=phase)
        assert judged.outcome is CaseOutcome.LOST
        assert judged.story.startswith(story), judged.story


@pytest.mark.parametrize("contact", [NEVER, HANDSHAKE, None])
def test_transport_before_any_session_is_the_environment(contact: Contact | None) -> None:
    judged = classify(ConnectTimeout("no hello"), contact=contact)
    assert judged.outcome is CaseOutcome.ENVIRONMENT
    if contact is not None:
        assert contact.detail in judged.story


def test_server_errors_are_fail_in_setup_and_call() -> None:
    for phase in ("setup", "call"):
        assert classify(ProtocolError("garbage"), contact=HANDSHAKE,
                        phase=phase).outcome is CaseOutcome.LOST
        assert classify(ServerError("Busy"), contact=SESSION,
                        phase=phase).outcome is CaseOutcome.BROKEN


def test_a_lost_server_fails_cases_of_every_level() -> None:
    for level in Level:
        assert decide(level, CaseOutcome.LOST) is Verdict.FAIL


def test_refused_account_or_version_in_setup_is_explained_environment() -> None:
    for exc in (AuthenticationFailed("bad password"), ApiVersionMismatch(expected=40, actual=39)):
        judged = classify(exc, contact=SESSION, phase="setup")
        assert judged.outcome is CaseOutcome.ENVIRONMENT
        assert "setup refused" in judged.story


def test_suite_bugs_are_suite_errors_not_fails() -> None:
    for exc in (TypeError("unsupported operand"), NameError("nmae"), AttributeError("x")):
        judged = classify(_raise(exc), contact=SESSION)
        assert judged.outcome is CaseOutcome.SUITE_ERROR
        assert judged.story.startswith("suite bug: ")
    assert classify(RuntimeError("fixture broke"), phase="setup").outcome is CaseOutcome.SUITE_ERROR


def test_local_disk_full_is_the_environment() -> None:
    judged = classify(OSError(errno.ENOSPC, "No space left on device"), contact=SESSION)
    assert judged.outcome is CaseOutcome.ENVIRONMENT and "disk full" in judged.story


def test_missing_key_and_assertions_are_the_servers() -> None:
    assert classify(KeyError("manifestId"), contact=SESSION).outcome is CaseOutcome.BROKEN
    assert classify(CaseFailure("r", 1, 2), contact=SESSION).outcome is CaseOutcome.BROKEN


@pytest.mark.parametrize(("command", "answer", "message"), [
    ("send.createManifest", None, "answered None (NoneType), expected an object with "
                                  "manifestId (str)"),
    ("send.createTransfer", {"transferId": "7"}, "transferId '7' (str)"),
    ("authAsync", {}, "requestId missing"),
    ("send.getTransfers", {"transfers": []}, "expected a list"),
    ("getServerInfo", "hello", "expected an object"),
])
def test_malformed_answers_are_protocol_errors(command: str, answer: object,
                                               message: str) -> None:
    with pytest.raises(ProtocolError, match="malformed answer") as info:
        check_answer(command, answer)
    assert message in info.value.message


def test_well_formed_answers_pass_the_door() -> None:
    check_answer("send.createManifest", {"manifestId": "m1", "status": "pending"})
    check_answer("send.getTransfers", [])
    check_answer("auth", None)
    check_answer("send.deleteManifest", None)


def test_type_mismatch_prints_types() -> None:
    with pytest.raises(CaseFailure) as info:
        expect.equal("apiVersion is 40", 40, "40")
    assert info.value.expected == "40 (int)"
    assert info.value.actual == "'40' (str)"
    with pytest.raises(CaseFailure) as same_type:
        expect.equal("two is two", 2, 3)
    assert (same_type.value.expected, same_type.value.actual) == ("2", "3")


def test_inconclusive_ranks_above_non_strict() -> None:
    assert Verdict.INCONCLUSIVE.severity > Verdict.NON_STRICT.severity
