"""Typed results -> the one review document (``reports/review.json``, ``jetstream-qa/review/1``).

The same document is embedded in ``review.html`` and is what the page's script reads; the
template reads the view built from it by :mod:`jetstream_qa.report.render`. Everything that
leaves this module has passed :func:`jetstream_qa.report.redact.redact`.

Ordering rule of the "attention" list (the first thing the report shows): conformance verdicts
that changed since the baseline (worsened first), then every FAIL case, then unexpected
verdicts of meta cases, then INCONCLUSIVE cases (listed, not failing: the environment failed),
then gating metric regressions, then failed load checks, then steps that did not produce their
report. A seeded defect's failing case is therefore always at the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.conformance_core.verdicts import Verdict
from jetstream_qa.report.baseline import (
    Baseline,
    collect_samples,
    compare_metrics,
    compare_verdicts,
    spec_for,
)
from jetstream_qa.report.model import CaseResult, ConformanceRun, LoadRun
from jetstream_qa.report.redact import redact
from jetstream_qa.report.stats import Movement, median

__all__ = ["REVIEW_SCHEMA", "StepOutcome", "build_document"]

REVIEW_SCHEMA = "jetstream-qa/review/1"

VERDICT_LEGEND = {
    "PASS": "The documented requirement holds.",
    "FAIL": "A documented MUST is broken.",
    "NON_STRICT": "A documented SHOULD is not followed (FAIL under --strict).",
    "INFO": "Behaviour the documentation leaves open, recorded for comparison.",
    "INCONCLUSIVE": "The environment failed during the case (e.g. server unreachable).",
    "NOT_APPLICABLE": "The case does not apply to this server or profile.",
}


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One step of the review pipeline (conformance, load run i, ...)."""

    name: str
    exit_code: int | None
    duration_s: float
    produced: bool
    log: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReviewInputs:
    """Everything :func:`build_document` reads."""

    conformance: ConformanceRun | None
    loads: Sequence[LoadRun]
    baseline: Baseline | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    steps: Sequence[StepOutcome] = ()
    generated_at: str = ""
    toolkit_version: str = ""


def _case_json(case: CaseResult) -> dict[str, Any]:
    row: dict[str, Any] = {"id": case.id, "verdict": case.verdict.value, "area": case.area}
    for key, value in (
        ("requirement", case.requirement),
        ("source", case.source),
        ("expected", case.expected),
        ("actual", case.actual),
    ):
        if value:
            row[key] = value
    row["durationS"] = round(case.duration_s, 6)
    if case.calls:
        row["calls"] = list(case.calls)
    if case.matrix is not None:
        m = case.matrix
        row["matrix"] = [m.flags, m.overwrite, m.cipher, m.symlink, m.pre_state]
    if case.expected_verdict is not None:
        row["expectedVerdict"] = case.expected_verdict.value
    if case.unexpected:
        row["unexpected"] = True
    if case.level:
        row["level"] = case.level
    if case.observations:
        row["observations"] = list(case.observations)
    if case.expectation_reason:
        row["expectationReason"] = case.expectation_reason
    return row


def _case_order(case: CaseResult) -> tuple[int, str]:
    return (-case.verdict.severity - (10 if case.unexpected else 0), case.id)


def _conformance_json(run: ConformanceRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    cases = sorted(run.cases, key=_case_order)
    return {
        "counts": run.counts(),
        "total": len(run.cases),
        "exitStatus": run.exit_status,
        "generatedAt": run.generated_at,
        "cases": [_case_json(c) for c in cases],
        "legend": VERDICT_LEGEND,
    }


def _run_json(index: int, run: LoadRun) -> dict[str, Any]:
    return {
        "index": index,
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "goodput": {
            "meanBytesPerSecond": run.goodput_mean_bps,
            "totalBytes": run.goodput_total_bytes,
            "elapsedS": run.goodput_elapsed_s,
            "window": dict(run.goodput_window),
            "steady": dict(run.goodput_steady) if run.goodput_steady else None,
            **{k: dict(v) for k, v in run.goodput_ramps.items()},
            "series": [{"t": p.t, **p.values} for p in run.goodput_series],
        },
        "problems": list(run.problems),
        "wire": None if run.wire is None
        else {k: v for k, v in run.wire.items() if k != "series"},
        "transfers": {
            "count": run.transfers_count,
            "failures": run.transfers_failures,
            "throughputBytesPerSecond": dict(run.throughput),
        },
        "latency": {
            lat.name: {
                "count": lat.count,
                "failures": lat.failures,
                **lat.percentiles,
                "series": [{"t": p.t, **p.values} for p in lat.series],
            }
            for lat in run.latency
        },
        "errors": [
            {"name": e.name, "error": e.error, "occurrences": e.occurrences} for e in run.errors
        ],
        "serverCounters": dict(run.server_counters),
        "checks": [
            {
                "expr": c.expr,
                "passed": c.passed,
                "observed": c.observed,
                "threshold": c.threshold,
                "detail": c.detail,
            }
            for c in run.checks
        ],
        "settings": dict(run.settings),
    }


def representative_index(loads: Sequence[LoadRun]) -> int:
    """Index of the run whose mean goodput is the median one (the run the charts detail)."""
    if not loads:
        return -1
    order = sorted(range(len(loads)), key=lambda i: loads[i].gating_bps)
    return order[(len(order) - 1) // 2]


_COMPARABLE_SETTINGS = ("users", "spawnRate", "runTimeS", "scenario", "shape", "impairment")
"""Load settings that must match for a metric comparison to mean much (differences are shown;
the impairment differs on purpose when a baseline is compared with an impaired run)."""


def _comparison_json(inputs: ReviewInputs) -> dict[str, Any] | None:
    base = inputs.baseline
    if base is None:
        return None
    current = collect_samples(inputs.loads)
    verdicts = (
        {c.id: c.verdict.value for c in inputs.conformance.cases} if inputs.conformance else {}
    )
    metrics: list[dict[str, Any]] = []
    for name, cmp in compare_metrics(base.samples, current).items():
        spec = spec_for(name)
        metrics.append(
            {
                "name": name,
                "label": spec.label,
                "unit": spec.unit,
                "better": spec.better.value,
                "gating": spec.gate,
                "movement": cmp.movement.value,
                "baselineSamples": list(base.samples.get(name, ())),
                "currentSamples": current.get(name, []),
                "baselineMedian": cmp.baseline_median,
                "currentMedian": cmp.current_median,
                "band": cmp.band,
                "relativeChange": cmp.relative_change,
                "pValue": cmp.p_value,
                "method": cmp.method,
            }
        )
    rank = {"REGRESSION": 0, "IMPROVEMENT": 1, "MISSING": 2, "NEW": 3, "UNCHANGED": 4}
    metrics.sort(key=lambda m: (not m["gating"], rank[m["movement"]], m["name"]))
    changes = compare_verdicts(base.verdicts, verdicts) if inputs.conformance else []
    current_settings = inputs.loads[0].settings if inputs.loads else {}
    differ = [
        {"key": key, "baseline": base.settings.get(key), "current": current_settings.get(key)}
        for key in _COMPARABLE_SETTINGS
        if inputs.loads and base.settings.get(key) != current_settings.get(key)
    ]
    return {
        "settingsDiffer": differ,
        "baseline": base.name,
        "savedAt": base.saved_at,
        "baselineSettings": dict(base.settings),
        "baselineEnvironment": dict(base.environment),
        "baselineGoodputSeries": [dict(p) for p in base.goodput_series],
        "verdictChanges": [
            {"id": c.case_id, "before": c.before, "after": c.after, "worsened": c.worsened}
            for c in changes
        ],
        "metrics": metrics,
    }


def fingerprint(inputs: ReviewInputs) -> dict[str, Any]:
    """Environment fingerprint: server facts, toolkit, load settings, impairment."""
    env: dict[str, Any] = {}
    for run in inputs.loads[:1]:
        env.update({k: v for k, v in run.environment.items() if v not in (None, "")})
    if inputs.conformance is not None:
        env.update({k: v for k, v in inputs.conformance.environment.items() if v not in (None, "")})
    env.setdefault("toolkitVersion", inputs.toolkit_version)
    load_settings = dict(inputs.loads[0].settings) if inputs.loads else {}
    return {"server": env, "load": load_settings, "review": dict(inputs.settings)}


def _waived(case: Mapping[str, Any]) -> bool:
    """A FAIL the expectation file predicted (a known defect) does not fail the review."""
    return (
        case.get("verdict") == Verdict.FAIL.value
        and case.get("expectedVerdict") == Verdict.FAIL.value
        and not case.get("unexpected")
    )


_BROKEN_TARGET = 4
"""Locust's exit status for a broken target (its problems are listed as load problems)."""


def _attention(doc: dict[str, Any], inputs: ReviewInputs) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    comparison = doc["comparison"]
    conf = doc["conformance"]
    case_by_id = {c["id"]: c for c in conf["cases"]} if conf else {}
    for change in comparison["verdictChanges"] if comparison else []:
        case = case_by_id.get(change["id"], {})
        items.append({"kind": "verdict-change", **change, "case": case,
                      "waived": _waived(case)})
    listed = {i["id"] for i in items}
    for case in conf["cases"] if conf else []:
        if case["verdict"] == Verdict.FAIL.value and case["id"] not in listed:
            items.append({"kind": "fail", "id": case["id"], "case": case,
                          "waived": _waived(case)})
        elif case.get("unexpected") and case["id"] not in listed:
            items.append({"kind": "unexpected", "id": case["id"], "case": case})
    for case in conf["cases"] if conf else []:
        if case["verdict"] == Verdict.INCONCLUSIVE.value and case["id"] not in listed:
            items.append({"kind": "inconclusive", "id": case["id"], "case": case})
    for metric in comparison["metrics"] if comparison else []:
        if metric["movement"] == Movement.REGRESSION.value and metric["gating"]:
            items.append({"kind": "regression", "id": metric["name"], "metric": metric})
    for run in doc["load"]["runs"]:
        for problem in run["problems"]:
            items.append({"kind": "load-problem", "id": f"load run {run['index']}",
                          "run": run["index"], "detail": problem})
        for check in run["checks"]:
            if not check["passed"]:
                items.append({"kind": "check", "id": check["expr"], "run": run["index"], **check})
    for step in inputs.steps:
        if not step.produced or (step.exit_code not in (0, 1, _BROKEN_TARGET, None)):
            items.append(
                {"kind": "step", "id": step.name, "exitCode": step.exit_code, "log": step.log,
                 "detail": step.detail}
            )
    return items


def _status(doc: dict[str, Any]) -> tuple[str, list[str]]:
    reasons = []
    counts = doc["conformance"]["counts"] if doc["conformance"] else {}
    waived = sum(1 for i in doc["attention"] if i.get("waived"))
    if counts.get("FAIL", 0) > waived:
        reasons.append(f"{counts['FAIL'] - waived} conformance case(s) FAIL")
    kinds: dict[str, int] = {}
    for item in doc["attention"]:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    if kinds.get("unexpected"):
        reasons.append(f"{kinds['unexpected']} case(s) with an unexpected verdict")
    if kinds.get("regression"):
        reasons.append(f"{kinds['regression']} metric regression(s) against the baseline")
    if kinds.get("load-problem"):
        reasons.append(f"{kinds['load-problem']} load run problem(s): no transfer completed "
                       "or the target stopped answering")
    if kinds.get("check"):
        reasons.append(f"{kinds['check']} load threshold check(s) failed")
    if kinds.get("step"):
        reasons.append(f"{kinds['step']} step(s) did not produce a report")
    return ("FAIL" if reasons else "PASS"), reasons


def build_document(inputs: ReviewInputs, *, secrets: Sequence[str | None] = ()) -> dict[str, Any]:
    """Assemble the review document (JSON-ready, redacted).

    Args:
        inputs: parsed conformance and load results, baseline, settings and step outcomes.
        secrets: secret values to scrub from every string (e.g. the API password).
    """
    loads = list(inputs.loads)
    goodputs = [r.gating_bps for r in loads]
    doc: dict[str, Any] = {
        "schema": REVIEW_SCHEMA,
        "generatedAt": inputs.generated_at,
        "toolkitVersion": inputs.toolkit_version,
        "conformance": _conformance_json(inputs.conformance),
        "load": {
            "runs": [_run_json(i + 1, r) for i, r in enumerate(loads)],
            "representative": representative_index(loads) + 1,
            "goodputMedian": median(goodputs) if goodputs else None,
        },
        "comparison": _comparison_json(inputs),
        "environment": fingerprint(inputs),
        "steps": [
            {"name": s.name, "exitCode": s.exit_code, "durationS": round(s.duration_s, 3),
             "produced": s.produced, "log": s.log, "detail": s.detail}
            for s in inputs.steps
        ],
    }
    doc["attention"] = _attention(doc, inputs)
    doc["status"], doc["reasons"] = _status(doc)
    doc["exitCode"] = 0 if doc["status"] == "PASS" else 1
    return redact(doc, secrets=secrets)  # type: ignore[no-any-return]
