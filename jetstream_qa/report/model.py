"""Typed model of the inputs the release-review report reads (frozen values; parsing from
the producers' JSON is :mod:`jetstream_qa.report.inputs`). Nothing here imports pytest or
locust. Verdicts are the conformance run's own :class:`~jetstream_qa.conformance_core.verdicts.
Verdict` (one enum, one severity order); :func:`parse_verdict` reads one from a document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.conformance_core.verdicts import Verdict
from jetstream_qa.errors import ConfigurationError

__all__ = [
    "CONFORMANCE_SCHEMA",
    "LOAD_SCHEMA",
    "CaseResult",
    "Check",
    "ConformanceRun",
    "ErrorRow",
    "LatencyStats",
    "LoadRun",
    "MatrixPoint",
    "ReportSchemaError",
    "SeriesPoint",
    "Verdict",
    "parse_verdict",
]

CONFORMANCE_SCHEMA = "jetstream-qa/conformance/1"
LOAD_SCHEMA = "jetstream-qa/load/1"


class ReportSchemaError(ConfigurationError):
    """An input document is not what the review report reads (wrong schema, wrong type)."""

    code = "ReportSchemaError"


def parse_verdict(raw: object, *, where: str) -> Verdict:
    """Read a verdict of an input document, accepting ``NON-STRICT`` / ``not-applicable``
    spellings.

    Raises:
        ReportSchemaError: ``raw`` names no verdict (the message says where).
    """
    if isinstance(raw, str):
        key = raw.strip().upper().replace("-", "_")
        if key in Verdict.__members__:
            return Verdict[key]
    raise ReportSchemaError(f"{where}: unknown verdict {raw!r}", details={"where": where})


@dataclass(frozen=True, slots=True)
class MatrixPoint:
    """Coordinates of a matrix case: flag set x overwrite x cipher x symlink x pre-state."""

    flags: int
    overwrite: int
    cipher: int
    symlink: int
    pre_state: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.flags <= 15:
            raise ReportSchemaError(f"matrix flags {self.flags} outside 0..15")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One conformance case as the plugin reported it."""

    id: str
    verdict: Verdict
    area: str = ""
    requirement: str = ""
    source: str = ""
    duration_s: float = 0.0
    expected: str = ""
    actual: str = ""
    calls: tuple[str, ...] = ()
    matrix: MatrixPoint | None = None
    expected_verdict: Verdict | None = None
    unexpected: bool = False
    level: str = ""
    """MUST / SHOULD / INFO: the strength of the requirement (optional field)."""
    observations: tuple[str, ...] = ()
    """Behaviour recorded by the case (INFO notes), optional."""
    expectation_reason: str = ""
    """Why the expectation file expects this verdict, optional."""

    def __post_init__(self) -> None:
        if not self.id:
            raise ReportSchemaError("a case has an empty id")


@dataclass(frozen=True, slots=True)
class ConformanceRun:
    """The whole ``conformance.json`` document."""

    cases: tuple[CaseResult, ...]
    environment: Mapping[str, Any] = field(default_factory=dict)
    generated_at: str = ""
    exit_status: int = 0

    def counts(self) -> dict[str, int]:
        """Verdict counts recomputed from the cases (every verdict present, zero or more)."""
        out = {v.value: 0 for v in sorted(Verdict, key=lambda v: v.severity, reverse=True)}
        for case in self.cases:
            out[case.verdict.value] += 1
        return out


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One sample of a time series: ``t`` seconds since the run started."""

    t: float
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Percentiles (milliseconds, unrounded) of one request type+name."""

    name: str
    count: int
    failures: int
    percentiles: Mapping[str, float]
    series: tuple[SeriesPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One distinct error of the load run."""

    name: str
    error: str
    occurrences: int


@dataclass(frozen=True, slots=True)
class Check:
    """One ``--js-check`` threshold and its outcome."""

    expr: str
    passed: bool
    observed: float | None = None
    threshold: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoadRun:
    """The whole ``load.json`` document of one Locust run."""

    goodput_series: tuple[SeriesPoint, ...]
    goodput_total_bytes: float
    goodput_elapsed_s: float
    goodput_mean_bps: float
    transfers_count: int
    transfers_failures: int
    throughput: Mapping[str, float]
    latency: tuple[LatencyStats, ...]
    errors: tuple[ErrorRow, ...]
    server_counters: Mapping[str, float]
    checks: tuple[Check, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""
    goodput_window: Mapping[str, Any] = field(default_factory=dict)
    """``goodput.window`` of load.json: the measured window (seconds since the start)."""
    goodput_steady: Mapping[str, Any] | None = None
    """``goodput.steady``: mean over the window with its batch-means interval."""
    goodput_ramps: Mapping[str, Any] = field(default_factory=dict)
    """``{"rampUp": {...}, "rampDown": {...}}`` from load.json."""
    problems: tuple[str, ...] = ()
    """What made the run FAIL whatever its numbers (no transfer, target not answering)."""
    wire: Mapping[str, Any] | None = None
    """``wire`` of load.json (``--js-capture``): wire evidence, or its ``problem``."""

    @property
    def steady_bps(self) -> float | None:
        """Steady-state goodput (bytes/s), None when the run had no measured window."""
        value = (self.goodput_steady or {}).get("meanBytesPerSecond")
        return None if value is None else float(value)

    @property
    def gating_bps(self) -> float:
        """Steady-state goodput, or the whole-run mean for a run without a window."""
        steady = self.steady_bps
        return self.goodput_mean_bps if steady is None else steady
