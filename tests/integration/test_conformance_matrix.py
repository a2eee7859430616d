"""The flag-matrix suite through its real entry point (``pytest conformance/...`` in a
subprocess): case counts per profile, and a run whose JSON report carries every case's
matrix coordinates. The full profile (3,584 cases, ~770 transfers) is heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jetstream_qa.conformance_core.matrix import planning as matrix

ROOT = Path(__file__).resolve().parents[2]
SUITE = "conformance/test_flags_matrix.py"


def _pytest(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           SUITE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize(("profile", "count"), [("quick", 448), ("full", 3584)])
def test_listing_counts_the_profile(profile, count):
    done = _pytest("--js-list-cases", f"--js-profile={profile}", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ids = [line.split()[0] for line in done.stdout.splitlines()
           if line.startswith("flags/matrix/")]
    assert len(ids) == len(set(ids)) == count == len(matrix.plan(profile))


def _run_and_check(tmp_path: Path, profile: str, timeout: float) -> dict:
    report = tmp_path / "matrix.json"
    done = _pytest(f"--js-profile={profile}", f"--js-report-json={report}", timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert {c["verdict"] for c in data["cases"]} <= {"PASS", "INFO"}
    cases = [c for c in data["cases"] if c.get("matrix")]
    assert len(cases) == len(matrix.plan(profile))
    others = {c["id"] for c in data["cases"] if not c.get("matrix")}
    assert others == {"flags/symlink/dangling-link-ignored-under-ignore",
                      "flags/symlink/dangling-link-under-follow-recorded"}
    coords = {tuple(c["matrix"][k] for k in ("flags", "overwrite", "cipher", "symlink",
                                            "preState")) for c in cases}
    want = {(c.flags, c.overwrite, c.cipher, c.symlink, c.pre_state)
            for c in matrix.plan(profile)}
    assert coords == want
    return data


def test_quick_profile_passes_with_coordinates(tmp_path):
    data = _run_and_check(tmp_path, "quick", timeout=600)
    assert data["environment"]["profile"] == "quick"


@pytest.mark.heavy
@pytest.mark.timeout(1800)
def test_full_profile_passes_every_combination(tmp_path):
    data = _run_and_check(tmp_path, "full", timeout=1700)
    assert data["counts"]["PASS"] + data["counts"]["INFO"] == 3584 + 2
