"""pytest-html hooks of the plugin, registered only when ``--html`` is given (STYLE 7).

Uses pytest-html's documented hooks: ``pytest_html_results_summary`` (environment, counts,
legend, conformance matrix, evidence of what needs attention), ``pytest_html_results_table_
header`` / ``_row`` (a Verdict column). Every fragment comes from the autoescaping templates
of :mod:`jetstream_qa.conformance_core.htmlreport`.
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.conformance_core.htmlreport import (
    render_summary,
    render_verdict_cell,
    render_verdict_header,
)

__all__ = ["HtmlHooks"]


class HtmlHooks:
    """Plugin object: reads the run summary from ``config.stash[run_key]``."""

    def __init__(self, config: Any, run_key: Any) -> None:
        self._config = config
        self._run_key = run_key

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: Any) -> None:
        run = self._config.stash[self._run_key]
        if run.summary is not None:
            prefix.append(render_summary(run.summary))

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, render_verdict_header())

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        cells.insert(1, render_verdict_cell(getattr(report, "js_case", None)))
