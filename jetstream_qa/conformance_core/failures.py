"""What a case raises to end with a verdict, and how an exception becomes an Outcome.

- :class:`CaseFailure`: the server broke the case's requirement. Raised by the verifiers of
  :mod:`jetstream_qa.expect`; carries Requirement / Expected / Actual and the recent API calls.
- :class:`Inconclusive`: the environment failed; no verdict on the server.
- :class:`NotApplicableCase`: the case cannot run here (the plugin turns it into a skip).

:func:`classify` maps any exception a case ends with onto a
:class:`~jetstream_qa.conformance_core.verdicts.Outcome`: transport errors (connect/request
timeouts, resets) and :class:`Inconclusive` are ENVIRONMENT; everything else, including plain
``assert`` failures and errors the server answered with, is BROKEN (a crash in a case is loud,
never hidden as inconclusive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jetstream_qa.conformance_core.verdicts import Outcome
from jetstream_qa.errors import BindingMissing, JetStreamQAError, TransportError

__all__ = ["CaseFailure", "Inconclusive", "NotApplicableCase", "classify", "evidence_of"]


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


class Inconclusive(JetStreamQAError):
    """The environment failed (not the server's conformance): verdict INCONCLUSIVE."""

    code = "Inconclusive"


class NotApplicableCase(JetStreamQAError):
    """The case cannot run in this environment: verdict NOT_APPLICABLE."""

    code = "NotApplicable"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def classify(exc: BaseException | None) -> Outcome:
    """The outcome of a case that ended with ``exc`` (``None``: it held)."""
    if exc is None:
        return Outcome.HELD
    if isinstance(exc, NotApplicableCase | BindingMissing):
        return Outcome.NOT_APPLICABLE  # BindingMissing names the binding-file key to set
    if isinstance(exc, TransportError | Inconclusive):
        return Outcome.ENVIRONMENT
    return Outcome.BROKEN


def evidence_of(exc: BaseException) -> tuple[str | None, str, str, list[str]]:
    """(requirement or None, expected, actual, calls) describing ``exc`` for a report."""
    if isinstance(exc, CaseFailure):
        return exc.requirement, exc.expected, exc.actual, list(exc.calls)
    if isinstance(exc, AssertionError):
        return None, "the assertion holds", str(exc).strip() or "assertion failed", []
    if isinstance(exc, JetStreamQAError):
        return None, "no error", f"{type(exc).__name__}: {exc.message}", []
    return None, "no error", f"{type(exc).__name__}: {exc}", []
