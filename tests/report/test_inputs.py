"""Parsing of conformance.json / load.json: strict on schema and types, tolerant of omissions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jetstream_qa.conformance_core.verdicts import Verdict
from jetstream_qa.errors import ConfigurationError
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.model import ReportSchemaError, parse_verdict


def test_parses_fixture_conformance(conformance_doc: dict[str, Any]) -> None:
    run = parse_conformance(conformance_doc)
    assert len(run.cases) == 160
    assert run.counts()["FAIL"] == 1
    failing = next(c for c in run.cases if c.verdict is Verdict.FAIL)
    assert failing.id == "flags/f0-o4-c2-s1/newer"
    assert failing.matrix is not None and failing.matrix.pre_state == "newer"
    assert failing.calls and "createTransfer" in failing.calls[2]


def test_parses_fixture_load(load_doc: dict[str, Any]) -> None:
    run = parse_load(load_doc)
    assert run.goodput_mean_bps == pytest.approx(load_doc["goodput"]["meanBytesPerSecond"])
    assert len(run.goodput_series) == 20
    assert {lat.name for lat in run.latency} >= {"transfer mixed", "api getTransfer"}
    assert run.checks[0].passed is True


@pytest.mark.parametrize(
    ("parser", "schema"),
    [(parse_conformance, "jetstream-qa/load/1"), (parse_load, "jetstream-qa/conformance/1"),
     (parse_conformance, None), (parse_load, "jetstream-qa/load/2")],
)
def test_wrong_schema_is_a_clear_error(parser: Any, schema: str | None) -> None:
    with pytest.raises(ReportSchemaError) as info:
        parser({"schema": schema}, source="x.json")
    assert "x.json" in info.value.message and "expected" in info.value.message
    assert isinstance(info.value, ConfigurationError)


def test_not_an_object_is_a_clear_error() -> None:
    with pytest.raises(ReportSchemaError, match="expected an object"):
        parse_conformance([1, 2], source="c.json")


def test_bad_field_type_names_the_field(conformance_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(conformance_doc)
    doc["cases"][3]["durationS"] = "slow"
    with pytest.raises(ReportSchemaError, match=r"cases\[3\]\.durationS"):
        parse_conformance(doc)


def test_unknown_verdict_is_rejected(conformance_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(conformance_doc)
    doc["cases"][0]["verdict"] = "MAYBE"
    with pytest.raises(ReportSchemaError, match="unknown verdict 'MAYBE'"):
        parse_conformance(doc)


def test_verdict_spellings_are_accepted() -> None:
    assert parse_verdict("NON-STRICT", where="x") is Verdict.NON_STRICT
    assert parse_verdict("not_applicable", where="x") is Verdict.NOT_APPLICABLE


@pytest.mark.parametrize("raw", [None, 3, "", "PASSED", ["PASS"]])
def test_anything_but_a_verdict_name_is_the_reports_schema_error(raw: object) -> None:
    with pytest.raises(ReportSchemaError, match=r"cases\[0\]\.expectedVerdict: unknown"):
        parse_verdict(raw, where="cases[0].expectedVerdict")


def test_the_report_counts_the_conformance_verdicts_worst_first(
        conformance_doc: dict[str, Any]) -> None:
    """One Verdict (conformance_core.verdicts), so one severity order: the counts table lists
    every verdict from the most to the least severe, as verdicts.py ranks them."""
    run = parse_conformance(conformance_doc)
    assert list(run.counts()) == ["FAIL", "INCONCLUSIVE", "NON_STRICT", "INFO", "PASS",
                                  "NOT_APPLICABLE"]
    assert [Verdict(v).severity for v in run.counts()] == [5, 4, 3, 2, 1, 0]


def test_minimal_documents_get_defaults() -> None:
    conf = parse_conformance({"schema": "jetstream-qa/conformance/1",
                              "cases": [{"id": "a/b", "verdict": "PASS"}]})
    assert conf.cases[0].calls == () and conf.cases[0].matrix is None
    assert conf.environment == {}
    load = parse_load({"schema": "jetstream-qa/load/1"})
    assert load.goodput_mean_bps == 0.0 and load.latency == () and load.checks == ()


def test_non_finite_number_is_rejected(load_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(load_doc)
    doc["goodput"]["meanBytesPerSecond"] = float("nan")
    with pytest.raises(ReportSchemaError, match="meanBytesPerSecond"):
        parse_load(doc)


def test_reads_the_real_producers_output() -> None:
    """Contract with the producers: files written by the real plugin (``pytest conformance/
    --js-report-json``) and the real locustfile (``--js-report``), captured on 2026-11-27."""
    from report_helpers import load_fixture

    conf = parse_conformance(load_fixture("conformance_plugin.json"))
    assert len(conf.cases) == 30 and conf.environment["apiVersion"] == 40
    assert all(c.level in ("MUST", "SHOULD", "INFO") for c in conf.cases)
    assert conf.counts() == load_fixture("conformance_plugin.json")["counts"]
    load = parse_load(load_fixture("load_locust.json"))
    assert load.transfers_count == 208 and load.goodput_mean_bps > 1e6
    assert "TRANSFER mixed" in {lat.name for lat in load.latency}
    assert load.server_counters["blocksRetransmitted"] == 2783
