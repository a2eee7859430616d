"""review.html in a real headless Chromium: no console errors, charts and matrix drawn, lazy
case table works, the seeded defect comes first, no secret on the page, no network used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.report.baseline import Baseline
from jetstream_qa.report.document import ReviewInputs, build_document
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.render import write_report
from jetstream_qa.report.samples import conformance_document, load_document

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SEEDED = "flags/f9-o5-c3-s2/older"
SECRET = "Browser-Secret-8812"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
    pytest.mark.xdist_group("report-browser"),  # one worker, one browser launch
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    conf = conformance_document(5000, seed=11, fail=[SEEDED])
    failing = next(c for c in conf["cases"] if c["id"] == SEEDED)
    failing["actual"] = f"login with {SECRET} refused"
    base = Baseline.from_run("prev", conformance=parse_conformance(conformance_document(5000,
                             seed=11)), loads=[parse_load(load_document(seed=i))
                                               for i in range(3)],
                             saved_at="2026-11-20T08:00:00Z", environment={})
    doc = build_document(
        ReviewInputs(conformance=parse_conformance(conf),
                     loads=[parse_load(load_document(seed=5 + i, goodput_bps=50e6))
                            for i in range(3)],
                     baseline=base, settings={"password": SECRET}, generated_at="now",
                     toolkit_version="0.1.0"),
        secrets=[SECRET],
    )
    return write_report(doc, tmp_path_factory.mktemp("review"))[1]


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Any]:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    problems: list[str] = []
    requests: list[str] = []
    pg.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
          if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(report.as_uri())
    pg.wait_for_selector("body[data-ready='1']")
    pg.problems = problems  # type: ignore[attr-defined]
    pg.requests = requests  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def test_no_console_errors_and_no_network(page: Any, report: Path) -> None:
    page.click("#cases-details summary")
    page.wait_for_selector("#case-table tbody tr")
    assert page.problems == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def test_seeded_defect_is_the_first_thing_shown(page: Any) -> None:
    first = page.locator("#attention ol.attention > li").first
    assert first.get_attribute("data-id") == SEEDED
    assert "PASS" in first.inner_text() and "FAIL" in first.inner_text()
    box = first.bounding_box()
    assert box is not None and box["y"] < 600  # above the fold of a 1280x720 window
    assert page.locator("#status").inner_text() == "FAIL"


def test_charts_are_drawn(page: Any) -> None:
    for chart in ("#chart-goodput", "#chart-latency", "#chart-throughput"):
        lines = page.locator(f"{chart} polyline.series")
        assert lines.count() >= 1, chart
        points = lines.first.get_attribute("points") or ""
        assert len(points.split()) >= 2, chart
        box = page.locator(chart).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
    # the baseline series is drawn dashed next to the three runs
    assert page.locator("#chart-goodput polyline[stroke-dasharray]").count() == 1
    assert page.locator("#chart-goodput polyline").count() == 4


def test_matrix_is_rendered_and_coloured(page: Any) -> None:
    cells = page.locator("table.matrix td.cell")
    assert cells.count() == 2 * 16 * 16
    fail_cell = page.locator("table.matrix td.cell.v-FAIL")
    assert fail_cell.count() == 1
    colour = fail_cell.evaluate("e => getComputedStyle(e).backgroundColor")
    passing = page.locator("table.matrix td.cell.v-PASS").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert colour != passing and colour not in ("rgba(0, 0, 0, 0)", "transparent")
    fail_cell.click()
    detail = page.locator("#matrix-detail")
    detail.wait_for(state="visible")
    assert SEEDED in detail.inner_text()


def test_case_table_is_lazy_and_filters(page: Any) -> None:
    assert page.locator("#case-table tbody tr").count() == 0  # nothing until opened
    page.click("#cases-details summary")
    page.wait_for_selector("#case-table tbody tr")
    rows = page.locator("#case-table tbody tr")
    assert rows.first.inner_text().startswith("FAIL")
    verdicts = rows.evaluate_all("rs => rs.map(r => r.cells[0].textContent)")
    assert 10 < len(verdicts) <= 200 and "PASS" not in verdicts  # passes collapsed
    page.select_option("#case-verdict", "")
    assert rows.count() == 200  # one page of all 5,000
    page.click("#case-more")
    assert rows.count() == 400
    page.select_option("#case-verdict", "FAIL")
    assert page.locator("#case-table tbody tr.case-row").count() == 1
    page.locator("#case-table tbody tr.case-row").first.click()
    assert "API calls" in page.locator("#case-table tr.case-detail").inner_text()


def test_no_secret_on_the_page(page: Any, report: Path) -> None:
    page.click("#cases-details summary")
    page.select_option("#case-verdict", "FAIL")
    page.locator("#case-table tbody tr.case-row").first.click()
    assert SECRET not in page.content()
    assert SECRET not in page.inner_text("body")
    assert SECRET not in report.read_text("utf-8")
