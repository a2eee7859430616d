"""Benchmark: time until a 5,000-case review report is interactive in headless Chromium, next
to pytest-html's own self-contained report of 5,000 trivial parametrised tests, built in the
same invocation and measured the same way.

Usage::

    .venv/bin/python bench/bench_report.py [--cases 5000] [--repeat 5] [--keep DIR]

"Interactive" is the moment the page's own script has finished its start-up work:
- review.html: ``<body data-ready="1">`` (set by the page script as its last statement);
- pytest-html: the results table has its rows (pytest-html renders them from its embedded
  JSON on load).
Each measurement is a fresh browser context: wall time from ``page.goto`` to the predicate,
and the navigation-relative ``performance.now()`` at that moment. The median of ``--repeat``
loads is reported with the ratio review / pytest-html (below 1 = the review opens faster).
Target: review.html with 5,000 cases interactive within 2 s. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jetstream_qa.report.baseline import Baseline
from jetstream_qa.report.document import ReviewInputs, build_document
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.render import write_report
from jetstream_qa.report.samples import conformance_document, load_document

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGET_S = 2.0


def build_review(cases: int, out: Path) -> tuple[Path, float]:
    """Write a review report of ``cases`` cases (one seeded FAIL, three load runs, a
    baseline); returns its path and the build time in seconds."""
    start = time.perf_counter()
    base_conf = parse_conformance(conformance_document(cases, seed=21))
    base = Baseline.from_run("previous", conformance=base_conf,
                             loads=[parse_load(load_document(seed=i)) for i in range(3)],
                             saved_at="2026-11-20T08:00:00Z", environment={})
    conf = parse_conformance(conformance_document(cases, seed=21,
                                                  fail=["flags/f7-o4-c2-s1/newer"]))
    loads = [parse_load(load_document(seed=10 + i, goodput_bps=70e6)) for i in range(3)]
    doc = build_document(ReviewInputs(conformance=conf, loads=loads, baseline=base,
                                      generated_at="bench", toolkit_version="bench"))
    _, html = write_report(doc, out)
    return html, time.perf_counter() - start


def build_pytest_html(cases: int, out: Path) -> tuple[Path, float]:
    """Run pytest-html over ``cases`` trivial parametrised tests; returns the report path and
    the wall time of that pytest run (test execution included)."""
    test_file = out / "test_trivial.py"
    test_file.write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({cases}))\n"
        "def test_trivial(i):\n    assert i >= 0\n",
        "utf-8",
    )
    html = out / "pytest-html.html"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), f"--html={html}",
         "--self-contained-html", "-q", "-p", "no:cacheprovider", "-p", "no:jetstream_qa",
         "-p", "no:xdist", "-o", "addopts=", "--rootdir", str(out)],
        check=True, capture_output=True, timeout=900, cwd=out,
    )
    return html, time.perf_counter() - start


REVIEW_READY = "() => document.body.getAttribute('data-ready') === '1' ? performance.now() : 0"
PYTEST_HTML_READY = (
    "() => document.querySelectorAll('#results-table tbody.results-table-row, "
    "#results-table tbody tr').length > 0 ? performance.now() : 0"
)


def time_to_interactive(browser: Any, path: Path, predicate: str, repeat: int
                        ) -> tuple[float, float]:
    """Median (wall seconds from goto, navigation-relative seconds) over ``repeat`` loads."""
    walls, navs = [], []
    for _ in range(repeat):
        ctx = browser.new_context()
        page = ctx.new_page()
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="commit", timeout=120_000)
        handle = page.wait_for_function(predicate, timeout=120_000, polling=10)
        walls.append(time.perf_counter() - start)
        navs.append(float(handle.json_value()) / 1000.0)
        ctx.close()
    return statistics.median(walls), statistics.median(navs)


def main() -> int:
    """Build both reports, time them in Chromium, print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the reports here and keep them")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is absent: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        review, review_build = build_review(args.cases, out / "review")
        pyhtml, pyhtml_build = build_pytest_html(args.cases, out)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                r_wall, r_nav = time_to_interactive(browser, review, REVIEW_READY, args.repeat)
                p_wall, p_nav = time_to_interactive(browser, pyhtml, PYTEST_HTML_READY,
                                                    args.repeat)
            finally:
                browser.close()
        rows = [
            ("review.html", review.stat().st_size, review_build, r_wall, r_nav),
            ("pytest-html", pyhtml.stat().st_size, pyhtml_build, p_wall, p_nav),
        ]
        print(f"{args.cases} cases, median of {args.repeat} loads in headless Chromium")
        print(f"{'report':<13}{'size':>12}{'build s':>10}{'TTI wall s':>12}{'TTI nav s':>11}")
        for name, size, build, wall, nav in rows:
            print(f"{name:<13}{size:>12,}{build:>10.2f}{wall:>12.3f}{nav:>11.3f}")
        print(f"ratio review/pytest-html: wall {r_wall / p_wall:.2f}, nav {r_nav / p_nav:.2f}; "
              f"target review <= {TARGET_S:.1f} s: {'met' if r_wall <= TARGET_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
