"""What a case raises to end with a verdict, and how an exception becomes a CaseOutcome.

- :class:`CaseFailure`: the server broke the case's requirement. Raised by the verifiers of
  :mod:`jetstream_qa.expect`; carries Requirement / Expected / Actual and the recent API calls.
- :class:`Inconclusive`: the environment failed; no verdict on the server.
- :class:`NotApplicableCase`: the case cannot run here (the plugin turns it into a skip).

:func:`classify` is the verdict policy for a case that ended with an exception (DESIGN.md
"a broken server never gets a green run"):

=============================================== ===================================== =========
exception                                       when                                  outcome
=============================================== ===================================== =========
TransportError, ConnectionError, TimeoutError   the server had answered (``Contact``) LOST
                                                (stalled, closed, died: named)
                                                TCP ok, handshake broken              ENVIRONMENT
                                                never reached / not probed            ENVIRONMENT
ProtocolError (broken framing, malformed or     any phase                             LOST
wrongly typed answer), SessionRefused (an error
instead of the hello: ``Busy``)
ServerError (an error answer)                   any phase                             BROKEN
AuthenticationFailed/PermissionDenied/          setup (the configured account or      ENVIRONMENT
ApiVersionMismatch                              client refused)
Inconclusive, OSError ENOSPC/EDQUOT             any phase                             ENVIRONMENT
TypeError/AttributeError/NameError/ImportError  raised by suite code, not by the       SUITE_ERROR
                                                client while reading an answer
ConfigurationError/UsageError, other errors     setup                                 SUITE_ERROR
AssertionError, KeyError (an answer lacks a     call                                  BROKEN
key), anything else
=============================================== ===================================== =========

LOST is a FAIL at any level: a server that stalls, dies or breaks the protocol while an INFO
or SHOULD case talks to it has broken the protocol's MUSTs, not the case's requirement.
A SUITE_ERROR is the case's or the harness's own bug: the plugin shows it as a pytest ERROR
labelled "suite bug", never as the server's FAIL.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.contact import Contact
from jetstream_qa.conformance_core.verdicts import CaseOutcome
from jetstream_qa.errors import (
    ApiVersionMismatch,
    AuthenticationFailed,
    BindingMissing,
    ConnectionClosed,
    ConnectTimeout,
    JetStreamQAError,
    PermissionDenied,
    ProtocolError,
    RequestTimeout,
    ServerError,
    TransportError,
)

__all__ = ["CaseFailure", "Classified", "Inconclusive", "NotApplicableCase", "SessionRefused",
           "classify", "evidence_of", "transport_story"]


class CaseFailure(JetStreamQAError, AssertionError):
    """A requirement was broken: Requirement -> Expected -> Actual, plus the calls."""

    code = "CaseFailure"

    def __init__(self, requirement: str, expected: Any, actual: Any, *,
                 calls: Sequence[str] = (), note: str = "") -> None:
        self.requirement = requirement
        self.expected = _text(expected)
        self.actual = _text(actual)
        self.calls = list(calls)
        self.note = note
        super().__init__(self._render(), details={
            "requirement": requirement, "expected": self.expected, "actual": self.actual})

    def _render(self) -> str:
        lines = [f"Requirement: {self.requirement}",
                 f"Expected:    {self.expected}",
                 f"Actual:      {self.actual}"]
        if self.note:
            lines.append(f"Note:        {self.note}")
        if self.calls:
            lines.append("Recent API calls (oldest first):")
            lines.extend(f"  {c}" for c in self.calls)
        return "\n".join(lines)


class SessionRefused(ServerError):
    """The server answered the client hello with an error (``Busy`` ...) instead of a
    session: a broken handshake, a FAIL whatever the case's level."""

    code = "SessionRefused"


class Inconclusive(JetStreamQAError):
    """The environment failed (not the server's conformance): verdict INCONCLUSIVE."""

    code = "Inconclusive"


class NotApplicableCase(JetStreamQAError):
    """The case cannot run in this environment: verdict NOT_APPLICABLE."""

    code = "NotApplicable"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


@dataclass(frozen=True, slots=True)
class Classified:
    """The outcome of a case's exception, and the sentence that says what happened."""

    outcome: CaseOutcome
    story: str = ""
    """Replaces the bare exception text in Actual (empty: the exception speaks for itself)."""


_SUITE_BUG_TYPES = (TypeError, AttributeError, NameError, ImportError)
_CLIENT_DIRS = (Path(__file__).resolve().parents[1] / "client",)
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _client_dirs() -> tuple[Path, ...]:
    import sys
    vendor_file = getattr(sys.modules.get("jetstream"), "__file__", None)
    extra = (Path(vendor_file).resolve().parent,) if vendor_file else ()
    return _CLIENT_DIRS + extra


def _raised_in_client(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` lies in a client package (bundled or
    vendor): the client choked on the server's answer."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    where = Path(last.tb_frame.f_code.co_filename).resolve()
    return any(where.is_relative_to(d) for d in _client_dirs())


def _is_transport(exc: BaseException) -> bool:
    return isinstance(exc, TransportError | ConnectionError | TimeoutError)


def transport_story(exc: BaseException) -> str:
    """What a transport failure says about a server that had answered before."""
    message = exc.message if isinstance(exc, JetStreamQAError) else str(exc) or "no detail"
    name = type(exc).__name__
    details = exc.details if isinstance(exc, JetStreamQAError) else {}
    if details.get("refused") or isinstance(exc, ConnectionRefusedError):
        return f"the server has died: connection refused after it had answered ({message})"
    if isinstance(exc, RequestTimeout | TimeoutError):
        return f"the server stopped answering: {message} ({name})"
    if isinstance(exc, ConnectTimeout):
        return f"the server no longer completes the handshake: {message} ({name})"
    if isinstance(exc, ConnectionClosed | ConnectionError):
        return f"the server dropped the session: {message} ({name})"
    return f"the server was lost mid-session: {message} ({name})"


def classify(exc: BaseException | None, *, contact: Contact | None = None,
             phase: str = "call") -> Classified:
    """The outcome of a case that ended with ``exc`` (``None``: it held); see the table in
    the module docstring. ``contact`` is the probe's finding (``None``: not probed)."""
    if exc is None:
        return Classified(CaseOutcome.HELD)
    if isinstance(exc, NotApplicableCase | BindingMissing):  # names the binding key to set
        return Classified(CaseOutcome.NOT_APPLICABLE)
    if isinstance(exc, Inconclusive):
        return Classified(CaseOutcome.ENVIRONMENT)
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return Classified(CaseOutcome.ENVIRONMENT, f"local disk full: {exc}")
    contact = contact or Contact()
    if _is_transport(exc):
        if contact.answered:
            return Classified(CaseOutcome.LOST, transport_story(exc))
        return Classified(CaseOutcome.ENVIRONMENT, f"{contact.explain()}; this case saw: "
                          f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ProtocolError):
        return Classified(CaseOutcome.LOST, f"the server broke the protocol: {exc.message}")
    if isinstance(exc, SessionRefused):
        return Classified(CaseOutcome.LOST, exc.message)
    if phase == "setup":
        return _classify_setup(exc, contact)
    if isinstance(exc, _SUITE_BUG_TYPES) and not _raised_in_client(exc):
        return Classified(CaseOutcome.SUITE_ERROR, _suite_bug(exc))
    if isinstance(exc, _SUITE_BUG_TYPES):
        return Classified(CaseOutcome.BROKEN, f"the client could not read the server's answer: "
                          f"{type(exc).__name__}: {exc}")
    return Classified(CaseOutcome.BROKEN)


def _classify_setup(exc: BaseException, contact: Contact) -> Classified:
    if isinstance(exc, ApiVersionMismatch | AuthenticationFailed | PermissionDenied):
        return Classified(CaseOutcome.ENVIRONMENT, f"setup refused: {type(exc).__name__}: "
                          f"{exc.message}; {contact.explain()}")
    if isinstance(exc, CaseFailure):
        return Classified(CaseOutcome.BROKEN)
    if isinstance(exc, ServerError):
        return Classified(CaseOutcome.BROKEN, f"the server refused while the case was being set "
                          f"up: {type(exc).__name__}: {exc.message}")
    return Classified(CaseOutcome.SUITE_ERROR, _suite_bug(exc))


def _suite_bug(exc: BaseException) -> str:
    return (f"suite bug: {type(exc).__name__}: {exc} (raised by the case or harness code, "
            "not by the server's answer; no verdict on the server)")


def evidence_of(exc: BaseException) -> tuple[str | None, str, str, list[str]]:
    """(requirement or None, expected, actual, calls) describing ``exc`` for a report."""
    if isinstance(exc, CaseFailure):
        return exc.requirement, exc.expected, exc.actual, list(exc.calls)
    if isinstance(exc, AssertionError):
        return None, "the assertion holds", str(exc).strip() or "assertion failed", []
    if isinstance(exc, JetStreamQAError):
        return None, "no error", f"{type(exc).__name__}: {exc.message}", []
    return None, "no error", f"{type(exc).__name__}: {exc}", []
