"""Release-review report: typed results -> one JSON document -> autoescaped HTML.

Pipeline: :func:`parse_conformance` / :func:`parse_load` (:mod:`.inputs`) read the producers'
JSON into the frozen values of :mod:`.model`; :func:`build_document` assembles the redacted
review document (with the baseline comparison of :mod:`.baseline`); :func:`write_report`
writes ``review.json`` and the self-contained ``review.html``. No module here imports pytest
or locust.
"""

from jetstream_qa.report.baseline import Baseline, BaselineStore, compare_metrics, compare_verdicts
from jetstream_qa.report.document import REVIEW_SCHEMA, ReviewInputs, StepOutcome, build_document
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.model import ConformanceRun, LoadRun, ReportSchemaError, Verdict
from jetstream_qa.report.redact import REDACTED, redact
from jetstream_qa.report.render import render_html, write_report
from jetstream_qa.report.stats import Direction, Movement, compare_samples

__all__ = [
    "REDACTED",
    "REVIEW_SCHEMA",
    "Baseline",
    "BaselineStore",
    "ConformanceRun",
    "Direction",
    "LoadRun",
    "Movement",
    "ReportSchemaError",
    "ReviewInputs",
    "StepOutcome",
    "Verdict",
    "build_document",
    "compare_metrics",
    "compare_samples",
    "compare_verdicts",
    "parse_conformance",
    "parse_load",
    "redact",
    "render_html",
    "write_report",
]
