"""The conformance HTML report (pytest-html + our summary) in a real headless Chromium.

Requirement (issue "pytest plugin and the conformance suites"): the self-contained report
shows the environment table and the conformance matrix, and no password anywhere. The run
goes through the real entry point (``python -m pytest conformance/ --html ...``) against a
server pair started by hand, with the password only in the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.refserver.embedded import EmbeddedPair

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
    pytest.mark.xdist_group("report-browser"),
    pytest.mark.timeout(400),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    out = tmp_path_factory.mktemp("conformance-html")
    with EmbeddedPair() as pair:
        password = pair.user.password
        env = {**os.environ, "JETSTREAM_API_PASSWORD": password}
        env.pop("PYTEST_XDIST_WORKER", None)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "conformance/", "-p", "no:cacheprovider",
             "-p", "no:locust", "-q",
             "--js-sender", f"127.0.0.1:{pair.sender.api_port}",
             "--js-receiver", f"127.0.0.1:{pair.receiver.api_port}",
             "--js-user", pair.user.name,
             "--js-sender-root", str(pair.sender.storage_root),
             "--js-receiver-root", str(pair.receiver.storage_root),
             "--js-case", "handshake/*", "--js-case", "flags/matrix/read_write-*",
             "--js-report-json", str(out / "conformance.json"),
             "--html", str(out / "report.html")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=360)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield out / "report.html", password


@pytest.fixture(scope="module")
def page(report: tuple[Path, str]) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     timeout=60_000)
        try:
            pg = browser.new_page()
            pg.goto(report[0].as_uri(), wait_until="load", timeout=60_000)
            yield pg
        finally:
            browser.close()


def test_environment_table_names_the_server_under_test(page: Any) -> None:
    env = page.locator("table.jsqa-env").first
    assert env.is_visible()
    text = env.inner_text()
    assert "apiVersion" in text or "API version" in text, text
    assert "40" in text
    assert "bundled" in text  # the client kind


def test_conformance_matrix_is_rendered_with_verdict_colours(page: Any) -> None:
    matrix = page.locator("table.jsqa-matrix").first
    assert matrix.is_visible()
    chips = page.locator("table.jsqa-matrix [class*='jsqa-chip-PASS']")
    assert chips.count() > 0
    assert page.locator("table.jsqa-matrix [class*='jsqa-chip-FAIL']").count() == 0


def test_no_password_on_the_page_or_in_the_file(page: Any, report: tuple[Path, str]) -> None:
    path, password = report
    assert password not in page.content()
    assert password not in path.read_text(encoding="utf-8")
