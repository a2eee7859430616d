"""The run as data: environment, per-case results, counts, exit status, JSON document.

:class:`RunSummary` is what every report renders (terminal table, HTML, JSON). Its
:meth:`~RunSummary.to_json` is the ``reports/conformance.json`` schema
``jetstream-qa/conformance/1`` agreed with the release-review report; :func:`exit_status` is
the single rule for the process exit code: non-zero when a blocking verdict (FAIL, NON_STRICT
under strict, INCONCLUSIVE unless allowed) was not expected by the expectation file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.cases import CaseResult
from jetstream_qa.conformance_core.verdicts import Verdict, is_blocking
from jetstream_qa.redaction import scrub_value

__all__ = ["SCHEMA", "Environment", "RunSummary", "exit_status", "write_json"]

SCHEMA = "jetstream-qa/conformance/1"


@dataclass(frozen=True, slots=True)
class Environment:
    """Fingerprint of the run (no secrets: user names and passwords never appear here)."""

    serverVersion: str | None = None
    apiVersion: int | None = None
    serverId: str | None = None
    revision: int | None = None
    minCipher: int | None = None
    host: str | None = None
    clientKind: str = ""
    clientPackage: str = ""
    """Which client package was picked (distribution, version, file), see ``--js-client``."""
    profile: str = "quick"
    target: str = ""
    toolkitVersion: str = ""
    python: str = field(default_factory=platform.python_version)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def table(self) -> list[tuple[str, str]]:
        """Rows for the environment tables of the terminal and HTML reports."""
        labels = (("Target", self.target), ("Server version", self.serverVersion),
                  ("apiVersion", self.apiVersion), ("revision", self.revision),
                  ("serverId", self.serverId), ("Host", self.host),
                  ("minCipher", self.minCipher), ("Client kind", self.clientKind),
                  ("Client package", self.clientPackage),
                  ("Profile", self.profile), ("jetstream-qa", self.toolkitVersion),
                  ("Python", self.python))
        return [(k, "" if v is None else str(v)) for k, v in labels]


def exit_status(results: Iterable[CaseResult], *, strict: bool,
                allow_inconclusive: bool = False) -> int:
    """0 unless some case got a blocking verdict the expectation file did not expect."""
    blocking = any(is_blocking(r.verdict, strict=strict, allow_inconclusive=allow_inconclusive)
                   and not r.expected_by_file for r in results)
    return 1 if blocking else 0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything a report needs, in case-id order."""

    environment: Environment
    results: tuple[CaseResult, ...]
    strict: bool = False
    allow_inconclusive: bool = False
    process_exit: int | None = None
    """The run's final exit status when known (verdicts plus harness errors)."""
    generated_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    @property
    def counts(self) -> dict[str, int]:
        """Number of cases per verdict; every verdict present, zeros included."""
        counts = {v.value: 0 for v in Verdict}
        for r in self.results:
            counts[r.verdict.value] += 1
        return counts

    @property
    def exit_status(self) -> int:
        return exit_status(self.results, strict=self.strict,
                           allow_inconclusive=self.allow_inconclusive)

    @property
    def unexpected(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.unexpected)

    def attention(self) -> tuple[CaseResult, ...]:
        """Results a reader must look at: FAIL, NON_STRICT, INCONCLUSIVE, or unexpected."""
        wanted = (Verdict.FAIL, Verdict.NON_STRICT, Verdict.INCONCLUSIVE)
        return tuple(r for r in self.results if r.verdict in wanted or r.unexpected)

    def to_json(self) -> dict[str, Any]:
        """The ``reports/conformance.json`` document."""
        return {
            "schema": SCHEMA,
            "generatedAt": self.generated_at,
            "environment": self.environment.to_dict(),
            "strict": self.strict,
            "allowInconclusive": self.allow_inconclusive,
            "counts": self.counts,
            "cases": [r.to_dict() for r in self.results],
            "exitStatus": self.exit_status if self.process_exit is None else self.process_exit,
        }


def write_json(summary: RunSummary, path: Path) -> Path:
    """Write the summary atomically (temp file + rename); returns the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(scrub_value(summary.to_json()), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path
