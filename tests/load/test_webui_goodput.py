"""Locust's web UI shows live goodput: the "JetStream goodput" tab and the chart page, read
in headless Chromium during a master + 2 workers run (the values must move while transfers
run), with a screenshot kept beside the test's files."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from load_helpers import free_port, kill_group, locust_cmd, locust_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"{CHROMIUM} is absent (apt-get install chromium)")

SHOTS = Path(os.environ.get("JSQA_SCREENSHOTS", "reports"))
"""Where the screenshots go (``reports/`` is gitignored; CI keeps it as an artifact)."""
_TOTAL_CELL = """() => {
  const row = [...document.querySelectorAll('tr')]
    .find(r => r.cells.length > 1 && r.cells[0].textContent.trim() === 'Total');
  return row ? row.cells[1].textContent.trim() : null;
}"""


def _spawn(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(locust_cmd(*args), cwd=cwd, env=locust_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


@pytest.fixture
def web_run(tmp_path: Path) -> Iterator[str]:
    """A master with its web UI (autostarted, 2 workers, memory-to-memory transfers)."""
    master_port, web_port = str(free_port()), free_port()
    users = ["MemoryUser", "--js-scale", "0.02"]
    master = _spawn(["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                     master_port, "--web-host", "127.0.0.1", "--web-port", str(web_port),
                     "--autostart", "--expect-workers", "2", "--expect-workers-max-wait", "60",
                     "-u", "4", "-r", "4", "-t", "120s", "--js-report", "load.json", *users],
                    tmp_path, tmp_path / "master.log")
    workers = [_spawn(["--worker", "--master-host", "127.0.0.1", "--master-port", master_port,
                       *users], tmp_path, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        yield f"http://127.0.0.1:{web_port}"
    finally:
        for proc in [master, *workers]:
            kill_group(proc)


def _wait_ui(base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/jetstream/goodput.json", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling a port that is not open yet (bounded by the deadline)


def test_goodput_tab_and_chart_move_during_a_two_worker_run(web_run: str,
                                                            tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    _wait_ui(web_run)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     timeout=60_000)
        try:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page: Any = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{web_run}/?tab=jetstream-goodput")
            handle = page.wait_for_function(
                f"(() => {{ const v = ({_TOTAL_CELL})(); return v && v !== '0 B/s' && v; }})")
            first = handle.json_value()
            moved = page.wait_for_function(
                f"(first) => {{ const v = ({_TOTAL_CELL})(); return v && v !== first && v; }}",
                arg=first, polling=500)
            assert moved.json_value() != first
            assert page.get_by_text("JetStream goodput").count() >= 1
            page.screenshot(path=str(SHOTS / "locust-goodput-tab.png"), full_page=True)

            chart = browser.new_page()
            chart.set_default_timeout(60_000)
            chart.goto(f"{web_run}/jetstream/goodput")
            bps = chart.wait_for_function(
                "() => { const v = Number(document.getElementById('total').dataset.bps);"
                " return v > 0 && v; }").json_value()
            chart.wait_for_function(
                "(first) => Number(document.getElementById('total').dataset.bps) !== first",
                arg=bps, polling=500)
            assert int(chart.get_attribute("#chart", "data-points") or 0) >= 2
            assert chart.locator("#chart polyline").count() >= 2  # total + one scenario
            chart.screenshot(path=str(SHOTS / "locust-goodput-chart.png"))
        finally:
            browser.close()
