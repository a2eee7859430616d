"""Expectation files: known issues of one server version, as expected verdicts.

A file maps case ids (or globs) to the verdict a given server version is known to produce and
why. Results that match become expected (a known FAIL no longer fails the run); results that
differ are flagged ``unexpected`` in every report. JSON always; YAML when PyYAML is installed.

.. code-block:: json

    {"schema": "jetstream-qa/expectations/1",
     "server": "2.9.2",
     "cases": {
       "timeouts/idle/server-drops-silent-client": {"verdict": "NON_STRICT",
                                                    "reason": "JS-4411: idle timeout is 15 min"},
       "tokens/*": {"verdict": "NOT_APPLICABLE", "reason": "tokens disabled on staging"}}}

``cases`` may also be the whole document, and a value may be just the verdict string. An exact
id wins over globs; globs are tried in file order.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.verdicts import Verdict
from jetstream_qa.errors import ConfigurationError

__all__ = ["Expectation", "Expectations", "load_expectations"]


@dataclass(frozen=True, slots=True)
class Expectation:
    """The verdict one case (or glob) is expected to get, and why."""

    pattern: str
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Expectations:
    """All expectations of one file; :meth:`lookup` finds the one for a case id."""

    entries: tuple[Expectation, ...] = ()
    source: str = ""
    server: str = ""

    def lookup(self, case_id: str) -> Expectation | None:
        """The expectation for ``case_id``: exact id first, then the first matching glob."""
        for entry in self.entries:
            if entry.pattern == case_id:
                return entry
        for entry in self.entries:
            if fnmatch.fnmatchcase(case_id, entry.pattern):
                return entry
        return None


def _entry(pattern: str, value: Any, where: str) -> Expectation:
    if isinstance(value, str):
        value = {"verdict": value}
    if not isinstance(value, Mapping) or "verdict" not in value:
        raise ConfigurationError(f"invalid expectation for {pattern!r} in {where}: "
                                 "expected {'verdict': ..., 'reason': ...}")
    try:
        verdict = Verdict(str(value["verdict"]).upper().replace("-", "_"))
    except ValueError:
        raise ConfigurationError(
            f"invalid expectation verdict {value['verdict']!r} for {pattern!r} in {where}: "
            f"expected one of {', '.join(v.value for v in Verdict)}") from None
    return Expectation(pattern, verdict, str(value.get("reason", "")))


def _parse_text(text: str, path: Path) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigurationError(
                f"invalid --js-expectations {str(path)!r}: YAML needs PyYAML "
                "(pip install pyyaml) or use a .json file") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"invalid --js-expectations {str(path)!r}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"invalid --js-expectations {str(path)!r}: {exc}") from None


def load_expectations(path: Path) -> Expectations:
    """Read an expectation file.

    Raises:
        ConfigurationError: unreadable file, bad syntax, unknown verdict (all named).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"invalid --js-expectations {str(path)!r}: {exc.strerror}") from None
    data = _parse_text(text, path)
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"invalid --js-expectations {str(path)!r}: not a mapping")
    cases = data.get("cases", data) if "cases" in data else data
    if not isinstance(cases, Mapping):
        raise ConfigurationError(f"invalid --js-expectations {str(path)!r}: 'cases' not a mapping")
    entries = tuple(_entry(str(k), v, str(path)) for k, v in cases.items()
                    if k not in ("schema", "server"))
    return Expectations(entries, str(path), str(data.get("server", "")))
