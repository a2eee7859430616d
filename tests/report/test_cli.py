"""``jetstream-qa review`` through the real entry point, from fixture reports (no servers)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from report_helpers import DATA, run_cli, write_json

from jetstream_qa.report.samples import conformance_document, load_document


def test_failing_fixture_exits_one_and_summarises_last(tmp_path: Path) -> None:
    result = run_cli("--conformance-json", str(DATA / "conformance_small.json"),
                     "--load-json", str(DATA / "load_small.json"), "--out", str(tmp_path))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "release review: FAIL" in lines[0]
    assert any("flags/f0-o4-c2-s1/newer" in line for line in lines)
    assert lines[-1].startswith("report: ")
    assert len(lines) <= 24  # one screen
    doc = json.loads((tmp_path / "review.json").read_text())
    assert doc["attention"][0]["id"] == "flags/f0-o4-c2-s1/newer"
    assert (tmp_path / "review.html").stat().st_size > 10_000


def test_passing_run_exits_zero(tmp_path: Path) -> None:
    conf = write_json(tmp_path / "c.json", conformance_document(120, seed=9))
    load = write_json(tmp_path / "l.json", load_document(seed=9))
    result = run_cli("--conformance-json", str(conf), "--load-json", str(load),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release review: PASS" in result.stdout


def test_wrong_schema_is_a_configuration_error(tmp_path: Path) -> None:
    bad = write_json(tmp_path / "c.json", {"schema": "jetstream-qa/conformance/9", "cases": []})
    result = run_cli("--conformance-json", str(bad), "--skip-load", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "schema is 'jetstream-qa/conformance/9'" in result.stderr
    assert not (tmp_path / "review.html").exists()


def test_baseline_round_trip_flags_a_goodput_drop(tmp_path: Path) -> None:
    conf = write_json(tmp_path / "c.json", conformance_document(120, seed=9))
    normal = [write_json(tmp_path / f"n{i}.json", load_document(seed=i)) for i in range(3)]
    again = [write_json(tmp_path / f"a{i}.json", load_document(seed=10 + i)) for i in range(3)]
    slow = [write_json(tmp_path / f"s{i}.json", load_document(seed=20 + i, goodput_bps=56e6))
            for i in range(3)]

    def review(loads: list[Path], *extra: str) -> Any:
        args = ["--conformance-json", str(conf), "--out", str(tmp_path / "out"), *extra]
        for path in loads:
            args += ["--load-json", str(path)]
        return run_cli(*args)

    saved = review(normal, "--save-baseline", "rel-1")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert (tmp_path / "out" / "baselines" / "rel-1.json").is_file()
    same = review(again, "--baseline", "rel-1")
    assert same.returncode == 0, same.stdout
    assert "0 metric(s) moved" in same.stdout and "0 verdict change(s)" in same.stdout
    dropped = review(slow, "--baseline", "rel-1")
    assert dropped.returncode == 1
    assert re.search(r"regression  Goodput \(steady state\) \(goodput.steady\) -[23]\d\.\d %",
                     dropped.stdout)


def test_unknown_baseline_is_a_configuration_error(tmp_path: Path) -> None:
    result = run_cli("--conformance-json", str(DATA / "conformance_small.json"), "--skip-load",
                     "--out", str(tmp_path), "--baseline", "nope")
    assert result.returncode == 2 and "no baseline 'nope'" in result.stderr


def test_password_from_environment_never_reaches_outputs(tmp_path: Path) -> None:
    secret = "Pw-For-Review-42"
    conf = conformance_document(60, seed=3, fail=["flags/f0-o2-c0-s1/absent"])
    conf["cases"][0]["actual"] = f"connect as qa/{secret} refused"
    conf["environment"]["tokenPassword"] = "another-secret-77"
    path = write_json(tmp_path / "c.json", conf)
    result = run_cli("--conformance-json", str(path), "--load-json", str(DATA / "load_small.json"),
                     "--out", str(tmp_path / "out"), "--save-baseline", "b",
                     env={"JETSTREAM_API_PASSWORD": secret})
    assert result.returncode == 1
    outputs = [result.stdout, result.stderr] + [
        p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()
    ]
    assert all(secret not in text and "another-secret-77" not in text for text in outputs)


def test_impairment_needs_the_embedded_pair(tmp_path: Path) -> None:
    result = run_cli("--target", "127.0.0.1:8886", "--loss", "0.1", "--out", str(tmp_path))
    assert result.returncode == 2 and "impairment" in result.stderr


def test_steps_that_produce_no_report_fail_the_review_but_still_report(tmp_path: Path) -> None:
    project = tmp_path / "checkout"
    (project / "conformance").mkdir(parents=True)
    (project / "load").mkdir()
    (project / "conformance" / "conftest.py").write_text("raise ImportError('broken suite')\n")
    (project / "load" / "locustfile.py").write_text("raise SystemExit(3)\n")
    out = tmp_path / "out"
    result = run_cli("--project-dir", str(project), "--out", str(out), "--run-time", "2s",
                     "--repeat", "2", timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads((out / "review.json").read_text())
    steps = [i for i in doc["attention"] if i["kind"] == "step"]
    assert [s["id"] for s in steps] == ["conformance", "load run 1", "load run 2"]
    assert "was not written" in steps[0]["detail"]
    assert "broken suite" in (out / "logs" / "conformance.log").read_text()
    html = (out / "review.html").read_text()
    assert "The conformance step produced no report." in html
    assert "No load run produced a report." in html
    assert "3 step(s) did not produce a report" in result.stdout


def test_missing_checkout_is_a_configuration_error(tmp_path: Path) -> None:
    result = run_cli("--project-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "run from the jetstream-qa checkout" in result.stderr
