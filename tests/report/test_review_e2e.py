"""``jetstream-qa review`` end to end: real conformance suites (pytest subprocess), real Locust
runs (subprocess), the embedded reference pair, the impairment relay, baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from report_helpers import ROOT, run_cli

from jetstream_qa.refserver.embedded import EmbeddedPair

pytestmark = pytest.mark.skipif(
    not (ROOT / "conformance" / "conftest.py").exists()
    or not (ROOT / "load" / "locustfile.py").exists(),
    reason="needs the conformance suites and load/locustfile.py of this checkout",
)

SHORT_LOAD = ("--run-time", "6s", "--users", "2", "--spawn-rate", "2", "--scenario",
              "large-files", "--scale", "0.01")
"""Large files (2.5-10 MiB at this scale) with one seed: 63-78 MB/s on the embedded pair,
17 MB/s through a 20 ms relay; the mixed scenario's goodput swings 2x with the file mix."""
FEW_CASES = "--pytest-arg=--js-case=handshake/*"


def _doc(out: Path) -> dict[str, Any]:
    return json.loads((out / "review.json").read_text("utf-8"))


def _all_output(out: Path, *texts: str) -> str:
    return "\n".join([*texts, *(p.read_text("utf-8", "replace") for p in out.rglob("*")
                                if p.is_file())])


@pytest.mark.timeout(600)
def test_review_against_the_embedded_pair(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("--out", str(out), *SHORT_LOAD, FEW_CASES, timeout=500)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = _doc(out)
    assert [s["name"] for s in doc["steps"]] == ["conformance", "load run 1"]
    assert all(s["produced"] for s in doc["steps"])
    assert doc["conformance"]["total"] >= 5
    assert all(c["id"].startswith("handshake/") for c in doc["conformance"]["cases"])
    run = doc["load"]["runs"][0]
    assert run["goodput"]["meanBytesPerSecond"] > 0 and run["transfers"]["count"] > 0
    assert doc["environment"]["server"]["apiVersion"] == 40
    html = (out / "review.html").read_text("utf-8")
    assert "chart-goodput" in html and "<polyline" in html
    assert (out / "logs" / "conformance.log").is_file()
    assert "release review: PASS" in result.stdout


@pytest.mark.timeout(600)
def test_seeded_defect_fails_the_review_and_comes_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with EmbeddedPair(faults=["wrong-api-version"]) as pair:
        sender = f"127.0.0.1:{pair.sender.api_port}"
        receiver = f"127.0.0.1:{pair.receiver.api_port}"
        password = pair.user.password
        result = run_cli("--out", str(out), "--target", sender, "--receiver", receiver,
                         "--user", pair.user.name, "--skip-load", FEW_CASES,
                         env={"JETSTREAM_API_PASSWORD": password}, timeout=500)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = _doc(out)
    first = doc["attention"][0]
    assert first["kind"] == "fail" and first["id"].startswith("handshake/api-version/")
    assert doc["conformance"]["cases"][0]["verdict"] == "FAIL"
    items = [line for line in result.stdout.splitlines() if line.startswith("  FAIL")]
    assert first["id"] in items[0]  # also the first item of the printed summary
    assert password not in _all_output(out, result.stdout, result.stderr)


@pytest.mark.heavy
@pytest.mark.timeout(1200)
def test_baseline_acceptance_impairment_regresses_and_normal_does_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    common = ("--out", str(out), *SHORT_LOAD, "--repeat", "3")
    saved = run_cli(*common, FEW_CASES, "--save-baseline", "normal", timeout=900)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert (out / "baselines" / "normal.json").is_file()

    again = run_cli(*common, FEW_CASES, "--baseline", "normal", timeout=900)
    doc = _doc(out)
    gating = {m["name"]: m["movement"] for m in doc["comparison"]["metrics"] if m["gating"]}
    assert again.returncode == 0, again.stdout + json.dumps(doc["comparison"]["metrics"])
    assert set(gating.values()) <= {"UNCHANGED", "IMPROVEMENT"}, gating
    assert doc["comparison"]["verdictChanges"] == []

    impaired = run_cli(*common, "--skip-conformance", "--baseline", "normal",
                       "--delay-ms", "20", timeout=900)
    doc = _doc(out)
    assert impaired.returncode == 1, impaired.stdout
    regressions = [i["id"] for i in doc["attention"] if i["kind"] == "regression"]
    assert "goodput.steady" in regressions
    assert doc["environment"]["review"]["impairment"] == {"loss": 0.0, "delayMs": 20.0}
    assert "Goodput (steady state)" in impaired.stdout


@pytest.mark.timeout(600)
def test_seeded_matrix_defect_tops_the_report_and_colours_the_matrix(tmp_path: Path) -> None:
    """Fault ``ignore-flag-write``: the receiver writes files although WRITE is not set."""
    out = tmp_path / "out"
    with EmbeddedPair(faults=["ignore-flag-write"]) as pair:
        s, r = pair.sender, pair.receiver
        result = run_cli(
            "--out", str(out), "--target", f"127.0.0.1:{s.api_port}",
            "--receiver", f"127.0.0.1:{r.api_port}", "--user", pair.user.name, "--skip-load",
            f"--pytest-arg=--js-sender-root={s.storage_root}",
            f"--pytest-arg=--js-receiver-root={r.storage_root}",
            f"--pytest-arg=--js-receiver-data=127.0.0.1:{r.recv_port}",
            "--pytest-arg=--js-case=flags/matrix/read-*",
            env={"JETSTREAM_API_PASSWORD": pair.user.password,
                 "JETSTREAM_API_PASSWORD2": pair.other_user.password}, timeout=500)
        secrets = (pair.user.password, pair.other_user.password)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = _doc(out)
    first = doc["attention"][0]
    assert first["kind"] == "fail" and first["id"].startswith("flags/matrix/read-")
    assert first["case"]["matrix"][0] == 1  # flags = READ only: nothing may be written
    html = (out / "review.html").read_text("utf-8")
    assert html.count('class="cell v-FAIL"') >= 1
    assert html.index(first["id"]) < html.index('id="matrix"')
    text = _all_output(out, result.stdout, result.stderr)
    assert all(secret not in text for secret in secrets)


@pytest.mark.timeout(600)
def test_review_through_the_vendor_standin(tmp_path: Path) -> None:
    """Both steps through the strict vendor stand-in and its binding file (issue 11): the
    quick matrix and a short load run, nothing fails, transfers complete and reconcile."""
    out = tmp_path / "out"
    env = {"PYTHONPATH": str(ROOT / "tests" / "vendor_standin")}
    result = run_cli("--out", str(out), *SHORT_LOAD, "--pytest-arg=--js-case=flags/*",
                     "--client", "vendor", "--binding",
                     str(ROOT / "fixtures" / "bindings" / "standin.toml"), env=env,
                     timeout=500)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = _doc(out)
    cases = doc["conformance"]["cases"]
    assert len(cases) >= 448 and {c["verdict"] for c in cases} <= {"PASS", "INFO"}
    run = doc["load"]["runs"][0]
    assert run["transfers"]["count"] > 0 and run["transfers"]["failures"] == 0
    assert "release review: PASS" in result.stdout
