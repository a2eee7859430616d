"""review.html: one self-contained, autoescaped file with the data embedded safely."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jetstream_qa.report.document import ReviewInputs, build_document
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.render import render_html, write_report
from jetstream_qa.report.samples import conformance_document, load_document

HOSTILE = "</script><script>window.pwned=1</script><img src=x onerror=alert(1)>"


def _doc(n: int = 200, **kw: Any) -> dict[str, Any]:
    conf = conformance_document(n, seed=8, fail=["flags/f0-o3-c1-s1/empty"])
    failing = next(c for c in conf["cases"] if c["verdict"] == "FAIL")
    failing["actual"] = HOSTILE
    return build_document(ReviewInputs(conformance=parse_conformance(conf),
                                       loads=[parse_load(load_document(seed=1)),
                                              parse_load(load_document(seed=2))],
                                       generated_at="t", toolkit_version="0.1.0"), **kw)


def _embedded(html: str) -> Any:
    m = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html,
                  re.DOTALL)
    assert m is not None
    return json.loads(m.group(1))


def test_embedded_json_round_trips(tmp_path: Path) -> None:
    doc = _doc()
    json_path, html_path = write_report(doc, tmp_path)
    html = html_path.read_text("utf-8")
    assert _embedded(html) == json.loads(json_path.read_text("utf-8")) == doc


def test_hostile_text_is_escaped_everywhere() -> None:
    html = render_html(_doc())
    assert "<script>window.pwned" not in html
    assert "<img src=x" not in html
    assert html.count("<script") == 2  # the data block and the page script, nothing else
    assert "&lt;/script&gt;" in html  # escaped in the server-rendered attention list


def test_no_network_references() -> None:
    html = render_html(_doc())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # CSP: the page cannot fetch anything


def test_sections_and_charts_present() -> None:
    html = render_html(_doc())
    for anchor in ("attention", "verdicts", "matrix", "cases", "load", "counters",
                   "environment"):
        assert f'id="{anchor}"' in html
    assert html.count("<polyline") >= 4
    assert 'id="chart-goodput"' in html and 'id="chart-throughput"' in html
    assert html.index('id="attention"') < html.index('id="verdicts"')
    assert html.index("flags/f0-o3-c1-s1/empty") < html.index('id="verdicts"')


def test_large_reports_do_not_render_every_case_server_side() -> None:
    html = render_html(_doc(5000))
    body = html.split('id="review-data"')[0]
    assert body.count("<tr") < 700  # matrix + summary tables only; cases are lazy
    assert len(html) < 6_000_000
