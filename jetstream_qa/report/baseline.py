"""Baselines: what a review run stores, and how a later run is compared with it.

A baseline (``reports/baselines/NAME.json``, schema ``jetstream-qa/baseline/1``) keeps, per
metric, every sample of the run that saved it (one per ``--repeat``), the verdict of every
conformance case, the load settings and the environment fingerprint. Comparison is metric by
metric through :func:`jetstream_qa.report.stats.compare_samples`; verdict changes are listed
worst first. Pure code apart from :class:`BaselineStore`'s file access; no pytest, no locust.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.verdicts import Verdict
from jetstream_qa.errors import ConfigurationError
from jetstream_qa.report.model import ConformanceRun, LoadRun, ReportSchemaError, parse_verdict
from jetstream_qa.report.stats import Direction, MetricComparison, Movement, compare_samples

__all__ = [
    "BASELINE_SCHEMA",
    "METRIC_SPECS",
    "Baseline",
    "BaselineStore",
    "MetricSpec",
    "VerdictChange",
    "collect_samples",
    "compare_metrics",
    "compare_verdicts",
    "extract_metrics",
    "regressions",
    "spec_for",
]

BASELINE_SCHEMA = "jetstream-qa/baseline/1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one metric is judged: better direction, the noise floors of its band, and whether
    a regression fails the review (``gate``) or is shown for information only."""

    better: Direction
    unit: str
    label: str
    rel_floor: float
    abs_floor: float = 0.0
    gate: bool = True


METRIC_SPECS: dict[str, MetricSpec] = {
    "goodput.steady": MetricSpec(Direction.HIGHER, "B/s", "Goodput (steady state)", 0.15),
    "goodput.mean": MetricSpec(
        Direction.HIGHER, "B/s", "Goodput (whole-run mean, ramps included)", 0.15, gate=False
    ),
    "transfer.throughput.p50": MetricSpec(
        Direction.HIGHER, "B/s", "Per-transfer throughput p50", 0.20, gate=False
    ),
    "transfer.failureRatio": MetricSpec(
        Direction.LOWER, "ratio", "Transfer failure ratio", 0.0, 0.02
    ),
    "server.retransmitRatio": MetricSpec(
        Direction.LOWER, "ratio", "Retransmitted / sent blocks", 0.0, 0.02
    ),
}
"""Fixed metrics. Latency metrics (``latency.p50:<name>`` / ``latency.p95:<name>``) use
:func:`_latency_spec`. Gating: steady-state goodput (its samples are the batch means of each
run's measured window, :mod:`jetstream_qa.loadstats.window`), the failure ratio and the
retransmission ratio. The whole-run mean includes ramp-up and ramp-down (our own set-up) and
is shown for comparison only.
Per-transfer throughput and latencies are informational: they depend on the file mix each run
happened to draw and, on a shared machine, move by a factor of several between identical
short runs (measured: p50 of ``send.waitForTransfer`` 15 ms vs 78 ms); a slower server shows
up in goodput anyway."""


def _latency_spec(metric: str) -> MetricSpec:
    pct, _, name = metric.partition(":")
    wide = pct.endswith("p95")
    return MetricSpec(
        Direction.LOWER, "ms", f"{name} {pct.split('.')[-1]}", 1.0 if wide else 0.5, 5.0,
        gate=False,
    )


def spec_for(metric: str) -> MetricSpec:
    """Judging rules of ``metric`` (fixed table, then the latency family)."""
    return METRIC_SPECS.get(metric) or _latency_spec(metric)


def extract_metrics(run: LoadRun, *, min_latency_count: int = 5) -> dict[str, float]:
    """The comparable metrics of one load run.

    Latency metrics are taken only for request names with at least ``min_latency_count``
    requests (fewer give meaningless percentiles).
    """
    out: dict[str, float] = {"goodput.mean": run.goodput_mean_bps}
    if run.steady_bps is not None:
        out["goodput.steady"] = run.steady_bps
    if "p50" in run.throughput:
        out["transfer.throughput.p50"] = run.throughput["p50"]
    if run.transfers_count:
        out["transfer.failureRatio"] = run.transfers_failures / run.transfers_count
    sent = run.server_counters.get("blocksSent")
    if sent:
        out["server.retransmitRatio"] = run.server_counters.get("blocksRetransmitted", 0.0) / sent
    for lat in run.latency:
        if lat.count >= min_latency_count:
            for pct in ("p50", "p95"):
                if pct in lat.percentiles:
                    out[f"latency.{pct}:{lat.name}"] = lat.percentiles[pct]
    return out


def collect_samples(runs: Sequence[LoadRun]) -> dict[str, list[float]]:
    """Metric name -> one sample per run that has the metric; ``goodput.steady`` takes every
    batch mean of each run's window (several per run: the rank test applies even to one
    run per side; batches of consecutive seconds are what makes them nearly independent)."""
    samples: dict[str, list[float]] = {}
    for run in runs:
        for name, value in extract_metrics(run).items():
            batches = (run.goodput_steady or {}).get("batchMeans") or []
            if name == "goodput.steady" and batches:
                samples.setdefault(name, []).extend(float(b) for b in batches)
            else:
                samples.setdefault(name, []).append(value)
    return samples


@dataclass(frozen=True, slots=True)
class Baseline:
    """A stored run: metric samples, case verdicts, settings and fingerprint."""

    name: str
    samples: Mapping[str, Sequence[float]]
    verdicts: Mapping[str, str]
    saved_at: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    goodput_series: Sequence[Mapping[str, float]] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigurationError(
                f"invalid baseline name {self.name!r}: use 1-64 of [A-Za-z0-9._-]",
                details={"name": self.name},
            )

    @classmethod
    def from_run(
        cls,
        name: str,
        *,
        conformance: ConformanceRun | None,
        loads: Sequence[LoadRun],
        saved_at: str,
        environment: Mapping[str, Any],
    ) -> Baseline:
        """Build the baseline that ``--save-baseline NAME`` stores for this run."""
        series = [{"t": p.t, **p.values} for p in loads[0].goodput_series] if loads else []
        return cls(
            name=name,
            samples=collect_samples(loads),
            verdicts={c.id: c.verdict.value for c in conformance.cases} if conformance else {},
            saved_at=saved_at,
            settings=dict(loads[0].settings) if loads else {},
            environment=dict(environment),
            goodput_series=series,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "schema": BASELINE_SCHEMA,
            "name": self.name,
            "savedAt": self.saved_at,
            "settings": dict(self.settings),
            "environment": dict(self.environment),
            "metrics": {k: list(v) for k, v in sorted(self.samples.items())},
            "verdicts": dict(sorted(self.verdicts.items())),
            "goodputSeries": [dict(p) for p in self.goodput_series],
        }

    @classmethod
    def from_json(cls, doc: object, *, source: str) -> Baseline:
        """Read a stored document.

        Raises:
            ReportSchemaError: wrong ``schema`` or malformed metrics/verdicts.
        """
        if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA:
            got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise ReportSchemaError(f"{source}: schema is {got!r}, expected {BASELINE_SCHEMA!r}")
        metrics = doc.get("metrics") or {}
        verdicts = doc.get("verdicts") or {}
        if not isinstance(metrics, dict) or not all(
            isinstance(v, list) and all(isinstance(x, int | float) for x in v)
            for v in metrics.values()
        ):
            raise ReportSchemaError(f"{source}: metrics must map names to lists of numbers")
        if not isinstance(verdicts, dict):
            raise ReportSchemaError(f"{source}: verdicts must be an object")
        return cls(
            name=str(doc.get("name", "")),
            samples={str(k): [float(x) for x in v] for k, v in metrics.items()},
            verdicts={str(k): str(v) for k, v in verdicts.items()},
            saved_at=str(doc.get("savedAt", "")),
            settings=dict(doc.get("settings") or {}),
            environment=dict(doc.get("environment") or {}),
            goodput_series=list(doc.get("goodputSeries") or []),
        )


class BaselineStore:
    """Baselines as ``DIRECTORY/NAME.json`` files."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        """File of baseline ``name``.

        Raises:
            ConfigurationError: ``name`` is not 1-64 of ``[A-Za-z0-9._-]`` (no path parts).
        """
        if not _NAME_RE.match(name):
            raise ConfigurationError(
                f"invalid baseline name {name!r}: use 1-64 of [A-Za-z0-9._-]",
                details={"name": name},
            )
        return self.directory / f"{name}.json"

    def save(self, baseline: Baseline) -> Path:
        """Write ``baseline`` atomically (temp file + rename); returns its path."""
        target = self.path(baseline.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(baseline.to_json(), indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, target)
        return target

    def load(self, name: str) -> Baseline:
        """Read baseline ``name``.

        Raises:
            ConfigurationError: no such baseline (the message lists the ones that exist).
            ReportSchemaError: the file is not a baseline document.
        """
        target = self.path(name)
        if not target.is_file():
            known = sorted(p.stem for p in self.directory.glob("*.json"))
            raise ConfigurationError(
                f"no baseline {name!r} in {self.directory} (known: {', '.join(known) or 'none'})",
                details={"name": name, "directory": str(self.directory)},
            )
        try:
            doc = json.loads(target.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportSchemaError(f"{target}: not readable JSON ({exc})") from None
        return Baseline.from_json(doc, source=str(target))


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """A case whose verdict differs from the baseline's (``None`` = absent there)."""

    case_id: str
    before: str | None
    after: str | None

    @property
    def worsened(self) -> bool:
        """True when the new verdict is more severe than the old one."""
        return _sev(self.after) > _sev(self.before)


def _sev(verdict: str | None) -> int:
    if verdict is None:
        return 1  # an absent case counts like a PASS when ranking changes
    try:
        return parse_verdict(verdict, where="verdict").severity
    except ReportSchemaError:
        return 0


def compare_verdicts(
    baseline: Mapping[str, str], current: Mapping[str, str]
) -> list[VerdictChange]:
    """Cases whose verdict changed, worst first.

    Order: changes to a more severe verdict (most severe new verdict first), then changes to a
    less severe one, then new cases that are not PASS, then cases that disappeared. New PASS
    cases are not changes worth listing.
    """
    changes = []
    for case_id in sorted(set(baseline) | set(current)):
        before, after = baseline.get(case_id), current.get(case_id)
        if before == after or (before is None and after == Verdict.PASS.value):
            continue
        changes.append(VerdictChange(case_id, before, after))

    def rank(c: VerdictChange) -> tuple[int, int, str]:
        if c.after is None:
            group = 3
        elif c.before is None:
            group = 2
        else:
            group = 0 if c.worsened else 1
        return (group, -_sev(c.after), c.case_id)

    return sorted(changes, key=rank)


def compare_metrics(
    baseline: Mapping[str, Sequence[float]], current: Mapping[str, Sequence[float]]
) -> dict[str, MetricComparison]:
    """Compare every metric present on either side (see :mod:`~jetstream_qa.report.stats`)."""
    out = {}
    for name in sorted(set(baseline) | set(current)):
        spec = spec_for(name)
        out[name] = compare_samples(
            list(baseline.get(name, ())),
            list(current.get(name, ())),
            better=spec.better,
            rel_floor=spec.rel_floor,
            abs_floor=spec.abs_floor,
        )
    return out


def regressions(comparisons: Mapping[str, MetricComparison]) -> list[str]:
    """Names of gating metrics that regressed."""
    return [
        n
        for n, c in comparisons.items()
        if c.movement is Movement.REGRESSION and spec_for(n).gate
    ]
