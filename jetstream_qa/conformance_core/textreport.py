"""The terminal summary of a run, as lines of text (printed last by the plugin)."""

from __future__ import annotations

from jetstream_qa.conformance_core.session import verdict_label
from jetstream_qa.conformance_core.summary import RunSummary
from jetstream_qa.conformance_core.verdicts import LEGEND, Verdict

__all__ = ["case_listing", "summary_lines"]


FULL_TABLE_MAX = 60
"""Up to this many cases every row is printed; above it only rows that are not a plain PASS
(plus one line per area), unless ``verbose``."""


def _area_lines(summary: RunSummary) -> list[str]:
    areas: dict[str, dict[str, int]] = {}
    for r in summary.results:
        counts = areas.setdefault(r.spec.area, {v.value: 0 for v in Verdict})
        counts[r.verdict.value] += 1
    return [f"{area:<14} " + "  ".join(f"{n} {v}" for v, n in counts.items() if n)
            for area, counts in sorted(areas.items())]


def summary_lines(summary: RunSummary, *, json_path: str = "",
                  exit_status: int | None = None, verbose: bool = False) -> list[str]:
    """The summary table, counts, evidence of what needs attention, and the legend."""
    lines: list[str] = []
    env = summary.environment
    lines.append(f"target: {env.target}  server {env.serverVersion} apiVersion {env.apiVersion}"
                 f"  client {env.clientKind}"
                 + (f" ({env.clientPackage})" if env.clientPackage else "")
                 + f"  profile {env.profile}"
                 + ("  strict" if summary.strict else ""))
    full = verbose or len(summary.results) <= FULL_TABLE_MAX
    shown = [r for r in summary.results
             if full or r.verdict is not Verdict.PASS or r.unexpected]
    width = max((len(r.spec.id) for r in shown), default=10)
    if not full:
        lines.extend(_area_lines(summary))
        lines.append("(cases that did not simply PASS; -v lists every case)")
    for r in shown:
        lines.append(f"{verdict_label(r):<15} {r.spec.level.value:<6} {r.spec.id:<{width}}"
                     f" {r.duration_s:7.2f}s")
        if r.verdict in (Verdict.INFO, Verdict.NOT_APPLICABLE) and r.actual:
            lines.append(f"{'':<22} {r.actual}")
    for r in summary.attention():
        lines.append("")
        lines.append(f"--- {r.spec.id}: {verdict_label(r)}")
        lines.append(f"Requirement: {r.requirement or r.spec.requirement}")
        lines.append(f"Source:      {r.spec.source}")
        lines.append(f"Expected:    {r.expected}")
        lines.append(f"Actual:      {r.actual}")
        if r.expectation_reason:
            lines.append(f"Known issue: {r.expectation_reason}")
        for call in r.calls[-8:]:
            lines.append(f"  call: {call}")
    lines.append("")
    counts = summary.counts
    lines.append("verdicts: " + ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict))
    if summary.unexpected:
        lines.append(f"unexpected results (vs expectation file): {len(summary.unexpected)}")
    lines.append("legend:")
    lines.extend(f"  {v.value:<15} {text}" for v, text in LEGEND.items())
    if json_path:
        lines.append(f"JSON summary: {json_path}")
    status = summary.exit_status if exit_status is None else exit_status
    lines.append(f"exit status: {status}")
    return lines


def case_listing(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """``--js-list-cases`` output: one line per (id, level, requirement, source)."""
    width = max((len(r[0]) for r in rows), default=10)
    out = [f"{case_id:<{width}}  {level:<6}  {requirement}  [{source}]"
           for case_id, level, requirement, source in rows]
    out.append(f"{len(rows)} cases")
    return out
