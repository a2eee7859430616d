"""The secret registry and its sinks, in memory: forms a secret is written in, the client's
Credential, exceptions, log records, pytest reports, the client's error and call log."""

from __future__ import annotations

import html
import json
import logging
import secrets
import sys
import traceback

import pytest

from jetstream_qa.conformance_core.redaction import scrub_report
from jetstream_qa.errors import AuthenticationFailed
from jetstream_qa.redaction import (
    REDACTED,
    Credential,
    ScrubbingFilter,
    register,
    register_from_environment,
    scrub,
    scrub_exception,
    scrub_value,
)


def _fresh(prefix: str = "pw") -> str:
    """A secret no other test registered, with characters every escaping changes."""
    return f"{prefix}-{secrets.token_hex(4)}<&>'\"\\é"


def test_every_written_form_of_a_secret_is_scrubbed() -> None:
    secret = _fresh()
    register(secret)
    forms = [secret, repr(secret), repr(secret.encode()), json.dumps(secret),
             json.dumps(secret, ensure_ascii=False), html.escape(secret),
             html.escape(json.dumps(secret)), html.escape(secret, quote=False)]
    for form in forms:
        out = scrub(f"before {form} after")
        assert out.startswith("before ") and out.endswith(" after") and REDACTED in out, form
        assert secret[:11] not in out, (form, out)


def test_short_and_empty_values_are_not_registered() -> None:
    register("abc", "", None)
    assert scrub("abc is a word") == "abc is a word"


def test_environment_secrets_by_name_only() -> None:
    pw, token = _fresh("env"), _fresh("tok")
    register_from_environment({"JETSTREAM_API_PASSWORD2": pw, "JETSTREAM_X_TOKEN": token,
                               "JETSTREAM_USER": "visible-user-name", "PASSWORD": "other-value"})
    assert scrub(f"{pw} {token} visible-user-name other-value") == \
        f"{REDACTED} {REDACTED} visible-user-name other-value"


def test_scrub_value_covers_keys_values_and_nesting() -> None:
    secret = _fresh()
    register(secret)
    out = scrub_value({"a": [secret, (1, f"x{secret}")], secret: None, "n": 3})
    assert secret not in str(out) and out["n"] == 3 and isinstance(out["a"][1], tuple)


def test_credential_is_sent_as_itself_and_shown_as_stars() -> None:
    value = _fresh()
    cred = Credential(value)
    assert cred == value and cred.reveal() == value and type(cred.reveal()) is str
    assert json.loads(json.dumps({"password": cred}))["password"] == value
    shown = [repr(cred), str(cred), f"{cred}", f"{cred:>5}", "{}".format(cred),  # noqa: UP032
             repr({"password": cred}), repr([cred])]
    assert all(value not in s for s in shown), shown
    assert scrub(value) == REDACTED  # creating it registered it


def test_scrub_exception_keeps_the_class_and_drops_the_secret() -> None:
    secret = _fresh()
    register(secret)
    err = AuthenticationFailed(f"password {secret} refused", details={"tried": secret})
    clean = scrub_exception(err)
    assert type(clean) is AuthenticationFailed
    assert secret not in repr(clean) + str(clean) + str(clean.details)
    plain = ValueError("nothing to hide")
    assert scrub_exception(plain) is plain and scrub_exception(None) is None


def test_log_filter_scrubs_message_args_and_traceback() -> None:
    secret = _fresh()
    register(secret)
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "login %s failed",
                                   (secret,), sys.exc_info())
    assert ScrubbingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert secret not in text and "login *** failed" in text and "RuntimeError" in text


def _failing_report(secret: str) -> pytest.TestReport:
    """A real pytest report of a failure whose locals, message and output hold ``secret``."""
    def exchange(params: dict) -> None:
        raise AuthenticationFailed(f"server said: {params['password']}")

    try:
        exchange({"user": "qa", "password": secret})
    except AuthenticationFailed:
        excinfo = pytest.ExceptionInfo.from_current()
    longrepr = excinfo.getrepr(showlocals=True, style="long", funcargs=True)
    return pytest.TestReport("t.py::test", ("t.py", 1, "test"), {}, "failed", longrepr, "call",
                             sections=[("Captured stdout call", f"out {secret}")],
                             user_properties=[("note", f"prop {secret}")])


def test_pytest_report_scrubbed_everywhere() -> None:
    secret = _fresh("rep")
    register(secret)
    report = _failing_report(secret)
    assert secret in str(report.longrepr)  # the locals and message really held it
    scrub_report(report)
    assert secret not in str(report.longrepr)
    assert secret not in report.longreprtext
    assert secret not in str(report.sections) + str(report.user_properties)
    assert "AuthenticationFailed" in report.longreprtext  # the traceback is still there
    assert secret not in report.longrepr.reprcrash.message  # JUnit's failure message


def test_client_never_shows_a_password_it_sent() -> None:
    from jetstream_qa.client._secrets import guard, server_error

    secret = _fresh("cli")
    params = guard("auth", {"user": "qa", "password": secret})
    assert params["password"] == secret and secret not in repr(params)
    error = server_error("AuthenticationFailed", f"wrong password {secret}",
                         {"tried": secret})
    assert isinstance(error, AuthenticationFailed)
    assert secret not in str(error) + repr(error.details)
    assert secret not in "".join(traceback.format_exception_only(error))
