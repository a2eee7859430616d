"""Baseline store and verdict/metric comparison (pure apart from the temp directory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.report.baseline import (
    Baseline,
    BaselineStore,
    compare_metrics,
    compare_verdicts,
    extract_metrics,
)
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.model import ReportSchemaError
from jetstream_qa.report.samples import load_document
from jetstream_qa.report.stats import MetricComparison, Movement


def _loads(goodput: float, n: int, seed: int) -> list[Any]:
    return [parse_load(load_document(seed=seed + i, goodput_bps=goodput)) for i in range(n)]


def _compare_goodput(base: float, current: float) -> dict[str, MetricComparison]:
    """Metrics of a baseline of three load runs at ``base`` B/s against three other runs
    (another seed) at ``current`` B/s."""
    before = Baseline.from_run("b", conformance=None, loads=_loads(base, 3, 10), saved_at="",
                               environment={})
    after = Baseline.from_run("c", conformance=None, loads=_loads(current, 3, 20), saved_at="",
                              environment={})
    return compare_metrics(before.samples, after.samples)


def test_extract_metrics(load_doc: dict[str, Any]) -> None:
    metrics = extract_metrics(parse_load(load_doc))
    assert metrics["goodput.mean"] == pytest.approx(load_doc["goodput"]["meanBytesPerSecond"])
    assert metrics["transfer.failureRatio"] == 0.0
    assert "latency.p95:api getTransfer" in metrics
    assert metrics["server.retransmitRatio"] == pytest.approx(0.001)


def test_store_round_trip(tmp_path: Path, conformance_doc: dict[str, Any]) -> None:
    store = BaselineStore(tmp_path / "b")
    base = Baseline.from_run("rel-2.9.1", conformance=parse_conformance(conformance_doc),
                             loads=_loads(80e6, 3, 1), saved_at="2026-11-27T08:00:00Z",
                             environment={"server": {"serverVersion": "2.9.1"}})
    path = store.save(base)
    assert path == tmp_path / "b" / "rel-2.9.1.json"
    again = store.load("rel-2.9.1")
    assert again.samples["goodput.mean"] == base.samples["goodput.mean"]
    assert len(again.samples["goodput.mean"]) == 3
    assert again.verdicts["flags/f0-o4-c2-s1/newer"] == "FAIL"
    assert again.goodput_series and again.environment["server"]["serverVersion"] == "2.9.1"


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65])
def test_bad_baseline_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid baseline name"):
        BaselineStore(tmp_path).path(name)


def test_unknown_baseline_lists_known_ones(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.save(Baseline("known", samples={}, verdicts={}))
    with pytest.raises(ConfigurationError, match=r"no baseline 'other'.*known: known"):
        store.load("other")


def test_wrong_schema_baseline_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "jetstream-qa/load/1"}))
    with pytest.raises(ReportSchemaError, match="expected 'jetstream-qa/baseline/1'"):
        BaselineStore(tmp_path).load("bad")


def test_verdict_changes_worst_first() -> None:
    before = {"a/1": "PASS", "b/2": "PASS", "c/3": "FAIL", "d/4": "INFO", "e/5": "PASS"}
    after = {"a/1": "INFO", "b/2": "FAIL", "c/3": "PASS", "d/4": "INFO", "f/6": "FAIL",
             "g/7": "PASS"}
    changes = compare_verdicts(before, after)
    assert [(c.case_id, c.before, c.after) for c in changes] == [
        ("b/2", "PASS", "FAIL"),  # worsened to the most severe verdict: first
        ("a/1", "PASS", "INFO"),  # worsened
        ("c/3", "FAIL", "PASS"),  # improved
        ("f/6", None, "FAIL"),  # new and not passing
        ("e/5", "PASS", None),  # gone
    ]


def test_same_distribution_runs_report_no_regression() -> None:
    result = _compare_goodput(80e6, 80e6)
    assert [n for n, c in result.items() if c.movement is not Movement.UNCHANGED] == []


def test_thirty_percent_goodput_drop_detected() -> None:
    result = _compare_goodput(80e6, 56e6)
    assert result["goodput.mean"].movement is Movement.REGRESSION
    assert result["transfer.throughput.p50"].movement is Movement.REGRESSION
