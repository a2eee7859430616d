"""The whole quick profile (``pytest conformance``) runs through the strict vendor stand-in
against the clean embedded pair (issue 11 acceptance). With its binding file: 0 FAIL,
0 INCONCLUSIVE, and the 448 flag-matrix cases run (none NOT_APPLICABLE). Without it: 0 FAIL,
and each NOT_APPLICABLE names the binding-file key it lacks, unless the case is
NOT_APPLICABLE with the binding file too, for the same reason (reference-protocol cases, a
client capability the vendor surface does not have): those are not about the binding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "vendor_standin"
BINDING = ROOT / "fixtures" / "bindings" / "standin.toml"
MATRIX_QUICK = 448
"""Cases of the quick flag-matrix plan (pairwise covering array, planning.quick_plan)."""


def _run(tmp_path: Path, *extra: str) -> list[dict]:
    report = tmp_path / "conformance.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JETSTREAM_", "PYTEST_"))}
    env["PYTHONPATH"] = str(STANDIN)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "--js-client", "vendor",
         "--js-profile", "quick", "--js-report-json", str(report), "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", *extra], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]
    return json.loads(report.read_text())["cases"]


@pytest.fixture(scope="module")
def with_file(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return _run(tmp_path_factory.mktemp("with"), "--js-binding", str(BINDING))


@pytest.mark.timeout(900)
def test_with_the_binding_file_nothing_fails_and_the_matrix_runs(with_file: list[dict]
                                                                 ) -> None:
    counts = Counter(c["verdict"] for c in with_file)
    assert set(counts) <= {"PASS", "INFO", "NOT_APPLICABLE"}, counts
    matrix = [c for c in with_file if c["id"].startswith("flags/matrix/")]
    assert len(matrix) >= MATRIX_QUICK, len(matrix)
    assert all(c["verdict"] in ("PASS", "INFO") for c in matrix), \
        Counter(c["verdict"] for c in matrix)
    na = [c for c in with_file if c["verdict"] == "NOT_APPLICABLE"]
    assert not [c for c in na if "in the binding file" in c.get("actual", "")], na
    assert counts["PASS"] >= 500, counts


@pytest.mark.timeout(900)
def test_without_it_nothing_fails_and_each_na_names_its_key(tmp_path: Path,
                                                            with_file: list[dict]) -> None:
    cases = _run(tmp_path)
    counts = Counter(c["verdict"] for c in cases)
    assert set(counts) <= {"PASS", "INFO", "NOT_APPLICABLE"}, counts
    inherent = {c["id"]: c["actual"] for c in with_file if c["verdict"] == "NOT_APPLICABLE"}
    na = [c for c in cases if c["verdict"] == "NOT_APPLICABLE"]
    unnamed = [(c["id"], c.get("actual")) for c in na
               if "in the binding file" not in c.get("actual", "")
               and inherent.get(c["id"]) != c.get("actual")]
    assert na and not unnamed, unnamed
    assert counts["PASS"] >= 20, counts  # documented calls still judged (manifests, auth)
