"""pytest sinks of :mod:`jetstream_qa.redaction`: nothing pytest writes shows a secret.

Registered by the plugin for every run (``pytest_plugin.py``). What it covers:

- every test and collection report, before any other plugin reads it (``tryfirst``): the
  traceback (``longrepr``: source lines, the failing frame's arguments, ``--showlocals``
  locals, the error message, chained exceptions), the captured stdout/stderr/log sections,
  ``user_properties`` and pytest-html ``extras``. The terminal, JUnit XML (written from the
  reports as they arrive), pytest-html and xdist (which ships reports from workers) therefore
  only ever see scrubbed reports;
- the terminal writer itself: whatever a plugin writes (headers, summaries, live logs) passes
  through :func:`~jetstream_qa.redaction.scrub` on its way to the file.

Secrets are known from the environment at configure time (``JETSTREAM_*PASSWORD*``...) and
from wherever a setting, embedded server or client registers one later (tokens).
This module does not import pytest (STYLE 7); the hook markers come from pluggy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pluggy

from jetstream_qa.redaction import register_from_environment, scrub, scrub_value

__all__ = ["RedactionHooks", "scrub_report"]

_hookimpl = pluggy.HookimplMarker("pytest")
_MAX_DEPTH = 12
"""pytest's traceback representations nest ~5 deep (chain > traceback > entry > locals)."""


def _scrub_object(obj: Any, depth: int = 0) -> Any:
    """Scrub a pytest representation object in place (dataclasses/attrs objects holding
    strings, lists, tuples, dicts); returns the scrubbed value for immutable ones."""
    if isinstance(obj, str):
        return scrub(obj)
    if depth > _MAX_DEPTH or obj is None or isinstance(obj, int | float | bool):
        return obj
    if isinstance(obj, list):
        obj[:] = [_scrub_object(v, depth + 1) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(_scrub_object(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return {scrub(k) if isinstance(k, str) else k: _scrub_object(v, depth + 1)
                for k, v in obj.items()}
    fields = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) \
        else list(getattr(obj, "__dict__", {}))
    for name in fields:
        value = getattr(obj, name, None)
        new = _scrub_object(value, depth + 1)
        if new is not value:
            object.__setattr__(obj, name, new)
    return obj


def scrub_report(report: Any) -> None:
    """Scrub a ``TestReport``/``CollectReport`` in place (see the module docstring)."""
    longrepr = getattr(report, "longrepr", None)
    if longrepr is not None:
        report.longrepr = _scrub_object(longrepr)
    report.sections = [(scrub(title), scrub(text)) for title, text in report.sections]
    if getattr(report, "user_properties", None):
        report.user_properties = [(name, scrub_value(value))
                                  for name, value in report.user_properties]
    extras = getattr(report, "extras", None)
    if isinstance(extras, list):
        report.extras = [scrub_value(extra) for extra in extras]


class _ScrubbingFile:
    """A text file whose :meth:`write` scrubs; everything else is the wrapped file's."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def write(self, text: str) -> int:
        self._wrapped.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class RedactionHooks:
    """Plugin object scrubbing every report and the terminal."""

    def pytest_configure(self, config: Any) -> None:
        register_from_environment()

    @_hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: Any) -> None:
        """Wrap the terminal writer (configured after this plugin registers, before the
        session header is written)."""
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)
        if writer is not None and not isinstance(getattr(writer, "_file", None),
                                                 _ScrubbingFile):
            # TerminalWriter has no public way to filter its output; ``_file`` is where
            # every write lands (pytest 7-9).
            writer._file = _ScrubbingFile(writer._file)

    @_hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: Any) -> None:
        scrub_report(report)

    @_hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: Any) -> None:
        scrub_report(report)

    # pytest-html (optional): fragments other plugins add, and the Environment table
    @_hookimpl(trylast=True, optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: Any) -> None:
        for fragments in (prefix, summary, postfix):
            fragments[:] = [scrub(f) for f in fragments]
        _scrub_metadata(session.config)

    @_hookimpl(trylast=True, optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        cells[:] = [scrub(c) for c in cells]

    @_hookimpl(trylast=True, optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        data[:] = [scrub(d) for d in data]

    @_hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any) -> None:
        _scrub_metadata(session.config)


def _scrub_metadata(config: Any) -> None:
    """pytest-metadata's dict (pytest-html's Environment table), scrubbed in place."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if isinstance(metadata, dict):
        clean = scrub_value(metadata)
        metadata.clear()
        metadata.update(clean)
