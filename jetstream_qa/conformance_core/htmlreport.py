"""HTML fragments for pytest-html: environment, verdict counts, legend, conformance matrix,
per-case evidence and the verdict column. Data first: every fragment renders JSON-ready data
(:meth:`RunSummary.to_json`, :meth:`CaseResult.to_dict`) through an autoescaping jinja2
template; nothing here concatenates HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from jetstream_qa.conformance_core.summary import RunSummary
from jetstream_qa.conformance_core.verdicts import LEGEND, Verdict, worst

__all__ = ["matrix_view", "render_evidence", "render_summary", "render_verdict_cell",
           "render_verdict_header"]

_COLOURS = {
    "PASS": "#2e7d32", "FAIL": "#c62828", "NON_STRICT": "#ef6c00", "INFO": "#1565c0",
    "INCONCLUSIVE": "#6a1b9a", "NOT_APPLICABLE": "#757575",
}

_TEMPLATES = {
    "style.html": """
<style>
{% for verdict, colour in colours.items() %}
.jsqa-v-{{ verdict }} { color: {{ colour }}; font-weight: bold; }
.jsqa-bg-{{ verdict }} { background: {{ colour }}22; }
.jsqa-chip-{{ verdict }} { background: {{ colour }}; color: #fff; display: inline-block;
  padding: 0 3px; margin: 1px; }
.jsqa-ev-{{ verdict }} { border-left: 4px solid {{ colour }}; padding-left: 6px; }
{% endfor %}
.jsqa-matrix td { border: 1px solid #ccc; }
</style>
""",
    "summary.html": """
<div class="jsqa-summary">
{% include "style.html" %}
<h2>JetStream conformance</h2>
<table class="jsqa-env">
{% for key, value in env_rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<p class="jsqa-counts">
{% for verdict, n in counts.items() %}
<span class="jsqa-v-{{ verdict }}">{{ n }} {{ verdict }}</span>{{ "," if not loop.last }}
{% endfor %}
&mdash; exit status {{ exit_status }}{{ " (strict)" if strict }}
{% if unexpected %}
&mdash; <strong>{{ unexpected }} unexpected vs expectation file</strong>
{% endif %}
</p>
<dl class="jsqa-legend">
{% for verdict, text in legend %}
<dt class="jsqa-v-{{ verdict }}">{{ verdict }}</dt><dd>{{ text }}</dd>
{% endfor %}
</dl>
{% if matrix.rows %}
<h3>Conformance matrix</h3>
<p>Rows: transfer flags &times; overwrite mode; columns: cipher &times; symlink mode; each
chip is one destination pre-state, coloured by verdict.</p>
<table class="jsqa-matrix">
<tr><th>flags</th><th>overwrite</th>
{% for c in matrix.columns %}<th>cipher {{ c[0] }} / symlink {{ c[1] }}</th>{% endfor %}
</tr>
{% for row in matrix.rows %}
<tr><td>{{ row.flags }}</td><td>{{ row.overwrite }}</td>
{% for cell in row.cells %}
<td class="{{ 'jsqa-bg-' ~ cell.worst if cell.worst }}">
{% for chip in cell.chips %}
<span class="jsqa-chip-{{ chip.verdict }}" title="{{ chip.id }}: {{ chip.verdict }}">
{{ chip.preState }}</span>
{% endfor %}
</td>
{% endfor %}
</tr>
{% endfor %}
</table>
{% endif %}
{% if attention %}
<h3>Needs attention</h3>
{% for case in attention %}{% include "evidence.html" %}{% endfor %}
{% endif %}
</div>
""",
    "evidence.html": """
<div class="jsqa-evidence jsqa-ev-{{ case.verdict }}">
{% if standalone %}{% include "style.html" %}{% endif %}
<p><strong>{{ case.id }}</strong> &mdash;
<span class="jsqa-v-{{ case.verdict }}">{{ case.verdict }}</span>
{% if case.expectedVerdict %}
(expected {{ case.expectedVerdict }}{{ ": " ~ case.expectationReason
  if case.expectationReason }})
{% endif %}</p>
<table>
<tr><th>Requirement</th><td>{{ case.requirement }}</td></tr>
<tr><th>Source</th><td>{{ case.source }}</td></tr>
{% if case.expected %}<tr><th>Expected</th><td><code>{{ case.expected }}</code></td></tr>
{% endif %}
{% if case.actual %}<tr><th>Actual</th><td><code>{{ case.actual }}</code></td></tr>
{% endif %}
</table>
{% if case.calls %}
<details><summary>{{ case.calls|length }} recent API calls</summary><ol>
{% for call in case.calls %}<li><code>{{ call }}</code></li>{% endfor %}
</ol></details>
{% endif %}
</div>
""",
    "verdict_cell.html":
        """<td class="col-verdict jsqa-v-{{ label }}">{{ label }}</td>""",
    "verdict_header.html":
        """<th class="sortable" data-column-type="verdict">Verdict</th>""",
}

_ENV = jinja2.Environment(loader=jinja2.DictLoader(_TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def matrix_view(cases: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Pivot matrix cases: rows (flags, overwrite), columns (cipher, symlink), chips per
    pre-state. Cases without ``matrix`` are ignored."""
    cells: dict[tuple[int, int], dict[tuple[int, int], list[dict[str, str]]]] = {}
    columns: set[tuple[int, int]] = set()
    for case in cases:
        m = case.get("matrix")
        if not m:
            continue
        column = (m["cipher"], m["symlink"])
        columns.add(column)
        cells.setdefault((m["flags"], m["overwrite"]), {}).setdefault(column, []).append(
            {"id": case["id"], "verdict": case["verdict"], "preState": m["preState"]})
    ordered_columns = sorted(columns)
    rows = []
    for (flags, overwrite), by_column in sorted(cells.items()):
        row_cells = []
        for column in ordered_columns:
            chips = sorted(by_column.get(column, []), key=lambda c: c["preState"])
            verdict = worst([Verdict(c["verdict"]) for c in chips])
            row_cells.append({"chips": chips, "worst": verdict.value if verdict else ""})
        rows.append({"flags": flags, "overwrite": overwrite, "cells": row_cells})
    return {"columns": ordered_columns, "rows": rows}


def render_summary(summary: RunSummary) -> str:
    """The block pytest-html shows above its results table."""
    data = summary.to_json()
    attention_ids = {r.spec.id for r in summary.attention()}
    return _ENV.get_template("summary.html").render(
        env_rows=summary.environment.table(), counts=data["counts"], colours=_COLOURS,
        exit_status=data["exitStatus"], strict=summary.strict,
        unexpected=len(summary.unexpected),
        legend=[(v.value, text) for v, text in LEGEND.items()],
        matrix=matrix_view(data["cases"]),
        attention=[c for c in data["cases"] if c["id"] in attention_ids], standalone=False)


def render_evidence(case: Mapping[str, Any]) -> str:
    """Requirement / Expected / Actual / calls of one case (a pytest-html extra)."""
    return _ENV.get_template("evidence.html").render(case=case, colours=_COLOURS,
                                                     standalone=True)


def render_verdict_cell(case: Mapping[str, Any] | None) -> str:
    """The verdict column cell of one results-table row (empty for non-case rows)."""
    label = case["verdict"] if case is not None else ""
    return _ENV.get_template("verdict_cell.html").render(label=label)


def render_verdict_header() -> str:
    return _ENV.get_template("verdict_header.html").render()
