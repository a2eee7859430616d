"""Locust sinks of :mod:`jetstream_qa.redaction`: no Locust output shows a secret.

- request events carry :func:`~jetstream_qa.redaction.scrub_exception` copies of their
  exceptions (``locust_user.user.fire_event``), so Locust's failure table, its failures CSV, its
  HTML report, ``--json-file`` and our ``load.json`` are scrubbed from the start;
- :func:`scrub_runner_outputs` runs on ``quitting``, before Locust writes its final reports,
  and scrubs what Locust collected by itself (errors of any origin, task exceptions with their
  tracebacks);
- :func:`install_log_scrubbing` puts a :class:`~jetstream_qa.redaction.ScrubbingFilter` on
  the root handlers (Locust's stdout/stderr log).

Only this package's Locust adapter imports it (importing locust patches the process).
"""

from __future__ import annotations

import logging
from typing import Any

from jetstream_qa.redaction import (
    ScrubbingFilter,
    register_from_environment,
    scrub,
    scrub_exception,
)

__all__ = ["install_log_scrubbing", "scrub_exception", "scrub_runner_outputs"]


def install_log_scrubbing() -> None:
    """Register the environment's secrets and filter every root log handler."""
    register_from_environment()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())


def scrub_runner_outputs(environment: Any, **_: Any) -> None:
    """Scrub the runner's error table and task exceptions in place (a ``quitting`` listener)."""
    runner = getattr(environment, "runner", None)
    if runner is None:
        return
    from locust.stats import StatsError

    errors = runner.stats.errors
    for key, entry in list(errors.items()):
        text = StatsError.parse_error(entry.error)
        clean = scrub(text)
        if clean != text:
            del errors[key]
            entry.error = clean
            errors[StatsError.create_key(entry.method, entry.name, clean)] = entry
    for record in runner.exceptions.values():
        for field in ("msg", "traceback"):
            if isinstance(record.get(field), str):
                record[field] = scrub(record[field])
