"""Review document -> one self-contained ``review.html`` (autoescaped jinja2 template).

The document is embedded verbatim as ``<script type="application/json" id="review-data">``
through jinja's ``tojson`` filter (which escapes ``<``, ``>``, ``&`` and ``'``, so no string in
the data can close the script element). Styles and the page script are package data
(``report/static``) inlined into the page; charts are SVG laid out by
:mod:`jetstream_qa.report.charts`. The page therefore opens with no network at all.

Speed with thousands of cases: the server-rendered part is bounded (the attention list is cut
at :data:`ATTENTION_LIMIT`; the matrix has at most 16 x 16 cells per symlink mode); the full
case table is rendered by the page script, on demand and a page at a time, from the embedded
JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from jetstream_qa.loadstats.units import human_bytes
from jetstream_qa.report.charts import Chart, fmt_bytes_rate, fmt_ms, line_chart
from jetstream_qa.report.matrix import build_matrix

__all__ = ["ATTENTION_LIMIT", "render_html", "write_report"]

ATTENTION_LIMIT = 100
_PCT_ORDER = ("min", "p50", "p90", "p95", "p99", "max")


def _env() -> jinja2.Environment:
    templates = resources.files("jetstream_qa.report") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (templates / name).read_text("utf-8")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rate"] = lambda v: "—" if v is None else fmt_bytes_rate(float(v))
    env.filters["ms"] = lambda v: "—" if v is None else fmt_ms(float(v))
    env.filters["pct"] = lambda v: "—" if v is None else f"{float(v) * 100:+.1f} %"
    env.filters["num"] = _num
    env.filters["bytes"] = lambda v: "—" if v is None else human_bytes(float(v))
    env.filters["unit"] = _unit
    return env


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _unit(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "B/s":
        return fmt_bytes_rate(float(value))
    if unit == "ms":
        return fmt_ms(float(value))
    return _num(value)


def _static(name: str) -> str:
    return (resources.files("jetstream_qa.report") / "static" / name).read_text("utf-8")


def _charts(doc: Mapping[str, Any]) -> list[Chart]:
    runs = doc["load"]["runs"]
    comparison = doc.get("comparison") or {}
    goodput: list[tuple[str, list[tuple[float, float]], bool]] = [
        (f"run {r['index']}", [(p["t"], p["bytesPerSecond"]) for p in r["goodput"]["series"]],
         False)
        for r in runs
    ]
    base_series = comparison.get("baselineGoodputSeries") or []
    if base_series:
        goodput.append(
            (f"baseline {comparison['baseline']}",
             [(p["t"], p.get("bytesPerSecond", 0.0)) for p in base_series], True)
        )
    rep = next((r for r in runs if r["index"] == doc["load"]["representative"]), None)
    window = (rep or {}).get("goodput", {}).get("window") or {}
    bands = [(window["startS"], window["endS"], f"measured window (run {rep['index']}): "
              f"{window['startS']:.0f}-{window['endS']:.0f} s")] \
        if rep and window.get("durationS") else []
    charts = [line_chart("chart-goodput", "Goodput over time", goodput,
                         x_label="seconds since start", y_label="bytes/s", bands=bands)]
    charts.extend(_latency_charts(rep))
    cats = [p for p in _PCT_ORDER if any(p in r["transfers"]["throughputBytesPerSecond"]
                                        for r in runs)]
    dist = [
        (f"run {r['index']}",
         [(float(i), r["transfers"]["throughputBytesPerSecond"][p]) for i, p in enumerate(cats)
          if p in r["transfers"]["throughputBytesPerSecond"]], False)
        for r in runs
    ]
    charts.append(line_chart("chart-throughput", "Per-transfer throughput distribution", dist,
                             x_label="percentile of transfers", y_label="bytes/s",
                             x_categories=cats))
    return charts


def _latency_charts(rep: Mapping[str, Any] | None) -> list[Chart]:
    """One chart per request type (``transfer``, ``api``, ...: the name's first word), so
    second-long transfers do not flatten millisecond API calls; at most 4 names each."""
    if rep is None:
        return [line_chart("chart-latency", "Latency percentiles over time", [])]
    by_type: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for name, stats in rep["latency"].items():
        by_type.setdefault(name.split(" ", 1)[0], []).append((name, stats))
    types = sorted(by_type, key=lambda t: -sum(s["count"] for _, s in by_type[t]))[:3]
    charts = []
    for i, kind in enumerate(types or [""]):
        lines: list[tuple[str, list[tuple[float, float]], bool]] = []
        for name, stats in sorted(by_type.get(kind, []), key=lambda kv: -kv[1]["count"])[:4]:
            for pct, dashed in (("p50", False), ("p95", True)):
                pts = [(p["t"], p[pct]) for p in stats["series"] if pct in p]
                lines.append((f"{name} {pct}", pts, dashed))
        chart_id = "chart-latency" if i == 0 else f"chart-latency-{i}"
        charts.append(line_chart(chart_id, f"Latency percentiles over time: {kind} "
                                 f"(run {rep['index']})", lines, x_label="seconds since start",
                                 y_label="ms", y_format="ms", lines_per_color=2))
    return charts


def _merged_errors(runs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], int] = {}
    for r in runs:
        for e in r["errors"]:
            key = (e["name"], e["error"])
            merged[key] = merged.get(key, 0) + int(e["occurrences"])
    return [{"name": n, "error": e, "occurrences": c}
            for (n, e), c in sorted(merged.items(), key=lambda kv: -kv[1])]


def _counter_rows(runs: list[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    names = sorted({k for r in runs for k in r["serverCounters"]})
    return [(n, [r["serverCounters"].get(n) for r in runs]) for n in names]


def build_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template reads, derived from the document only."""
    conf = doc.get("conformance")
    runs = doc["load"]["runs"]
    attention = doc["attention"]
    return {
        "doc": doc,
        "attention": attention[:ATTENTION_LIMIT],
        "attention_more": max(0, len(attention) - ATTENTION_LIMIT),
        "matrix": build_matrix(conf["cases"]) if conf else [],
        "charts": _charts(doc),
        "errors": _merged_errors(runs),
        "counters": _counter_rows(runs),
        "checks": [dict(c, run=r["index"]) for r in runs for c in r["checks"]],
        "css": _static("review.css"),
        "js": _static("review.js"),
    }


def render_html(doc: Mapping[str, Any]) -> str:
    """The page for ``doc`` (a redacted review document)."""
    template = _env().get_template("review.html.j2")
    return template.render(**build_view(doc))


def write_report(doc: Mapping[str, Any], out_dir: Path | str) -> tuple[Path, Path]:
    """Write ``review.json`` and ``review.html`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "review.json", out / "review.html"
    json_path.write_text(json.dumps(doc, indent=1, sort_keys=False), "utf-8")
    html_path.write_text(render_html(doc), "utf-8")
    return json_path, html_path
