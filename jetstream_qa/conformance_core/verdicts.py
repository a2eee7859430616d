"""Verdicts of conformance cases: a closed Enum and the one rule that assigns them.

Theory of operation
-------------------
A case states one requirement at a level (:class:`Level`: MUST, SHOULD, or INFO for behaviour
the vendor docs leave open). Running it yields a :class:`CaseOutcome` (it held, it was broken, the
environment failed, or it does not apply here). :func:`decide` maps (level, outcome, whether
the case recorded an observation with ``js_info``) to exactly one :class:`Verdict`, following
Autobahn/TTCN-3 and h2spec's strict mode:

============== ============ ============ ============ ==============
outcome        MUST         SHOULD       INFO         any level
============== ============ ============ ============ ==============
held           PASS         PASS         INFO         INFO if js_info was called
broken         FAIL         NON_STRICT   INFO
lost                                                  FAIL (stalled, died, broke the protocol)
environment                                           INCONCLUSIVE
suite error                                           INCONCLUSIVE (shown as a pytest ERROR)
not applicable                                        NOT_APPLICABLE
============== ============ ============ ============ ==============

Which exception is which outcome is :func:`~jetstream_qa.conformance_core.failures.classify`:
once the server has answered, a stall, a lost connection or a malformed answer is BROKEN, not
environment. :func:`is_blocking` says which verdicts make the run exit non-zero: FAIL always,
NON_STRICT under ``--js-strict`` (strict promotes SHOULD to MUST), INCONCLUSIVE unless
``--js-allow-inconclusive`` (a run that could not judge the server is not a green run).
"""

from __future__ import annotations

import enum

__all__ = ["LEGEND", "PYTEST_STATUS", "REPORTED_AS_FAILED", "CaseOutcome", "Level", "Verdict",
           "decide", "is_blocking", "outcome_for_pytest", "worst"]


class Verdict(enum.StrEnum):
    """The closed set of verdicts a case can get (the value is the report label)."""

    PASS = "PASS"
    FAIL = "FAIL"
    NON_STRICT = "NON_STRICT"
    INFO = "INFO"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_APPLICABLE = "NOT_APPLICABLE"

    @property
    def severity(self) -> int:
        """Higher is worse: FAIL 5, INCONCLUSIVE 4, NON_STRICT 3, INFO 2, PASS 1,
        NOT_APPLICABLE 0 (INCONCLUSIVE blocks a run by default, NON_STRICT only if strict)."""
        return _SEVERITY[self]


LEGEND: dict[Verdict, str] = {
    Verdict.PASS: "The documented requirement holds.",
    Verdict.FAIL: "A documented MUST is broken.",
    Verdict.NON_STRICT: "A documented SHOULD is broken (fails the run only with --js-strict).",
    Verdict.INFO: "Behaviour the vendor docs leave open: observed and recorded, never failed.",
    Verdict.INCONCLUSIVE: "No verdict on the server: the environment failed (target "
                          "unreachable before any session, local disk full) or the case "
                          "crashed (suite bug); fails the run unless --js-allow-inconclusive.",
    Verdict.NOT_APPLICABLE: "The case cannot run in this environment (e.g. no root for "
                            "packet capture, server not controlled by the suite).",
}
"""One sentence per verdict; every report prints this legend once."""

_SEVERITY: dict[Verdict, int] = {
    Verdict.FAIL: 5,
    Verdict.INCONCLUSIVE: 4,
    Verdict.NON_STRICT: 3,
    Verdict.INFO: 2,
    Verdict.PASS: 1,
    Verdict.NOT_APPLICABLE: 0,
}


class Level(enum.StrEnum):
    """Requirement level of a case (RFC 2119 words, as the vendor docs imply them)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"

    @classmethod
    def parse(cls, text: str) -> Level:
        """Parse ``MUST``, ``SHOULD``, ``MAY``, ``INFO`` or ``MAY/INFO`` (any case).

        Raises:
            ValueError: any other word (the message lists the accepted ones).
        """
        word = text.strip().upper()
        if word in ("MAY", "INFO", "MAY/INFO"):
            return cls.INFO
        if word in ("MUST", "SHOULD"):
            return cls(word)
        raise ValueError(f"unknown level {text!r}; expected MUST, SHOULD or MAY/INFO")


class CaseOutcome(enum.Enum):
    """What running a case produced, before levels are applied."""

    HELD = "held"
    BROKEN = "broken"
    LOST = "lost"
    """The server stalled, died or broke the protocol: a FAIL whatever the case's level."""
    ENVIRONMENT = "environment"
    SUITE_ERROR = "suite error"
    NOT_APPLICABLE = "not applicable"


def decide(level: Level, outcome: CaseOutcome, *, info_recorded: bool = False) -> Verdict:
    """Assign the verdict of one case (table in the module docstring)."""
    if outcome in (CaseOutcome.ENVIRONMENT, CaseOutcome.SUITE_ERROR):
        return Verdict.INCONCLUSIVE
    if outcome is CaseOutcome.NOT_APPLICABLE:
        return Verdict.NOT_APPLICABLE
    if outcome is CaseOutcome.LOST:
        return Verdict.FAIL
    if level is Level.INFO:
        return Verdict.INFO
    if outcome is CaseOutcome.HELD:
        return Verdict.INFO if info_recorded else Verdict.PASS
    return Verdict.FAIL if level is Level.MUST else Verdict.NON_STRICT


def is_blocking(verdict: Verdict, *, strict: bool, allow_inconclusive: bool = False) -> bool:
    """True when ``verdict`` makes the run exit non-zero: FAIL; NON_STRICT under strict;
    INCONCLUSIVE unless allowed."""
    return (verdict is Verdict.FAIL or (strict and verdict is Verdict.NON_STRICT)
            or (verdict is Verdict.INCONCLUSIVE and not allow_inconclusive))


def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict | None:
    """The most severe verdict of several (for matrix cells), ``None`` for none."""
    return max(verdicts, key=_SEVERITY.__getitem__) if verdicts else None


# --- how pytest shows a verdict (the plugin applies this table; it decides nothing) -------
PYTEST_STATUS = {
    Verdict.PASS: ("passed", ".", "PASS"),
    Verdict.INFO: ("info", "i", "INFO"),
    Verdict.FAIL: ("failed", "F", "FAIL"),
    Verdict.NON_STRICT: ("non_strict", "N", "NON_STRICT"),
    Verdict.INCONCLUSIVE: ("inconclusive", "?", "INCONCLUSIVE"),
    Verdict.NOT_APPLICABLE: ("not_applicable", "n", "NOT_APPLICABLE"),
}
"""pytest's terminal (category, letter, word) for each verdict."""

REPORTED_AS_FAILED = frozenset({Verdict.FAIL, Verdict.NON_STRICT})
"""The verdicts whose pytest report may be failed; any other failed report of a case is a
harness failure."""


def outcome_for_pytest(verdict: Verdict, *, strict: bool, expected_by_file: bool,
                   during_setup: bool, already_skipped: bool) -> str:
    """The pytest outcome of a case's report: ``"xfail"`` (an expectation file expects this
    FAIL/NON_STRICT), ``"failed"`` (FAIL; NON_STRICT under ``--js-strict``), ``"passed"``,
    ``"skipped"`` (the verdict's text replaces the reason: a held case whose setup did not
    pass never ran its body; INCONCLUSIVE and NOT_APPLICABLE), or ``"keep"`` (a report
    pytest already skipped keeps its own reason)."""
    if verdict in REPORTED_AS_FAILED and expected_by_file:
        return "xfail"
    if verdict is Verdict.FAIL or (verdict is Verdict.NON_STRICT and strict):
        return "failed"
    if verdict in (Verdict.PASS, Verdict.INFO, Verdict.NON_STRICT):
        return "skipped" if during_setup else "passed"
    return "keep" if already_skipped else "skipped"
