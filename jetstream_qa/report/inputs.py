"""Parsing of the documents the review report reads into :mod:`jetstream_qa.report.model`.

Theory of operation: the conformance plugin writes ``reports/conformance.json`` (schema
``jetstream-qa/conformance/1``) and the Locust adapter writes ``reports/load.json`` (schema
``jetstream-qa/load/1``); the shapes are restated in ``docs/review.md``.
:func:`parse_conformance` and :func:`parse_load` are strict about what identifies a document
(``schema``) and about the types of the fields the report computes with (the error names the
field), and tolerant of missing optional fields (each gets a neutral default), so an older or
partial producer still yields a report. Unknown extra fields are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jetstream_qa.report.model import (
    CONFORMANCE_SCHEMA,
    LOAD_SCHEMA,
    CaseResult,
    Check,
    ConformanceRun,
    ErrorRow,
    LatencyStats,
    LoadRun,
    MatrixPoint,
    ReportSchemaError,
    SeriesPoint,
    parse_verdict,
)

__all__ = ["parse_conformance", "parse_load"]




def _obj(raw: object, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ReportSchemaError(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


def _list(raw: object, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ReportSchemaError(f"{where}: expected an array, got {type(raw).__name__}")
    return raw


def _num(raw: object, where: str, default: float = 0.0) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ReportSchemaError(f"{where}: expected a finite number, got {raw!r}")
    return float(raw)


def _str(raw: object, where: str) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float | bool):
        return str(raw)
    raise ReportSchemaError(f"{where}: expected a string, got {type(raw).__name__}")


def _check_schema(doc: object, expected: str, source: str) -> Mapping[str, Any]:
    data = _obj(doc, source)
    schema = data.get("schema")
    if schema != expected:
        raise ReportSchemaError(
            f"{source}: schema is {schema!r}, expected {expected!r}",
            details={"source": source, "schema": schema, "expected": expected},
        )
    return data


def _matrix(raw: object, where: str) -> MatrixPoint | None:
    if raw is None:
        return None
    m = _obj(raw, where)
    try:
        return MatrixPoint(
            flags=int(_num(m.get("flags"), f"{where}.flags")),
            overwrite=int(_num(m.get("overwrite"), f"{where}.overwrite")),
            cipher=int(_num(m.get("cipher"), f"{where}.cipher")),
            symlink=int(_num(m.get("symlink"), f"{where}.symlink")),
            pre_state=_str(m.get("preState"), f"{where}.preState"),
        )
    except ReportSchemaError as exc:
        raise ReportSchemaError(f"{where}: {exc.message}") from None


def _case(raw: object, index: int, source: str) -> CaseResult:
    where = f"{source}: cases[{index}]"
    c = _obj(raw, where)
    expected_verdict = c.get("expectedVerdict")
    return CaseResult(
        id=_str(c.get("id"), f"{where}.id") or f"<case {index}>",
        verdict=parse_verdict(c.get("verdict"), where=f"{where}.verdict"),
        area=_str(c.get("area"), f"{where}.area"),
        requirement=_str(c.get("requirement"), f"{where}.requirement"),
        source=_str(c.get("source"), f"{where}.source"),
        duration_s=_num(c.get("durationS"), f"{where}.durationS"),
        expected=_str(c.get("expected"), f"{where}.expected"),
        actual=_str(c.get("actual"), f"{where}.actual"),
        calls=tuple(_str(x, f"{where}.calls") for x in _list(c.get("calls"), f"{where}.calls")),
        matrix=_matrix(c.get("matrix"), f"{where}.matrix"),
        expected_verdict=(
            None
            if expected_verdict is None
            else parse_verdict(expected_verdict, where=f"{where}.expectedVerdict")
        ),
        unexpected=bool(c.get("unexpected", False)),
        level=_str(c.get("level"), f"{where}.level"),
        observations=tuple(
            _str(x, f"{where}.observations")
            for x in _list(c.get("observations"), f"{where}.observations")
        ),
        expectation_reason=_str(c.get("expectationReason"), f"{where}.expectationReason"),
    )


def parse_conformance(doc: object, *, source: str = "conformance.json") -> ConformanceRun:
    """Build a :class:`ConformanceRun` from a decoded ``conformance.json``.

    Args:
        doc: the decoded JSON document.
        source: name used in error messages (usually the file path).

    Raises:
        ReportSchemaError: ``schema`` is not ``jetstream-qa/conformance/1``, or a field the
            report computes with has the wrong type; the message names the field.
    """
    data = _check_schema(doc, CONFORMANCE_SCHEMA, source)
    cases = tuple(
        _case(raw, i, source) for i, raw in enumerate(_list(data.get("cases"), f"{source}: cases"))
    )
    return ConformanceRun(
        cases=cases,
        environment=dict(_obj(data.get("environment"), f"{source}: environment")),
        generated_at=_str(data.get("generatedAt"), f"{source}: generatedAt"),
        exit_status=int(_num(data.get("exitStatus"), f"{source}: exitStatus")),
    )


def _series(raw: object, where: str, *, skip: tuple[str, ...] = ("t",)) -> tuple[SeriesPoint, ...]:
    points = []
    for i, item in enumerate(_list(raw, where)):
        p = _obj(item, f"{where}[{i}]")
        values = {
            k: _num(v, f"{where}[{i}].{k}")
            for k, v in p.items()
            if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)
        }
        points.append(SeriesPoint(t=_num(p.get("t"), f"{where}[{i}].t"), values=values))
    return tuple(sorted(points, key=lambda s: s.t))


def _goodput_series(raw: object, where: str) -> tuple[SeriesPoint, ...]:
    points = []
    for i, item in enumerate(_list(raw, where)):
        p = _obj(item, f"{where}[{i}]")
        values = {"bytesPerSecond": _num(p.get("bytesPerSecond"), f"{where}[{i}].bytesPerSecond")}
        for name, v in _obj(p.get("byScenario"), f"{where}[{i}].byScenario").items():
            values[f"scenario:{name}"] = _num(v, f"{where}[{i}].byScenario.{name}")
        points.append(SeriesPoint(t=_num(p.get("t"), f"{where}[{i}].t"), values=values))
    return tuple(sorted(points, key=lambda s: s.t))


_PCTS = ("min", "p50", "p90", "p95", "p99", "max")


def _latency(raw: object, where: str) -> tuple[LatencyStats, ...]:
    out = []
    for name, item in sorted(_obj(raw, where).items()):
        w = f"{where}[{name!r}]"
        s = _obj(item, w)
        out.append(
            LatencyStats(
                name=str(name),
                count=int(_num(s.get("count"), f"{w}.count")),
                failures=int(_num(s.get("failures"), f"{w}.failures")),
                percentiles={p: _num(s[p], f"{w}.{p}") for p in _PCTS if s.get(p) is not None},
                series=_series(s.get("series"), f"{w}.series"),
            )
        )
    return tuple(out)


def _checks(raw: object, where: str) -> tuple[Check, ...]:
    out = []
    for i, item in enumerate(_list(raw, where)):
        c = _obj(item, f"{where}[{i}]")
        observed, threshold = c.get("observed"), c.get("threshold")
        out.append(
            Check(
                expr=_str(c.get("expr"), f"{where}[{i}].expr"),
                passed=bool(c.get("passed", False)),
                observed=None if observed is None else _num(observed, f"{where}[{i}].observed"),
                threshold=None
                if threshold is None
                else _num(threshold, f"{where}[{i}].threshold"),
                detail=_str(c.get("detail"), f"{where}[{i}].detail"),
            )
        )
    return tuple(out)


def parse_load(doc: object, *, source: str = "load.json") -> LoadRun:
    """Build a :class:`LoadRun` from a decoded ``load.json``.

    Raises:
        ReportSchemaError: ``schema`` is not ``jetstream-qa/load/1`` or a numeric field is not
            a finite number; the message names the field.
    """
    data = _check_schema(doc, LOAD_SCHEMA, source)
    goodput = _obj(data.get("goodput"), f"{source}: goodput")
    transfers = _obj(data.get("transfers"), f"{source}: transfers")
    tput = _obj(transfers.get("throughputBytesPerSecond"), f"{source}: transfers.throughput")
    counters = _obj(data.get("serverCounters"), f"{source}: serverCounters")
    return LoadRun(
        goodput_series=_goodput_series(goodput.get("series"), f"{source}: goodput.series"),
        goodput_total_bytes=_num(goodput.get("totalBytes"), f"{source}: goodput.totalBytes"),
        goodput_elapsed_s=_num(goodput.get("elapsedS"), f"{source}: goodput.elapsedS"),
        goodput_mean_bps=_num(
            goodput.get("meanBytesPerSecond"), f"{source}: goodput.meanBytesPerSecond"
        ),
        transfers_count=int(_num(transfers.get("count"), f"{source}: transfers.count")),
        transfers_failures=int(_num(transfers.get("failures"), f"{source}: transfers.failures")),
        throughput={p: _num(tput[p], f"{source}: throughput.{p}") for p in _PCTS if p in tput},
        latency=_latency(data.get("latency"), f"{source}: latency"),
        errors=tuple(
            ErrorRow(
                name=_str(e.get("name"), f"{source}: errors.name"),
                error=_str(e.get("error"), f"{source}: errors.error"),
                occurrences=int(_num(e.get("occurrences"), f"{source}: errors.occurrences")),
            )
            for e in (
                _obj(x, f"{source}: errors[{i}]")
                for i, x in enumerate(_list(data.get("errors"), f"{source}: errors"))
            )
        ),
        server_counters={
            str(k): _num(v, f"{source}: serverCounters.{k}")
            for k, v in counters.items()
            if not isinstance(v, Mapping | list | str)
        },
        checks=_checks(data.get("checks"), f"{source}: checks"),
        settings=dict(_obj(data.get("settings"), f"{source}: settings")),
        environment=dict(_obj(data.get("environment"), f"{source}: environment")),
        started_at=_str(data.get("startedAt"), f"{source}: startedAt"),
        ended_at=_str(data.get("endedAt"), f"{source}: endedAt"),
        goodput_window=dict(_obj(goodput.get("window"), f"{source}: goodput.window")),
        goodput_steady=_steady(goodput.get("steady"), f"{source}: goodput.steady"),
        goodput_ramps={k: dict(_obj(goodput.get(k), f"{source}: goodput.{k}"))
                       for k in ("rampUp", "rampDown") if goodput.get(k) is not None},
        problems=tuple(_str(p, f"{source}: problems")
                       for p in _list(data.get("problems"), f"{source}: problems")),
        wire=None if data.get("wire") is None
        else dict(_obj(data["wire"], f"{source}: wire")),
    )


def _steady(value: object, where: str) -> dict[str, Any] | None:
    """``goodput.steady`` with its numbers checked (absent or null: None)."""
    if value is None:
        return None
    data = dict(_obj(value, where))
    for key in ("meanBytesPerSecond", "ciLow", "ciHigh"):
        if data.get(key) is not None:
            data[key] = _num(data[key], f"{where}.{key}")
    data["batchMeans"] = [_num(v, f"{where}.batchMeans")
                          for v in _list(data.get("batchMeans"), f"{where}.batchMeans")]
    return data
