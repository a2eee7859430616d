"""k6-style pass/fail thresholds over a finished load test: parse, evaluate, explain.

Grammar (one check per ``--js-check``)::

    check   := metric OP number [unit]
    OP      := "<" | "<=" | ">" | ">=" | "==" | "!="
    metric  := "goodput" ["(" SCENARIO ")"]          bytes/s delivered, steady state (window)
             | "p" NUMBER "(" KEY ")"                  latency percentile of KEY, in ms
             | "p" NUMBER "(throughput)"               per-transfer throughput, bytes/s
             | ("avg" | "max" | "min") "(" KEY ")"      latency of KEY, ms
             | "count" "(" KEY ")"                     events of KEY
             | "fail_ratio" ["(" KEY ")"]              failed / all request events
             | "retransmit_ratio"                      blocksRetransmitted / blocksSent (servers)
    KEY     := REQUEST_TYPE " " NAME                   e.g. "API send.createTransfer"

Units: rates take B/s, kB/s, MB/s, GB/s (powers of 1000), KiB/s, MiB/s, GiB/s (powers of
1024), bit/s, kbit/s, Mbit/s, Gbit/s (default B/s); latencies take us, ms, s (default ms);
ratios take a plain number or ``%``. Examples: ``goodput >= 200MiB/s``,
``p95(API send.createTransfer) < 50ms``, ``fail_ratio < 0.01``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from jetstream_qa.errors import ConfigurationError

__all__ = ["Check", "CheckResult", "MetricSource", "evaluate_checks", "parse_check"]

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_RATE_UNITS: Final = {
    "b/s": 1.0, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9,
    "kib/s": 1024.0, "mib/s": 1024.0**2, "gib/s": 1024.0**3,
    "bit/s": 1 / 8, "kbit/s": 1e3 / 8, "mbit/s": 1e6 / 8, "gbit/s": 1e9 / 8,
}
_TIME_UNITS: Final = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}
_RATIO_UNITS: Final = {"%": 0.01}
_KIND_UNITS: Final = {"rate": (_RATE_UNITS, "B/s"), "time": (_TIME_UNITS, "ms"),
                      "ratio": (_RATIO_UNITS, ""), "count": ({}, "")}

_CHECK_RE: Final = re.compile(
    r"^\s*(?P<metric>p\d+(?:\.\d+)?|[A-Za-z_]+)\s*(?:\((?P<arg>[^()]*)\))?\s*"
    r"(?P<op><=|>=|==|!=|<|>)\s*(?P<num>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*"
    r"(?P<unit>[A-Za-zµ%/]*)\s*$"
)


class MetricSource(Protocol):
    """What thresholds read; :class:`jetstream_qa.loadstats.report.RunMetrics` provides it."""

    def goodput(self, scenario: str | None) -> float | None: ...
    def latency(self, key: str, stat: str) -> float | None: ...
    def count(self, key: str) -> int: ...
    def fail_ratio(self, key: str | None) -> float | None: ...
    def throughput_percentile(self, p: float) -> float | None: ...
    def retransmit_ratio(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One parsed threshold; ``threshold`` is in base units (B/s, ms, ratio, count)."""

    expr: str
    metric: str
    arg: str | None
    op: str
    threshold: float
    kind: str

    def __post_init__(self) -> None:
        if self.op not in _OPS or self.kind not in _KIND_UNITS:
            raise ValueError(f"bad check {self.expr!r}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"bad threshold in {self.expr!r}")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check evaluated: the ``checks`` entry of reports/load.json."""

    expr: str
    observed: float | None
    threshold: float
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"expr", "observed", "threshold", "passed", "detail"}``."""
        return {"expr": self.expr, "observed": self.observed, "threshold": self.threshold,
                "passed": self.passed, "detail": self.detail}


def _kind_of(metric: str, arg: str | None, expr: str) -> str:
    if metric == "goodput" or (metric.startswith("p") and arg == "throughput"):
        return "rate"
    if re.fullmatch(r"p\d+(?:\.\d+)?|avg|max|min", metric):
        if not arg:
            raise ConfigurationError(f"invalid --js-check {expr!r}: {metric}() needs a "
                                     "request key such as 'API send.createTransfer'")
        return "time"
    if metric in ("fail_ratio", "retransmit_ratio"):
        return "ratio"
    if metric == "count" and arg:
        return "count"
    raise ConfigurationError(
        f"invalid --js-check {expr!r}: unknown metric {metric!r} (known: goodput, pNN(KEY), "
        "avg/min/max(KEY), count(KEY), fail_ratio, retransmit_ratio, pNN(throughput))")


def parse_check(expr: str) -> Check:
    """Parse one threshold expression.

    Raises:
        ConfigurationError: the expression does not follow the grammar; the message quotes
            it and says what is wrong.
    """
    match = _CHECK_RE.match(expr)
    if match is None:
        raise ConfigurationError(f"invalid --js-check {expr!r}: expected 'METRIC OP NUMBER"
                                 "[UNIT]', e.g. 'p95(API send.createTransfer) < 50ms'")
    metric, op = match["metric"], match["op"]
    arg = match["arg"].strip() if match["arg"] is not None else None
    if metric.startswith("p") and metric[1:2].isdigit() and not 0 <= float(metric[1:]) <= 100:
        raise ConfigurationError(f"invalid --js-check {expr!r}: percentile above 100")
    kind = _kind_of(metric, arg, expr)
    units, _ = _KIND_UNITS[kind]
    unit = match["unit"]
    scale = 1.0
    if unit:
        scale_or_none = units.get(unit.lower()) if kind != "time" else units.get(unit)
        if scale_or_none is None:
            raise ConfigurationError(f"invalid --js-check {expr!r}: unit {unit!r} does not fit "
                                     f"a {kind} (use one of {', '.join(units) or 'none'})")
        scale = scale_or_none
    return Check(expr=expr.strip(), metric=metric, arg=arg, op=op,
                 threshold=float(match["num"]) * scale, kind=kind)


def _observe(check: Check, source: MetricSource) -> float | None:
    metric, arg = check.metric, check.arg
    if metric == "goodput":
        return source.goodput(arg)
    if metric == "fail_ratio":
        return source.fail_ratio(arg)
    if metric == "retransmit_ratio":
        return source.retransmit_ratio()
    if metric == "count":
        return float(source.count(arg or ""))
    if arg == "throughput":
        return source.throughput_percentile(float(metric[1:]))
    return source.latency(arg or "", metric)


def _fmt(value: float, kind: str) -> str:
    if kind == "rate":
        for unit, scale in (("GiB/s", 1024.0**3), ("MiB/s", 1024.0**2), ("KiB/s", 1024.0)):
            if abs(value) >= scale:
                return f"{value / scale:.3f} {unit}"
        return f"{value:.1f} B/s"
    if kind == "time":
        return f"{value:.3f} ms"
    if kind == "ratio":
        return f"{value:.4f} ({value * 100:.2f} %)"
    return f"{value:g}"


def _explain(check: Check, observed: float, passed: bool) -> str:
    shown = f"observed {_fmt(observed, check.kind)}"
    if passed:
        return f"{check.expr}: passed, {shown}"
    gap = abs(observed - check.threshold)
    rel = f" ({gap / abs(check.threshold) * 100:.1f} %)" if check.threshold else ""
    side = {"<": "over", "<=": "over", ">": "under", ">=": "under"}.get(check.op, "vs")
    if check.op in ("==", "!="):
        return f"{check.expr}: FAILED, {shown}, required {check.op} " \
               f"{_fmt(check.threshold, check.kind)}"
    return (f"{check.expr}: FAILED, {shown}, {_fmt(gap, check.kind)}{rel} {side} the "
            f"threshold {_fmt(check.threshold, check.kind)}")


def evaluate_checks(checks: Iterable[Check], source: MetricSource) -> list[CheckResult]:
    """Evaluate every check; a metric with no samples fails its check (and says so)."""
    results = []
    for check in checks:
        observed = _observe(check, source)
        if observed is None:
            results.append(CheckResult(check.expr, None, check.threshold, False,
                                       f"{check.expr}: FAILED, no samples for "
                                       f"{check.arg or check.metric}"))
            continue
        passed = _OPS[check.op](observed, check.threshold)
        results.append(CheckResult(check.expr, observed, check.threshold, passed,
                                   _explain(check, observed, passed)))
    return results
