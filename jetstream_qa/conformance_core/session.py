"""Per-run and per-case state the plugin keeps in ``config.stash`` / ``item.stash``, and the
judgement of one case (exception + spec + expectations -> :class:`CaseResult`).

Kept out of the plugin module so the plugin stays a thin list of hooks and fixtures, and so
the judgement can be unit-tested without pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.conformance_core.cases import CaseResult, CaseSpec
from jetstream_qa.conformance_core.client_choice import calls_of
from jetstream_qa.conformance_core.contact import Contact
from jetstream_qa.conformance_core.expectations import Expectations
from jetstream_qa.conformance_core.failures import Classified, classify, evidence_of
from jetstream_qa.conformance_core.summary import Environment
from jetstream_qa.conformance_core.verdicts import CaseOutcome, decide

__all__ = ["CaseState", "RunState", "judge", "verdict_label"]


@dataclass
class CaseState:
    """Mutable record of one running case: observations (``js_info``) and its API objects."""

    observations: list[str] = field(default_factory=list)
    apis: list[Any] = field(default_factory=list)
    not_applicable: str = ""


@dataclass
class RunState:
    """Results gathered by the controlling process (the only one writing reports)."""

    results: dict[str, CaseResult] = field(default_factory=dict)
    environment: Environment | None = None
    contact: Contact | None = None
    """What the probe of this process learnt about the server (None: not probed yet)."""
    harness_failures: int = 0
    exit_status: int | None = None
    summary: Any = None
    report_path: str = ""


def judge(spec: CaseSpec, *, exc: BaseException | None, skipped_reason: str | None,
          state: CaseState, duration_s: float, expectations: Expectations | None,
          phase: str = "call", contact: Contact | None = None) -> CaseResult:
    """The result of one case.

    Args:
        spec: the case.
        exc: the exception the phase ended with (``None``: it held or was skipped).
        skipped_reason: set when the case was skipped (NOT_APPLICABLE).
        state: observations and API objects of the case.
        duration_s: seconds the phase took.
        expectations: the expectation file, if any.
        phase: ``setup`` or ``call`` (see :func:`~.failures.classify`).
        contact: what the probe learnt about the server (``None``: not probed).
    """
    if skipped_reason is not None:
        judged = Classified(CaseOutcome.NOT_APPLICABLE)
    else:
        judged = classify(exc, contact=contact, phase=phase)
    outcome = judged.outcome
    verdict = decide(spec.level, outcome, info_recorded=bool(state.observations))
    requirement, expected, actual = "", "", ""
    calls: list[str] = []
    if skipped_reason is not None:
        actual = skipped_reason
    elif outcome is CaseOutcome.NOT_APPLICABLE and exc is not None:
        actual = str(exc)
    elif exc is not None:
        req, expected, actual, calls = evidence_of(exc)
        requirement = req or ""
        if judged.story:
            actual = judged.story
        if phase == "setup" and outcome is not CaseOutcome.BROKEN:
            actual = f"setup failed: {actual}"
    elif state.observations:
        actual = "; ".join(state.observations)
    if not calls and exc is not None:
        calls = calls_of(*state.apis, label=len(state.apis) > 1)
    entry = expectations.lookup(spec.id) if expectations else None
    return CaseResult(
        spec=spec, verdict=verdict, duration_s=max(0.0, duration_s), expected=expected,
        actual=actual, calls=tuple(calls[-20:]),
        expected_verdict=entry.verdict if entry else None,
        expectation_reason=entry.reason if entry else "", requirement=requirement,
        observations=tuple(state.observations),
        suite_error=outcome is CaseOutcome.SUITE_ERROR)


def verdict_label(result: CaseResult) -> str:
    """``FAIL``, or ``FAIL (expected)`` / ``PASS (unexpected, expected FAIL)``."""
    if result.suite_error:
        return "SUITE ERROR"
    if result.expected_by_file:
        return f"{result.verdict.value} (expected)"
    if result.unexpected and result.expected_verdict is not None:
        return f"{result.verdict.value} (unexpected; expected {result.expected_verdict.value})"
    return result.verdict.value

