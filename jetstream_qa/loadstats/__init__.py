"""Pure statistics of load tests: unrounded mergeable percentiles, goodput series, thresholds.

Nothing here imports Locust or pytest: the Locust adapter (:mod:`jetstream_qa.locust_user`)
feeds a :class:`LoadRecorder`, workers ship :meth:`LoadRecorder.drain` deltas to the master,
and :func:`build_load_report` / :func:`evaluate_checks` turn the merged result into
reports/load.json and an exit status.
"""

from jetstream_qa.loadstats.histogram import Histogram
from jetstream_qa.loadstats.recorder import LoadRecorder, RequestStats, request_key
from jetstream_qa.loadstats.report import REPORT_SCHEMA, RunMetrics, build_load_report, iso
from jetstream_qa.loadstats.series import GoodputSeries, LatencySeries
from jetstream_qa.loadstats.thresholds import (
    Check,
    CheckResult,
    MetricSource,
    evaluate_checks,
    parse_check,
)

__all__ = [
    "REPORT_SCHEMA",
    "Check",
    "CheckResult",
    "GoodputSeries",
    "Histogram",
    "LatencySeries",
    "LoadRecorder",
    "MetricSource",
    "RequestStats",
    "RunMetrics",
    "build_load_report",
    "evaluate_checks",
    "iso",
    "parse_check",
    "request_key",
]
